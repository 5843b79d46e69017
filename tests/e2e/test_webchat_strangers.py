"""Issue #10, against the real servers over the web chat's Socket.IO protocol: a stranger who
types a debtor's number can neither block the debtor, nor revoke their consent, nor lock them
out, nor open a ticket that shows their file."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import socketio
from sqlalchemy import func, select

from cobranza import db
from cobranza.clock import SystemClock
from cobranza.db.models import Consent, ContactBlock, HandoffTicket
from cobranza.services.identity import lock_status
from cobranza.testing.servers import Servers, running_servers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(model: Path, database_url: str) -> Iterator[Servers]:
    with running_servers(database_url, model) as running:
        yield running


class WebChat:
    """A visitor on the web chat page, speaking the page's Socket.IO protocol."""

    def __init__(self, servers: Servers) -> None:
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self.confirmed: queue.Queue[dict[str, str]] = queue.Queue()
        self.client = socketio.Client()
        self.client.on("bot_uttered", self.replies.put)
        self.client.on("session_confirm", self.confirmed.put)
        self.client.connect(
            f"http://127.0.0.1:{servers.rasa_port}", socketio_path="/socket.io", wait_timeout=20
        )
        self.client.emit("session_request", {})
        self.session_id = self.confirmed.get(timeout=20)["session_id"]

    def say(self, text: str, quiet: float = 2.0, timeout: float = 60) -> str:
        """Send a message; return every reply text that arrives until the bot goes quiet."""
        self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})
        texts: list[str] = []
        deadline = time.monotonic() + timeout
        wait = timeout
        while time.monotonic() < deadline:
            try:
                texts.append(str(self.replies.get(timeout=wait).get("text", "")))
            except queue.Empty:
                break
            wait = quiet
        return "\n".join(texts)

    def close(self) -> None:
        self.client.disconnect()


@pytest.fixture
def chat(servers: Servers) -> Iterator[WebChat]:
    visitor = WebChat(servers)
    yield visitor
    visitor.close()


def _count(database_url: str, query: Any) -> int:
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        value = session.scalar(query)
    engine.dispose()
    return int(value or 0)


def _ticket(database_url: str, sender: str) -> HandoffTicket:
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        ticket = session.execute(
            select(HandoffTicket).where(HandoffTicket.sender_id == sender)
        ).scalar_one()
        session.expunge(ticket)
    engine.dispose()
    return ticket


def _typed(chat: WebChat, phone: str) -> None:
    assert "número de celular" in chat.say("cuanto debo")
    assert "fecha de nacimiento" in chat.say(phone)


def test_wrong_number_for_a_typed_number_blocks_nobody(chat: WebChat, database_url: str) -> None:
    blocks = select(func.count()).select_from(ContactBlock)
    before = _count(database_url, blocks.where(ContactBlock.phone == "+526641234567"))
    _typed(chat, "664 123 4567")  # Juan Carlos
    reply = chat.say("numero equivocado")
    assert "revisará tu reporte" in reply and "$" not in reply
    assert chat.say("oye?", timeout=5) == "", "the conversation stops"
    assert _count(database_url, blocks.where(ContactBlock.phone == "+526641234567")) == before
    assert _ticket(database_url, chat.session_id).reason == "reporte_sin_verificar"


def test_baja_for_a_typed_number_revokes_nothing(chat: WebChat, database_url: str) -> None:
    revoked = (
        select(func.count())
        .select_from(Consent)
        .where(Consent.debtor_phone == "+528112345678", Consent.status == "revoked")
    )
    before = _count(database_url, revoked)
    _typed(chat, "81 1234 5678")  # Carlos
    assert "revisará antes de aplicarla" in chat.say("BAJA")
    assert _count(database_url, revoked) == before
    assert _ticket(database_url, chat.session_id).reason == "reporte_sin_verificar"


def test_three_wrong_dates_lock_the_stranger_not_the_debtor(
    chat: WebChat, database_url: str
) -> None:
    _typed(chat, "998 123 4567")  # Ana Sofía
    assert "no coincide" in chat.say("01/01/1990")
    assert "no coincide" in chat.say("02/02/1990")
    locked = chat.say("03/03/1990")
    assert "$" not in locked
    ticket = _ticket(database_url, chat.session_id)
    assert ticket.reason == "identidad_bloqueada"
    assert (ticket.debt_id, ticket.context["persona"], ticket.context["identity_verified"]) == (
        None,
        None,
        False,
    )
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        assert lock_status(session, "+529981234567", SystemClock(), chat.session_id).locked
        assert not lock_status(session, "+529981234567", SystemClock()).locked, (
            "Ana Sofía herself is not locked out"
        )
    engine.dispose()
