"""The date expressions of conversation files, evaluated against fixed days (never the clock)."""

from __future__ import annotations

from datetime import date

import pytest

from cobranza.testing.date_expressions import InvalidDateExpression, parse

MON = date(2026, 11, 16)
FRI = date(2026, 11, 20)
SUN = date(2026, 11, 22)
DAY15 = date(2026, 12, 15)  # a payday
MONTH_END = date(2026, 11, 30)  # a payday
DEC_20 = date(2026, 12, 20)
JAN_31 = date(2027, 1, 31)
FEB_10 = date(2027, 2, 10)  # not a leap year


def test_reference_days() -> None:
    assert [d.weekday() for d in (MON, FRI, SUN)] == [0, 4, 6]


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("today", FRI, FRI),
        ("tomorrow", FRI, date(2026, 11, 21)),
        ("today+2", MONTH_END, date(2026, 12, 2)),
        ("today - 1", MON, date(2026, 11, 15)),
        ("today-1", date(2027, 1, 1), date(2026, 12, 31)),
        # a weekday is strictly after today: on a Friday "next friday" is a week later
        ("next friday", MON, FRI),
        ("next friday", FRI, date(2026, 11, 27)),
        ("next monday", SUN, date(2026, 11, 23)),
        ("next sunday", SUN, date(2026, 11, 29)),
        ("next monday+7", FRI, date(2026, 11, 30)),
        ("Next Friday", MON, FRI),
        # day N: the next one on or after today, clamped to the month's end
        ("day 20", FRI, FRI),
        ("day 15", FRI, DAY15),
        ("day 31", date(2026, 11, 5), MONTH_END),
        ("day 30", FEB_10, date(2027, 2, 28)),
        ("day 5", DEC_20, date(2027, 1, 5)),
        ("day 15 of next month", FRI, DAY15),
        ("day 31 of next month", JAN_31, date(2027, 2, 28)),
        ("day 1 of next month", DEC_20, date(2027, 1, 1)),
        ("end of month", FRI, MONTH_END),
        ("end of month", MONTH_END, MONTH_END),
        ("end of month", FEB_10, date(2027, 2, 28)),
        # paydays: the 15th and the month's last day
        ("payday", FRI, MONTH_END),
        ("payday", MONTH_END, MONTH_END),
        ("payday", DAY15, DAY15),
        ("payday", date(2026, 12, 1), DAY15),
        ("next payday", MONTH_END, DAY15),
        ("next payday", DAY15, date(2026, 12, 31)),
        ("next payday", DEC_20, date(2026, 12, 31)),
        ("next payday", date(2026, 12, 31), date(2027, 1, 15)),
        ("payday", FEB_10, date(2027, 2, 15)),
        ("next payday", date(2027, 2, 15), date(2027, 2, 28)),
    ],
)
def test_expressions(text: str, today: date, expected: date) -> None:
    assert parse(text).on(today) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-04",
        "12/04/2026",
        "el viernes",
        "next fryday",
        "friday",
        "day 0",
        "day 32",
        "today+",
        "today*2",
        "",
        "tomorrow tomorrow",
    ],
)
def test_anything_else_is_refused_with_the_grammar(text: str) -> None:
    with pytest.raises(InvalidDateExpression) as raised:
        parse(text)
    assert repr(text) in str(raised.value)


def test_a_non_text_is_refused() -> None:
    with pytest.raises(InvalidDateExpression, match="not a date expression"):
        parse(20261204)


def test_spacing_and_case_are_normalised() -> None:
    assert str(parse("  Day 15   of next   MONTH ")) == "day 15 of next month"
