"""The replicas' lock store (endpoints.cluster.yml's ``lock_store``): Rasa's Redis ticket lock
while Redis answers, a lock kept in the process while it does not.

Rasa takes ``lock_store.lock(sender)`` around every turn. With Rasa 3.6.21's
:class:`RedisLockStore`, Redis unreachable makes every turn raise ``LockError`` (its
``issue_ticket`` wraps any exception), so every debtor's message fails, although routing
(nginx's consistent hash on X-Cobranza-Route) already sends each sender to one replica and the
Redis lock is only the safety net while the ring changes. Its redis-py calls are synchronous on
the event loop, with a 10 s socket timeout: an unreachable host held the loop 10 s per call.

:class:`FallbackRedisLockStore` takes two locks per turn, one inside the other:

1. always, a lock in this process (Rasa's :class:`InMemoryLockStore`, which this class is):
   the turns of one sender in this replica run one after the other, whatever Redis does, also
   while an outage begins or ends in the middle of a turn;
2. then, while Redis answers, Rasa's Redis lock (a :class:`RedisLockStore` it holds, so the
   same keys and format: replicas still on Rasa's class exclude these during a rolling
   upgrade), with 1 s connect and socket timeouts unless the block sets ``socket_timeout``.

When a Redis call fails (any redis-py error, or the OS's), the turn goes on with the process's
lock alone, one WARNING is logged for the outage (the exception's class: never the URL or the
password), and Redis is left alone for ``retry_seconds`` (5 s): the turns meanwhile do not call
it. The first call after that tries it again; when it answers, one WARNING says so. A turn whose
Redis ticket could not be given back (Redis went away in the middle of it) leaves that ticket to
expire (``TICKET_LOCK_LIFETIME``), as a replica that dies in the middle of a turn does.

The constructor touches no network: the replica starts with Redis down. The block's keys are
Rasa's redis lock store's (``url`` is the host; port, db, username, password, use_ssl,
ssl_certfile, ssl_keyfile, ssl_ca_certs, key_prefix, socket_timeout).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, LockError, RedisLockStore
from rasa.utils.endpoints import EndpointConfig
from redis.exceptions import RedisError

from cobranza.config import ConfigError

logger = logging.getLogger(__name__)

REDIS_TIMEOUT = 1.0  # seconds: connect and socket, per Redis call
REDIS_RETRY = 5.0  # seconds between attempts while Redis is down

# What an unreachable, refusing or failing Redis raises from redis-py's synchronous client.
REDIS_FAILURES = (RedisError, OSError)


class FallbackRedisLockStore(InMemoryLockStore):
    """Rasa's Redis ticket lock while Redis answers, inside a ticket lock of this process that
    every turn takes (see the module's docstring). Rasa builds it from the ``lock_store`` block
    (``type: cobranza.channels.lock_store.FallbackRedisLockStore``)."""

    def __init__(
        self, endpoint_config: EndpointConfig | None = None, *, retry_seconds: float = REDIS_RETRY
    ) -> None:
        if endpoint_config is None or not endpoint_config.url:
            raise ConfigError("lock_store: url (the Redis host) is required")
        keys = dict(endpoint_config.kwargs)
        keys["socket_timeout"] = float(keys.get("socket_timeout", REDIS_TIMEOUT))
        # redis-py connects lazily: nothing here reaches Redis.
        self.redis = RedisLockStore(host=endpoint_config.url, **keys)
        self.redis.red.connection_pool.connection_kwargs["socket_connect_timeout"] = REDIS_TIMEOUT
        self.retry_seconds = retry_seconds
        self._redis_down = False
        self._redis_retry_at = 0.0
        super().__init__()

    # -- Redis up or down

    def _redis_usable(self) -> bool:
        return not self._redis_down or time.monotonic() >= self._redis_retry_at

    def _redis_failed(self, exc: BaseException) -> None:
        if not self._redis_down:
            # The class only: redis-py's messages carry the host, and could carry more.
            logger.warning(
                "Redis unreachable: locks are kept per replica until it answers (%s)",
                type(exc).__name__,
            )
        self._redis_down = True
        self._redis_retry_at = time.monotonic() + self.retry_seconds

    def _redis_answered(self) -> None:
        if self._redis_down:
            logger.warning("Redis answers again: locks are shared by the replicas again")
        self._redis_down = False

    # -- a turn

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = 1,
    ) -> AsyncIterator[TicketLock]:
        """The process's lock for ``conversation_id``, then Redis's while it answers."""
        async with super().lock(conversation_id, lock_lifetime, wait_time_in_seconds) as local:
            ticket = await self._redis_ticket(conversation_id, lock_lifetime, wait_time_in_seconds)
            try:
                yield local
            finally:
                if ticket is not None:
                    self._give_back(conversation_id, ticket)

    async def _redis_ticket(
        self, conversation_id: str, lock_lifetime: float, wait_time_in_seconds: float
    ) -> int | None:
        """Our turn on Redis's lock for ``conversation_id`` (its ticket), or None when Redis
        does not answer. Rasa's ``LockError`` (our ticket expired while waiting) goes up as
        Rasa's store raises it."""
        if not self._redis_usable():
            return None
        ticket: int | None = None
        try:
            lock = self.redis.get_or_create_lock(conversation_id)
            ticket = lock.issue_ticket(lock_lifetime)
            self.redis.save_lock(lock)
            self._redis_answered()
            await self.redis._acquire_lock(conversation_id, ticket, wait_time_in_seconds)
        except REDIS_FAILURES as exc:
            self._redis_failed(exc)
            return None
        except (LockError, asyncio.CancelledError):
            if ticket is not None:
                self._give_back(conversation_id, ticket)
            raise
        return ticket

    def _give_back(self, conversation_id: str, ticket: int) -> None:
        """Rasa's cleanup of a Redis ticket; with Redis down, the ticket expires by itself."""
        if not self._redis_usable():
            return
        try:
            self.redis.cleanup(conversation_id, ticket)
        except REDIS_FAILURES as exc:
            self._redis_failed(exc)
        else:
            self._redis_answered()
