"""The one moment every test lives in, so dates in the demo portfolio never drift."""

from __future__ import annotations

from datetime import date, datetime, timezone

# The demo portfolio in the tests is cut on this date; the clock stands at noon in CDMX.
DEMO_TODAY = date(2026, 11, 22)
NOW = datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc)


class SteppingClock:
    """A clock a test moves by hand (``clock.at = …``); starts at :data:`NOW`."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at
