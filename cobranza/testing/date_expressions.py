"""The dates a conversation file expects, written relative to the debtor's local today, never as
literal dates (a literal date is wrong the day after it was written).

Deliberately its own small language, in English, and independent of
``cobranza/domain/dates.py``: the evaluation checks the assistant's reading of "el viernes"
against what the designer meant, so it must not borrow the assistant's code to say it.

Grammar (spaces between words, case-insensitive)::

    expression := base [("+" | "-") days]
    base       := "today" | "tomorrow"
                | "next" weekday            the first such weekday strictly after today (1-7 days)
                | "day" N                   the next day N of a month on or after today
                | "day" N "of next month"   day N of next month
                | "end of month"            the last day of the current month
                | "payday"                  the next 15th or month end on or after today
                | "next payday"             the first 15th or month end strictly after today
    weekday    := monday | tuesday | wednesday | thursday | friday | saturday | sunday

A day past a month's end is that month's last day ("day 31" in November is 30 November).
Examples: ``today+2``, ``next friday``, ``day 15 of next month``, ``end of month``,
``next monday+7``.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

from cobranza.errors import Rejected

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_EXPRESSION = re.compile(
    r"""^\s*(?:
        (?P<today>today)
      | (?P<tomorrow>tomorrow)
      | next\s+(?P<weekday>monday|tuesday|wednesday|thursday|friday|saturday|sunday)
      | day\s+(?P<day>\d{1,2})(?P<next_month>\s+of\s+next\s+month)?
      | (?P<end_of_month>end\s+of\s+month)
      | (?P<next_payday>next\s+)?(?P<payday>payday)
    )\s*(?:(?P<sign>[+-])\s*(?P<offset>\d{1,3}))?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)


class InvalidDateExpression(Rejected):
    """Not an expression of the language; the message quotes it and shows the grammar."""


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _month_day(year: int, month: int, day: int) -> date:
    return date(year, month, min(day, _last_day(year, month)))


def _next_month(today: date) -> tuple[int, int]:
    return (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)


@dataclass(frozen=True)
class DateExpression:
    """A parsed expression; :meth:`on` gives the date it means on a given local today."""

    text: str

    def on(self, today: date) -> date:
        match = _EXPRESSION.match(self.text)
        assert match is not None  # parse() accepted it
        offset = int(match["offset"] or 0) * (-1 if match["sign"] == "-" else 1)
        return _base(match, today) + timedelta(days=offset)

    def __str__(self) -> str:
        return self.text


def _base(match: re.Match[str], today: date) -> date:
    if match["today"]:
        return today
    if match["tomorrow"]:
        return today + timedelta(days=1)
    if match["weekday"]:
        wanted = WEEKDAYS.index(match["weekday"].lower())
        return today + timedelta(days=(wanted - today.weekday() - 1) % 7 + 1)
    if match["day"]:
        day = int(match["day"])
        if match["next_month"]:
            return _month_day(*_next_month(today), day)
        this_month = _month_day(today.year, today.month, day)
        return this_month if this_month >= today else _month_day(*_next_month(today), day)
    if match["end_of_month"]:
        return _month_day(today.year, today.month, 31)
    strictly_after = bool(match["next_payday"])
    candidates = [
        _month_day(today.year, today.month, 15),
        _month_day(today.year, today.month, 31),
        _month_day(*_next_month(today), 15),
    ]
    return next(d for d in candidates if d > today or (d == today and not strictly_after))


def parse(text: object) -> DateExpression:
    """The expression in ``text``, or :class:`InvalidDateExpression` naming it."""
    if not isinstance(text, str) or not _EXPRESSION.match(text):
        raise InvalidDateExpression(
            f"{text!r} is not a date expression (today, tomorrow, next friday, day 15, "
            "day 15 of next month, end of month, payday, next payday; optionally +N or -N days)"
        )
    match = _EXPRESSION.match(text)
    assert match is not None
    if match["day"] and not 1 <= int(match["day"]) <= 31:
        raise InvalidDateExpression(f"{text!r}: a day of the month is 1 to 31")
    return DateExpression(" ".join(text.split()).lower())
