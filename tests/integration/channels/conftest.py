"""The WhatsApp channel's tests: a fake Graph API per test and a migrated empty database, on
SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from cobranza.simulation.fake_graph import FakeGraphAPI
from tests.support.whatsapp import PHONE_ID, TOKEN


@pytest.fixture
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(TOKEN, PHONE_ID) as fake:
        yield fake


@pytest.fixture
def database(migrated_engine: Engine) -> Engine:
    return migrated_engine
