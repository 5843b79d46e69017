"""The real RabbitMQ on loopback (127.0.0.1:5672, guest/guest) for the events consumer's tests:
a queue and a fanout exchange of the test's own (Rasa's default exchange, ``rasa-exchange``, is
shared with whatever else runs here: never bind to it), Rasa's own pika broker to publish, and
a TCP proxy that can play a RabbitMQ restart without touching the server others use."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import aio_pika

HOST, PORT = "127.0.0.1", 5672
URL = f"amqp://guest:guest@{HOST}:{PORT}/"


@dataclass(frozen=True)
class Names:
    queue: str
    exchange: str


def fresh_names() -> Names:
    tag = uuid.uuid4().hex[:12]
    return Names(queue=f"test_rasa_events_{tag}", exchange=f"test-rasa-exchange-{tag}")


async def delete(names: Names) -> None:
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        await channel.queue_delete(names.queue)
        await channel.exchange_delete(names.exchange)


async def depth(queue: str) -> int:
    """Messages ready in ``queue`` (delivered but unacknowledged ones are not counted)."""
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, durable=True, passive=True)
        count = declared.declaration_result.message_count
        return int(count or 0)


async def wait_for_depth(queue: str, wanted: int, timeout: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while (found := await depth(queue)) != wanted:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{queue}: {found} messages ready, waited for {wanted}")
        await asyncio.sleep(0.05)


async def publish_with_rasa(names: Names, trackers: Iterable[Any]) -> int:
    """Each tracker's events published as Rasa publishes them: its tracker store streams the
    new events of a saved tracker (``sender_id`` + the event's ``as_dict()``) to its
    PikaEventBroker, which declares the queue, binds it to the fanout exchange and sends each
    event as one persistent message. Returns how many events were published."""
    from rasa.core.brokers.pika import PikaEventBroker
    from rasa.core.tracker_store import InMemoryTrackerStore
    from rasa.shared.core.domain import Domain

    broker = PikaEventBroker(
        HOST,
        "guest",
        "guest",
        port=PORT,
        queues=[names.queue],
        exchange_name=names.exchange,
        event_loop=asyncio.get_running_loop(),
        connection_attempts=1,
    )
    await broker.connect()
    store = InMemoryTrackerStore(Domain.empty(), event_broker=broker)
    published = 0
    try:
        for tracker in trackers:
            published += len(tracker.events)
            await store.save(tracker)
        while broker._background_tasks:  # publishing is fire-and-forget in Rasa
            await asyncio.gather(*list(broker._background_tasks))
    finally:
        await broker.close()
    return published


async def publish_raw(queue: str, bodies: Iterable[bytes]) -> None:
    """Bodies sent straight to the queue (the default exchange): what Rasa would never send."""
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(queue, durable=True)
        for body in bodies:
            message = aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
            await channel.default_exchange.publish(message, routing_key=queue)


def json_body(payload: Any) -> bytes:
    return json.dumps(payload).encode("utf-8")


@dataclass
class Proxy:
    """A loopback TCP proxy to RabbitMQ. :meth:`cut` drops every connection and refuses new
    ones, as a RabbitMQ restart does; :meth:`restore` listens again on the same port."""

    port: int = 0
    server: asyncio.AbstractServer | None = None
    pipes: set[asyncio.StreamWriter] = field(default_factory=set)
    accepted: int = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, HOST, self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        up_reader, up_writer = await asyncio.open_connection(HOST, PORT)
        self.pipes |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        for pipe in list(self.pipes):
            if pipe.transport.is_closing():
                continue
            # A reset, as when RabbitMQ's host goes away. (A plain close, FIN, also works, but
            # aiormq 6.4.2 then leaves its socket for the garbage collector to close, which
            # pytest reports as an unclosed-socket warning.)
            sock = pipe.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            pipe.transport.abort()
        self.pipes.clear()

    async def restore(self) -> None:
        await self.start()

    async def close(self) -> None:
        if self.server is not None:
            await self.cut()


@contextlib.asynccontextmanager
async def proxy() -> AsyncIterator[Proxy]:
    found = Proxy()
    await found.start()
    try:
        yield found
    finally:
        await found.close()
