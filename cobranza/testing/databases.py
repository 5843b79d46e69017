"""Throw-away databases for tests and benches: fresh PostgreSQL databases on a test server, and
the demo portfolio seeded as of today (what `make run` and the servers on the wall clock see).

Development tooling, like the rest of ``cobranza.testing``: nothing in the assistant imports it.
The tests reach :class:`PostgresDatabases` through ``tests/support/db.py``; the benches, which
cannot import the tests, import it from here.
"""

from __future__ import annotations

import os
import subprocess
import uuid

from sqlalchemy import text
from sqlalchemy.engine import make_url

from cobranza import db
from cobranza.clock import SystemClock, local_today
from cobranza.config import PROJECT_ROOT
from cobranza.demo import portfolio
from cobranza.personas.profiles import load_profiles
from cobranza.services import views

PERSONAS_DIR = PROJECT_ROOT / "persona_profiles"
DEFAULT_TIME_ZONE = "America/Mexico_City"  # what the servers assume for an unknown number


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

    def __enter__(self) -> PostgresDatabases:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def postgres_admin_url() -> str:
    """The PostgreSQL server the benches use: COBRANZA_TEST_POSTGRES_URL when set, else the
    local one scripts/ensure_postgres.sh starts (installing it on Debian when missing)."""
    url = os.environ.get("COBRANZA_TEST_POSTGRES_URL", "").strip()
    if url:
        return url
    return subprocess.run(  # noqa: S603 - our own script, no input in the command
        [str(PROJECT_ROOT / "scripts" / "ensure_postgres.sh")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def seed_demo(url: str) -> str:
    """Migrate the database at ``url`` and load the demo portfolio as of today in Mexico City,
    with the personas assigned on the wall clock (as `make run` and the end-to-end tests do:
    the servers run on the wall clock, so days past due, persona windows and promise dates then
    mean the same to them as to the portfolio). Returns ``url``."""
    clock = SystemClock()
    engine = db.make_engine(url)
    try:
        db.upgrade(engine)
        with db.session_scope(db.make_session_factory(engine)) as session:
            portfolio.load_demo(session, local_today(clock, DEFAULT_TIME_ZONE))
            views.reassign_personas(session, load_profiles(PERSONAS_DIR), clock)
    finally:
        engine.dispose()
    return url
