"""The WhatsApp connector's outbound side against the local fake Graph API (a real HTTP server that
validates payloads as Meta does) and a real migrated database: message shapes, the 24-hour
window, retries with backoff, and logs without phone numbers."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from cobranza import bootstrap, db
from cobranza.channels.whatsapp.output import WhatsAppOutput
from cobranza.channels.whatsapp.parse import parse_webhook
from cobranza.channels.whatsapp.store import WhatsAppStore
from cobranza.clock import SystemClock
from cobranza.config import Secret, WhatsAppSettings, load_settings
from cobranza.db.models import WhatsAppInbound, WhatsAppReplyAttempt
from cobranza.outreach.graph import GraphClient, GraphError
from cobranza.simulation.fake_graph import FakeGraphAPI
from tests.fixtures import load_fixture
from tests.support.whatsapp import PHONE_ID, TOKEN

WA_ID = "5215512345678"


def _new_process_store(url: str) -> WhatsAppStore:
    """The store as a Rasa server builds it at start-up: its own App, engine and clock."""
    settings = load_settings({"DATABASE_URL": url})
    return WhatsAppStore.from_app(bootstrap.build(settings, clock=SystemClock(), profiles={}))


@pytest.fixture
def store(migrated_sqlite: Engine) -> WhatsAppStore:
    return _new_process_store(str(migrated_sqlite.url))


def _output(
    config: WhatsAppSettings, store: WhatsAppStore, reply_to: str | None = None
) -> WhatsAppOutput:
    return WhatsAppOutput(GraphClient(config), store, store.clock, reply_to)


def _wrote(store: WhatsAppStore, wa_id: str, ago: timedelta) -> str:
    """An inbound message ``ago`` ago (the 24-hour window counts from it); its id."""
    now = datetime.now(timezone.utc)
    message_id = f"wamid.{ago.total_seconds()}"
    with db.session_scope(store._sessions) as session:
        session.add(
            WhatsAppInbound(
                message_id=message_id,
                wa_id=wa_id,
                message_type="text",
                sent_at=now - ago,
                received_at=now - ago,
            )
        )
    return message_id


def _attempts(store: WhatsAppStore) -> list[tuple[str, int, str | None]]:
    with db.session_scope(store._sessions) as session:
        rows = session.execute(
            select(
                WhatsAppReplyAttempt.reply_to,
                WhatsAppReplyAttempt.ordinal,
                WhatsAppReplyAttempt.message_id,
            ).order_by(WhatsAppReplyAttempt.reply_to, WhatsAppReplyAttempt.ordinal)
        ).all()
    return [tuple(row) for row in rows]


def _run(output: WhatsAppOutput, message: dict[str, Any]) -> None:
    async def go() -> None:
        try:
            await output.send_response(WA_ID, message)
        finally:
            await output.client.close()

    asyncio.run(go())


def test_text_buttons_and_lists_within_the_window(
    graph: FakeGraphAPI, store: WhatsAppStore
) -> None:
    _wrote(store, WA_ID, timedelta(minutes=5))
    output = _output(graph.settings(), store)
    _run(output, {"text": "¡Hola! ¿En qué te ayudo?"})
    _run(
        output,
        {
            "text": "Elige una opción",
            "buttons": [
                {"title": "Liquidación con descuento especial", "payload": "/afirmar"},
                {"title": "No", "payload": "/negar"},
            ],
        },
    )
    four = [{"title": f"Plan de {n} pagos quincenales", "payload": f"/p{n}"} for n in range(4)]
    _run(output, {"text": "Tus opciones", "buttons": four})
    rows = [{"id": b["payload"], "title": b["title"]} for b in four]
    _run(
        output, {"text": "Tus opciones", "buttons": four, "custom": {"type": "list", "rows": rows}}
    )
    _run(output, {"text": "x" * 5000})
    sent = graph.wait_for(6)
    assert graph.rejected == []
    assert sent[0] == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": WA_ID,
        "type": "text",
        "text": {"body": "¡Hola! ¿En qué te ayudo?"},
    }
    buttons = sent[1]["interactive"]["action"]["buttons"]
    assert [b["reply"]["title"] for b in buttons] == ["Liquidación con…", "No"]
    assert [b["reply"]["id"] for b in buttons] == ["/afirmar", "/negar"]
    for listed in (sent[2], sent[3]):  # 4 choices: a list; buttons + custom list: one list
        assert listed["interactive"]["type"] == "list"
        titles = [r["title"] for r in listed["interactive"]["action"]["sections"][0]["rows"]]
        assert titles[0] == "Plan de 0 pagos…" and len(titles) == 4
    assert [len(m["text"]["body"]) for m in sent[4:6]] == [4096, 904]
    assert len(graph.messages) == 6


def test_outside_the_window_only_the_template_goes(
    graph: FakeGraphAPI, store: WhatsAppStore
) -> None:
    _wrote(store, WA_ID, timedelta(hours=25))
    output = _output(graph.settings(), store)
    _run(output, {"text": "Tu saldo es de $8,450.00"})
    (sent,) = graph.wait_for(1)
    assert sent["type"] == "template"
    assert sent["template"] == {"name": "mensaje_pendiente", "language": {"code": "es_MX"}}
    assert "8,450" not in str(sent)


def test_retries_429_and_5xx_then_succeeds(store: WhatsAppStore) -> None:
    _wrote(store, WA_ID, timedelta(minutes=1))
    with FakeGraphAPI(TOKEN, PHONE_ID, fail_plan={1: 429, 2: 503}) as graph:
        output = _output(graph.settings(), store)
        _run(output, {"text": "hola"})
        assert len(graph.wait_for(1)) == 1
        assert graph.request_count == 3 and len(graph.injected_failures) == 2


def test_gives_up_after_the_attempts_and_logs_no_number(
    store: WhatsAppStore, caplog: pytest.LogCaptureFixture
) -> None:
    _wrote(store, WA_ID, timedelta(minutes=1))
    caplog.set_level(logging.INFO)
    with FakeGraphAPI(TOKEN, PHONE_ID, fail_plan={n: 500 for n in range(1, 10)}) as graph:
        output = _output(graph.settings(max_attempts=3), store)
        with pytest.raises(GraphError):
            _run(output, {"text": "Tu saldo es de $8,450.00"})
        assert graph.request_count == 3 and graph.messages == []
    logged = caplog.text
    assert "Graph API 500" in logged
    assert "5512345678" not in logged and "8,450" not in logged


def test_a_refused_payload_is_not_retried(graph: FakeGraphAPI) -> None:
    client = graph.client()

    async def go() -> None:
        try:
            await client.send({"messaging_product": "whatsapp", "to": WA_ID, "type": "fax"})
        finally:
            await client.close()

    with pytest.raises(GraphError):
        asyncio.run(go())
    assert graph.request_count == 1 and len(graph.rejected) == 1


def test_a_wrong_token_is_refused(graph: FakeGraphAPI, store: WhatsAppStore) -> None:
    _wrote(store, WA_ID, timedelta(minutes=1))
    wrong = graph.settings(access_token=Secret("otro"))
    with pytest.raises(GraphError):
        _run(_output(wrong, store), {"text": "hola"})
    assert graph.rejected[0].status == 401


def test_each_reply_to_a_message_is_recorded_before_it_goes_and_never_sent_twice(
    graph: FakeGraphAPI, store: WhatsAppStore
) -> None:
    """The turn for message M sends two replies; after a crash the turn runs again and sends
    three: the first two are not sent again, the third is. A reply whose call failed stays
    recorded without Meta's id and is not tried again either."""
    message = _wrote(store, WA_ID, timedelta(minutes=5))
    first_run = _output(graph.settings(), store, message)
    _run(first_run, {"text": "uno"})
    _run(first_run, {"text": "dos"})
    rerun = _output(graph.settings(), store, message)
    for text in ("uno", "dos", "tres"):
        _run(rerun, {"text": text})
    assert [m["text"]["body"] for m in graph.messages] == ["uno", "dos", "tres"]
    assert _attempts(store) == [(message, n, graph.message_ids[n]) for n in range(3)]

    refused = _wrote(store, WA_ID, timedelta(minutes=4))
    with pytest.raises(GraphError):
        _run(_output(graph.settings(access_token=Secret("otro")), store, refused), {"text": "x"})
    requests = graph.request_count
    _run(_output(graph.settings(), store, refused), {"text": "x"})
    assert graph.request_count == requests, "an attempted reply is never sent again"
    assert [a for a in _attempts(store) if a[0] == refused] == [(refused, 0, None)]


def test_messages_not_in_reply_to_one_are_not_recorded(
    graph: FakeGraphAPI, store: WhatsAppStore
) -> None:
    """Rasa's own output channel (reminders, an agent's messages) sends every time."""
    _wrote(store, WA_ID, timedelta(minutes=5))
    for _ in range(2):
        _run(_output(graph.settings(), store), {"text": "Recordatorio"})
    assert len(graph.wait_for(2)) == 2
    assert _attempts(store) == []


def test_a_delivery_retried_after_a_restart_is_still_a_duplicate(migrated_sqlite: Engine) -> None:
    (message,), _ = parse_webhook(load_fixture("whatsapp/text"))  # Meta delivers it twice
    before = _new_process_store(str(migrated_sqlite.url))
    assert asyncio.run(before.accept(message)) is True
    after_restart = _new_process_store(str(migrated_sqlite.url))  # a new process, same database
    assert asyncio.run(after_restart.accept(message)) is False


def test_the_server_refuses_to_start_without_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rasa.core.run import create_http_input_channels

    from cobranza.config import PROJECT_ROOT, ConfigError

    for name in WhatsAppSettings.REQUIRED:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", "v")
    with pytest.raises(ConfigError, match=r"WHATSAPP_APP_SECRET.*WHATSAPP_API_URL"):
        create_http_input_channels(None, str(PROJECT_ROOT / "credentials.whatsapp.yml"))
