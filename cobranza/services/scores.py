"""The current propensity-to-pay score of each debtor, read in one set query (docs/scoring.md).

``debtor_scores`` keeps history: one row per debtor, day (``as_of``) and model. The *current*
score is the row with the latest ``as_of`` on or before the day asked about; when several models
scored the debtor that day, the newest ``created_at`` wins (then the highest id, so two rows
written in the same instant still give one answer). Campaign audiences, the dispatcher's order,
the agents' queue, ``cobranza debtor`` and ``cobranza segments`` all read it from here.

A score only ever *orders* work or *selects* a campaign's audience. Nothing here is read by the
compliance engine (cobranza/compliance/ imports nothing of it; tested), and nothing a debtor
receives (actions, responses, templates) carries it.

Rows are written by cobranza/scoring/; this reader still refuses what would make a score drive
work wrongly: a band outside ``A``–``E`` or a probability outside 0–1 (not a number included)
leaves the debtor unscored (logged with the count, never the phone), and reasons that are not
``{feature, label, value, effect}`` objects are left out.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Iterable
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cobranza.db.models import DebtorScore
from cobranza.domain.scores import SCORE_BANDS

logger = logging.getLogger(__name__)

# Phones per IN (...) list: well under SQLite's limit on bound parameters.
CHUNK = 500
# A list this long is cheaper read whole and filtered here than in chunks.
READ_ALL_ABOVE = 20_000
MAX_REASONS = 10


class CurrentScore(NamedTuple):
    probability: float
    band: str
    expected_recovery: Decimal
    as_of: date
    reasons: list[dict[str, Any]]
    model_id: str


def _reasons(raw: Any) -> list[dict[str, Any]]:
    """The reasons as ``{feature, label, value, effect}`` dicts (``label`` is the feature's
    Spanish label, or its name when the row has none), top first; anything else dropped."""
    if not isinstance(raw, list):
        return []
    kept = []
    for item in raw[:MAX_REASONS]:
        if isinstance(item, dict) and isinstance(item.get("feature"), str) and item["feature"]:
            kept.append(
                {
                    "feature": item["feature"][:80],
                    "label": str(item.get("label") or item["feature"])[:80],
                    "value": item.get("value"),
                    "effect": item.get("effect"),
                }
            )
    return kept


def _valid(probability: Any, band: Any) -> bool:
    return (
        isinstance(probability, (int, float))
        and not math.isnan(probability)
        and 0.0 <= probability <= 1.0
        and band in SCORE_BANDS
    )


def _query(on: date | None) -> Any:
    ranked = select(
        DebtorScore.debtor_phone,
        DebtorScore.probability,
        DebtorScore.band,
        DebtorScore.expected_recovery,
        DebtorScore.as_of,
        DebtorScore.reasons,
        DebtorScore.model_id,
        func.row_number()
        .over(
            partition_by=DebtorScore.debtor_phone,
            order_by=(
                DebtorScore.as_of.desc(),
                DebtorScore.created_at.desc(),
                DebtorScore.id.desc(),
            ),
        )
        .label("rank"),
    )
    if on is not None:
        ranked = ranked.where(DebtorScore.as_of <= on)
    return ranked


def _read(session: Session, query: Any) -> Iterable[Any]:
    inner = query.subquery()
    return session.execute(
        select(
            inner.c.debtor_phone,
            inner.c.probability,
            inner.c.band,
            inner.c.expected_recovery,
            inner.c.as_of,
            inner.c.reasons,
            inner.c.model_id,
        ).where(inner.c.rank == 1)
    )


def latest_scores(
    session: Session, phones: Collection[str] | None = None, *, on: date | None = None
) -> dict[str, CurrentScore]:
    """Each debtor's current score, by phone: all debtors when ``phones`` is ``None``, else only
    those (a phone with no score is absent). ``on``: only scores dated on or before that day (a
    report ``--at`` an earlier instant does not see later scores)."""
    wanted: set[str] | None = None if phones is None else set(phones)
    rows: list[Any] = []
    if wanted is None or len(wanted) > READ_ALL_ABOVE:
        rows = [r for r in _read(session, _query(on)) if wanted is None or r[0] in wanted]
    elif wanted:
        ordered = sorted(wanted)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            rows.extend(_read(session, _query(on).where(DebtorScore.debtor_phone.in_(chunk))))
    found: dict[str, CurrentScore] = {}
    invalid = 0
    for phone, probability, band, expected, as_of, reasons, model_id in rows:
        if not _valid(probability, band):
            invalid += 1
            continue
        found[phone] = CurrentScore(
            float(probability), band, Decimal(expected), as_of, _reasons(reasons), model_id
        )
    if invalid:
        logger.warning("%d current scores ignored: band or probability out of range", invalid)
    return found
