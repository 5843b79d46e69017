"""The events consumer (cobranza/events/consumer.py) against the real RabbitMQ on loopback and
real SQLite and PostgreSQL databases. Rasa's own tracker store and PikaEventBroker publish the
events, so the messages are Rasa's, not ours; each test has its own queue and exchange and
deletes them."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import pytest
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.config import EventsSettings, Secret
from cobranza.db.models import ConversationTurn
from cobranza.events.consumer import Consumer
from tests.support import rabbitmq
from tests.support.clock import NOW
from tests.support.rabbitmq import Names

KEY = "k" * 40
AT = datetime(2026, 11, 22, 17, 0, tzinfo=timezone.utc).timestamp()
PHONE = "+525512345678"


@pytest.fixture
def sessions(migrated_sessions: sessionmaker) -> sessionmaker:
    return migrated_sessions


@pytest.fixture
def names() -> Iterator[Names]:
    found = rabbitmq.fresh_names()
    yield found
    asyncio.run(rabbitmq.delete(found))


def settings(names: Names, *, url: str = rabbitmq.URL, prefetch: int = 10) -> EventsSettings:
    return EventsSettings(
        broker_url=Secret(url),
        broker_display=url.replace("guest:guest", "guest:***"),
        sender_key=Secret(KEY),
        queue=names.queue,
        prefetch=prefetch,
        max_message_bytes=64 * 1024,
        reconnect_max_seconds=0.4,
    )


def consumer(sessions: sessionmaker, config: EventsSettings, **kw: Any) -> Consumer:
    return Consumer(sessions, config, 0.5, FixedClock(NOW), retry_base=0.05, **kw)


def said(intent: str, confidence: float, channel: str, at: float) -> UserUttered:
    parse = {
        "intent": {"name": intent, "confidence": confidence},
        "entities": [],
        "text": "quiero pagar el viernes",
        "intent_ranking": [{"name": intent, "confidence": confidence}],
    }
    return UserUttered(
        "quiero pagar el viernes",
        parse["intent"],
        parse_data=parse,
        input_channel=channel,
        timestamp=at,
    )


def conversation(
    sender: str, intent: str = "saludar", confidence: float = 0.93, channel: str = "whatsapp",
    at: float = AT, bots: int = 1,
) -> DialogueStateTracker:  # fmt: skip
    """One turn as Rasa stores it: session start, the user's message, the actions, the bot's
    answers (6 + 2 × bots events: 1 user and ``bots`` bot messages)."""
    events: list[Event] = [
        ActionExecuted("action_session_start", timestamp=at - 0.003),
        SessionStarted(timestamp=at - 0.002),
        ActionExecuted("action_listen", timestamp=at - 0.001),
        said(intent, confidence, channel, at),
        SlotSet("identidad_verificada", False, timestamp=at + 0.001),
    ]
    for n in range(bots):
        events += [
            ActionExecuted("utter_saludo", timestamp=at + 0.01 * (n + 1)),
            BotUttered(
                "Hola, ¿en qué te ayudo?",
                metadata={"utter_action": "utter_saludo"},
                timestamp=at + 0.01 * (n + 1) + 0.001,
            ),
        ]
    events.append(ActionExecuted("action_listen", timestamp=at + 1))
    return DialogueStateTracker.from_events(sender, events)


def rows(sessions: sessionmaker) -> list[ConversationTurn]:
    with db.session_scope(sessions) as session:
        found = list(session.execute(select(ConversationTurn)).scalars())
        session.expunge_all()
        return found


async def until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


async def run_until(c: Consumer, done: Callable[[], bool], timeout: float = 30) -> None:
    """Run ``c`` until ``done()``, then stop it as SIGTERM does and wait for it to return."""
    stop = asyncio.Event()
    task = asyncio.create_task(c.run(stop))
    try:
        await until(lambda: done() or task.done(), timeout)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def seen(c: Consumer) -> int:
    t = c.tally
    return t.stored + t.duplicates + sum(t.ignored.values()) + sum(t.malformed.values())


def test_rasa_events_become_rows_without_personal_data(
    sessions: sessionmaker, names: Names, migrated_engine: Engine
) -> None:
    async def scenario() -> Consumer:
        published = await rabbitmq.publish_with_rasa(
            names,
            [
                conversation(PHONE, "saludar", 0.93, "whatsapp", AT, bots=2),
                conversation("sesion-web-1", "nlu_fallback", 0.5, "webchat", AT + 60),
            ],
        )
        assert published == 10 + 8
        await rabbitmq.wait_for_depth(names.queue, published)
        c = consumer(sessions, settings(names))
        await run_until(c, lambda: seen(c) == published)
        assert await rabbitmq.depth(names.queue) == 0  # every message acked
        return c

    c = asyncio.run(scenario())
    assert c.tally.stored == 5 and c.tally.duplicates == 0 and not c.tally.malformed
    assert c.tally.ignored == {"other_event": 13}
    found = sorted(rows(sessions), key=lambda r: (r.received_at, r.kind))
    # A bot message carries its conversation's channel, copied from the user message before.
    assert [(r.kind, r.channel, r.intent, r.nlu_fallback) for r in found] == [
        ("user", "whatsapp", "saludar", False),
        ("bot", "whatsapp", None, None),
        ("bot", "whatsapp", None, None),
        ("user", "webchat", "nlu_fallback", True),
        ("bot", "webchat", None, None),
    ]
    assert found[0].received_at == datetime.fromtimestamp(AT, timezone.utc)
    assert found[0].confidence == pytest.approx(0.93)
    assert found[0].recorded_at == NOW
    assert len({r.sender_key for r in found}) == 2 and len({r.event_key for r in found}) == 5
    with migrated_engine.connect() as connection:
        dump = repr(connection.execute(text("SELECT * FROM conversation_turns")).all())
    for personal in (PHONE, "5512345678", "sesion-web-1", "quiero pagar", "Hola"):
        assert personal not in dump


class Killed(Exception):
    """The consumer dies between its commit and its ack (a kill -9 at the worst moment)."""


def test_killed_between_commit_and_ack_the_redelivery_is_a_no_op(
    sessions: sessionmaker, names: Names
) -> None:
    def die() -> None:
        raise Killed

    async def scenario() -> tuple[Consumer, int]:
        await rabbitmq.publish_with_rasa(names, [conversation(PHONE, bots=1)])
        await rabbitmq.wait_for_depth(names.queue, 8)
        first = consumer(sessions, settings(names, prefetch=1), after_commit=die)
        with pytest.raises(Killed):
            await asyncio.wait_for(first.run(asyncio.Event()), 20)
        assert first.tally.stored == 1  # committed, never acked
        await rabbitmq.wait_for_depth(names.queue, 8 - first.tally.acked)  # back in the queue
        second = consumer(sessions, settings(names))
        await run_until(second, lambda: seen(second) == 8 - first.tally.acked)
        return second, await rabbitmq.depth(names.queue)

    second, left = asyncio.run(scenario())
    assert left == 0
    assert second.tally.duplicates == 1 and second.tally.redelivered == 1
    assert second.tally.stored == 1  # the bot message; the user's was already there
    assert sorted(r.kind for r in rows(sessions)) == ["bot", "user"]


def test_stop_finishes_the_current_message(sessions: sessionmaker, names: Names) -> None:
    """SIGTERM while a message is being written: it is committed and acked; the rest wait."""
    stop = asyncio.Event()

    async def scenario() -> tuple[Consumer, int]:
        await rabbitmq.publish_with_rasa(names, [conversation(PHONE, bots=1)])
        await rabbitmq.wait_for_depth(names.queue, 8)
        c = consumer(sessions, settings(names, prefetch=5), after_commit=stop.set)
        await asyncio.wait_for(c.run(stop), 20)
        return c, await rabbitmq.depth(names.queue)

    c, left = asyncio.run(scenario())
    assert c.tally.stored == 1 and len(rows(sessions)) == 1
    assert left == 8 - c.tally.acked and c.tally.acked == 4  # 3 ignored before, the user's


def test_malformed_messages_are_acked_counted_and_never_logged(
    sessions: sessionmaker, names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "5599887766"
    bad = [
        b"not json " + secret.encode(),
        b"\xff\xfe" + secret.encode(),
        b"x" * (1024 * 1024),  # oversized
        rabbitmq.json_body([secret]),
        rabbitmq.json_body({"event": "user", "timestamp": AT, "text": secret}),  # no sender
        f'{{"sender_id": "{secret}", "event": "user", "timestamp": NaN}}'.encode(),
        b"[" * 30_000 + b"]" * 30_000,  # deeper than the parser goes
    ]

    async def scenario() -> Consumer:
        await rabbitmq.publish_raw(names.queue, bad[:4])
        published = await rabbitmq.publish_with_rasa(names, [conversation(PHONE, bots=0)])
        await rabbitmq.publish_raw(names.queue, bad[4:])
        total = len(bad) + published
        await rabbitmq.wait_for_depth(names.queue, total)
        c = consumer(sessions, settings(names))
        await run_until(c, lambda: seen(c) == total)
        assert await rabbitmq.depth(names.queue) == 0
        return c

    with caplog.at_level(logging.DEBUG, logger="cobranza.events"):
        c = asyncio.run(scenario())
    assert c.tally.malformed == {
        "not_json": 3,
        "oversized": 1,
        "not_an_event": 1,
        "bad_sender": 1,
        "bad_timestamp": 1,
    }
    assert c.tally.stored == 1 and [r.kind for r in rows(sessions)] == ["user"]
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "not_json" in logged and "oversized" in logged
    assert secret not in logged and PHONE not in logged and "quiero" not in logged


def test_four_consumers_on_one_queue_store_each_event_exactly_once(
    sessions: sessionmaker, names: Names
) -> None:
    senders = [f"+5255{n:08d}" for n in range(60)]

    async def scenario() -> list[Consumer]:
        published = await rabbitmq.publish_with_rasa(
            names, [conversation(s, at=AT + n, bots=2) for n, s in enumerate(senders)]
        )
        await rabbitmq.wait_for_depth(names.queue, published)
        group = [consumer(sessions, settings(names, prefetch=3)) for _ in range(4)]
        stop = asyncio.Event()
        tasks = [asyncio.create_task(c.run(stop)) for c in group]
        await until(lambda: sum(seen(c) for c in group) == published, 60)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        assert await rabbitmq.depth(names.queue) == 0
        return group

    group = asyncio.run(scenario())
    stored = [c.tally.stored for c in group]
    assert sum(stored) == 60 * 3 and all(n > 0 for n in stored), stored
    assert sum(c.tally.duplicates for c in group) == 0
    found = rows(sessions)
    assert len(found) == 180 and len({r.event_key for r in found}) == 180
    assert len({r.sender_key for r in found}) == 60


def test_reconnects_when_rabbitmq_restarts(
    sessions: sessionmaker, names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> Consumer:
        async with rabbitmq.proxy() as proxy:
            url = f"amqp://guest:guest@127.0.0.1:{proxy.port}/"
            first = await rabbitmq.publish_with_rasa(
                names, [conversation(f"+5233{n:08d}", at=AT + n) for n in range(3)]
            )
            c = consumer(sessions, settings(names, url=url))
            stop = asyncio.Event()
            task = asyncio.create_task(c.run(stop))
            await until(lambda: seen(c) == first)
            await proxy.cut()  # RabbitMQ goes away: connections dropped, new ones refused
            second = await rabbitmq.publish_with_rasa(
                names, [conversation(f"+5281{n:08d}", at=AT + n) for n in range(3)]
            )
            await asyncio.sleep(1.0)  # the consumer backs off meanwhile
            assert seen(c) == first
            await proxy.restore()
            await until(lambda: seen(c) == first + second)
            stop.set()
            await asyncio.wait_for(task, 10)
            assert proxy.accepted >= 2
        assert await rabbitmq.depth(names.queue) == 0
        return c

    with caplog.at_level(logging.INFO, logger="cobranza.events"):
        c = asyncio.run(scenario())
    assert c.tally.stored == 12 and c.tally.duplicates == 0 and c.tally.connections >= 2
    assert len(rows(sessions)) == 12
    lost = [r for r in caplog.records if "lost" in r.getMessage()]
    assert lost and all("guest:guest" not in r.getMessage() for r in caplog.records)
    # Backing off at most 0.4 s between attempts for about a second: a handful of lines.
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert 1 <= len(retries) <= 8


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_refused_at_start_it_backs_off_boundedly_and_stops_on_time(
    sessions: sessionmaker, names: Names, caplog: pytest.LogCaptureFixture
) -> None:
    port = closed_port()
    url = f"amqp://cobranza:s3cr3t-pw@127.0.0.1:{port}/"
    config = settings(names, url=url)
    config = EventsSettings(
        **{**config.__dict__, "broker_display": url.replace("s3cr3t-pw", "***")}
    )

    async def scenario() -> tuple[Consumer, float]:
        c = consumer(sessions, config)
        stop = asyncio.Event()
        task = asyncio.create_task(c.run(stop))
        await asyncio.sleep(2.5)
        assert not task.done()  # alive, waiting for RabbitMQ
        loop = asyncio.get_running_loop()
        asked = loop.time()
        stop.set()
        await asyncio.wait_for(task, 5)
        return c, loop.time() - asked

    with caplog.at_level(logging.INFO, logger="cobranza.events"):
        c, stopping = asyncio.run(scenario())
    assert stopping < 0.5  # a back-off sleep ends at once on SIGTERM
    # 0.05, 0.1, 0.2, then 0.4 s at most: about 8 attempts in 2.5 s, never a tight loop.
    assert 4 <= c.tally.connect_failures <= 10
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == c.tally.connect_failures
    assert all("ConnectionRefusedError" in m or "OSError" in m for m in retries), retries[:2]
    assert all(f"cobranza:***@127.0.0.1:{port}" in m for m in retries)
    assert not any("s3cr3t-pw" in r.getMessage() for r in caplog.records)
    assert rows(sessions) == []
