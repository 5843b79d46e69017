"""Database URLs for the tests' private SQLite files, and fresh PostgreSQL databases."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

from cobranza import db


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


class PostgresDatabases:
    """Fresh databases on the test server, each dropped by :meth:`close`."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = make_url(admin_url)
        self.admin = db.make_engine(str(self.admin_url), isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def create(self, copy_of: str | None = None) -> str:
        """A new database's URL (with its password): empty, or a copy of the database at
        ``copy_of`` on this server (a template copy: nobody may be connected to that one)."""
        name = f"cobranza_test_{uuid.uuid4().hex[:12]}"
        template = f' TEMPLATE "{make_url(copy_of).database}"' if copy_of else ""
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{template}'))
        self.names.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        with self.admin.connect() as conn:
            for name in reversed(self.names):
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()
