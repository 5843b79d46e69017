"""End to end: scripts/cluster.sh (`make run-cluster`) with two replicas on PostgreSQL, through
cobranza/testing/cluster.py: both replicas answer through the private nginx, a replica whose
Rasa is killed is started again under its name while nginx sends its keys to the other, and
SIGTERM leaves nothing running. The traffic itself (signed webhooks, the fault test) is
tests/e2e/test_cluster.py's and `make bench-cluster`'s."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from cobranza.simulation.fake_graph import signed_request, text_message, webhook_payload
from cobranza.testing.cluster import Cluster, running_cluster
from cobranza.testing.servers import free_port
from tests.support.db import PostgresDatabases

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROUTE = "X-Cobranza-Route"
VERIFY = "verifica-esto"
SECRET = "secreto-de-la-app"
PHONE_ID = "109876543210987"
KEYS = [f"{n:064x}" for n in range(24)]


def _env() -> dict[str, str]:
    return {
        "WHATSAPP_VERIFY_TOKEN": VERIFY,
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_ACCESS_TOKEN": "EAAG-prueba",
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
        # Nothing is sent: the database is empty and no message comes in.
        "WHATSAPP_API_URL": f"http://127.0.0.1:{free_port()}/v21.0",
    }


def _upstreams(cluster: Cluster) -> dict[str, str]:
    """Which replica each key's GET / reaches through the private server."""
    found = {}
    for key in KEYS:
        response = requests.get(f"{cluster.internal_url}/", headers={ROUTE: key}, timeout=10)
        assert response.status_code == 200, response.text
        assert response.text.startswith("Hello from Rasa")
        found[key] = response.headers["X-Cobranza-Upstream"].split(", ")[-1]
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_two_replicas_start_a_killed_one_comes_back_and_sigterm_stops_all(
    model: Path, module_postgres: PostgresDatabases, tmp_path: Path
) -> None:
    started = time.monotonic()
    with running_cluster(
        module_postgres.create(), 2, env=_env(), run_dir=tmp_path / "cluster", ready_timeout=300
    ) as cluster:
        print(f"cluster of 2 ready in {time.monotonic() - started:.0f} s")
        replicas = {f"127.0.0.1:{cluster.replica_port(i)}" for i in range(2)}
        before = _upstreams(cluster)
        assert set(before.values()) == replicas
        refused = requests.post(f"{cluster.internal_url}/webhooks/whatsapp/webhook", timeout=10)
        assert refused.status_code == 400
        handshake = requests.get(
            cluster.webhook_url,
            params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "42"},
            timeout=10,
        )
        assert (handshake.status_code, handshake.text) == (200, "42")
        # A signed delivery: gateway -> private nginx -> the sender's replica, which stores
        # it before its 200 (the gateway answers 200 only then).
        payload = webhook_payload(text_message("5215512345678", "hola"), phone_number_id=PHONE_ID)
        body, headers = signed_request(payload, SECRET)
        delivered = requests.post(cluster.webhook_url, data=body, headers=headers, timeout=30)
        assert delivered.status_code == 200, delivered.text

        killed = cluster.kill_replica(0)
        # While rasa-0 is down its keys reach rasa-1; nobody else's move.
        during = _upstreams(cluster)
        assert set(during.values()) == {f"127.0.0.1:{cluster.replica_port(1)}"}
        deadline = time.monotonic() + 30
        while cluster.replica_pid(0) == killed:
            assert time.monotonic() < deadline, cluster.tail()
            time.sleep(0.5)
        restarted = time.monotonic()
        cluster.wait_replica_ready(0, 240)
        print(f"rasa-0 answered again {time.monotonic() - restarted:.0f} s after its restart")
        assert "rasa-0 exited (status 137)" in cluster.output.read_text()
        # nginx skips rasa-0 for fail_timeout (10 s) after the failure, then returns its keys.
        time.sleep(11)
        assert _upstreams(cluster) == before

        pids = [int(path.read_text()) for path in cluster.run_dir.glob("*.pid")]
        assert len(pids) >= 8  # 2 × (Rasa, actions), nginx, console, outreach, events, script
        cluster.process.send_signal(signal.SIGTERM)
        assert cluster.process.wait(timeout=60) == 143
        assert not [pid for pid in pids if _alive(pid)]
        with pytest.raises(ProcessLookupError):
            os.killpg(cluster.process.pid, 0)  # nothing left in its process group
        assert not list(cluster.run_dir.glob("*.pid"))
