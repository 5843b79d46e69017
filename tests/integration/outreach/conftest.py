"""The outreach tests' harness: a migrated empty database on SQLite and on PostgreSQL, and a
loopback fake of the Graph API that knows the approved templates (a module may register other
templates with its own ``graph``). The dispatcher's helpers are in tests/support/outreach.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import sessionmaker

from cobranza.simulation.fake_graph import FakeGraphAPI
from tests.support import outreach as data


@pytest.fixture
def sessions(migrated_sessions: sessionmaker) -> sessionmaker:
    return migrated_sessions


@pytest.fixture
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(data.TOKEN, data.PHONE_ID, templates=data.REGISTERED) as fake:
        yield fake
