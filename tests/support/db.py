"""Database URLs for the tests' private SQLite files, and fresh PostgreSQL databases (the class
lives in cobranza/testing/databases.py, where the benches find it too)."""

from __future__ import annotations

from pathlib import Path

from cobranza.testing.databases import PostgresDatabases

__all__ = ["PostgresDatabases", "sqlite_url"]


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
