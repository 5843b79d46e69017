"""The WhatsApp connector's inbox on a real database (SQLite and PostgreSQL), the local fake Graph
API for the answers, and a recording stand-in for Rasa's agent (the boundary the channel hands
messages to): every message stored as pending before anything else, processed in order per
sender, marked done or failed exactly once, and what a crash left pending processed once at the
next start."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from cobranza import bootstrap, db
from cobranza.bootstrap import App
from cobranza.channels.tracker_store import CobranzaTrackerStore
from cobranza.channels.whatsapp import WhatsAppInput
from cobranza.channels.whatsapp.config import CONCURRENT_CONVERSATIONS, polite_replies
from cobranza.channels.whatsapp.parse import Inbound, parse_webhook
from cobranza.channels.whatsapp.store import WhatsAppStore
from cobranza.clock import Clock, FixedClock, SystemClock
from cobranza.config import load_settings
from cobranza.db.models import WhatsAppInbound
from cobranza.simulation.fake_graph import FakeGraphAPI
from tests.fixtures import load_fixture

T0 = datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc)


@dataclass
class RecordingAgent:
    """Stands in for ``Agent.handle_message``: records each message, answers "eco: …" through
    the channel's output, optionally waits or fails."""

    received: list[UserMessage] = field(default_factory=list)
    fail_on: str | None = None
    delay: float = 0.0
    running: int = 0
    most_at_once: int = 0

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        self.running += 1
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await asyncio.sleep(self.delay)
            if message.text == self.fail_on:
                raise RuntimeError(f"no pude con {message.text} de {message.sender_id}")
            await message.output_channel.send_text_message(
                message.sender_id, f"eco: {message.text}"
            )
        finally:
            self.running -= 1


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def _app(engine: Engine, clock: Clock | None = None) -> App:
    """What the Rasa server builds at start-up (cobranza.bootstrap), on the test's database."""
    settings = load_settings({"DATABASE_URL": _url(engine)})
    return bootstrap.build(settings, engine=engine, clock=clock or SystemClock(), profiles={})


def _store(engine: Engine) -> WhatsAppStore:
    return WhatsAppStore.from_app(_app(engine))


def _channel(engine: Engine, graph: FakeGraphAPI, clock: Clock | None = None) -> WhatsAppInput:
    return WhatsAppInput(graph.settings(), _app(engine, clock))


def _recent(seconds: int = 0) -> datetime:
    """A message's own timestamp: recent enough for the 24-hour window (answers go as text)."""
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=seconds)


def _text(message_id: str, wa_id: str, words: str, seconds: int = 0) -> Inbound:
    return Inbound(message_id, wa_id, "text", _recent(seconds), words)


def _rows(engine: Engine) -> dict[str, tuple[str, str | None, str | None]]:
    with db.session_scope(db.make_session_factory(engine)) as session:
        rows = session.execute(
            select(
                WhatsAppInbound.message_id,
                WhatsAppInbound.status,
                WhatsAppInbound.status_reason,
                WhatsAppInbound.body,
            )
        ).all()
    return {r.message_id: (r.status, r.status_reason, r.body) for r in rows}


async def _deliver(channel: WhatsAppInput, agent: RecordingAgent, *messages: Inbound) -> int:
    """What the webhook does before its 200: store, then wake the sender's worker."""
    fresh = [m for m in messages if await channel.store.accept(m)]
    for message in sorted(fresh, key=lambda m: (m.wa_id, m.sent_at)):
        channel._enqueue(message, agent)
    return len(fresh)


def test_stored_pending_with_what_processing_needs(database: Engine) -> None:
    store = _store(database)
    text = Inbound("wamid.1", "5215512345678", "text", T0 + timedelta(seconds=1), "cuanto debo")
    image = Inbound("wamid.2", "5215512345678", "image", T0, None, "imagen")
    assert asyncio.run(store.accept(text)) and asyncio.run(store.accept(image))
    assert not asyncio.run(store.accept(text)), "the same id again is a duplicate"
    assert _rows(database) == {
        "wamid.1": ("pending", None, "cuanto debo"),
        "wamid.2": ("pending", None, None),
    }
    pending = asyncio.run(store.pending("5215512345678"))
    assert pending == [image, text]  # in the order they were written
    assert asyncio.run(store.pending_senders()) == {"5215512345678": ["wamid.2", "wamid.1"]}


def test_processed_in_order_per_sender_and_marked_done_once(
    database: Engine, graph: FakeGraphAPI
) -> None:
    channel, agent = _channel(database, graph), RecordingAgent(delay=0.05)
    a, b = "5215500000001", "5215500000002"

    async def go() -> None:
        await _deliver(
            channel,
            agent,
            _text("wamid.a2", a, "dos", 2),
            _text("wamid.b1", b, "uno", 1),
            _text("wamid.a1", a, "uno", 1),
        )
        await _deliver(channel, agent, _text("wamid.a3", a, "tres", 3))
        assert await _deliver(channel, agent, _text("wamid.a1", a, "uno", 1)) == 0
        await channel.idle()
        await channel.client.close()

    asyncio.run(go())
    assert [m.text for m in agent.received if m.sender_id == a] == ["uno", "dos", "tres"]
    assert [m.metadata for m in agent.received if m.sender_id == b] == [
        {"whatsapp_message_id": "wamid.b1"}
    ]
    assert {k: v[0] for k, v in _rows(database).items()} == dict.fromkeys(
        ("wamid.a1", "wamid.a2", "wamid.a3", "wamid.b1"), "done"
    )
    assert all(body is None for _, _, body in _rows(database).values()), "texts not kept"
    assert [m["text"]["body"] for m in graph.messages if m["to"] == a] == [
        "eco: uno",
        "eco: dos",
        "eco: tres",
    ]


def test_a_recorded_batch_is_answered_in_order_on_the_apps_clock(
    migrated_sqlite: Engine, graph: FakeGraphAPI
) -> None:
    """Meta's batch of two entries, Ana's texts delivered out of order: each sender's messages
    reach Rasa in the order they were written. The App's clock stands a minute after them, so
    the 24-hour window is open and the answers go as text (the wall clock plays no part)."""
    messages, statuses = parse_webhook(load_fixture("whatsapp/batch_multi_entry"))
    written = max(m.sent_at for m in messages)
    clock = FixedClock(written + timedelta(minutes=1))
    channel, agent = _channel(migrated_sqlite, graph, clock), RecordingAgent()

    async def go() -> None:
        await channel.store.statuses(statuses)
        assert await _deliver(channel, agent, *messages) == 3
        await channel.idle()
        await channel.client.close()

    asyncio.run(go())
    ana, beto = "5215512345678", "5213398765432"
    assert [m.text for m in agent.received if m.sender_id == ana] == [
        "Ya pagué",
        "¿Me mandan mi comprobante?",
    ]
    assert [m.text for m in agent.received if m.sender_id == beto] == ["Buenas tardes"]
    sent = graph.wait_for(3)
    assert {m["type"] for m in sent} == {"text"}
    assert [m["text"]["body"] for m in sent if m["to"] == ana] == [
        "eco: Ya pagué",
        "eco: ¿Me mandan mi comprobante?",
    ]
    assert {v[0] for v in _rows(migrated_sqlite).values()} == {"done"}


def test_a_message_arriving_while_its_sender_is_busy_is_not_left_behind(
    database: Engine, graph: FakeGraphAPI
) -> None:
    channel = _channel(database, graph)
    wa_id = "5215500000003"
    follow_up = _text("wamid.later", wa_id, "y otra cosa", 5)

    class Interrupted(RecordingAgent):
        async def __call__(self, message: UserMessage) -> None:
            await super().__call__(message)
            if message.text == "primero":  # the next delivery lands while this turn runs
                await _deliver(channel, self, follow_up)

    agent = Interrupted()

    async def go() -> None:
        await _deliver(channel, agent, _text("wamid.first", wa_id, "primero"))
        await channel.idle()
        await channel.client.close()

    asyncio.run(go())
    assert [m.text for m in agent.received] == ["primero", "y otra cosa"]
    assert {v[0] for v in _rows(database).values()} == {"done"}


def test_a_failure_is_marked_with_a_reason_without_personal_data(
    database: Engine, graph: FakeGraphAPI, caplog: pytest.LogCaptureFixture
) -> None:
    channel, agent = _channel(database, graph), RecordingAgent(fail_on="mi clabe es 0123")
    wa_id = "5215500000004"

    async def go() -> None:
        await _deliver(
            channel,
            agent,
            _text("wamid.bad", wa_id, "mi clabe es 0123", 1),
            _text("wamid.good", wa_id, "gracias", 2),
        )
        await channel.idle()
        await channel.client.close()

    asyncio.run(go())
    rows = _rows(database)
    assert rows["wamid.bad"] == ("failed", "RuntimeError", None)
    assert rows["wamid.good"] == ("done", None, None), "the next message is not held up"
    assert "0123" not in caplog.text and wa_id not in caplog.text


def test_what_a_crash_left_pending_is_processed_once_at_the_next_start(
    database: Engine, graph: FakeGraphAPI
) -> None:
    """Two messages stored, the process dies before its worker ran (nothing handled them).
    The next start processes them once; a second recovery finds nothing."""
    crashed = _store(database)
    for message in (
        _text("wamid.c1", "5215500000005", "hola", 1),
        _text("wamid.c2", "5215500000005", "cuanto debo", 2),
        Inbound("wamid.c3", "5215500000006", "sticker", _recent(), None, "sticker"),
    ):
        assert asyncio.run(crashed.accept(message))
    restarted, agent = _channel(database, graph), RecordingAgent()

    async def go() -> tuple[int, int]:
        first = await restarted.recover(agent)
        await restarted.idle()
        again = await restarted.recover(agent)
        await restarted.idle()
        await restarted.client.close()
        return first, again

    assert asyncio.run(go()) == (3, 0)
    assert [m.text for m in agent.received] == ["hola", "cuanto debo"]
    sticker = [m["text"]["body"] for m in graph.messages if m["to"] == "5215500000006"]
    assert sticker == [polite_replies()["sticker"]]
    assert {v[0] for v in _rows(database).values()} == {"done"}


def test_a_turn_completed_before_the_crash_is_not_answered_again(
    migrated_sqlite: Engine, graph: FakeGraphAPI
) -> None:
    """The crash fell after Rasa saved the turn (its answers went out) and before the row was
    marked: the conversation already has the message, so the restart only marks it done."""
    wa_id = "5215500000007"
    crashed = _store(migrated_sqlite)
    assert asyncio.run(crashed.accept(_text("wamid.saved", wa_id, "hola", 1)))
    assert asyncio.run(crashed.accept(_text("wamid.unsaved", wa_id, "cuanto debo", 2)))
    tracker_store = CobranzaTrackerStore(domain=Domain.empty(), app=_app(migrated_sqlite))
    events = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
        UserUttered("hola", metadata={"whatsapp_message_id": "wamid.saved"}),
        ActionExecuted("action_listen"),
    ]
    asyncio.run(tracker_store.save(DialogueStateTracker.from_events(wa_id, events, [])))
    restarted, agent = _channel(migrated_sqlite, graph), RecordingAgent()

    async def go() -> None:
        await restarted.recover(agent, tracker_store)
        await restarted.idle()
        await restarted.client.close()

    asyncio.run(go())
    assert [m.text for m in agent.received] == ["cuanto debo"]
    assert {k: v[0] for k, v in _rows(migrated_sqlite).items()} == {
        "wamid.saved": "done",
        "wamid.unsaved": "done",
    }
    tracker_store.engine.dispose()


def test_conversations_at_once_stay_bounded(migrated_sqlite: Engine, graph: FakeGraphAPI) -> None:
    channel, agent = _channel(migrated_sqlite, graph), RecordingAgent(delay=0.1)
    messages = [_text(f"wamid.many.{n}", f"52155100{n:05d}", "hola") for n in range(20)]

    async def go() -> None:
        await _deliver(channel, agent, *messages)
        await channel.idle()
        await channel.client.close()

    asyncio.run(go())
    assert len(agent.received) == 20
    assert agent.most_at_once == CONCURRENT_CONVERSATIONS
    assert {v[0] for v in _rows(migrated_sqlite).values()} == {"done"}


def test_processing_waits_for_the_action_server(
    migrated_sqlite: Engine, graph: FakeGraphAPI
) -> None:
    """Right after a restart Rasa may be up before the action server: a recovered message run
    then would lose its custom actions. The worker waits until the action server listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = _store(migrated_sqlite)
    assert asyncio.run(store.accept(_text("wamid.wait", "5215500000008", "hola")))
    channel, agent = _channel(migrated_sqlite, graph), RecordingAgent()

    async def go() -> tuple[int, int]:
        channel.hold_until_started()
        start = asyncio.create_task(
            channel.start(agent, None, f"http://127.0.0.1:{port}/webhook", poll=0.05)
        )
        await asyncio.sleep(0.5)
        before = len(agent.received)
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", port)
        await start
        await channel.idle()
        server.close()
        await channel.client.close()
        return before, len(agent.received)

    assert asyncio.run(go()) == (0, 1)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_messages_from_before_the_upgrade_count_as_handled(
    backend: str, request: pytest.FixtureRequest
) -> None:
    """Rows written before migration 0007 were handled in memory: the upgrade marks them
    done, so the first start on the new version does not answer them again."""
    from sqlalchemy import text

    engine: Engine = request.getfixturevalue(f"empty_{backend}")
    db.upgrade(engine, "0005")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO whatsapp_inbound (message_id, wa_id, message_type, sent_at, "
                "received_at) VALUES ('wamid.viejo', '5215512345678', 'text', :t, :t)"
            ),
            {"t": T0.replace(tzinfo=None)},
        )
    db.upgrade(engine)
    assert _rows(engine) == {"wamid.viejo": ("done", None, None)}
    assert asyncio.run(_store(engine).pending_senders()) == {}
    with pytest.raises(IntegrityError):  # the status CHECK constraint
        with engine.begin() as connection:
            connection.execute(text("UPDATE whatsapp_inbound SET status = 'olvidado'"))
