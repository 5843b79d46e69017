"""Adapters to the outside: the database (SQLAlchemy) and, later, HTTP services."""
