"""Scores written as cobranza/scoring/ writes them (``debtor_scores``), for the tests of what
reads them: campaigns, the dispatcher's order, the agents' queue, reports."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cobranza.db.models import DebtorScore
from cobranza.scoring.cards import FORMAT, FORMAT_VERSION

MODEL = "gbm-2026-11-01"
WRITTEN = datetime(2026, 11, 20, 6, 0, tzinfo=timezone.utc)
REASONS = [  # as the model writes them (cobranza/scoring/model.py): with the feature's label
    {"feature": "payments_90d", "label": "pagos 90 días", "value": 2, "effect": 0.1},
    {
        "feature": "promises_broken_90d",
        "label": "promesas incumplidas 90 días",
        "value": 1,
        "effect": -0.12,
    },
    {"feature": "days_past_due", "label": "días de atraso", "value": 12, "effect": -0.08},
    {"feature": "replies_30d", "label": "respuestas 30 días", "value": 3, "effect": 0.05},
]


def score(
    session: Session,
    phone: str,
    probability: float,
    band: str,
    *,
    as_of: date = date(2026, 11, 20),
    expected: str | Decimal = "0.00",
    model_id: str = MODEL,
    created_at: datetime = WRITTEN,
    reasons: Any = None,
) -> DebtorScore:
    row = DebtorScore(
        debtor_phone=phone,
        as_of=as_of,
        model_id=model_id,
        probability=probability,
        band=band,
        expected_recovery=Decimal(expected),
        reasons=REASONS if reasons is None else reasons,
        created_at=created_at,
    )
    session.add(row)
    session.flush()
    return row


def model_card(directory: Path, horizon_days: int, model_id: str = MODEL) -> Path:
    """The part of a model's card that what reads scores needs (its id and horizon), where
    ``cobranza score train`` writes cards; the directory is SCORING_MODEL_DIR for a server."""
    card = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_id": model_id}
    card["target"] = {"share_of_balance": "0.1", "horizon_days": horizon_days}
    path = directory / f"{model_id}.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    return directory
