"""Rasa's pika event broker, quiet about what it carries (endpoints.cluster.yml names it).

Rasa 3.6.21's :class:`PikaEventBroker` logs the event itself when a publish fails
(``pika.events.publish.failed``, at ERROR, with ``rasa_event``: a debtor's message text, the
bot's answer, slots), and logs ``host`` as given, which may be an ``amqp://`` URL with its
password, at INFO when it connects and at ERROR when it gives up. At the levels we run (INFO),
a RabbitMQ outage would write debtors' messages into every replica's log. This subclass logs
the event's type and the exception's class instead, and the broker's host without credentials;
everything else is Rasa's (the exchange, the durable queue, persistent messages, the events it
keeps in memory until the connection is back).

It also sets the AMQP heartbeat (``heartbeat`` in the block, seconds; Rasa ignores unknown keys
and aiormq's default is 60). A replica's event loop runs the NLU and the policies of each turn,
so under load it can be held for seconds at a time, while aiormq's heartbeats are sent from that
same loop; RabbitMQ closes a connection that has missed two heartbeat intervals. 120 s leaves a
wide margin and still finds a dead connection within a few minutes.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import urlsplit

import aio_pika
from aio_pika.abc import AbstractRobustConnection
from rasa.core.brokers.pika import PikaEventBroker, _create_rabbitmq_ssl_options
from yarl import URL

from cobranza.config import ConfigError

logger = logging.getLogger(__name__)

DEFAULT_HEARTBEAT = 120
MAX_HEARTBEAT = 3600


def _heartbeat(value: Any) -> int:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        seconds = 0
    if not 0 < seconds <= MAX_HEARTBEAT:
        raise ConfigError(
            f"event_broker: heartbeat must be a whole number of seconds from 1 to {MAX_HEARTBEAT}"
        )
    return seconds


class QuietPikaEventBroker(PikaEventBroker):
    """:class:`PikaEventBroker` whose logs carry no event content and no credentials, with a
    configurable heartbeat. Built by Rasa from the ``event_broker`` block (its ``url`` is
    ``host``; every other key as Rasa's broker takes it, plus ``heartbeat``)."""

    def __init__(
        self,
        host: str,
        username: str,
        password: str,
        *args: Any,
        heartbeat: Any = DEFAULT_HEARTBEAT,
        **kwargs: Any,
    ) -> None:
        super().__init__(host, username, password, *args, **kwargs)
        self.heartbeat = _heartbeat(heartbeat)

    @property
    def where(self) -> str:
        """The broker's host and port for logs: an ``amqp://`` URL without its user and
        password."""
        if "://" in self.host:
            try:
                parts = urlsplit(self.host)
                return f"{parts.hostname}:{parts.port or self.port}"
            except ValueError:
                return "(an unreadable amqp URL)"
        return f"{self.host}:{self.port}"

    def _connection_url(self) -> URL:
        """Rasa's URL when the host is an ``amqp://`` URL, else the one aio-pika builds from the
        parts, with the heartbeat in its query (where aiormq reads it)."""
        configured = self._configure_url()
        if configured:
            url = URL(configured)
        else:
            ssl = _create_rabbitmq_ssl_options(self.host)
            url = URL.build(
                scheme="amqps" if ssl else "amqp",
                host=self.host,
                port=self.port,
                user=self.username,
                password=self.password,
                path="/",
                query={key: str(value) for key, value in (ssl or {}).items()},
            )
        return url.update_query(heartbeat=str(self.heartbeat))

    async def connect(self) -> None:
        self._connection = await self._connect()
        self._connection.reconnect_callbacks.add(self._publish_unpublished_messages)
        logger.info("RabbitMQ connection to %s established", self.where)
        channel = await self._connection.channel()
        self._exchange = await self._set_up_exchange(channel)

    async def _connect(self) -> AbstractRobustConnection:
        """Rasa's attempts (``connection_attempts``, ``retry_delay_in_seconds`` apart), logging
        the exception's class only: aiormq's messages can quote the URL."""
        url = self._connection_url()
        last: Exception | None = None
        for attempt in range(1, self._connection_attempts + 1):
            try:
                return await aio_pika.connect_robust(url, loop=self._loop)
            except Exception as error:  # noqa: BLE001 - Rasa's own policy: any error, try again
                last = error
                logger.debug(
                    "connecting to RabbitMQ at %s failed (attempt %d, %s)",
                    self.where,
                    attempt,
                    type(error).__name__,
                )
                await asyncio.sleep(self._retry_delay_in_seconds)
        assert last is not None
        logger.error(
            "connecting to RabbitMQ at %s failed %d times (%s)",
            self.where,
            self._connection_attempts,
            type(last).__name__,
        )
        raise last

    async def _publish(self, event: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        if self._exchange is None:
            return
        try:
            await self._exchange.publish(self._message(event, headers), "")
        except Exception as error:
            kept = self.should_keep_unpublished_messages
            logger.error(
                "publishing a %s event to RabbitMQ at %s failed (%s)%s",
                event.get("event", "unknown"),
                self.where,
                type(error).__name__,
                "; kept to publish once reconnected" if kept else "",
            )
            if self.should_keep_unpublished_messages:
                self._unpublished_events.append(event)
            if self.raise_on_failure:
                await self.close()
                raise
