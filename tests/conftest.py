"""Shared fixtures: real persona profiles, real migrated databases (SQLite always, PostgreSQL
when COBRANZA_TEST_POSTGRES_URL names a server), and a fixed clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sanic  # noqa: F401 - imported here for its warnings filter, see below
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.config import PROJECT_ROOT
from cobranza.personas.profiles import PersonaProfile, load_profiles
from tests.support.clock import DEMO_TODAY, NOW
from tests.support.db import PostgresDatabases, sqlite_url

os.environ.setdefault("SQLALCHEMY_SILENCE_UBER_WARNING", "1")
# Sanic 21.12 runs warnings.simplefilter("once", DeprecationWarning) when imported, ahead of the
# filterwarnings in pyproject.toml. Imported while pytest loads this file, that filter lasts only
# until pytest restores its own; imported later (by the first test module that needs Rasa), it
# would let every deprecation raised while collecting pass as a printed warning, not an error.


@pytest.fixture(scope="session")
def profiles() -> dict[str, PersonaProfile]:
    return load_profiles(PROJECT_ROOT / "persona_profiles")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def empty_sqlite(tmp_path: Path) -> Engine:
    return db.make_engine(sqlite_url(tmp_path / "test.db"))


@pytest.fixture
def migrated_sqlite(empty_sqlite: Engine) -> Engine:
    db.upgrade(empty_sqlite)
    return empty_sqlite


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def migrated_engine(request: pytest.FixtureRequest) -> Engine:
    """A migrated empty database on SQLite and, marked ``postgres``, on PostgreSQL: a test using
    it (or ``migrated_sessions``) runs as ``test[sqlite]`` and as ``test[postgres]``."""
    engine: Engine = request.getfixturevalue(f"empty_{request.param}")
    db.upgrade(engine)
    return engine


@pytest.fixture
def migrated_sessions(migrated_engine: Engine) -> sessionmaker:
    return db.make_session_factory(migrated_engine)


@pytest.fixture(scope="session")
def seeded_sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated SQLite database with the demo portfolio, shared read-only by tests."""
    from cobranza.demo import portfolio
    from cobranza.services import views

    url = sqlite_url(tmp_path_factory.mktemp("seeded") / "demo.db")
    engine = db.make_engine(url)
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    with db.session_scope(factory) as session:
        portfolio.load_demo(session, DEMO_TODAY)
        views.reassign_personas(
            session, load_profiles(PROJECT_ROOT / "persona_profiles"), FixedClock(NOW)
        )
    engine.dispose()
    return url


@pytest.fixture
def seeded_sessions(seeded_sqlite_url: str) -> Iterator[sessionmaker]:
    engine = db.make_engine(seeded_sqlite_url)
    yield db.make_session_factory(engine)
    engine.dispose()


def _postgres_admin_url() -> str:
    url = os.environ.get("COBRANZA_TEST_POSTGRES_URL", "").strip()
    if url:
        return url
    reason = (
        "COBRANZA_TEST_POSTGRES_URL is not set: run `make postgres` (or `make test`, which starts "
        "it) to run the PostgreSQL tests"
    )
    if os.environ.get("CI"):
        pytest.fail(reason + " — CI must run them (.ci/run starts PostgreSQL)")
    pytest.skip(reason)


@pytest.fixture
def empty_postgres() -> Iterator[Engine]:
    """A brand-new PostgreSQL database for one test, dropped afterwards."""
    databases = PostgresDatabases(_postgres_admin_url())
    engine = db.make_engine(databases.create())
    try:
        yield engine
    finally:
        engine.dispose()
        databases.close()


@pytest.fixture(scope="module")
def module_postgres() -> Iterator[PostgresDatabases]:
    """Fresh PostgreSQL databases for the tests of one module that share what they hold (runs
    that take a while), all dropped after the module."""
    databases = PostgresDatabases(_postgres_admin_url())
    try:
        yield databases
    finally:
        databases.close()
