"""A date of birth in a debtor's message: "12/03/1985", "nací el 12 de marzo del 85",
"doce de marzo de mil novecientos ochenta y cinco", inside any longer sentence.

The dates are read by the es-MX date parser (:mod:`cobranza.domain.dates`); this module only
decides which of them can be a date of birth: a past day of an adult's plausible age. A date
that is relative or without a year ("el viernes", "12 de marzo", "mañana") resolves to today or
later, or to a few days ago ("ayer"), and is therefore never one. Identity verification counts
a failure only for such a date, so a debtor who answers the question with a promise, a "sí" or a
question is asked again instead of being moved toward a lock.
"""

from __future__ import annotations

import re
from datetime import date

from cobranza.domain.amounts import fold, parse_amount
from cobranza.domain.dates import extract_date

__all__ = ["MAX_AGE", "MIN_AGE", "extract_birth_date", "is_birth_date"]

#: Credit is granted to adults only: a younger "birth date" is some other date of the message.
MIN_AGE = 18
#: Older than this is not a living debtor's birth date.
MAX_AGE = 110
#: How many dates of one message are looked at before giving up.
_MAX_DATES = 6

_UNITS = (
    "uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce|trece|catorce|quince"
    "|dieciseis|diecisiete|dieciocho|diecinueve|veinte|veintiuno|veintidos|veintitres"
    "|veinticuatro|veinticinco|veintiseis|veintisiete|veintiocho|veintinueve"
)
_TENS = "treinta|cuarenta|cincuenta|sesenta|setenta|ochenta|noventa"
# A year in words, "mil novecientos ochenta y cinco", "dos mil cinco": only after "de"/"del",
# so "te pago dos mil" stays an amount.
_YEAR_IN_WORDS = re.compile(
    rf"""\b(?P<lead>de|del)\s+(?:ano\s+)?
    (?P<year>(?:mil\s+novecientos|dos\s+mil)
      (?:\s+(?:{_TENS})(?:\s+y\s+(?:{_UNITS}))?|\s+(?:{_UNITS}))?)\b""",
    re.VERBOSE,
)


def _years_as_digits(folded: str) -> str:
    """ "del mil novecientos ochenta y cinco" → "del 1985" (in the folded text)."""

    def digits(m: re.Match[str]) -> str:
        value = parse_amount(m["year"])
        if value is None or not 1900 <= value <= 2099:
            return m.group(0)
        return f"{m['lead']} {int(value)}"

    return _YEAR_IN_WORDS.sub(digits, folded)


def is_birth_date(day: date, today: date) -> bool:
    """A full past date of someone between :data:`MIN_AGE` and :data:`MAX_AGE` years old."""
    age = today.year - day.year - ((today.month, today.day) < (day.month, day.day))
    return day < today and MIN_AGE <= age <= MAX_AGE


def extract_birth_date(text: str, today: date) -> date | None:
    """The first date in ``text`` that can be a date of birth, else ``None``. Every date of the
    message is considered, longest first ("te pago el viernes, nací el 12/03/1985" → 1985)."""
    remaining = _years_as_digits(fold(text))
    for _ in range(_MAX_DATES):
        match = extract_date(remaining, today)
        if match is None:
            return None
        if is_birth_date(match.value, today):
            return match.value
        remaining = (
            remaining[: match.start] + " " * (match.end - match.start) + remaining[match.end :]
        )
    return None
