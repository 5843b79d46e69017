"""The consumer: Rasa's events from RabbitMQ into ``conversation_turns``.

Delivery is *at least once*, made exactly once by the table's unique event key:

* RabbitMQ hands the consumer up to ``prefetch`` messages it has not acknowledged; each is
  acknowledged only after the transaction that wrote its row has committed. A consumer killed
  in between leaves the message unacknowledged, RabbitMQ delivers it again (to this consumer
  restarted, or to another), and the insert finds the key and writes nothing.
* A message that is not a Rasa event is acknowledged and counted by reason (never logged with
  its content). Not dead-lettered: it will never become readable, a dead-letter queue would
  keep a debtor's text nobody reads, and the queue's dead-letter arguments would have to match
  the ones Rasa declares it with (RabbitMQ refuses a second declaration that differs).
* While the database is unreachable the message stays unacknowledged and the write is retried
  with back-off; a row the database refuses for good (a bug) is logged by type, counted as
  ``failed`` and acknowledged, so one bad message cannot stop the stream for everyone.
* Connecting is retried with exponential back-off (``retry_base`` doubling up to
  ``reconnect_max_seconds``), one log line per attempt: a RabbitMQ restart or one that is not
  up yet costs a few lines a minute, not a crash loop. A lost connection is re-opened the same
  way; its unacknowledged messages come back from RabbitMQ.
* ``stop`` (SIGTERM) lets the message in hand finish (written and acknowledged), cancels the
  subscription and closes the channel, which returns the prefetched ones to the queue."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage, AbstractQueue
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.bootstrap import App
from cobranza.clock import Clock
from cobranza.config import EventsSettings
from cobranza.errors import CobranzaError
from cobranza.events.store import record
from cobranza.events.turns import SenderKeys, Skipped, Turn, read_event

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds for the TCP and AMQP handshake
BROKER_ERRORS = (*CONNECTION_EXCEPTIONS, asyncio.TimeoutError)
# The database is down or restarting: retry the same message, do not acknowledge it.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError, PoolTimeout)


def _kind(error: BaseException) -> str:
    """An error's class, or its cause's (aiormq raises ``ConnectionError`` from the
    ``ConnectionRefusedError`` or the ``gaierror`` that says what happened): never its text."""
    return type(error.__cause__ or error).__name__


class BrokerLost(CobranzaError):
    """The connection or the channel closed under the consumer."""


@dataclass
class Subscription:
    """One channel's subscription to the queue: its messages, and whether it was lost."""

    inbox: asyncio.Queue[AbstractIncomingMessage] = field(default_factory=asyncio.Queue)
    lost: asyncio.Event = field(default_factory=asyncio.Event)
    causes: list[BaseException] = field(default_factory=list)
    queue: AbstractQueue | None = None
    tag: str | None = None


@dataclass
class Tally:
    """What a consumer did since it started (logged every ``report_every`` and at the end)."""

    stored: int = 0
    duplicates: int = 0  # already there: a redelivery
    redelivered: int = 0  # messages RabbitMQ marked as delivered before
    acked: int = 0
    ignored: Counter[str] = field(default_factory=Counter)
    malformed: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    connections: int = 0
    connect_failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "duplicates": self.duplicates,
            "redelivered": self.redelivered,
            "acked": self.acked,
            "ignored": dict(self.ignored),
            "malformed": dict(self.malformed),
            "failed": self.failed,
            "connections": self.connections,
            "connect_failures": self.connect_failures,
        }


async def _sleep(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` unless stopped first; True when stopped."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except asyncio.TimeoutError:
        return False
    return True


class Consumer:
    """One subscription to the events queue. ``after_commit`` runs between a row's commit and
    its acknowledgement (the tests stop or kill the consumer there)."""

    def __init__(
        self,
        sessions: sessionmaker,
        settings: EventsSettings,
        threshold: float,
        clock: Clock,
        *,
        retry_base: float = 0.5,
        report_every: float = 60.0,
        after_commit: Callable[[], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.threshold = threshold
        self.clock = clock
        self.retry_base = retry_base
        self.report_every = report_every
        self.after_commit = after_commit
        self.tally = Tally()
        self._keys = SenderKeys(settings.sender_key.reveal().encode("utf-8"))
        self._reported: dict[str, Any] = {}

    def _delay(self, failures: int) -> float:
        return float(
            min(self.settings.reconnect_max_seconds, self.retry_base * 2 ** (failures - 1))
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Connect, consume, reconnect, until ``stop`` is set."""
        failures = 0
        reporter = asyncio.create_task(self._report_periodically(stop))
        try:
            while not stop.is_set():
                try:
                    connection = await aio_pika.connect(
                        self.settings.broker_url.reveal(), timeout=CONNECT_TIMEOUT
                    )
                except BROKER_ERRORS as error:
                    failures += 1
                    self.tally.connect_failures += 1
                    delay = self._delay(failures)
                    logger.warning(
                        "events: cannot reach RabbitMQ at %s (%s); retrying in %.2f s (attempt %d)",
                        self.settings.broker_display,
                        _kind(error),
                        delay,
                        failures,
                    )
                    await _sleep(stop, delay)
                    continue
                self.tally.connections += 1
                try:
                    subscription = await self._subscribe(connection)
                    failures = 0
                    await self._consume(subscription, stop)
                except (*BROKER_ERRORS, BrokerLost) as error:
                    failures += 1
                    delay = self._delay(failures)
                    logger.warning(
                        "events: connection to RabbitMQ lost (%s); retrying in %.2f s",
                        _kind(error),
                        delay,
                    )
                    await _sleep(stop, delay)
                finally:
                    await self._close(connection)
        finally:
            reporter.cancel()
            logger.info("events: stopped: %s", self.tally.as_dict())

    async def _subscribe(self, connection: AbstractConnection) -> Subscription:
        """A channel with the prefetch limit, the queue declared, and a subscription whose
        messages land in an inbox; ``lost`` is set when the connection or channel closes."""
        found = Subscription()

        def closed(_sender: Any, cause: BaseException | None = None, *_: Any) -> None:
            if isinstance(cause, BaseException):
                found.causes.append(cause)
            found.lost.set()

        connection.close_callbacks.add(closed)
        channel = await connection.channel()
        channel.close_callbacks.add(closed)
        await channel.set_qos(prefetch_count=self.settings.prefetch)
        # The same arguments as Rasa's pika broker (durable, nothing else): either may declare
        # the queue first. Binding it to Rasa's exchange is Rasa's business.
        found.queue = await channel.declare_queue(self.settings.queue, durable=True)
        found.tag = await found.queue.consume(found.inbox.put)
        logger.info(
            "events: consuming %s at %s (prefetch %d, NLU threshold %.2f)",
            self.settings.queue,
            self.settings.broker_display,
            self.settings.prefetch,
            self.threshold,
        )
        return found

    async def _consume(self, subscription: Subscription, stop: asyncio.Event) -> None:
        """Handle messages one at a time until ``stop``, then cancel the subscription; raises
        :class:`BrokerLost` when the connection goes."""
        try:
            while (message := await self._next(subscription, stop)) is not None:
                await self._handle(message, stop)
        except BrokerLost as error:
            raise error from (subscription.causes[0] if subscription.causes else None)
        if subscription.queue is not None and subscription.tag is not None:
            await subscription.queue.cancel(subscription.tag)

    @staticmethod
    async def _next(
        subscription: Subscription, stop: asyncio.Event
    ) -> AbstractIncomingMessage | None:
        """The next message; None once stopped (what is left in the inbox goes back to the
        queue when the channel closes)."""
        inbox, lost = subscription.inbox, subscription.lost
        if stop.is_set():
            return None
        if lost.is_set():
            raise BrokerLost
        if not inbox.empty():
            return inbox.get_nowait()
        get = asyncio.create_task(inbox.get())
        stopped = asyncio.create_task(stop.wait())
        dropped = asyncio.create_task(lost.wait())
        await asyncio.wait({get, stopped, dropped}, return_when=asyncio.FIRST_COMPLETED)
        for task in (get, stopped, dropped):
            task.cancel()  # asyncio.Queue.get gives nothing up when cancelled
        if get.done() and not get.cancelled() and not stop.is_set() and not lost.is_set():
            return get.result()
        if stop.is_set():
            return None  # a message taken at the same moment goes back to the queue
        raise BrokerLost

    async def _handle(self, message: AbstractIncomingMessage, stop: asyncio.Event) -> None:
        """Read, write if it is a turn, then acknowledge."""
        if message.redelivered:
            self.tally.redelivered += 1
        found = read_event(
            message.body, self._keys, self.threshold, self.settings.max_message_bytes
        )
        if isinstance(found, Skipped):
            self._skipped(found)
        else:
            written = await self._write(found, stop)
            if written is None:
                return  # stopped while the database was away: RabbitMQ keeps the message
            if self.after_commit is not None:
                self.after_commit()
        await message.ack()
        self.tally.acked += 1

    def _skipped(self, found: Skipped) -> None:
        if not found.malformed:
            self.tally.ignored[found.reason] += 1
            return
        self.tally.malformed[found.reason] += 1
        # The first of each reason is a warning; the rest are in the periodic tally.
        level = logging.WARNING if self.tally.malformed[found.reason] == 1 else logging.DEBUG
        logger.log(level, "events: malformed message acknowledged and skipped (%s)", found.reason)

    async def _write(self, turn: Turn, stop: asyncio.Event) -> bool | None:
        """Commit the turn's row: True when written, False when it was there already, None
        when stopped while the database was unreachable."""
        attempt = 0
        while True:
            try:
                written = await asyncio.to_thread(self._commit, turn)
            except TRANSIENT_DB_ERRORS as error:
                attempt += 1
                delay = self._delay(attempt)
                logger.warning(
                    "events: database unavailable (%s); retrying in %.2f s",
                    _kind(error),
                    delay,
                )
                if await _sleep(stop, delay):
                    return None
                continue
            except SQLAlchemyError as error:
                self.tally.failed += 1
                logger.error("events: a turn could not be written (%s)", type(error).__name__)
                return False
            if written:
                self.tally.stored += 1
            else:
                self.tally.duplicates += 1
            return written

    def _commit(self, turn: Turn) -> bool:
        with db.session_scope(self.sessions) as session:
            return record(session, turn, self.clock.now())

    async def _report_periodically(self, stop: asyncio.Event) -> None:
        while not await _sleep(stop, self.report_every):
            now = self.tally.as_dict()
            if now != self._reported:
                logger.info("events: %s", now)
                self._reported = now

    @staticmethod
    async def _close(connection: AbstractConnection) -> None:
        try:
            await connection.close()
        except BROKER_ERRORS:
            pass  # already gone; RabbitMQ returns its unacknowledged messages either way


def serve(app: App, settings: EventsSettings, threshold: float) -> None:
    """One consumer until SIGTERM or SIGINT (the message in hand is finished first)."""

    async def until_stopped() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await Consumer(app.sessions, settings, threshold, app.clock).run(stop)

    asyncio.run(until_stopped())
