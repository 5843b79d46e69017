"""Two WhatsApp channels ("replicas", each with its own engine and its own holder name) on one
real database (SQLite and PostgreSQL) and one fake Graph API, as in a cluster behind the
gateway: a sender's messages delivered to both are answered exactly once each, in order, one
turn at a time; a replica that dies mid-turn leaves its lease behind and another one answers its
messages once the lease expires; a turn re-run after a crash does not send a reply twice; and
twenty replicas racing for one lease leave exactly one holder."""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from rasa.core.channels.channel import UserMessage
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from cobranza import bootstrap, db
from cobranza.channels.whatsapp import WhatsAppInput
from cobranza.channels.whatsapp.config import LeaseTimes
from cobranza.channels.whatsapp.parse import Inbound
from cobranza.channels.whatsapp.store import WhatsAppStore
from cobranza.clock import SystemClock
from cobranza.config import load_settings
from cobranza.db.models import ConversationLease, WhatsAppInbound
from cobranza.simulation.fake_graph import FakeGraphAPI

DEBTOR, OTHER = "5215500000901", "5215500000902"
# Times short enough for a test: a lease lasts 1.2 s (renewed every 0.4 s), sweeps every 0.1 s.
SHORT = LeaseTimes(lifetime=1.2, sweep_every=0.1, orphan_after=0.05, retry=0.05, retry_max=0.2)


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


class Replicas:
    """Channels as separate Rasa servers build them: each its own App (engine, settings with
    its ``COBRANZA_REPLICA``), all on the test's database; the engines are disposed at the end."""

    def __init__(self, engine: Engine, graph: FakeGraphAPI) -> None:
        self.url, self.graph = _url(engine), graph
        self.channels: list[WhatsAppInput] = []
        self.dead: list[WhatsAppInput] = []

    def start(self, name: str, leases: LeaseTimes = SHORT) -> WhatsAppInput:
        settings = load_settings({"DATABASE_URL": self.url, "COBRANZA_REPLICA": name})
        app = bootstrap.build(settings, clock=SystemClock(), profiles={})
        channel = WhatsAppInput(self.graph.settings(), app, leases=leases)
        self.channels.append(channel)
        return channel

    async def settle(self) -> None:
        """Until no channel has a worker left (one may wait for the other's lease)."""
        while any(c._workers for c in self.channels):
            await asyncio.gather(*(c.idle() for c in self.channels))

    async def kill(self, channel: WhatsAppInput) -> None:
        """The replica's process dies: its tasks stop wherever they are, nothing is cleaned
        up in the database (its leases stay behind until they expire)."""
        await channel.stop()
        tasks = list(channel._workers.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await channel.client.close()
        self.channels.remove(channel)
        self.dead.append(channel)

    async def close(self) -> None:
        for channel in self.channels:
            await channel.stop()
            await channel.client.close()

    def dispose(self) -> None:
        for channel in self.channels + self.dead:
            channel.store._sessions.kw["bind"].dispose()


@pytest.fixture
def replicas(database: Engine, graph: FakeGraphAPI) -> Iterator[Replicas]:
    group = Replicas(database, graph)
    yield group
    group.dispose()


@dataclass
class Conversations:
    """Stands in for Rasa on every replica (they share one tracker store): each turn is
    recorded with the replica that ran it and answered "eco: …"; turns of one sender that
    overlap are counted."""

    delay: float = 0.02
    turns: list[tuple[str, str]] = field(default_factory=list)
    started: list[float] = field(default_factory=list)  # the loop's time at each turn
    running: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    overlaps: int = 0

    def agent(self, replica: str) -> Callable[[UserMessage], Awaitable[None]]:
        async def handle(message: UserMessage) -> None:
            sender = str(message.sender_id)
            self.turns.append((replica, str(message.text)))
            self.started.append(asyncio.get_running_loop().time())
            self.running[sender] += 1
            self.overlaps += self.running[sender] > 1
            try:
                await asyncio.sleep(self.delay)
                await message.output_channel.send_text_message(sender, f"eco: {message.text}")
            finally:
                self.running[sender] -= 1

        return handle


def _text(message_id: str, wa_id: str, words: str, seconds: int = 0) -> Inbound:
    sent = datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=seconds)
    return Inbound(message_id, wa_id, "text", sent, words)


async def _deliver(
    channel: WhatsAppInput, agent: Callable[[UserMessage], Awaitable[None]], message: Inbound
) -> bool:
    """What the webhook does before its 200: store, then wake the sender's worker."""
    if not await channel.store.accept(message):
        return False
    channel._enqueue(message, agent)
    return True


def _answers(graph: FakeGraphAPI, wa_id: str) -> list[str]:
    return [m["text"]["body"] for m in graph.messages if m["to"] == wa_id]


def _holders(engine: Engine) -> dict[str, str]:
    with db.session_scope(db.make_session_factory(engine)) as session:
        rows = session.execute(select(ConversationLease.wa_id, ConversationLease.holder)).all()
    return dict(rows)


def _statuses(engine: Engine) -> dict[str, str]:
    with db.session_scope(db.make_session_factory(engine)) as session:
        rows = session.execute(select(WhatsAppInbound.message_id, WhatsAppInbound.status)).all()
    return dict(rows)


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the condition did not hold in time")
        await asyncio.sleep(0.02)


def test_one_senders_messages_delivered_to_two_replicas_are_answered_once_in_order(
    database: Engine, graph: FakeGraphAPI, replicas: Replicas
) -> None:
    """The sender's replica "fails over" back and forth: their messages reach both replicas,
    some twice (the gateway retried). Every message gets one turn and one answer, in the order
    the debtor wrote them, and no two turns of the sender run at once."""
    rasa = Conversations()
    one = (replicas.start("replica-1"), rasa.agent("replica-1"))
    two = (replicas.start("replica-2"), rasa.agent("replica-2"))
    messages = [_text(f"wamid.both.{n:02d}", DEBTOR, f"m{n:02d}", n) for n in range(12)]

    async def go() -> None:
        for n, message in enumerate(messages):
            first, second = (one, two) if n % 2 == 0 else (two, one)
            assert await _deliver(*first, message)
            if n % 3 == 0:  # delivered to the other replica too
                assert not await _deliver(*second, message)
            await asyncio.sleep(0.005)
        await replicas.settle()
        await replicas.close()

    asyncio.run(go())
    words = [f"m{n:02d}" for n in range(12)]
    assert [text for _replica, text in rasa.turns] == words
    assert rasa.overlaps == 0
    assert _answers(graph, DEBTOR) == [f"eco: {w}" for w in words]
    assert set(_statuses(database).values()) == {"done"}


def test_a_reply_sent_before_a_crash_is_not_sent_again_when_the_turn_reruns(
    database: Engine, graph: FakeGraphAPI, replicas: Replicas
) -> None:
    """Rasa sent the turn's first reply, then the process died before it saved the turn (the
    conversation does not have the message, so the restart runs the turn again). The reply that
    went out is not sent a second time; the one that had not gone out is sent."""
    crashed = replicas.start("replica-1")
    sent_first = asyncio.Event()

    async def dies_after_the_first_reply(message: UserMessage) -> None:
        await message.output_channel.send_text_message(DEBTOR, f"uno: {message.text}")
        sent_first.set()
        await asyncio.Event().wait()  # the process is killed here

    async def answers_twice(message: UserMessage) -> None:
        await message.output_channel.send_text_message(DEBTOR, f"uno: {message.text}")
        await message.output_channel.send_text_message(DEBTOR, f"dos: {message.text}")

    async def first_life() -> None:
        await _deliver(crashed, dies_after_the_first_reply, _text("wamid.crash", DEBTOR, "hola"))
        await asyncio.wait_for(sent_first.wait(), 10)
        await replicas.kill(crashed)

    async def second_life() -> int:
        restarted = replicas.start("replica-1")
        found = await restarted.recover(answers_twice)
        await replicas.settle()
        await restarted.client.close()
        return found

    asyncio.run(first_life())
    assert _answers(graph, DEBTOR) == ["uno: hola"]
    assert asyncio.run(second_life()) == 1
    assert _answers(graph, DEBTOR) == ["uno: hola", "dos: hola"]
    assert _statuses(database) == {"wamid.crash": "done"}


def test_a_dead_replicas_messages_are_answered_by_another_once_its_lease_expires(
    database: Engine, graph: FakeGraphAPI, replicas: Replicas
) -> None:
    """Replica 1 takes two senders' messages and hangs in their first turns for three lease
    lifetimes: its leases are renewed meanwhile, and replica 2's sweep leaves those senders
    alone. Then replica 1 dies mid-turn, its leases left behind; once they expire, replica 2's
    sweep answers every pending message, the interrupted ones too, once each and in order,
    without replica 1 restarting."""
    dying, survivor = replicas.start("replica-1"), replicas.start("replica-2")
    rasa = Conversations()
    hung: list[str] = []

    async def hangs(message: UserMessage) -> None:
        rasa.turns.append(("replica-1", str(message.text)))
        hung.append(str(message.sender_id))
        await asyncio.Event().wait()

    words = ["m0", "m1", "m2"]
    messages = [_text(f"wamid.dead.{w}", DEBTOR, w, n) for n, w in enumerate(words)]
    messages.append(_text("wamid.dead.other", OTHER, "hola"))

    async def go() -> float:
        for message in messages:
            await _deliver(dying, hangs, message)
        await _until(lambda: len(hung) == 2)
        assert await survivor.start(rasa.agent("replica-2")) == 0, "the senders are held"
        await asyncio.sleep(3 * SHORT.lifetime)
        assert sorted(rasa.turns) == [("replica-1", "hola"), ("replica-1", "m0")], "none taken"
        assert _holders(database) == {DEBTOR: "replica-1", OTHER: "replica-1"}
        killed = asyncio.get_running_loop().time()
        await replicas.kill(dying)
        await _until(lambda: len(graph.messages) == 4)
        await replicas.settle()
        await replicas.close()
        return min(rasa.started[-4:]) - killed

    waited = asyncio.run(go())
    # Renewed every third of its lifetime, the lease outlives its holder by about 2/3 of it.
    assert SHORT.lifetime / 2 <= waited < SHORT.lifetime + 5
    taken_over = [turn for turn in rasa.turns if turn[0] == "replica-2"]
    assert sorted(taken_over) == [("replica-2", w) for w in ["hola", *words]]
    assert [t for r, t in taken_over if t != "hola"] == words
    assert _answers(graph, DEBTOR) == [f"eco: {w}" for w in words]
    assert _answers(graph, OTHER) == ["eco: hola"]
    assert set(_statuses(database).values()) == {"done"}
    assert _holders(database) == {}, "the survivor gave the leases up when it was done"


def test_a_replica_whose_lease_was_taken_stops_its_turn(
    database: Engine, graph: FakeGraphAPI, replicas: Replicas
) -> None:
    """Replica 1 stalled past its lease's lifetime and replica 2 took the sender over: at its
    next renewal replica 1 finds the lease gone, stops the turn it was running (sending
    nothing) and leaves the message to the holder."""
    stalled = replicas.start("replica-1")
    in_turn = asyncio.Event()

    async def slow(message: UserMessage) -> None:
        in_turn.set()
        await asyncio.sleep(10 * SHORT.lifetime)
        await message.output_channel.send_text_message(DEBTOR, "tarde")

    async def go() -> None:
        await _deliver(stalled, slow, _text("wamid.stalled", DEBTOR, "hola"))
        await asyncio.wait_for(in_turn.wait(), 10)
        with db.session_scope(db.make_session_factory(database)) as session:
            session.execute(update(ConversationLease).values(holder="replica-2"))
        await _until(lambda: not stalled._workers, timeout=3 * SHORT.lifetime)
        await replicas.close()

    asyncio.run(go())
    assert graph.messages == []
    assert _statuses(database) == {"wamid.stalled": "pending"}
    assert _holders(database) == {DEBTOR: "replica-2"}


def test_twenty_replicas_racing_for_one_lease_leave_exactly_one_holder(database: Engine) -> None:
    """Twenty replicas (each its own engine and connection) take one sender's lease at the same
    instant: first while nobody holds it (the insert race), then once it has expired (the
    take-over race). Each time exactly one gets it, and the row names that one."""
    stores = []
    for n in range(20):
        settings = load_settings({"DATABASE_URL": _url(database), "COBRANZA_REPLICA": f"r{n}"})
        stores.append(WhatsAppStore.from_app(bootstrap.build(settings, profiles={})))
    start = threading.Barrier(len(stores))

    def take(n: int) -> bool:
        with stores[n]._sessions.kw["bind"].connect():
            pass  # connected before the race starts
        start.wait(timeout=30)
        return asyncio.run(stores[n].take_lease(DEBTOR, f"r{n}", 30))

    def race() -> list[int]:
        with ThreadPoolExecutor(len(stores)) as pool:
            results = list(pool.map(take, range(len(stores))))
        return [n for n, won in enumerate(results) if won]

    try:
        winners = race()
        assert len(winners) == 1
        assert _holders(database) == {DEBTOR: f"r{winners[0]}"}
        with db.session_scope(db.make_session_factory(database)) as session:
            expired = datetime.now(timezone.utc) - timedelta(seconds=1)
            session.execute(update(ConversationLease).values(expires_at=expired))
        winners = race()
        assert len(winners) == 1
        assert _holders(database) == {DEBTOR: f"r{winners[0]}"}
    finally:
        for store in stores:
            store._sessions.kw["bind"].dispose()
