"""Feature snapshots (what the model knew on a day) and the labelled set training reads.

A snapshot is written *on* its day (or right after it, before anything of the next day is
recorded: the simulation writes yesterday's at 05:00 Mexico City, ``cobranza score run``
today's): the features of cobranza/scoring/features.py as they stood, kept in
``feature_snapshots``. Training never recomputes the past from today's tables (a paid-off debt
has lost its days past due); it pairs each snapshot with what the debtor paid afterwards.

The label (:func:`labelled`): did the payments recorded in the ``horizon_days`` days after the
snapshot's day — (day, day + horizon], the debtor's local days — reach ``target_share`` of the
balance on the snapshot? Only snapshots whose whole horizon lies inside the data are labelled:
the data ends at the newest snapshot's day (or ``until``), so a snapshot closer to the end than
the horizon has no label yet and is left out, never counted as "did not pay"."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.db import audit
from cobranza.db.models import Debt, Debtor, FeatureSnapshot, Payment
from cobranza.domain.vocabulary import AuditAction
from cobranza.errors import Rejected
from cobranza.personas.profiles import PersonaProfile
from cobranza.scoring.features import (
    AGE,
    FEATURE_NAMES,
    FeatureRow,
    Value,
    day_bounds,
    end_of_day,
    features_as_of,
    years_between,
)

DEFAULT_HORIZON = 30
DEFAULT_TARGET_SHARE = Decimal("0.10")
_INSERT_CHUNK = 2000
_NARROW = 5000  # up to this many debtors missing a snapshot: query just them


class NoTrainingData(Rejected):
    """Too few labelled snapshots to train or validate on (the message says what is missing)."""


def _count(session: Session, day: date) -> int:
    return int(
        session.execute(
            select(func.count()).select_from(FeatureSnapshot).where(FeatureSnapshot.as_of == day)
        ).scalar_one()
    )


def _insert_ignoring_duplicates(session: Session, day: date, rows: list[dict[str, Any]]) -> int:
    """Insert snapshot rows; one already there for the debtor and day is left as it is (a
    concurrent writer got there first), on SQLite and PostgreSQL alike. Returns how many were
    new: counted, since a driver's row count for a batched insert is not reliable (psycopg2
    reports the last page only)."""
    if not rows:
        return 0
    before = _count(session, day)
    dialect = session.get_bind().dialect.name
    for start in range(0, len(rows), _INSERT_CHUNK):
        chunk = rows[start : start + _INSERT_CHUNK]
        if dialect == "postgresql":
            stmt: Any = postgresql.insert(FeatureSnapshot).on_conflict_do_nothing(
                constraint="uq_feature_snapshots_debtor_day"
            )
        elif dialect == "sqlite":
            stmt = sqlite.insert(FeatureSnapshot).on_conflict_do_nothing()
        else:  # pragma: no cover - the project runs on these two
            stmt = insert(FeatureSnapshot)
        session.execute(stmt, chunk)
    return _count(session, day) - before


def write_snapshots(
    session: Session,
    day: date,
    clock: Clock,
    *,
    profiles: Mapping[str, PersonaProfile],
    default_time_zone: str = "America/Mexico_City",
    grace_days: int = 2,
    phones: Collection[str] | None = None,
) -> int:
    """Write ``day``'s snapshot for every debtor with an open balance that has none yet;
    returns how many were written (0 the second time: idempotent per debtor and day). Age is
    never stored (features.py: protected). Audited with counts only."""
    have = set(
        session.execute(select(FeatureSnapshot.debtor_phone).where(FeatureSnapshot.as_of == day))
        .scalars()
        .all()
    )
    if phones is None and have:
        phones = [p for p in session.execute(select(Debtor.phone)).scalars().all() if p not in have]
        if len(phones) > _NARROW:  # many missing: one pass over everyone is cheaper
            phones = None
    wanted = None if phones is None else [p for p in phones if p not in have]
    if wanted is not None and not wanted:
        return 0
    rows = features_as_of(
        session,
        day,
        wanted,
        profiles=profiles,
        default_time_zone=default_time_zone,
        grace_days=grace_days,
    )
    now = clock.now()
    new = [
        {
            "debtor_phone": phone,
            "as_of": day,
            "features": row.features,
            "balance": row.balance,
            "created_at": now,
        }
        for phone, row in rows.items()
        if phone not in have
    ]
    written = _insert_ignoring_duplicates(session, day, new)
    if written:
        audit.record(
            session,
            now,
            AuditAction.FEATURES_SNAPSHOTTED,
            None,
            {"as_of": day.isoformat(), "snapshots": written},
            actor="system",
        )
    session.flush()
    return written


def snapshots_on(session: Session, day: date) -> dict[str, FeatureRow]:
    """The snapshots stored for ``day``, by phone."""
    return {
        phone: FeatureRow(dict(features), Decimal(balance))
        for phone, features, balance in session.execute(
            select(FeatureSnapshot.debtor_phone, FeatureSnapshot.features, FeatureSnapshot.balance)
            .where(FeatureSnapshot.as_of == day)
            .order_by(FeatureSnapshot.debtor_phone)
        )
    }


@dataclass
class LabelledSet:
    """Snapshots with their outcome, oldest day first (then phone), and how they were made."""

    horizon_days: int
    target_share: Decimal
    data_end: date | None
    phones: list[str] = field(default_factory=list)
    days: list[date] = field(default_factory=list)
    features: list[dict[str, Value]] = field(default_factory=list)
    balances: list[Decimal] = field(default_factory=list)
    paid: list[Decimal] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    unlabelled: int = 0  # snapshots too recent for their horizon

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def positive_rate(self) -> float:
        return sum(self.labels) / len(self.labels) if self.labels else 0.0


def labelled(
    session: Session,
    horizon_days: int = DEFAULT_HORIZON,
    target_share: Decimal = DEFAULT_TARGET_SHARE,
    *,
    until: date | None = None,
    use_age: bool = False,
    default_time_zone: str = "America/Mexico_City",
) -> LabelledSet:
    """Every snapshot whose horizon has fully passed, with ``label`` = 1 when the payments in
    (day, day + horizon] reach ``target_share`` × its balance (module docstring). ``until``:
    the last day of data (default: the newest snapshot's day). ``use_age`` adds the protected
    age, derived from the date of birth at the snapshot's day."""
    if horizon_days < 1:
        raise Rejected("el horizonte debe ser de al menos 1 día")
    if not Decimal(0) < target_share <= Decimal(1):
        raise Rejected("la proporción objetivo debe estar entre 0 y 1 (p. ej. 0.10)")
    newest = session.execute(select(func.max(FeatureSnapshot.as_of))).scalar_one_or_none()
    end = until if until is not None else newest
    out = LabelledSet(horizon_days, target_share, end)
    if end is None:
        return out
    last_labelled = end - timedelta(days=horizon_days)
    out.unlabelled = session.execute(
        select(func.count())
        .select_from(FeatureSnapshot)
        .where(FeatureSnapshot.as_of > last_labelled)
    ).scalar_one()
    days = (
        session.execute(
            select(FeatureSnapshot.as_of)
            .where(FeatureSnapshot.as_of <= last_labelled)
            .distinct()
            .order_by(FeatureSnapshot.as_of)
        )
        .scalars()
        .all()
    )
    zone_of = dict(session.execute(select(Debtor.phone, Debtor.time_zone)).all())
    born = (
        dict(session.execute(select(Debtor.phone, Debtor.date_of_birth)).all()) if use_age else {}
    )
    zones = set(zone_of.values())
    for day in days:
        start = day_bounds(day, zones, default_time_zone)
        stop = day_bounds(day + timedelta(days=horizon_days), zones, default_time_zone)
        paid: defaultdict[str, Decimal] = defaultdict(Decimal)
        for phone, amount in session.execute(
            select(Debt.debtor_phone, func.sum(Payment.amount))
            .join(Debt, Payment.debt_id == Debt.id)
            .join(Debtor, Debt.debtor_phone == Debtor.phone)
            .where(
                Payment.paid_at >= end_of_day(Debtor.time_zone, start),
                Payment.paid_at < end_of_day(Debtor.time_zone, stop),
            )
            .group_by(Debt.debtor_phone)
        ):
            paid[phone] = Decimal(amount)
        for phone, features, balance in session.execute(
            select(FeatureSnapshot.debtor_phone, FeatureSnapshot.features, FeatureSnapshot.balance)
            .where(FeatureSnapshot.as_of == day)
            .order_by(FeatureSnapshot.debtor_phone)
        ):
            base = Decimal(balance)
            if base <= 0:
                continue
            row = {name: features.get(name) for name in FEATURE_NAMES}
            if use_age:
                row[AGE.name] = float(years_between(born[phone], day)) if phone in born else None
            out.phones.append(phone)
            out.days.append(day)
            out.features.append(row)
            out.balances.append(base)
            out.paid.append(paid.get(phone, Decimal("0.00")))
            out.labels.append(int(paid.get(phone, Decimal(0)) >= target_share * base))
    return out


__all__ = [
    "DEFAULT_HORIZON",
    "DEFAULT_TARGET_SHARE",
    "LabelledSet",
    "NoTrainingData",
    "labelled",
    "snapshots_on",
    "write_snapshots",
]
