"""The WhatsApp Cloud API channel end to end: the real Rasa server started by scripts/run.sh with
credentials.whatsapp.yml, signed webhooks posted to it, and a local fake of the Graph API (a real
HTTP server that validates every message it receives) standing in for Meta."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import func, select

from cobranza import db
from cobranza.config import PROJECT_ROOT
from cobranza.db.models import (
    ContactAttempt,
    OutreachMessage,
    Promise,
    WhatsAppInbound,
    WhatsAppOutbound,
    WhatsAppStatus,
)
from cobranza.simulation.fake_graph import (
    FakeGraphAPI,
    MediaType,
    interactive_reply,
    media_message,
    sign,
    signed_request,
    status_update,
    text_message,
    webhook_payload,
)
from cobranza.testing.servers import Servers, running_servers
from tests.support.whatsapp import body

pytestmark = pytest.mark.slow

TOKEN, PHONE_ID, SECRET, VERIFY = "EAAG-prueba", "109876543210987", "app-secret", "verifica-esto"
MARIA = "5215512345678"
ANA = "5219981234567"  # Ana Sofía, Cancún: no other test here writes as her


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(TOKEN, PHONE_ID) as fake:
        yield fake


@pytest.fixture(scope="module")
def servers(model: Path, database_url: str, graph: FakeGraphAPI) -> Iterator[Servers]:
    env = {
        "RASA_CREDENTIALS": "credentials.whatsapp.yml",
        "WHATSAPP_VERIFY_TOKEN": VERIFY,
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
        "WHATSAPP_API_URL": graph.base_url,
    }
    with running_servers(database_url, model, extra_env=env) as running:
        yield running


class Conversation:
    """Posts signed webhooks and waits for the answers the fake Graph API receives."""

    def __init__(self, servers: Servers, graph: FakeGraphAPI) -> None:
        self.url = f"http://127.0.0.1:{servers.rasa_port}/webhooks/whatsapp/webhook"
        self.graph = graph
        self.counter = 0

    def post(self, payload: dict[str, Any]) -> requests.Response:
        body, headers = signed_request(payload, SECRET)
        return requests.post(self.url, data=body, headers=headers, timeout=10)

    def next_id(self) -> str:
        self.counter += 1
        return f"wamid.prueba.{time.monotonic_ns()}.{self.counter}"

    def to(self, wa_id: str) -> list[dict[str, Any]]:
        return [m for m in self.graph.messages if m.get("to") == wa_id]

    def send(self, wa_id: str, item: dict[str, Any], expect: int = 1) -> list[dict[str, Any]]:
        """Post one message; return the answers it produced (at least ``expect``)."""
        before = len(self.to(wa_id))
        reply = self.post(webhook_payload(item))
        assert reply.status_code == 200, reply.text
        deadline = time.monotonic() + 30
        while len(self.to(wa_id)) < before + expect:
            assert time.monotonic() < deadline, (
                f"no answer to {item}; rejected: {self.graph.rejected}"
            )
            time.sleep(0.1)
        time.sleep(0.5)  # the rest of this turn's messages
        return self.to(wa_id)[before:]

    def say(self, wa_id: str, text: str, expect: int = 1) -> list[dict[str, Any]]:
        return self.send(wa_id, text_message(wa_id, text, self.next_id(), int(time.time())), expect)


@pytest.fixture
def chat(servers: Servers, graph: FakeGraphAPI) -> Conversation:
    return Conversation(servers, graph)


def test_verification_handshake(chat: Conversation) -> None:
    ok = requests.get(
        chat.url,
        params={"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"},
        timeout=10,
    )
    assert (ok.status_code, ok.text) == (200, "1158201444")
    wrong = requests.get(
        chat.url,
        params={"hub.mode": "subscribe", "hub.verify_token": "otro", "hub.challenge": "1"},
        timeout=10,
    )
    assert wrong.status_code == 403


def test_bad_or_missing_signature_is_refused_and_nothing_is_processed(
    chat: Conversation, database_url: str
) -> None:
    payload = webhook_payload(text_message("5215500000001", "hola", "wamid.falso.1", 1795000000))
    raw = json.dumps(payload).encode()
    for headers in (
        {"Content-Type": "application/json"},
        {"X-Hub-Signature-256": sign(raw, "no-es-el-secreto")},
        {"X-Hub-Signature-256": sign(raw + b" ", SECRET)},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
    ):
        assert requests.post(chat.url, data=raw, headers=headers, timeout=10).status_code == 403
    malformed = b'{"object": "whatsapp_business_account", "entry": [{"changes": [1'
    bad = requests.post(
        chat.url, data=malformed, headers={"X-Hub-Signature-256": sign(malformed, SECRET)}
    )
    assert bad.status_code == 400 and "not understood" in bad.text
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        stored = session.execute(
            select(func.count()).where(WhatsAppInbound.message_id == "wamid.falso.1")
        ).scalar_one()
    engine.dispose()
    assert stored == 0 and chat.to("5215500000001") == []


def test_a_duplicate_delivery_has_one_effect(chat: Conversation) -> None:
    wa_id = "5215500000002"
    item = text_message(wa_id, "hola", chat.next_id(), int(time.time()))
    first = chat.post(webhook_payload(item))
    again = chat.post(webhook_payload(item))
    assert first.json()["new"] == 1 and again.json()["new"] == 0
    time.sleep(3)
    assert len(chat.to(wa_id)) == 1


def test_a_batch_is_answered_in_order_per_sender(chat: Conversation) -> None:
    a, b = "5215500000003", "5215500000004"
    now = int(time.time())
    items = [
        media_message(a, "sticker", chat.next_id(), now),
        media_message(b, "location", chat.next_id(), now),
        media_message(a, "image", chat.next_id(), now + 1),
        media_message(b, "contacts", chat.next_id(), now + 1),
    ]
    reply = chat.post(webhook_payload(items))
    assert reply.status_code == 200 and reply.json()["new"] == 4
    chat.graph.wait_for(len(chat.graph.messages) + 0, timeout=1)
    deadline = time.monotonic() + 20
    while (len(chat.to(a)), len(chat.to(b))) != (2, 2):
        assert time.monotonic() < deadline, (chat.to(a), chat.to(b))
        time.sleep(0.1)
    assert "escribas tu consulta" in body(chat.to(a)[:1]) and "imagen" in body(chat.to(a)[1:])
    assert "ubicación" in body(chat.to(b)[:1]) and "contacto" in body(chat.to(b)[1:])


@pytest.mark.parametrize(
    ("kind", "options", "expected"),
    [
        ("audio", {"voice": True}, "notas de voz"),
        ("audio", {}, "audios"),
        ("video", {}, "video"),
        ("document", {}, "documento"),
        ("reaction", {}, "Gracias"),
        ("unsupported", {}, "ese tipo de mensaje"),
    ],
)
def test_every_kind_of_media_gets_a_polite_answer(
    chat: Conversation, kind: MediaType, options: dict[str, Any], expected: str
) -> None:
    wa_id = f"52155000001{len(kind):02d}"
    item = media_message(wa_id, kind, chat.next_id(), int(time.time()), **options)
    answers = chat.send(wa_id, item)
    assert expected in body(answers)


def test_status_callbacks_are_stored(chat: Conversation, database_url: str) -> None:
    now = int(time.time())
    payload = webhook_payload(
        [
            status_update("5215512345678", "wamid.salida.1", "delivered", now),
            status_update("5215512345678", "wamid.salida.1", "read", now + 5),
            status_update("5215512345678", "wamid.salida.2", "failed", now, error_code=131047),
        ]
    )
    reply = chat.post(payload)
    assert reply.status_code == 200 and reply.json()["statuses"] == 3
    assert chat.post(payload).status_code == 200  # delivered twice: stored once
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        rows = session.execute(
            select(WhatsAppStatus.message_id, WhatsAppStatus.status, WhatsAppStatus.error_code)
            .where(WhatsAppStatus.message_id.like("wamid.salida.%"))
            .order_by(WhatsAppStatus.id)
        ).all()
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("wamid.salida.1", "delivered", None),
        ("wamid.salida.1", "read", None),
        ("wamid.salida.2", "failed", 131047),
    ]


def test_from_verification_to_a_promise(chat: Conversation, database_url: str) -> None:
    greeting = chat.say(MARIA, "hola")
    assert "Cobi" in body(greeting) and "$" not in body(greeting)
    assert "fecha de nacimiento" in body(chat.say(MARIA, "cuanto debo?"))
    balance = chat.say(MARIA, "12 de marzo de 1985", expect=2)
    assert "identidad confirmada" in body(balance) and "$8,450.00" in body(balance)
    plans = chat.say(MARIA, "que opciones de pago tengo", expect=2)
    interactive = [m for m in plans if m["type"] == "interactive"]
    assert interactive, plans
    choice = interactive[-1]["interactive"]
    if choice["type"] == "button":
        options = [b["reply"] for b in choice["action"]["buttons"]]
        assert all(len(o["title"]) <= 20 for o in options)
    else:
        options = [r for s in choice["action"]["sections"] for r in s["rows"]]
        assert all(len(o["title"]) <= 24 for o in options)
    picked = options[0]
    kind: Literal["button_reply", "list_reply"] = (
        "button_reply" if choice["type"] == "button" else "list_reply"
    )
    agreed = chat.send(
        MARIA, interactive_reply(MARIA, kind, picked["id"], picked["title"], chat.next_id())
    )
    assert "CV-" in body(agreed)
    assert "¿Confirmas $500.00" in body(chat.say(MARIA, "te pago 500 el viernes"))
    recorded = body(chat.say(MARIA, "sí"))
    assert "folio PP-" in recorded
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        promise = session.execute(
            select(Promise).where(Promise.folio == re.findall(r"PP-\d{8}-\w+", recorded)[0])
        ).scalar_one()
        assert promise.channel == "whatsapp"
        sent = session.execute(
            select(func.count()).where(WhatsAppOutbound.wa_id == MARIA)
        ).scalar_one()
    engine.dispose()
    assert sent == len(chat.to(MARIA)), "every message the fake accepted is recorded"
    assert chat.graph.rejected == [], chat.graph.rejected


def test_a_campaign_message_is_sent_once_settled_and_its_reply_lands_in_context(
    chat: Conversation, database_url: str, graph: FakeGraphAPI
) -> None:
    """The outbound half end to end: a planned row sent by `cobranza outreach run` (at noon
    yesterday in Ana's zone, so the test does not depend on the hour it runs) to the fake Graph
    API; Meta's status callback settles it through the real webhook; Ana answers, and after her
    date of birth the assistant says why we wrote."""
    cancun = ZoneInfo("America/Cancun")
    noon = (datetime.now(cancun) - timedelta(days=1)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )
    engine = db.make_engine(database_url)
    sessions = db.make_session_factory(engine)
    with db.session_scope(sessions) as session:
        session.add(
            OutreachMessage(
                debtor_phone="+529981234567",
                campaign="avanzada_61_90",
                step="aviso_semanal",
                planned_on=noon.date(),
                template="opciones_cuenta",
                parameters=["Ana"],
                priority=50,
                not_before=noon.astimezone(timezone.utc),
                expires_at=(noon + timedelta(hours=24)).astimezone(timezone.utc),
                status="planned",
                attempts=0,
                created_at=(noon - timedelta(hours=6)).astimezone(timezone.utc),
            )
        )
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "WHATSAPP_VERIFY_TOKEN": VERIFY,
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
        "WHATSAPP_API_URL": graph.base_url,
    }
    command = [str(PROJECT_ROOT / ".venv" / "bin" / "cobranza"), "outreach", "run", "--json"]
    for _ in range(2):  # the second run finds nothing to send
        result = subprocess.run(
            [*command, "--at", noon.isoformat()], env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["claimed"] == 0
    [template] = chat.to(ANA)
    assert template["type"] == "template" and template["template"]["name"] == "opciones_cuenta"
    assert "$" not in json.dumps(template)  # nothing about the debt before identity
    wamid = graph.message_ids[graph.messages.index(template)]
    delivered = webhook_payload([status_update(ANA, wamid, "delivered", int(noon.timestamp()) + 5)])
    assert chat.post(delivered).status_code == 200
    time.sleep(0.5)
    with db.session_scope(sessions) as session:
        row = session.execute(
            select(OutreachMessage).where(OutreachMessage.wamid == wamid)
        ).scalar_one()
        assert row.status == "delivered"

    greeting = chat.say(ANA, "hola, me llegó su mensaje")
    assert "$" not in body(greeting) and "Te escribimos" not in body(greeting)
    assert "fecha de nacimiento" in body(chat.say(ANA, "de que se trata?"))
    verified = body(chat.say(ANA, "25/07/1992", expect=2))
    assert "identidad confirmada" in verified
    assert "Te escribimos porque tu cuenta tiene pagos pendientes" in verified
    with db.session_scope(sessions) as session:
        row = session.execute(
            select(OutreachMessage).where(OutreachMessage.wamid == wamid)
        ).scalar_one()
        assert row.status == "read" and row.replied_at is not None
        replies = session.execute(
            select(func.count()).where(
                ContactAttempt.debtor_phone == "+529981234567", ContactAttempt.outcome == "reply"
            )
        ).scalar_one()
    engine.dispose()
    assert replies == 1, "three messages from Ana answer one campaign message once"
