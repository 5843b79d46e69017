"""Pacing: at most ``rate`` sends per second from one business number (WhatsApp's throughput is
80 messages/s per number). A send waits for its slot; slots are ``1 / rate`` apart, so a burst
after an idle spell is not allowed either (Meta counts per second, not on average)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class Pacer:
    """Hands out send slots ``1 / rate`` seconds apart. ``monotonic`` and ``sleep`` are
    injectable so tests can check the spacing without waiting."""

    def __init__(
        self,
        rate: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("the rate must be above zero")
        self.interval = 1.0 / rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def wait(self) -> float:
        """Wait for the next slot; returns the slot's time (the ``monotonic`` clock)."""
        async with self._lock:
            now = self._monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
            if slot > now:
                await self._sleep(slot - now)
            return slot
