"""The cluster under load, with a replica killed: `make bench-cluster`'s fault phase at a size
`make test` affords (2 replicas, 20 debtors, one kill; about 3 minutes on 2 cores).

scripts/cluster.sh (through cobranza/testing/cluster.py) runs nginx, the WhatsApp gateway and two
Rasa replicas on a fresh PostgreSQL copy of the demo portfolio; 20 simulated debtors each go
through a whole conversation over signed webhooks to its public address (greeting, date of
birth, balance, a promise for tomorrow, its confirmation, goodbye), answered through the local
fake Graph API. Once 40% of the turns are over, one replica's Rasa is killed (SIGKILL) and the
supervisor starts it again while the load goes on. Then every accepted message was answered
exactly once (at the fake Graph API, and once in Rasa's tracker), every debtor has exactly the
one promise the assistant confirmed (in the database), and no lock error was logged. On the way:
both replicas take keys through the private nginx (which refuses a webhook without one), Meta's
handshake reaches the gateway, the killed replica is started again under its name and gets its
own keys back, and SIGTERM to the script leaves nothing running. One cluster start for all of it:
starting two replicas is most of the test's time.

A conversation that went astray without losing a message fails it too (with the transcript):
this test found one, a date-of-birth turn run again after the crash read as a promise's day
(actions/answers.py: verified_here)."""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cobranza import db
from cobranza.simulation.fake_graph import FakeGraphAPI
from cobranza.testing.cluster import Cluster, running_cluster
from cobranza.testing.databases import PostgresDatabases, seed_demo
from cobranza.testing.whatsapp_load.checks import lock_errors
from cobranza.testing.whatsapp_load.counts import summary
from cobranza.testing.whatsapp_load.debtors import pick_debtors
from cobranza.testing.whatsapp_load.driver import Load, LoadSettings, server_env

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


ROUTE = "X-Cobranza-Route"
KEYS = [f"{n:064x}" for n in range(24)]


def _upstreams(cluster: Cluster) -> dict[str, str]:
    """Which replica each key's GET / reaches through the private server."""
    found = {}
    for key in KEYS:
        response = requests.get(f"{cluster.internal_url}/", headers={ROUTE: key}, timeout=10)
        assert response.status_code == 200, response.text
        found[key] = response.headers["X-Cobranza-Upstream"].split(", ")[-1]
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _check_routing(cluster: Cluster, verify_token: str) -> dict[str, str]:
    """Both replicas take keys through the private server, which refuses a webhook without a
    key; Meta's handshake reaches the gateway through the public one."""
    routes = _upstreams(cluster)
    assert set(routes.values()) == {f"127.0.0.1:{cluster.replica_port(i)}" for i in range(2)}
    refused = requests.post(f"{cluster.internal_url}/webhooks/whatsapp/webhook", timeout=10)
    assert refused.status_code == 400
    handshake = requests.get(
        cluster.webhook_url,
        params={"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": "42"},
        timeout=10,
    )
    assert (handshake.status_code, handshake.text) == (200, "42")
    return routes


def _stop_leaves_nothing(cluster: Cluster) -> None:
    pids = [int(path.read_text()) for path in cluster.run_dir.glob("*.pid")]
    assert len(pids) >= 8  # 2 × (Rasa, actions), nginx, gateway, console, events, the script
    cluster.process.send_signal(signal.SIGTERM)
    assert cluster.process.wait(timeout=60) == 143
    assert not [pid for pid in pids if _alive(pid)]
    with pytest.raises(ProcessLookupError):
        os.killpg(cluster.process.pid, 0)  # nothing left in its process group
    assert not list(cluster.run_dir.glob("*.pid"))


def test_a_killed_replica_loses_and_repeats_nothing(
    model: Path, seeded_postgres: str, graph: FakeGraphAPI, tmp_path: Path
) -> None:
    engine = db.make_engine(seeded_postgres)
    secret = secrets.token_urlsafe(16)
    verify_token = secrets.token_urlsafe(16)
    env = {**server_env(graph, secret, verify_token), "RASA_MODEL": str(model)}
    try:
        debtors = pick_debtors(engine, DEBTORS)
        with running_cluster(seeded_postgres, 2, env=env, run_dir=tmp_path) as running:
            routes = _check_routing(running, verify_token)
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
            assert f"rasa-{KILLED} exited (status 137)" in running.output.read_text()
            # nginx skips the replica for fail_timeout (10 s) after its last failure (each
            # worker keeps its own count), then gives it back its keys: they come back.
            deadline = time.monotonic() + 45
            while (now := _upstreams(running)) != routes and time.monotonic() < deadline:
                time.sleep(2)
            assert now == routes
            _stop_leaves_nothing(running)
    finally:
        engine.dispose()
    report = summary("fault", result) + "\n" + result.details()
    print(report)
    assert result.problems() == [], report
    assert result.accepted == result.planned == DEBTORS * 6, report
    assert result.promised == DEBTORS and result.derailed == 0, report
    assert locks == [], "\n".join(locks)
