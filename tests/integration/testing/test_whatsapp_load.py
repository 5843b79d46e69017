"""The load driver over real HTTP, fast: signed webhooks to a stand-in assistant on loopback that
answers through the real fake Graph API, and misbehaves on purpose (a reply sent twice, a
message never answered, a delivery refused once). The driver must see each of them, as it must
see them in the cluster (tests/e2e/test_cluster.py, `make bench-cluster`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from cobranza.simulation.fake_graph import FakeGraphAPI, sign
from cobranza.testing.whatsapp_load.debtors import SimulatedDebtor
from cobranza.testing.whatsapp_load.driver import Load, LoadSettings

SECRET = "stand-in-secret"
SCRIPT = ("hola", "{dob}", "adios")


class StandIn:
    """A webhook that answers each message with one text through the fake Graph API, in the
    background after its 200 (as the real channel does). ``plan`` maps a message's text to
    what goes wrong with it: ``twice`` (the reply is sent twice), ``silent`` (no reply),
    ``refuse`` (the first delivery gets a 502)."""

    def __init__(self, graph: FakeGraphAPI, plan: dict[tuple[str, int], str]) -> None:
        self.graph = graph
        self.plan = plan
        self.seen: set[str] = set()  # delivered
        self.answered: set[str] = set()  # accepted (a redelivery of one is not answered again)
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = stand_in.receive(body, self.headers.get("X-Hub-Signature-256", ""))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/whatsapp/webhook"

    def receive(self, body: bytes, signature: str) -> int:
        if signature != sign(body, SECRET):
            return 403
        value = json.loads(body)["entry"][0]["changes"][0]["value"]
        message = value["messages"][0]
        wa_id, message_id = message["from"], message["id"]
        index = int(message_id.rsplit(".", 1)[1])
        what = self.plan.get((wa_id, index), "")
        with self.lock:
            first = message_id not in self.seen
            self.seen.add(message_id)
            refused = what == "refuse" and first
            fresh = not refused and message_id not in self.answered
            if fresh:
                self.answered.add(message_id)
        if refused:
            return 502
        if fresh and what != "silent":
            copies = 2 if what == "twice" else 1
            words = message["text"]["body"]
            threading.Thread(target=self.answer, args=(wa_id, words, copies)).start()
        return 200

    def answer(self, wa_id: str, words: str, copies: int) -> None:
        time.sleep(0.05)
        for _ in range(copies):
            requests.post(
                self.graph.messages_url,
                json={
                    "messaging_product": "whatsapp",
                    "to": wa_id,
                    "type": "text",
                    "text": {"body": f"eco: {words}"},
                },
                headers={"Authorization": f"Bearer {self.graph.access_token}"},
                timeout=10,
            ).raise_for_status()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI("stand-in-token", "109876543210987") as fake:
        yield fake


DEBTORS = [
    SimulatedDebtor("+525500000001", date(1980, 1, 1)),
    SimulatedDebtor("+525500000002", date(1981, 2, 2)),
    SimulatedDebtor("+525500000003", date(1982, 3, 3)),
]
FAST = LoadSettings(turn_timeout=2.0, first_retry=0.1)


def run(graph: FakeGraphAPI, plan: dict[tuple[str, int], str]) -> Any:
    stand_in = StandIn(graph, plan)
    try:
        load = Load(stand_in.url, SECRET, graph, DEBTORS, script=SCRIPT, settings=FAST)
        return load.run(settle=0.3)
    finally:
        stand_in.close()


def test_a_well_behaved_assistant_answers_every_message_once(graph: FakeGraphAPI) -> None:
    result = run(graph, {})
    assert (result.planned, result.sent, result.accepted, result.answered) == (9, 9, 9, 9)
    assert (result.missing, result.duplicates, result.not_accepted, result.timeouts) == (0, 0, 0, 0)
    assert result.deliveries == 9 and result.statuses == {"200": 9}
    assert len(result.latencies) == 9 and all(0 < s < 2 for s in result.latencies)
    assert result.throughput > 0


def test_each_fault_of_the_assistant_is_reported(graph: FakeGraphAPI) -> None:
    first, second, third = (d.wa_id for d in DEBTORS)
    result = run(graph, {(first, 1): "twice", (second, 0): "silent", (third, 2): "refuse"})
    assert result.duplicates == 1
    assert result.missing == 1 and result.timeouts == 1
    # The refused delivery is delivered again, accepted and answered: not an error.
    assert result.deliveries == 10 and result.statuses == {"200": 9, "502": 1}
    assert (result.accepted, result.not_accepted, result.answered) == (9, 0, 8)
    problems = result.problems()
    assert "duplicate replies: 1" in problems
    assert "accepted messages without an answer: 1" in problems
