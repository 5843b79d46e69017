"""Folios for promises and agreements: ``PP-20261122-7KQ4MZ``.

Prefix, the local date, and six characters from an alphabet without look-alikes (no 0/O, 1/I/L,
U), so a debtor can read one aloud over the phone. ``secrets`` in production; the demo seed
passes its own seeded random source so the portfolio is reproducible.
"""

from __future__ import annotations

import secrets
from datetime import date
from typing import Protocol

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
PROMISE_PREFIX = "PP"
AGREEMENT_PREFIX = "CV"


class ChoiceSource(Protocol):
    def choice(self, seq: str) -> str: ...


def new_folio(prefix: str, day: date, source: ChoiceSource | None = None) -> str:
    pick = source.choice if source is not None else secrets.choice
    suffix = "".join(pick(ALPHABET) for _ in range(6))
    return f"{prefix}-{day:%Y%m%d}-{suffix}"
