from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from cobranza.services.handoff import next_attention, priority

OPEN, CLOSE = time(9), time(19)
MX = ZoneInfo("America/Mexico_City")


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2026-11-23T09:00", None),  # Monday at opening
        ("2026-11-23T18:59", None),
        ("2026-11-23T19:00", "2026-11-24"),  # Monday at closing: Tuesday
        ("2026-11-23T07:30", "2026-11-23"),  # before opening: same day
        ("2026-11-28T12:00", None),  # Saturday
        ("2026-11-28T20:00", "2026-11-30"),  # Saturday night: Monday
        ("2026-11-29T12:00", "2026-11-30"),  # Sunday
    ],
)
def test_next_attention(local: str, expected: str | None) -> None:
    now = datetime.fromisoformat(local).replace(tzinfo=MX)
    result = next_attention(now, OPEN, CLOSE)
    assert result == (None if expected is None else date.fromisoformat(expected))


def test_priority_grows_with_balance_age_and_reason() -> None:
    low = priority(Decimal("1000"), 5, "solicitud_agente")
    assert priority(Decimal("50000"), 5, "solicitud_agente") > low
    assert priority(Decimal("1000"), 120, "solicitud_agente") > low
    assert priority(Decimal("1000"), 5, "disputa") > low
