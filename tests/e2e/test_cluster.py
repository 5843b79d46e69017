"""The cluster under load, with a replica killed: `make bench-cluster`'s fault phase at a size
`make test` affords (2 replicas, 20 debtors, one kill; about 3 minutes on 2 cores).

scripts/cluster.sh (through cobranza/testing/cluster.py) runs nginx, the WhatsApp gateway and two
Rasa replicas on a fresh PostgreSQL copy of the demo portfolio; 20 simulated debtors each go
through a whole conversation over signed webhooks to its public address (greeting, date of
birth, balance, a promise for tomorrow, its confirmation, goodbye), answered through the local
fake Graph API. Once 40% of the turns are over, one replica's Rasa is killed (SIGKILL) and the
supervisor starts it again while the load goes on. Then every accepted message was answered
exactly once (at the fake Graph API, and once in Rasa's tracker), every debtor has exactly the
one promise the assistant confirmed (in the database), and no lock error was logged. A debtor
whose conversation went astray without losing a message (a turn re-run after the crash took
another path) makes the test an expected failure, with the transcript: a known bug."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from cobranza import db
from cobranza.simulation.fake_graph import FakeGraphAPI
from cobranza.testing.cluster import running_cluster
from cobranza.testing.databases import PostgresDatabases, seed_demo
from cobranza.testing.whatsapp_load import (
    Load,
    LoadSettings,
    lock_errors,
    pick_debtors,
    server_env,
    summary,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DEBTORS = 20
KILLED = 1  # the replica killed half-way
PHONE_NUMBER_ID = "109876543210987"


@pytest.fixture(scope="module")
def seeded_postgres(module_postgres: PostgresDatabases) -> str:
    return seed_demo(module_postgres.create())


@pytest.fixture
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(secrets.token_urlsafe(16), PHONE_NUMBER_ID) as fake:
        yield fake


def test_a_killed_replica_loses_and_repeats_nothing(
    model: Path, seeded_postgres: str, graph: FakeGraphAPI, tmp_path: Path
) -> None:
    engine = db.make_engine(seeded_postgres)
    secret = secrets.token_urlsafe(16)
    env = {**server_env(graph, secret), "RASA_MODEL": str(model)}
    try:
        debtors = pick_debtors(engine, DEBTORS)
        with running_cluster(seeded_postgres, 2, env=env, run_dir=tmp_path) as running:
            load = Load(
                running.webhook_url,
                secret,
                graph,
                debtors,
                engine=engine,
                settings=LoadSettings(turn_timeout=150, deadline=240),
            ).start()
            assert load.wait_turns(round(0.4 * load.planned), timeout=240), load.errors[:5]
            running.kill_replica(KILLED)
            result = load.finish()
            running.wait_replica_ready(KILLED, 240)
            locks = lock_errors(running.logs())
    finally:
        engine.dispose()
    report = summary("fault", result) + "\n" + result.details()
    print(report)
    assert result.problems() == [], report
    assert result.accepted == result.planned == DEBTORS * 6, report
    assert result.promised + result.derailed == DEBTORS, report
    assert locks == [], "\n".join(locks)
    if result.derailed:
        # Known (found by this test): killed after the date-of-birth action committed the
        # verification but before Rasa saved the turn, the turn runs again on the other
        # replica, which reads the debtor as verified (the database) while the tracker's slot
        # says not: the date is taken for a promise date and the debtor is asked for the date
        # of birth again. Nothing is lost or sent twice, but no promise is made.
        pytest.xfail(f"{result.derailed} conversation(s) derailed by a re-run turn:\n{report}")
