"""The hand-off loop over WhatsApp, through the console's JSON API (what a helpdesk would use):
the debtor asks for a person → a ticket → two agents race to claim it (one wins) → the agent
reads the transcript (with what the debtor wrote while waiting), answers on WhatsApp (the fake
Graph API receives it), records a promise with the bot's validation and folio, hands the
conversation back, and the assistant answers the debtor's next message. Real servers
(scripts/run.sh: action server, Rasa, console), signed webhooks, a real database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from sqlalchemy import select

from cobranza import db
from cobranza.clock import SystemClock
from cobranza.db.models import AuditLog, HandoffTicket, Promise
from cobranza.services import agents
from cobranza.simulation.fake_graph import (
    FakeGraphAPI,
    signed_request,
    text_message,
    webhook_payload,
)
from cobranza.testing.servers import Servers, running_servers

pytestmark = pytest.mark.slow

TOKEN, PHONE_ID, SECRET = "EAAG-consola", "109876543210987", "app-secret"
JUAN = "5216641234567"  # Juan Carlos, Tijuana


@pytest.fixture(scope="module")
def graph() -> Iterator[FakeGraphAPI]:
    with FakeGraphAPI(TOKEN, PHONE_ID) as fake:
        yield fake


@pytest.fixture(scope="module")
def servers(model: Path, database_url: str, graph: FakeGraphAPI) -> Iterator[Servers]:
    sessions = db.make_session_factory(db.make_engine(database_url))
    with db.session_scope(sessions) as session:
        agents.add_agent(session, "ana.ruiz", "Ana Ruiz", "clave-de-ana-123", SystemClock())
        agents.add_agent(session, "beto.diaz", "Beto Díaz", "clave-de-beto-123", SystemClock())
    env = {
        "RASA_CREDENTIALS": "credentials.whatsapp.yml",
        "WHATSAPP_VERIFY_TOKEN": "v",
        "WHATSAPP_APP_SECRET": SECRET,
        "WHATSAPP_ACCESS_TOKEN": TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
        "WHATSAPP_API_URL": graph.base_url,
    }
    with running_servers(database_url, model, extra_env=env) as running:
        yield running


def _debtor_says(servers: Servers, graph: FakeGraphAPI, text: str, expect: int) -> list[Any]:
    before = len([m for m in graph.messages if m["to"] == JUAN])
    item = text_message(JUAN, text, f"wamid.consola.{time.monotonic_ns()}", int(time.time()))
    body, headers = signed_request(webhook_payload(item), SECRET)
    url = f"http://127.0.0.1:{servers.rasa_port}/webhooks/whatsapp/webhook"
    assert requests.post(url, data=body, headers=headers, timeout=10).status_code == 200
    deadline = time.monotonic() + 30
    while True:
        mine = [m for m in graph.messages if m["to"] == JUAN][before:]
        if len(mine) >= expect or time.monotonic() > deadline:
            time.sleep(1.0 if expect == 0 else 0.3)
            return [m for m in graph.messages if m["to"] == JUAN][before:]
        time.sleep(0.1)


def _today() -> date:
    """The console runs on the system clock, in the debtor's zone (Tijuana)."""
    return datetime.now(ZoneInfo("America/Tijuana")).date()


# Every POST to the console carries the console's header, as its page does (a cross-site form
# cannot set it; without it the console answers 403).
CONSOLE_HEADERS = {"X-Consola": "1"}


def _login(servers: Servers, username: str, password: str) -> requests.Session:
    agent = requests.Session()
    agent.headers.update(CONSOLE_HEADERS)
    reply = agent.post(
        f"{servers.console_url}/api/login",
        json={"username": username, "password": password},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    assert "HttpOnly" in reply.headers["Set-Cookie"]
    return agent


def test_handoff_loop_over_whatsapp(
    servers: Servers, graph: FakeGraphAPI, database_url: str
) -> None:
    api = servers.console_url
    assert requests.get(f"{api}/api/tickets", timeout=10).status_code == 401
    bad = requests.post(
        f"{api}/api/login",
        json={"username": "ana.ruiz", "password": "no"},
        headers=CONSOLE_HEADERS,
        timeout=10,
    )
    assert bad.status_code == 401

    # The agent sees the debtor's file only for a conversation whose date of birth was verified.
    assert "fecha de nacimiento" in str(_debtor_says(servers, graph, "cuanto debo?", expect=1))
    verified = _debtor_says(servers, graph, "2 de noviembre de 1979", expect=2)
    assert "$23,900.50" in str(verified)
    told = _debtor_says(servers, graph, "quiero hablar con una persona", expect=1)
    assert any("asesor" in str(m).lower() for m in told)
    assert _debtor_says(servers, graph, "sigo esperando", expect=0) == [], "paused: no bot reply"

    ana = _login(servers, "ana.ruiz", "clave-de-ana-123")
    beto = _login(servers, "beto.diaz", "clave-de-beto-123")
    queue = ana.get(f"{api}/api/tickets", timeout=10).json()["tickets"]
    ticket = next(t for t in queue if t["sender_id"] == JUAN)
    assert ticket["status"] == "open" and ticket["reason"] == "solicitud_agente"

    results: dict[str, int] = {}
    start = threading.Barrier(2)

    def claim(name: str, agent: requests.Session) -> None:
        start.wait()
        results[name] = agent.post(
            f"{api}/api/tickets/{ticket['id']}/claim", timeout=10
        ).status_code

    racers = [threading.Thread(target=claim, args=a) for a in (("ana", ana), ("beto", beto))]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    assert sorted(results.values()) == [200, 409]
    owner, other = (ana, beto) if results["ana"] == 200 else (beto, ana)
    owner_name = "ana.ruiz" if owner is ana else "beto.diaz"

    detail = owner.get(f"{api}/api/tickets/{ticket['id']}", timeout=10).json()
    said = [line["text"] for line in detail["transcript"] if line["from"] == "deudor"]
    assert said[-2:] == ["quiero hablar con una persona", "sigo esperando"]
    assert detail["identity"] == {
        "verified": True,
        "phone": "+526641234567",
        "label": "número verificado",
    }
    assert detail["debtor"]["balance_text"] == "$23,900.50"
    assert detail["window"]["open"] is True and detail["canned"]

    refused = other.post(f"{api}/api/tickets/{ticket['id']}/reply", json={"text": "hola"})
    assert refused.status_code == 409, "only the agent who claimed it answers"
    sent = owner.post(
        f"{api}/api/tickets/{ticket['id']}/reply",
        json={"text": "Hola Juan Carlos, soy tu asesora. ¿Cuánto podrías pagar?"},
        timeout=30,
    )
    assert sent.status_code == 200, sent.text
    graph.wait_for(len(graph.messages), timeout=1)
    deadline = time.monotonic() + 20
    while not any("soy tu asesora" in str(m) for m in graph.messages):
        assert time.monotonic() < deadline, graph.messages[-3:]
        time.sleep(0.2)

    too_far = owner.post(
        f"{api}/api/tickets/{ticket['id']}/promise",
        json={"amount": "1000", "date": (_today() + timedelta(days=200)).isoformat()},
        timeout=10,
    )
    assert too_far.status_code == 422 and "lejos" in too_far.json()["error"]
    promised = owner.post(
        f"{api}/api/tickets/{ticket['id']}/promise",
        json={"amount": "1,500.00", "date": (_today() + timedelta(days=3)).isoformat()},
        timeout=10,
    )
    assert promised.status_code == 200, promised.text
    folio = promised.json()["folio"]
    assert owner.post(f"{api}/api/tickets/{ticket['id']}/resume", timeout=10).status_code == 200

    answered = _debtor_says(servers, graph, "hola", expect=1)
    assert answered, "the assistant answers again after the hand-back"

    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        promise = session.execute(select(Promise).where(Promise.folio == folio)).scalar_one()
        assert promise.created_by == f"agent:{owner_name}" and promise.channel == "whatsapp"
        closed = session.get(HandoffTicket, ticket["id"])
        assert closed is not None and closed.outcome == "devuelto_al_asistente"
        trail = (
            session.execute(select(AuditLog.action).where(AuditLog.actor == f"agent:{owner_name}"))
            .scalars()
            .all()
        )
    engine.dispose()
    for action in (
        "agent_login",
        "ticket_claimed",
        "agent_viewed_debtor",
        "agent_reply",
        "promise_recorded",
    ):
        assert action in trail, (action, trail)
    assert "ticket_closed" in trail
