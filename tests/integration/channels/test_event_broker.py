"""The replicas' event broker (cobranza/channels/event_broker.py) as endpoints.cluster.yml builds
it, against the real RabbitMQ on loopback: Rasa's events reach the durable queue, the heartbeat
is the one configured, and no log line carries an event's content or the broker's password,
when a publish fails or when RabbitMQ cannot be reached."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator
from typing import Any

import aio_pika
import pytest
from rasa.core.brokers.broker import EventBroker
from rasa.utils.endpoints import read_endpoint_config

from cobranza.channels.event_broker import QuietPikaEventBroker
from cobranza.config import PROJECT_ROOT, ConfigError
from cobranza.testing.servers import free_port
from tests.support import rabbitmq
from tests.support.rabbitmq import Names

PERSONAL = "Soy Maria, mi numero es 5512345678"
PASSWORD = "contrasena-que-no-se-escribe"


@pytest.fixture
def names() -> Iterator[Names]:
    found = rabbitmq.fresh_names()
    yield found
    asyncio.run(rabbitmq.delete(found))


@pytest.fixture
def cluster_env(monkeypatch: pytest.MonkeyPatch, names: Names) -> None:
    """What scripts/cluster.sh gives a replica, with this test's own exchange and queue."""
    for name, value in {
        "ACTIONS_PORT": "5055",
        "ACTION_SERVER_TOKEN": "t" * 32,
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": "6379",
        "LOCK_KEY_PREFIX": "cobranza",
        "RABBITMQ_HOST": rabbitmq.HOST,
        "RABBITMQ_PORT": str(rabbitmq.PORT),
        "RABBITMQ_USERNAME": "guest",
        "RABBITMQ_PASSWORD": "guest",
        "RASA_EVENTS_EXCHANGE": names.exchange,
        "RASA_EVENTS_QUEUE": names.queue,
    }.items():
        monkeypatch.setenv(name, value)


def _user_event() -> dict[str, Any]:
    return {"sender_id": "5215512345678", "event": "user", "text": PERSONAL, "timestamp": 1.0}


async def _built() -> QuietPikaEventBroker:
    config = read_endpoint_config(str(PROJECT_ROOT / "endpoints.cluster.yml"), "event_broker")
    broker = await EventBroker.create(config)
    assert isinstance(broker, QuietPikaEventBroker)
    return broker


async def _settle(broker: QuietPikaEventBroker) -> None:
    while broker._background_tasks:
        await asyncio.gather(*list(broker._background_tasks), return_exceptions=True)


@pytest.mark.usefixtures("cluster_env")
def test_events_reach_the_queue_with_the_configured_heartbeat(names: Names) -> None:
    async def scenario() -> tuple[int, dict[str, Any]]:
        broker = await _built()
        try:
            heartbeat = broker._connection.transport.connection.heartbeat_timeout  # type: ignore[union-attr]
            broker.publish(_user_event())
            await _settle(broker)
        finally:
            await broker.close()
        await rabbitmq.wait_for_depth(names.queue, 1)
        connection = await aio_pika.connect(rabbitmq.URL)
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue(names.queue, durable=True, passive=True)
            message = await queue.get(timeout=5)
            assert message is not None
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            await message.ack()
            return int(heartbeat), json.loads(message.body)

    heartbeat, body = asyncio.run(scenario())
    assert heartbeat == 120
    assert body == _user_event()


@pytest.mark.usefixtures("cluster_env")
def test_a_failed_publish_logs_the_events_type_not_its_content(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    async def scenario() -> QuietPikaEventBroker:
        broker = await _built()
        assert broker._connection is not None
        await broker._connection.close()  # the channel under the exchange is gone
        broker.publish(_user_event())
        await _settle(broker)
        return broker

    with caplog.at_level(logging.DEBUG):
        broker = asyncio.run(scenario())
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.name for r in errors] == ["cobranza.channels.event_broker"]
    assert "publishing a user event" in errors[0].getMessage()
    assert list(broker._unpublished_events) == [_user_event()], "kept for the reconnection"
    printed = capsys.readouterr()
    for text in (caplog.text, printed.out, printed.err):
        assert "5512345678" not in text and "Maria" not in text


def test_an_unreachable_broker_is_logged_without_its_password(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    url = f"amqp://cobranza:{PASSWORD}@127.0.0.1:{port}/"

    async def scenario() -> None:
        broker = QuietPikaEventBroker(
            url,
            "cobranza",
            PASSWORD,
            port=port,
            queues=["unused"],
            connection_attempts=2,
            retry_delay_in_seconds=0,
        )
        await broker.connect()

    with caplog.at_level(logging.DEBUG), pytest.raises(Exception) as raised:
        asyncio.run(scenario())
    assert PASSWORD not in str(raised.value)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [
        f"connecting to RabbitMQ at 127.0.0.1:{port} failed 2 times (ConnectionError)"
    ]
    printed = capsys.readouterr()
    for text in (caplog.text, printed.out, printed.err):
        assert PASSWORD not in text


@pytest.mark.parametrize("heartbeat", [0, -5, "abc", None, 3601])
def test_a_heartbeat_out_of_range_is_refused(heartbeat: Any) -> None:
    async def build() -> None:
        QuietPikaEventBroker("127.0.0.1", "guest", "guest", queues=["q"], heartbeat=heartbeat)

    with pytest.raises(ConfigError, match="heartbeat"):
        asyncio.run(build())
