"""The channels' rate limiter, on an injected clock: per sender and per address, one notice a
minute at most, refused messages use no quota, memory bounded, exact under concurrency (threads
and asyncio tasks); and its settings."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from cobranza import responses
from cobranza.channels.limits import (
    RATE_LIMIT_NOTICE,
    InboundGate,
    RateLimiter,
    Verdict,
)
from cobranza.clock import SystemClock
from cobranza.config import ConfigError, Settings, load_settings

START = datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc)


class SteppingClock:
    """A clock the test moves forward (or back) by hand."""

    def __init__(self) -> None:
        self.instant = START

    def now(self) -> datetime:
        return self.instant

    def advance(self, seconds: float) -> None:
        self.instant += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> SteppingClock:
    return SteppingClock()


def verdicts(limiter: RateLimiter, count: int, sender: str, address: str | None = None) -> Counter:
    return Counter(limiter.check(sender, address) for _ in range(count))


def test_a_sender_gets_the_limit_then_one_notice_then_silence(clock: SteppingClock) -> None:
    limiter = RateLimiter(20, 120, clock)
    assert verdicts(limiter, 20, "5215512345678") == {Verdict.ALLOW: 20}
    assert limiter.check("5215512345678") is Verdict.REFUSE_AND_TELL
    assert verdicts(limiter, 50, "5215512345678") == {Verdict.REFUSE: 50}
    # another sender is not affected
    assert limiter.check("5215599998888") is Verdict.ALLOW


def test_the_bucket_refills_at_the_limit_per_minute(clock: SteppingClock) -> None:
    limiter = RateLimiter(20, 120, clock)
    verdicts(limiter, 21, "a")
    clock.advance(2.9)  # 20 a minute: one every 3 seconds
    assert limiter.check("a") is Verdict.REFUSE
    clock.advance(0.1)
    assert limiter.check("a") is Verdict.ALLOW
    assert limiter.check("a") is Verdict.REFUSE  # told less than a minute ago: silence
    clock.advance(60)
    assert verdicts(limiter, 20, "a") == {Verdict.ALLOW: 20}  # full again, not more
    assert limiter.check("a") is Verdict.REFUSE_AND_TELL  # a new minute: told again, once


def test_a_sustained_flood_gets_one_notice_a_minute(clock: SteppingClock) -> None:
    limiter = RateLimiter(20, 120, clock)
    seen: Counter[Verdict] = Counter()
    for _ in range(10 * 60 * 10):  # 10 messages a second for 10 minutes
        seen[limiter.check("flood")] += 1
        clock.advance(0.1)
    assert seen[Verdict.REFUSE_AND_TELL] == 10
    # 20 at once, then the refill: 20 a minute
    assert 20 + 20 * 10 - 2 <= seen[Verdict.ALLOW] <= 20 + 20 * 10


def test_refused_messages_use_no_quota(clock: SteppingClock) -> None:
    limiter = RateLimiter(2, 100, clock)
    verdicts(limiter, 1000, "a")
    clock.advance(30)  # a minute's half: one token back, however much was refused
    assert limiter.check("a") is Verdict.ALLOW


def test_one_address_is_limited_across_its_senders(clock: SteppingClock) -> None:
    limiter = RateLimiter(20, 120, clock)
    passed = Counter(limiter.check(f"web-session-{n}", "203.0.113.7") for n in range(200))
    assert passed == {Verdict.ALLOW: 120, Verdict.REFUSE_AND_TELL: 80}  # each session told once
    assert limiter.check("web-session-150", "203.0.113.7") is Verdict.REFUSE  # told already
    # a session that got through before the address was spent is told the first time
    assert limiter.check("web-session-0", "203.0.113.7") is Verdict.REFUSE_AND_TELL
    assert limiter.check("web-session-0", "198.51.100.1") is Verdict.ALLOW  # another address


def test_a_refusal_by_one_bucket_takes_nothing_from_the_other(clock: SteppingClock) -> None:
    limiter = RateLimiter(3, 3, clock)
    assert verdicts(limiter, 3, "a", "10.0.0.1") == {Verdict.ALLOW: 3}
    assert limiter.check("b", "10.0.0.1") is Verdict.REFUSE_AND_TELL  # the address is spent
    assert verdicts(limiter, 3, "b", "10.0.0.2") == {Verdict.ALLOW: 3}  # b's bucket untouched
    assert limiter.check("a", "10.0.0.3") is Verdict.REFUSE_AND_TELL  # a is spent
    assert verdicts(limiter, 3, "c", "10.0.0.3") == {Verdict.ALLOW: 3}  # 10.0.0.3 untouched


def test_a_clock_set_back_refills_nothing(clock: SteppingClock) -> None:
    limiter = RateLimiter(2, 100, clock)
    verdicts(limiter, 3, "a")
    clock.advance(-3600)
    assert limiter.check("a") is Verdict.REFUSE


def test_memory_is_bounded(clock: SteppingClock) -> None:
    limiter = RateLimiter(20, 120, clock, max_keys=1000)
    for n in range(50_000):
        limiter.check(f"sender-{n}", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}")
    assert limiter.tracked() == (1000, 1000)
    clock.advance(61)  # everybody idle for a minute: forgotten (their buckets are full again)
    limiter.check("new", "10.9.9.9")
    assert limiter.tracked() == (1, 1)


def test_forgetting_an_idle_sender_changes_nothing(clock: SteppingClock) -> None:
    limiter = RateLimiter(3, 100, clock, max_keys=10)
    verdicts(limiter, 4, "a")
    clock.advance(60)
    for n in range(20):
        limiter.check(f"other-{n}")
    assert verdicts(limiter, 4, "a") == {Verdict.ALLOW: 3, Verdict.REFUSE_AND_TELL: 1}


def test_concurrent_threads_are_counted_exactly(clock: SteppingClock) -> None:
    limiter = RateLimiter(20, 120, clock)
    seen: Counter[Verdict] = Counter()
    lock = threading.Lock()
    start = threading.Barrier(16)

    def flood() -> None:
        start.wait()
        local = Counter(limiter.check("5215512345678", "203.0.113.7") for _ in range(500))
        with lock:
            seen.update(local)

    threads = [threading.Thread(target=flood) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {Verdict.ALLOW: 20, Verdict.REFUSE_AND_TELL: 1, Verdict.REFUSE: 16 * 500 - 21}


def test_concurrent_tasks_through_the_gate_reach_rasa_20_times_and_get_one_notice(
    clock: SteppingClock,
) -> None:
    gate = InboundGate(RateLimiter(20, 120, clock), responses.text(RATE_LIMIT_NOTICE))
    output = CollectingOutputChannel()
    handled: list[str] = []

    async def deliver(n: int) -> None:
        message = UserMessage(f"mensaje {n}", output, "5215512345678", input_channel="prueba")
        await asyncio.sleep(0)  # interleave the tasks
        if await gate.admit(message):
            handled.append(message.text or "")

    async def flood() -> None:
        await asyncio.gather(*(deliver(n) for n in range(300)))

    asyncio.run(flood())
    assert len(handled) == 20
    assert [m["text"] for m in output.messages] == [gate.notice]
    assert "muchos mensajes" in gate.notice  # the text comes from domain.yml


def test_the_gate_can_tell_through_another_way(clock: SteppingClock) -> None:
    gate = InboundGate(RateLimiter(1, 10, clock), "espera un minuto")
    told: list[str] = []
    output = CollectingOutputChannel()

    async def tell(text: str) -> None:
        told.append(text)

    async def scenario() -> list[bool]:
        results = []
        for _ in range(3):
            message = UserMessage("hola", output, "web-abc", input_channel="webchat")
            results.append(await gate.admit(message, "10.0.0.1", tell))
        return results

    assert asyncio.run(scenario()) == [True, False, False]
    assert told == ["espera un minuto"] and output.messages == []


# --- settings ---------------------------------------------------------------------------------


def test_default_limits() -> None:
    settings = load_settings({})
    assert (settings.rate_limit_per_minute, settings.rate_limit_per_address_per_minute) == (20, 120)
    assert Settings.rate_limit_per_minute == 20


def test_limits_from_the_environment() -> None:
    settings = load_settings(
        {"COBRANZA_RATE_LIMIT_PER_MINUTE": "5", "COBRANZA_RATE_LIMIT_PER_ADDRESS_PER_MINUTE": "50"}
    )
    assert (settings.rate_limit_per_minute, settings.rate_limit_per_address_per_minute) == (5, 50)


@pytest.mark.parametrize(
    "name", ["COBRANZA_RATE_LIMIT_PER_MINUTE", "COBRANZA_RATE_LIMIT_PER_ADDRESS_PER_MINUTE"]
)
@pytest.mark.parametrize("value", ["0", "-1", "veinte", "2.5"])
def test_bad_limits_fail_with_the_variables_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_settings({name: value})


def test_a_limit_below_one_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="at least one"):
        RateLimiter(0, 10, SystemClock())


def test_the_notice_must_exist_in_the_domain(tmp_path: Any) -> None:
    domain = tmp_path / "domain.yml"
    domain.write_text("responses:\n  utter_otro:\n    - text: hola\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=RATE_LIMIT_NOTICE):
        responses.text(RATE_LIMIT_NOTICE, domain)
