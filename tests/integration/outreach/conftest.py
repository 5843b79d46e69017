"""The outreach tests' harness: a migrated empty database on SQLite and on PostgreSQL, the
shipped campaign and template files, and a loopback fake of the Graph API that knows the
approved templates (a module may register other templates with its own ``graph``). The
dispatcher's helpers are in tests/support/outreach.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import sessionmaker

from cobranza.config import PROJECT_ROOT
from cobranza.outreach.campaigns import load_outreach
from cobranza.outreach.templates import domain_intents
from cobranza.personas.profiles import load_profiles
from cobranza.simulation.fake_graph import FakeGraphAPI
from tests.support import outreach as data
from tests.support.outreach import Files


@pytest.fixture(scope="session")
def files() -> Files:
    """The shipped campaigns and templates (tests that change one copy what they change)."""
    return load_outreach(
        PROJECT_ROOT / "campaigns",
        PROJECT_ROOT / "templates",
        personas=load_profiles(PROJECT_ROOT / "persona_profiles").keys(),
        intents=domain_intents(),
    )


@pytest.fixture
def sessions(migrated_sessions: sessionmaker) -> sessionmaker:
    return migrated_sessions


@pytest.fixture
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(data.TOKEN, data.PHONE_ID, templates=data.REGISTERED) as fake:
        yield fake
