"""What a KPI query needs besides its table: the range as UTC instants, the snapshot days, and
how a row is put in a group (docs/kpis.md, "Who a row is about").

A table's rows are described by :class:`Rows`: the phone they are about, the conditions that
select them in the range, and their *own* value for a dimension when they have one (a contact
attempt's channel, a payment's creditor, any row's day). :func:`keyed` applies a split and the
filters to them: a dimension the rows have is read off the row; any other is the debtor's, an
outer join to that dimension's membership (debtor → group), with the dimension's fallback
group for a debtor in none."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import String, and_, case, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import BindParameter, ColumnElement
from sqlalchemy.sql.selectable import FromClause

from cobranza.db.models import (
    ContactAttempt,
    Creditor,
    Debt,
    Debtor,
    ExperimentExposure,
    FeatureSnapshot,
    UTCDateTime,
)
from cobranza.domain.kpis import FALLBACK, NO_SNAPSHOT, SPLITS, TOTAL, Filters
from cobranza.domain.vocabulary import ContactDirection, ContactOutcome
from cobranza.errors import Rejected

# The start snapshot is the latest of the week before the range (the job may skip a day).
START_SNAPSHOT_LOOKBACK = 7
# ``--by day`` writes one CASE branch per day: a year at most.
MAX_DAYS_BY_DAY = 366
# Dates a question may name (a day after the last one would not exist, hostile input aside).
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(2199, 12, 31)
CAMPAIGN_PREFIX = "campaign:"
ARM_SEPARATOR = "/"  # an arm's group: ``experiment/arm``


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise Rejected(f"zona horaria desconocida: {name!r}") from exc


def midnight(day: date, zone: ZoneInfo) -> datetime:
    """The instant (UTC) a local day starts."""
    return datetime.combine(day, time(0), zone).astimezone(timezone.utc)


@dataclass(frozen=True)
class Scope:
    """One KPI question: ``[start, end]`` local days in ``zone`` (``lo`` ≤ t < ``hi``), the
    split (None: the total) and the filters."""

    start: date
    end: date
    zone: str
    lo: datetime
    hi: datetime
    split: str | None
    filters: Filters
    start_snapshot: date | None = None
    end_snapshot: date | None = None
    days: tuple[date, ...] = ()
    day_starts: tuple[datetime, ...] = ()

    @property
    def dimensions(self) -> list[str]:
        """The dimensions a query must resolve: the split's and the filters'."""
        wanted = [d for d, _ in self.filters.items()]
        if self.split is not None and self.split not in wanted:
            wanted.append(self.split)
        return wanted


def make_scope(
    session: Session,
    start: date,
    end: date,
    split: str | None,
    filters: Filters,
    zone: str,
) -> Scope:
    if not FIRST_DAY <= start <= LAST_DAY or not FIRST_DAY <= end <= LAST_DAY:
        raise Rejected(f"las fechas van del {FIRST_DAY} al {LAST_DAY}")
    if start > end:
        raise Rejected("el rango empieza después de terminar")
    if split is not None and split not in SPLITS:
        raise Rejected(f"no se puede desglosar por {split!r}")
    span = (end - start).days + 1
    if split == "day" and span > MAX_DAYS_BY_DAY:
        raise Rejected(f"por día, a lo más {MAX_DAYS_BY_DAY} días")
    tz = _zone(zone)
    days = tuple(start + timedelta(days=n) for n in range(span)) if split == "day" else ()
    return Scope(
        start=start,
        end=end,
        zone=zone,
        lo=midnight(start, tz),
        hi=midnight(end + timedelta(days=1), tz),
        split=split,
        filters=filters,
        start_snapshot=_latest_snapshot(
            session, start - timedelta(days=START_SNAPSHOT_LOOKBACK), start - timedelta(days=1)
        ),
        end_snapshot=_latest_snapshot(session, start, end),
        days=days,
        day_starts=tuple(midnight(d, tz) for d in days),
    )


def _latest_snapshot(session: Session, first: date, last: date) -> date | None:
    day: date | None = session.execute(
        select(func.max(FeatureSnapshot.as_of)).where(FeatureSnapshot.as_of.between(first, last))
    ).scalar_one_or_none()
    return day


def in_range(column: Any, scope: Scope) -> ColumnElement[Any]:
    """A timestamp column within the range (an index range scan)."""
    return and_(column >= scope.lo, column < scope.hi)


def counted_attempt() -> ColumnElement[Any]:
    """A contact attempt that happened: inbound, or outbound and not refused before sending."""
    return ~and_(
        ContactAttempt.direction == ContactDirection.OUTBOUND,
        ContactAttempt.outcome == ContactOutcome.NOT_SENT,
    )


def campaign_of(initiated_by: Any) -> ColumnElement[Any]:
    """``campaign:<name>`` → ``<name>``; anything else → NULL."""
    return case(
        (
            initiated_by.like(CAMPAIGN_PREFIX + "%"),
            func.substr(initiated_by, len(CAMPAIGN_PREFIX) + 1),
        ),
        else_=None,
    )


def day_of(column: Any, scope: Scope, dates: bool = False) -> ColumnElement[Any]:
    """The local day (ISO text) of a timestamp in the range, or of a date column: one CASE
    over the day boundaries, the same SQL on both databases."""
    bounds = scope.days if dates else scope.day_starts
    kind: Any = None if dates else UTCDateTime()
    whens = [
        (column < literal(bound, kind), literal(day.isoformat(), String()))
        for bound, day in zip(bounds[1:], scope.days, strict=False)
    ]
    last = literal(scope.days[-1].isoformat(), String())
    return case(*whens, else_=last) if whens else last


Join = Callable[[Any], Any]


@dataclass(frozen=True)
class Rows:
    """A table's rows in the range: ``from_``, the ``phone`` they are about, the ``where``
    conditions, and their own value per dimension (``day``: the timestamp, or the date column
    with ``date_day``; already the group key with ``keys``). ``joins``: what reading an own
    value needs joined first (a debt's creditor code)."""

    from_: Any
    phone: Any
    where: Sequence[ColumnElement[Any]]
    own: Mapping[str, Any] = field(default_factory=dict)
    joins: Mapping[str, Join] = field(default_factory=dict)
    date_day: bool = False
    keys: bool = False


def own_keys(rows: Rows, scope: Scope, dimensions: Sequence[str]) -> tuple[Any, dict[str, Any]]:
    """The rows' FROM with the joins their own values need, and those values as group keys."""
    from_, keys = rows.from_, {}
    for dimension in dimensions:
        if dimension in rows.joins:
            from_ = rows.joins[dimension](from_)
        value = rows.own[dimension]
        keys[dimension] = (
            day_of(value, scope, rows.date_day) if dimension == "day" and not rows.keys else value
        )
    return from_, keys


# The debtor → group relations. On PostgreSQL each is a MATERIALIZED CTE, computed once per
# statement and hash-joined: the planner cannot estimate how many debtors a union of events
# holds, and its guess (200) makes it look each one up in a nested loop, several times slower.
# SQLite joins by nested loops anyway: what is read off a table stays a subquery there, so it
# looks the debtor up by index; what is derived from the range's attempts is a CTE.
_TABLE_MEMBERSHIPS = ("bucket", "persona", "creditor", "arm")


class Memberships:
    """The debtor → group relations of a scope, each built once and shared by the queries."""

    def __init__(self, scope: Scope, dialect: str) -> None:
        self.scope = scope
        self.dialect = dialect
        self._built: dict[str, FromClause] = {}

    def get(self, dimension: str) -> FromClause:
        if dimension not in self._built:
            query, name = self._build(dimension), f"member_{dimension}"
            if self.dialect == "postgresql":
                found = query.cte(name).prefix_with("MATERIALIZED")
            elif dimension in _TABLE_MEMBERSHIPS:
                found = query.subquery(name)
            else:
                found = query.cte(name)
            self._built[dimension] = found
        return self._built[dimension]

    def _build(self, dimension: str) -> Any:
        scope = self.scope
        if dimension == "bucket":
            return select(
                FeatureSnapshot.debtor_phone.label("phone"), FeatureSnapshot.bucket.label("key")
            ).where(FeatureSnapshot.as_of == scope.start_snapshot)
        if dimension == "persona":
            return select(Debtor.phone.label("phone"), Debtor.persona.label("key"))
        if dimension == "creditor":
            # Distinct pairs, in the order of ix_debts_debtor_creditor: asked for that order,
            # PostgreSQL reads the index and skips repeats instead of hashing every debt.
            pairs = Debt.debtor_phone, Debt.creditor_id
            owed = select(*pairs).distinct().order_by(*pairs).subquery("owed")
            return select(owed.c.debtor_phone.label("phone"), Creditor.code.label("key")).join(
                Creditor, Creditor.id == owed.c.creditor_id
            )
        if dimension == "arm":
            # Every arm the debtor was first exposed to before the range ended.
            exposure = ExperimentExposure
            return select(
                exposure.debtor_phone.label("phone"),
                (exposure.experiment + ARM_SEPARATOR + exposure.arm).label("key"),
            ).where(exposure.exposed_at < scope.hi)
        attempts = select(ContactAttempt.debtor_phone.label("phone")).where(
            in_range(ContactAttempt.attempted_at, scope), counted_attempt()
        )
        if dimension == "campaign":
            campaign = campaign_of(ContactAttempt.initiated_by)
            return (
                attempts.add_columns(campaign.label("key")).where(campaign.isnot(None)).distinct()
            )
        return attempts.add_columns(ContactAttempt.channel.label("key")).distinct()


def keyed(
    rows: Rows, scope: Scope, members: Memberships
) -> tuple[FromClause, ColumnElement[Any], list[ColumnElement[Any]]]:
    """The rows' FROM (with the joins their dimensions need), their group key (``total``
    without a split) and their conditions (the range's and the filters')."""
    dimensions = scope.dimensions
    from_, keys = own_keys(rows, scope, [d for d in dimensions if d in rows.own])
    where = list(rows.where)
    for dimension in dimensions:
        if dimension in keys:
            continue
        if dimension == "bucket" and scope.start_snapshot is None:
            keys[dimension] = literal(NO_SNAPSHOT, String())
            continue
        member = members.get(dimension)
        from_ = from_.outerjoin(member, member.c.phone == rows.phone)
        keys[dimension] = func.coalesce(member.c.key, FALLBACK[dimension])
    where += [keys[d] == value for d, value in scope.filters.items()]
    key = keys[scope.split] if scope.split is not None else literal(TOTAL, String())
    return from_, key, where


def by(key: ColumnElement[Any]) -> list[ColumnElement[Any]]:
    """The GROUP BY of a key: nothing for a constant (the total; PostgreSQL refuses to group
    by a literal)."""
    return [] if isinstance(key, BindParameter) else [key]
