"""Pacing: at most ``rate`` sends in any one second from one business number (WhatsApp's
throughput is 80 messages/s per number).

A sliding window, not fixed slots: a send may go when fewer than ``rate`` went out in the last
second, and never closer than half a slot to the previous one (no burst of 80 at once). Fixed
slots lose every slot a busy event loop wakes up late for, so the dispatcher would fall behind
80/s; the window catches up after a hiccup and still never exceeds the rate in any second."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable


class Pacer:
    """Hands out send instants. ``monotonic`` and ``sleep`` are injectable so tests can check
    the pacing without waiting."""

    def __init__(
        self,
        rate: float,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("the rate must be above zero")
        # ``capacity`` sends per ``window`` seconds: 80/s → 80 per 1 s; 0.5/s → 1 per 2 s.
        self.capacity = max(1, math.floor(rate))
        self.window = self.capacity / rate
        self.gap = 1.0 / rate / 2  # never closer than half a slot
        self._monotonic = monotonic
        self._sleep = sleep
        self._recent: deque[float] = deque(maxlen=self.capacity)
        self._lock = asyncio.Lock()

    async def wait(self) -> float:
        """Wait until a send is allowed; returns its instant (the ``monotonic`` clock)."""
        async with self._lock:
            now = self._monotonic()
            allowed = now
            if self._recent:
                allowed = max(allowed, self._recent[-1] + self.gap)
            if len(self._recent) == self.capacity:
                allowed = max(allowed, self._recent[0] + self.window)
            if allowed > now:
                await self._sleep(allowed - now)
            self._recent.append(allowed)
            return allowed
