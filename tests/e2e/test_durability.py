"""Nothing is lost when the servers crash: the real servers (scripts/run.sh with the WhatsApp
credentials and the tracker store configured in endpoints.yml), signed webhooks, the local fake
Graph API, one SQLite database that outlives them.

First life: a debtor verifies her identity, another one asks for a person (the bot pauses), and
a third writes while the action server is frozen (SIGSTOP), so the message is acknowledged (200)
and stored but cannot be answered; then the whole server group is killed with SIGKILL. While the
servers are down a fourth message is stored as the webhook would have stored it, and a third
debtor's verified conversation is aged past domain.yml's session expiry. Second life, on the same
database: the two stranded messages are answered exactly once (a redelivery too), the hand-off
is still paused, the verified session is still verified and the expired one is not."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from sqlalchemy import select, text

from cobranza import bootstrap, db
from cobranza.channels.whatsapp.parse import Inbound
from cobranza.channels.whatsapp.store import WhatsAppStore
from cobranza.clock import SystemClock
from cobranza.config import PROJECT_ROOT, load_settings
from cobranza.db.models import WhatsAppInbound
from cobranza.simulation.fake_graph import (
    FakeGraphAPI,
    signed_request,
    text_message,
    webhook_payload,
)
from cobranza.testing.servers import Servers, running_servers
from tests.support.whatsapp import body

pytestmark = pytest.mark.slow

TOKEN, PHONE_ID, SECRET = "EAAG-durable", "109876543210987", "app-secret-durable"
MARIA = "5215512345678"  # verifies with 12/03/1985
JUAN = "5216641234567"  # asks for a person
ANA = "5219981234567"  # verifies with 25/07/1992, then is silent longer than a session lasts
STRANDED = "5215500000701"  # writes while the action server is frozen
WHILE_DOWN = "5215500000702"  # its message is stored while the servers are down
CONTROL = "5215500000703"  # the same words on a healthy server: how many answers one turn makes


@dataclass
class Chat:
    """Signed webhooks to one server life; answers counted at the fake Graph API."""

    servers: Servers
    graph: FakeGraphAPI
    counter: list[int] = field(default_factory=lambda: [0])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.servers.rasa_port}/webhooks/whatsapp/webhook"

    def to(self, wa_id: str) -> list[dict[str, Any]]:
        return [m for m in self.graph.messages if m.get("to") == wa_id]

    def item(self, wa_id: str, words: str) -> dict[str, Any]:
        self.counter[0] += 1
        message_id = f"wamid.durable.{time.monotonic_ns()}.{self.counter[0]}"
        return text_message(wa_id, words, message_id, int(time.time()))

    def post(self, item: dict[str, Any]) -> dict[str, Any]:
        body, headers = signed_request(webhook_payload(item), SECRET)
        reply = requests.post(self.url, data=body, headers=headers, timeout=10)
        assert reply.status_code == 200, reply.text
        result: dict[str, Any] = reply.json()
        return result

    def wait(self, wa_id: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.to(wa_id)) < count:
            assert time.monotonic() < deadline, (
                f"{len(self.to(wa_id))} of {count} answers; rejected: {self.graph.rejected}"
            )
            time.sleep(0.1)
        time.sleep(1.0)  # the rest of the turn, and anything that should not come
        return self.to(wa_id)

    def say(self, wa_id: str, words: str, expect: int = 1) -> str:
        before = len(self.to(wa_id))
        assert self.post(self.item(wa_id, words))["new"] == 1
        return body(self.wait(wa_id, before + expect)[before:])


def group_member(pgid: int, *words: str) -> int:
    """The process of the server group whose command line has all the words (its pid)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        group = int(stat.rsplit(")", 1)[1].split()[2])
        if group == pgid and all(w.encode() in argv for w in words):
            return int(entry.name)
    raise AssertionError(f"no process {words} in group {pgid}")


def inbound_row(database_url: str, message_id: str) -> tuple[str, str | None, str | None]:
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        row = session.execute(
            select(
                WhatsAppInbound.status, WhatsAppInbound.status_reason, WhatsAppInbound.body
            ).where(WhatsAppInbound.message_id == message_id)
        ).one()
    engine.dispose()
    return row.status, row.status_reason, row.body


def age_conversation(database_url: str, sender_id: str, seconds: float) -> None:
    """Move a stored conversation into the past (the row's timestamp and the event's own)."""
    engine = db.make_engine(database_url)
    with engine.begin() as connection:
        rows = connection.execute(
            text("SELECT id, data FROM events WHERE sender_id = :s"), {"s": sender_id}
        ).all()
        for row in rows:
            data = json.loads(row.data)
            data["timestamp"] -= seconds
            connection.execute(
                text("UPDATE events SET timestamp = :t, data = :d WHERE id = :i"),
                {"t": data["timestamp"], "d": json.dumps(data), "i": row.id},
            )
    engine.dispose()


def session_expiry_minutes() -> float:
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return float(domain["session_config"]["session_expiration_time"])


def stored_events(database_url: str, sender_id: str) -> list[dict[str, Any]]:
    """Rasa's events for a conversation, read from the tracker store's table."""
    engine = db.make_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender_id}
        ).all()
    engine.dispose()
    return [json.loads(row.data) for row in rows]


@dataclass
class FirstLife:
    stranded: dict[str, Any]  # the webhook item acknowledged and never answered
    while_down: str  # the message id stored while the servers were down
    control_answers: int
    juan_events: int


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(TOKEN, PHONE_ID) as fake:
        yield fake


@pytest.fixture(scope="module")
def server_env(graph: FakeGraphAPI) -> dict[str, str]:
    return {
        "RASA_CREDENTIALS": "credentials.whatsapp.yml",
        "WHATSAPP_VERIFY_TOKEN": "v",
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
        "WHATSAPP_API_URL": graph.base_url,
    }


@pytest.fixture(scope="module")
def first_life(
    model: Path, database_url: str, graph: FakeGraphAPI, server_env: dict[str, str]
) -> FirstLife:
    with running_servers(database_url, model, extra_env=server_env) as servers:
        chat = Chat(servers, graph)
        assert "fecha de nacimiento" in chat.say(MARIA, "cuanto debo?")
        verified = chat.say(MARIA, "12 de marzo de 1985", expect=2)
        assert "identidad confirmada" in verified and "$8,450.00" in verified
        assert "fecha de nacimiento" in chat.say(ANA, "cuanto debo?")
        assert "$12,000.00" in chat.say(ANA, "25 de julio de 1992", expect=2)
        chat.say(JUAN, "quiero hablar con un asesor")
        assert any(e["event"] == "pause" for e in stored_events(database_url, JUAN))
        chat.say(CONTROL, "hola")
        control_answers = len(chat.to(CONTROL))

        # Freeze the action server: Rasa's turn waits on it, so no answer can go out.
        actions = group_member(servers.process.pid, "cobranza.action_server")
        os.kill(actions, signal.SIGSTOP)
        stranded = chat.item(STRANDED, "hola")
        assert chat.post(stranded)["new"] == 1  # acknowledged: Meta will not deliver it again
        time.sleep(3)
        message_id = stranded["messages"][0]["id"]
        assert inbound_row(database_url, message_id)[0] == "pending"
        assert chat.to(STRANDED) == []
        juan_events = len(stored_events(database_url, JUAN))
        os.killpg(servers.process.pid, signal.SIGKILL)  # the crash: every process at once
        servers.process.wait(timeout=30)

    # A delivery stored as pending while no server runs (the webhook stored it and died before
    # a worker saw it): the next start answers it.
    while_down = f"wamid.durable.down.{time.monotonic_ns()}"
    now = datetime.now(timezone.utc).replace(microsecond=0)
    message = Inbound(while_down, WHILE_DOWN, "text", now, "hola")
    app = bootstrap.build(
        load_settings({"DATABASE_URL": database_url}), clock=SystemClock(), profiles={}
    )
    assert asyncio.run(WhatsAppStore.from_app(app).accept(message))
    app.engine.dispose()
    # Ana's last message, one minute more than a session lasts before the restart.
    age_conversation(database_url, ANA, (session_expiry_minutes() + 1) * 60)
    return FirstLife(stranded, while_down, control_answers, juan_events)


@pytest.fixture(scope="module")
def second_life(
    first_life: FirstLife,
    model: Path,
    database_url: str,
    graph: FakeGraphAPI,
    server_env: dict[str, str],
) -> Iterator[Chat]:
    with running_servers(database_url, model, extra_env=server_env) as servers:
        yield Chat(servers, graph)


def test_a_message_acknowledged_before_a_crash_is_answered_once_after_the_restart(
    first_life: FirstLife, second_life: Chat, database_url: str
) -> None:
    chat, expected = second_life, first_life.control_answers
    assert expected >= 1
    stranded_id = first_life.stranded["messages"][0]["id"]
    for wa_id, message_id in ((STRANDED, stranded_id), (WHILE_DOWN, first_life.while_down)):
        answers = chat.wait(wa_id, expected)
        assert len(answers) == expected, answers
        assert body(answers) == body(chat.to(CONTROL)[:expected])
        status, reason, text_kept = inbound_row(database_url, message_id)
        assert (status, reason, text_kept) == ("done", None, None)
        uttered = [
            e
            for e in stored_events(database_url, wa_id)
            if e["event"] == "user"
            and (e.get("metadata") or {}).get("whatsapp_message_id") == message_id
        ]
        assert len(uttered) == 1, "the conversation saw the message exactly once"

    # Meta retries the same delivery after the restart: still one answer.
    assert chat.post(first_life.stranded)["new"] == 0
    time.sleep(4)
    assert len(chat.to(STRANDED)) == expected


def test_a_paused_hand_off_survives_a_restart(
    first_life: FirstLife, second_life: Chat, database_url: str
) -> None:
    before = len(second_life.to(JUAN))
    assert second_life.post(second_life.item(JUAN, "sigo esperando al asesor"))["new"] == 1
    time.sleep(6)
    assert second_life.to(JUAN)[before:] == [], "the bot answered a paused conversation"
    events = stored_events(database_url, JUAN)
    assert len(events) > first_life.juan_events
    assert any(e["event"] == "pause" for e in events)
    assert [e.get("text") for e in events if e["event"] == "user"][-2:] == [
        "quiero hablar con un asesor",
        "sigo esperando al asesor",
    ]
    servers = second_life.servers
    tracker = requests.get(
        f"http://127.0.0.1:{servers.rasa_port}/conversations/{JUAN}/tracker",
        params={"token": servers.api_token},
        timeout=10,
    )
    assert tracker.status_code == 200 and tracker.json()["paused"] is True


def test_a_verified_session_survives_a_restart(first_life: FirstLife, second_life: Chat) -> None:
    answer = second_life.say(MARIA, "cuanto debo?")
    assert "$8,450.00" in answer and "fecha de nacimiento" not in answer


def test_an_expired_session_is_not_verified_after_a_restart(
    first_life: FirstLife, second_life: Chat, database_url: str
) -> None:
    answer = second_life.say(ANA, "cuanto debo?")
    assert "fecha de nacimiento" in answer and "$" not in answer
    events = stored_events(database_url, ANA)  # the old session is kept, a new one started
    assert [e["event"] for e in events].count("session_started") == 2
    assert "25 de julio de 1992" in [e.get("text") for e in events if e["event"] == "user"]
