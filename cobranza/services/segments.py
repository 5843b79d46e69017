"""The portfolio by segment: delinquency bucket × score band × persona, with how many debtors,
their open balance and the recovery their current scores expect (``cobranza segments``,
docs/scoring.md).

The three dimensions are the ones a campaign's audience selects on (``buckets``,
``score_bands``, ``personas``; cobranza/outreach/campaigns.py), so a segment's row says how
many debtors and how much money such an audience reaches. The portfolio is every debtor with an
active debt with a balance; the bucket is that of the debtor's most overdue active debt as
stored with its balance (what ``cobranza debtor`` shows); the band is the current score's on the
day asked about (cobranza/services/scores.py), ``sin puntaje`` when there is none, and then no
expected recovery is counted for the debtor. Read in two set queries; no personal data in the
result.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cobranza.db.models import Debt, Debtor
from cobranza.domain.delinquency import BUCKETS, CURRENT, bucket_for
from cobranza.domain.money import format_mxn
from cobranza.domain.scores import NO_SCORE, SCORE_BANDS
from cobranza.domain.vocabulary import DebtStatus
from cobranza.services.scores import latest_scores

NO_PERSONA = "sin persona"
_BUCKET_ORDER = {name: n for n, name in enumerate((CURRENT, *BUCKETS))}
_BAND_ORDER = {name: n for n, name in enumerate((*SCORE_BANDS, NO_SCORE))}
ZERO = Decimal("0.00")


def _totals(debtors: int, balance: Decimal, expected: Decimal) -> dict[str, Any]:
    return {
        "debtors": debtors,
        "balance": str(balance),
        "balance_text": format_mxn(balance),
        "expected_recovery": str(expected),
        "expected_recovery_text": format_mxn(expected),
    }


def segments(session: Session, on: date) -> dict[str, Any]:
    """``{"as_of", "segments": [{bucket, band, persona, debtors, balance, expected_recovery,
    …_text}], "by_band": {band: totals}, "total": totals}``, segments in bucket, band and
    persona order."""
    portfolio = session.execute(
        select(
            Debt.debtor_phone,
            func.max(Debt.days_past_due),
            func.sum(Debt.current_balance),
            Debtor.persona,
        )
        .join(Debtor, Debtor.phone == Debt.debtor_phone)
        .where(Debt.status == DebtStatus.ACTIVE, Debt.current_balance > 0)
        .group_by(Debt.debtor_phone, Debtor.persona)
    ).all()
    scores = latest_scores(session, on=on)
    cells: dict[tuple[str, str, str], list[Any]] = defaultdict(lambda: [0, ZERO, ZERO])
    bands: dict[str, list[Any]] = defaultdict(lambda: [0, ZERO, ZERO])
    total: list[Any] = [0, ZERO, ZERO]
    for phone, days_past_due, balance, persona in portfolio:
        current = scores.get(phone)
        band = current.band if current else NO_SCORE
        expected = current.expected_recovery if current else ZERO
        key = (bucket_for(max(int(days_past_due or 0), 0)), band, persona or NO_PERSONA)
        for acc in (cells[key], bands[band], total):
            acc[0] += 1
            acc[1] += Decimal(balance)
            acc[2] += expected
    ordered = sorted(
        cells.items(),
        key=lambda item: (_BUCKET_ORDER.get(item[0][0], 99), _BAND_ORDER[item[0][1]], item[0][2]),
    )
    return {
        "as_of": on.isoformat(),
        "segments": [
            {"bucket": bucket, "band": band, "persona": persona, **_totals(*acc)}
            for (bucket, band, persona), acc in ordered
        ],
        "by_band": {
            band: _totals(*bands[band]) for band in (*SCORE_BANDS, NO_SCORE) if band in bands
        },
        "total": _totals(*total),
    }
