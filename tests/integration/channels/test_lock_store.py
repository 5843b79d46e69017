"""The replicas' lock store (cobranza/channels/lock_store.py) against the real Redis on
127.0.0.1:6379 behind a relay the tests cut (refused), hold (black-holed) and restore
(tests/support/redis_switch.py), one key prefix per test. Built as Rasa builds it from
endpoints.cluster.yml's block: ``LockStore.create(EndpointConfig(...))``.

What an outage must not do: fail the turn, let two turns of one sender run at once in the
process, hold a call past ~1 s, log more than once, or log the password. What Redis up must
still do: exclude across replicas (two stores, one of them Rasa's own RedisLockStore)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from rasa.core.lock_store import LockStore, RedisLockStore
from rasa.utils.endpoints import EndpointConfig, read_endpoint_config

from cobranza.channels.lock_store import FallbackRedisLockStore
from cobranza.config import PROJECT_ROOT
from tests.support.redis_switch import REDIS_HOST, REDIS_PORT, RedisSwitch

TYPE = "cobranza.channels.lock_store.FallbackRedisLockStore"
RETRY = 0.5  # seconds between attempts while Redis is down (5 s in production)
POLL = 0.05  # Rasa's wait between two looks at a held lock (1 s in production)
SENDER, OTHER = "5215511111111", "5215522222222"
PASSWORD = "contrasena-de-redis-" + uuid.uuid4().hex


@pytest.fixture
def prefix() -> Iterator[str]:
    tag = "locktest" + uuid.uuid4().hex[:12]
    yield tag
    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=1)
    try:
        for key in client.scan_iter(f"{tag}:*"):
            client.delete(key)
    finally:
        client.close()


@pytest.fixture
def switch() -> Iterator[RedisSwitch]:
    with RedisSwitch() as relay:
        yield relay


def store_on(port: int, prefix: str, *, type_: str = TYPE, **keys: Any) -> LockStore:
    """A lock store as Rasa builds it from an endpoints block (``url`` is the host; ports and
    the rest as ${VAR} substitution leaves them: strings)."""
    config = EndpointConfig(url=REDIS_HOST, type=type_, port=str(port), key_prefix=prefix, **keys)
    store = LockStore.create(config)
    if isinstance(store, FallbackRedisLockStore):
        store.retry_seconds = RETRY
    return store


def in_redis(prefix: str, sender: str) -> bytes | None:
    """The lock of ``sender`` as Rasa's RedisLockStore keeps it (db 1, ``<prefix>:lock:``)."""
    client = redis.Redis(REDIS_HOST, REDIS_PORT, db=1)
    try:
        value = client.get(f"{prefix}:lock:{sender}")
        return value if isinstance(value, bytes) else None
    finally:
        client.close()


async def turn(
    store: LockStore, sender: str, spans: list[tuple[float, float]], hold: float = 0.2
) -> None:
    """A turn: the lock around some work, its span recorded."""
    async with store.lock(sender, wait_time_in_seconds=POLL):
        started = time.monotonic()
        await asyncio.sleep(hold)
        spans.append((started, time.monotonic()))


def one_after_the_other(spans: list[tuple[float, float]]) -> bool:
    ordered = sorted(spans)
    return all(end <= next_start for (_, end), (next_start, _) in itertools.pairwise(ordered))


def redis_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith("cobranza") and "Redis" in r.getMessage()
    ]


async def timed_turn(store: LockStore, sender: str) -> float:
    """Seconds spent in the lock store itself for one turn (taking and giving back)."""
    started = time.monotonic()
    async with store.lock(sender, wait_time_in_seconds=POLL):
        inside = time.monotonic()
    return (inside - started) + (time.monotonic() - inside)


# --------------------------------------------------------------------------- Redis down


def test_with_redis_cut_from_the_start_turns_get_their_lock_one_sender_at_a_time(
    switch: RedisSwitch, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    store = store_on(switch.port, prefix)  # starts although nothing listens there
    spans: list[tuple[float, float]] = []
    other: list[tuple[float, float]] = []

    async def main() -> None:
        await asyncio.gather(
            *(turn(store, SENDER, spans) for _ in range(3)), turn(store, OTHER, other)
        )

    started = time.monotonic()
    asyncio.run(main())
    took = time.monotonic() - started
    assert len(spans) == 3 and one_after_the_other(spans), spans
    # Another sender is not queued behind the first one's turns.
    assert other[0][0] < spans[0][1]
    assert took < 3 * 0.2 + 1.0, took
    lines = redis_lines(caplog)
    assert len(lines) == 1 and lines[0].startswith("Redis unreachable: locks are kept per replica")
    assert [r.levelname for r in caplog.records if r.getMessage() == lines[0]] == ["WARNING"]


def test_a_black_holed_redis_costs_one_timeout_per_retry_and_one_warning(
    switch: RedisSwitch, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    switch.hold()
    store = store_on(switch.port, prefix)

    async def main() -> list[float]:
        costs = []
        for _ in range(30):
            costs.append(await timed_turn(store, SENDER))
            await asyncio.sleep(0.05)
        return costs

    started = time.monotonic()
    costs = asyncio.run(main())
    elapsed = time.monotonic() - started
    assert max(costs) < 1.3, costs  # the 1 s connect/socket timeout, never Rasa's 10 s
    slow = [c for c in costs if c > 0.5]
    # Only the first call and the retries (one per RETRY seconds at most) try Redis.
    assert 1 <= len(slow) <= elapsed / RETRY + 1, (len(slow), elapsed, costs)
    assert len(slow) < len(costs) / 2
    assert len(redis_lines(caplog)) == 1, redis_lines(caplog)


def test_after_an_outage_locks_go_to_redis_again_and_the_recovery_is_logged_once(
    switch: RedisSwitch, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    switch.on()
    store = store_on(switch.port, prefix)
    seen: list[bytes | None] = []

    async def looked_at(sender: str) -> None:
        async with store.lock(sender, wait_time_in_seconds=POLL):
            seen.append(in_redis(prefix, sender))

    async def main() -> None:
        await looked_at(SENDER)  # Redis answers: the lock is there
        switch.off()
        for _ in range(5):
            await looked_at(SENDER)  # kept in the process
            await asyncio.sleep(0.2)
        switch.on()
        await asyncio.sleep(RETRY)
        for _ in range(3):
            await looked_at(OTHER)  # in Redis again

    asyncio.run(main())
    assert seen[0] is not None and SENDER in seen[0].decode()
    assert seen[1:6] == [None] * 5
    assert all(value is not None and OTHER in value.decode() for value in seen[6:]), seen
    assert in_redis(prefix, SENDER) is None and in_redis(prefix, OTHER) is None  # given back
    lines = redis_lines(caplog)
    assert len(lines) == 2, lines
    assert lines[0].startswith("Redis unreachable:") and lines[1].startswith("Redis answers again")


def test_redis_cut_during_a_turn_neither_fails_it_nor_lets_the_next_turn_in_beside_it(
    switch: RedisSwitch, prefix: str
) -> None:
    switch.on()
    store = store_on(switch.port, prefix)
    spans: list[tuple[float, float]] = []

    async def first() -> None:
        async with store.lock(SENDER, wait_time_in_seconds=POLL):
            started = time.monotonic()
            switch.off()  # the turn holds its ticket in Redis, which goes away
            await asyncio.sleep(0.4)
            spans.append((started, time.monotonic()))

    async def main() -> None:
        task = asyncio.create_task(first())
        await asyncio.sleep(0.1)
        await turn(store, SENDER, spans)  # Redis is gone: the process still holds SENDER
        await task

    asyncio.run(main())
    assert len(spans) == 2 and one_after_the_other(spans), spans


# --------------------------------------------------------------------------- Redis up


@pytest.mark.parametrize("second", [TYPE, "redis"], ids=["ours", "rasa"])
def test_two_replicas_sharing_redis_exclude_each_other_while_it_answers(
    switch: RedisSwitch, prefix: str, second: str
) -> None:
    """Two stores are two replicas; one of them may still be Rasa's own RedisLockStore (a
    rolling upgrade): same keys, same format."""
    switch.on()
    one = store_on(switch.port, prefix)
    two = store_on(switch.port, prefix, type_=second)
    assert isinstance(two, FallbackRedisLockStore if second == TYPE else RedisLockStore)
    spans: list[tuple[float, float]] = []

    async def main() -> None:
        await asyncio.gather(
            turn(one, SENDER, spans, 0.3),
            turn(two, SENDER, spans, 0.3),
            turn(one, SENDER, spans, 0.3),
            turn(two, SENDER, spans, 0.3),
        )

    asyncio.run(main())
    assert len(spans) == 4 and one_after_the_other(spans), spans
    assert in_redis(prefix, SENDER) is None


def test_the_endpoint_keys_of_rasas_redis_lock_store_still_work(
    switch: RedisSwitch, prefix: str
) -> None:
    switch.on()
    store = store_on(switch.port, prefix, db="1", use_ssl=False, socket_timeout=2)
    assert isinstance(store, FallbackRedisLockStore)
    assert store.redis.key_prefix == f"{prefix}:lock:"
    connection = store.redis.red.connection_pool.connection_kwargs
    assert connection["port"] == switch.port and connection["db"] == 1
    assert connection["socket_timeout"] == 2 and connection["socket_connect_timeout"] == 1.0
    default = store_on(switch.port, prefix).redis.red.connection_pool.connection_kwargs
    assert default["socket_timeout"] == 1.0 and default["socket_connect_timeout"] == 1.0


def test_the_password_is_never_logged(
    switch: RedisSwitch, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    # Refused (nothing listens), then refused by Redis itself (no password is set on it).
    cut = store_on(switch.port, prefix, password=PASSWORD, username="cobranza")
    wrong = store_on(REDIS_PORT, prefix, password=PASSWORD)
    spans: list[tuple[float, float]] = []

    async def main() -> None:
        for store in (cut, wrong):
            await turn(store, SENDER, spans, 0.0)

    asyncio.run(main())
    assert len(spans) == 2
    assert len(redis_lines(caplog)) == 2
    assert PASSWORD not in caplog.text


def test_endpoints_cluster_yml_builds_it_and_a_replica_starts_and_answers_with_redis_down(
    switch: RedisSwitch, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = PROJECT_ROOT / "endpoints.cluster.yml"
    for name in set(re.findall(r"\$\{(\w+)\}", path.read_text(encoding="utf-8"))):
        monkeypatch.setenv(name, "1")
    monkeypatch.setenv("REDIS_HOST", REDIS_HOST)
    monkeypatch.setenv("REDIS_PORT", str(switch.port))  # nothing listens there
    monkeypatch.setenv("LOCK_KEY_PREFIX", prefix)
    store = LockStore.create(read_endpoint_config(str(path), "lock_store"))
    assert isinstance(store, FallbackRedisLockStore)
    assert store.redis.key_prefix == f"{prefix}:lock:"
    spans: list[tuple[float, float]] = []
    asyncio.run(turn(store, SENDER, spans, 0.0))
    assert len(spans) == 1
