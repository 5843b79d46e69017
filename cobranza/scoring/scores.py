"""Scoring the portfolio (``cobranza score run``) and reading a debtor's latest score.

:func:`score_all` writes the day's feature snapshots when they are missing (the model scores
exactly what is kept for training later), then one ``debtor_scores`` row per debtor for the day
and the model: the calibrated probability, its band (thresholds from the model card), the
expected recovery (probability × open balance: a ranking aid, not a forecast of cash) and the
top reasons. History is kept; running it again the same day with the same model writes nothing
(idempotent), another model writes its own rows.

A score orders work: who gets a campaign message first when the day's budget binds, which
ticket an agent opens first. It never changes what the compliance engine allows (nothing under
cobranza/compliance/ reads it), and it is never shown to the debtor: no response, template or
debtor-facing channel reads ``debtor_scores``."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.db import audit
from cobranza.db.models import Debtor, DebtorScore, FeatureSnapshot
from cobranza.domain.money import CENT
from cobranza.domain.vocabulary import AuditAction
from cobranza.personas.profiles import PersonaProfile
from cobranza.scoring.features import AGE, years_between
from cobranza.scoring.model import TrainedModel
from cobranza.scoring.snapshots import snapshots_on, write_snapshots

logger = logging.getLogger(__name__)
_CHUNK = 5000


@dataclass
class ScoreReport:
    model_id: str
    as_of: str
    snapshots_written: int = 0
    debtors: int = 0
    scored: int = 0
    already_scored: int = 0
    bands: dict[str, int] | None = None
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _scored(session: Session, day: date, model_id: str) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(DebtorScore)
            .where(DebtorScore.as_of == day, DebtorScore.model_id == model_id)
        ).scalar_one()
    )


def _insert(session: Session, day: date, model_id: str, rows: list[dict[str, Any]]) -> int:
    """Insert, leaving a row another run wrote meanwhile; returns how many are new (counted:
    psycopg2's row count of a batched insert is the last page's)."""
    if not rows:
        return 0
    before = _scored(session, day, model_id)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(DebtorScore).on_conflict_do_nothing(
            constraint="uq_debtor_scores_day_model"
        )
    else:
        stmt = sqlite.insert(DebtorScore).on_conflict_do_nothing()
    for start in range(0, len(rows), _CHUNK):
        session.execute(stmt, rows[start : start + _CHUNK])
    return _scored(session, day, model_id) - before


def score_all(
    session: Session,
    model: TrainedModel,
    day: date,
    clock: Clock,
    *,
    profiles: Mapping[str, PersonaProfile],
    default_time_zone: str = "America/Mexico_City",
    grace_days: int = 2,
) -> ScoreReport:
    """Snapshots for ``day`` (if missing), then a score per debtor with a snapshot that day
    and no score yet from this model (module docstring). Audited with counts only."""
    started = time.perf_counter()
    report = ScoreReport(model.model_id, day.isoformat())
    report.snapshots_written = write_snapshots(
        session,
        day,
        clock,
        profiles=profiles,
        default_time_zone=default_time_zone,
        grace_days=grace_days,
    )
    rows = snapshots_on(session, day)
    report.debtors = len(rows)
    done = set(
        session.execute(
            select(DebtorScore.debtor_phone).where(
                DebtorScore.as_of == day, DebtorScore.model_id == model.model_id
            )
        )
        .scalars()
        .all()
    )
    phones = [p for p in rows if p not in done]
    report.already_scored = len(rows) - len(phones)
    features = [dict(rows[p].features) for p in phones]
    if AGE.name in model.encoding.names:  # protected: only a model whose card declares it
        born = dict(session.execute(select(Debtor.phone, Debtor.date_of_birth)).all())
        for phone, row in zip(phones, features, strict=True):
            row[AGE.name] = float(years_between(born[phone], day)) if phone in born else None
    now = clock.now()
    bands: dict[str, int] = {}
    new: list[dict[str, Any]] = []
    for start in range(0, len(phones), _CHUNK):
        part = features[start : start + _CHUNK]
        probabilities, reasons = model.reasons(part)
        for offset, probability in enumerate(probabilities):
            phone = phones[start + offset]
            p = min(1.0, max(0.0, float(probability)))
            band = model.band(p)
            bands[band] = bands.get(band, 0) + 1
            balance = rows[phone].balance
            new.append(
                {
                    "debtor_phone": phone,
                    "as_of": day,
                    "model_id": model.model_id,
                    "probability": p,
                    "band": band,
                    "expected_recovery": (balance * Decimal(str(round(p, 6)))).quantize(CENT),
                    "reasons": reasons[offset],
                    "created_at": now,
                }
            )
    report.scored = _insert(session, day, model.model_id, new)
    report.bands = dict(sorted(bands.items()))
    report.seconds = round(time.perf_counter() - started, 3)
    audit.record(
        session,
        now,
        AuditAction.DEBTORS_SCORED,
        None,
        {
            "model_id": model.model_id,
            "as_of": day.isoformat(),
            "snapshots_written": report.snapshots_written,
            "scored": report.scored,
            "already_scored": report.already_scored,
            "bands": report.bands,
        },
        actor="system",
    )
    session.flush()
    logger.info(
        "scored %s debtors for %s with %s (%s already)",
        report.scored,
        day.isoformat(),
        model.model_id,
        report.already_scored,
    )
    return report


def latest_score(session: Session, phone: str) -> dict[str, Any] | None:
    """The debtor's newest score (latest day, then newest row), for the agents' views only:
    probability, band, expected recovery, reasons, model and day. ``None`` when never scored."""
    score = session.execute(
        select(DebtorScore)
        .where(DebtorScore.debtor_phone == phone)
        .order_by(DebtorScore.as_of.desc(), DebtorScore.created_at.desc(), DebtorScore.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if score is None:
        return None
    return {
        "as_of": score.as_of.isoformat(),
        "model_id": score.model_id,
        "probability": round(float(score.probability), 4),
        "band": score.band,
        "expected_recovery": str(score.expected_recovery),
        "reasons": list(score.reasons or []),
    }


def snapshot_days(session: Session) -> list[date]:
    """The days with snapshots, oldest first."""
    return list(
        session.execute(select(FeatureSnapshot.as_of).distinct().order_by(FeatureSnapshot.as_of))
        .scalars()
        .all()
    )


__all__ = ["ScoreReport", "latest_score", "score_all", "snapshot_days"]
