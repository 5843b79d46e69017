"""The manager's KPIs from our own tables (docs/kpis.md): :func:`kpis` for a range of local
days, as a total and split by bucket, persona, creditor, campaign, channel or day;
:func:`trend` for the same range day by day.

:func:`dashboard` is the console's: both, and whether the database is a simulation's.

Each family is one set query (cobranza/services/kpis/families.py); a group with no rows in a
family gets that family's zeros (and rates with no value). The conversation family
(conversations.py) has rows about no debtor: it splits by channel and day only, and is None
under any other split or filter. Read-only: nothing is written, not
even an audit row (the result holds no personal data)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from cobranza.db import audit
from cobranza.db.models import Creditor
from cobranza.domain.kpis import (
    PARTITIONS,
    TOTAL,
    Compliance,
    Conversation,
    Dashboard,
    Filters,
    Funnel,
    GroupKpis,
    KpiReport,
    Messages,
    Money,
    Promises,
    Resolution,
    Roll,
    combine,
    group_order,
)
from cobranza.services.kpis import conversations, families
from cobranza.services.kpis.scope import MAX_DAYS_BY_DAY, Memberships, Scope, make_scope

__all__ = ["MAX_DAYS_BY_DAY", "dashboard", "kpis", "trend"]

DEFAULT_ZONE = "America/Mexico_City"
# PostgreSQL's default work_mem (4 MB) sends the per-debtor aggregates of 100,000 debtors to
# disk; a dashboard's transaction gets more (SET LOCAL: until the transaction ends).
WORK_MEM = "32MB"
# Who writes the marker of a simulation's database (cobranza/simulation/run.py, _prepare).


def _tune(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text(f"SET LOCAL work_mem = '{WORK_MEM}'"))


def _groups(session: Session, scope: Scope) -> dict[str, GroupKpis]:
    """Every family for the scope, by group key (a day of the trend has no roll rates and no
    balance assigned: they describe a range)."""
    members = Memberships(scope, session.get_bind().dialect.name)
    by_day = scope.split == "day"
    funnel = families.funnel(session, scope, members)
    found = families.tallies(session, scope, members, whole_range=not by_day)
    talks = conversations.conversation(session, scope)  # None: not under this split or filter
    keys = set(funnel) | found.keys() | set(talks or {})
    if by_day:
        keys |= {d.isoformat() for d in scope.days}
    empty_money = Money(balance_assigned=None) if by_day else Money()
    return {
        key: GroupKpis(
            funnel=funnel.get(key, Funnel()),
            messages=found.messages.get(key, Messages()),
            promises=found.promises.get(key, Promises()),
            money=found.money.get(key, empty_money),
            roll=None if by_day else found.roll.get(key, Roll()),
            resolution=Resolution(tuple(found.hours.get(key, ()))),
            compliance=Compliance(found.blocks.get(key, {})),
            conversation=None if talks is None else talks.get(key, Conversation()),
        )
        for key in keys
    }


def _labels(session: Session, split: str | None, keys: Iterable[str]) -> dict[str, str]:
    if split != "creditor":
        return {}
    names = dict(session.execute(select(Creditor.code, Creditor.name)).all())
    return {k: f"{names[k]} ({k})" for k in keys if k in names}


def kpis(
    session: Session,
    start: date,
    end: date,
    split: str | None = None,
    filters: Filters | None = None,
    *,
    zone: str = DEFAULT_ZONE,
) -> KpiReport:
    """The KPIs of ``[start, end]`` (local days in ``zone``): the total, and each group of
    ``split`` in order. Raises :class:`~cobranza.errors.Rejected` for an inverted range, an
    unknown split or zone, or a day-by-day range longer than :data:`MAX_DAYS_BY_DAY`."""
    filters = filters or Filters()
    _tune(session)
    scope = make_scope(session, start, end, split, filters, zone)
    groups: dict[str, GroupKpis] = {}
    if split is not None:
        found = _groups(session, scope)
        groups = {key: found[key] for key in group_order(split, found)}
    if split in PARTITIONS:  # the groups add up: no second pass for the total
        # ...except the conversation family, which no debtor's split applies to: the total's
        # messages are counted on their own (with the filters, when they allow it).
        unsplit = make_scope(session, start, end, None, filters, zone)
        talks = conversations.conversation(session, unsplit)
        total = replace(
            combine(groups.values()),
            conversation=None if talks is None else talks.get(TOTAL, Conversation()),
        )
    else:
        unsplit = make_scope(session, start, end, None, filters, zone)
        total = _groups(session, unsplit).get(TOTAL, GroupKpis())
    return KpiReport(
        start=start,
        end=end,
        zone=zone,
        split=split,
        filters=filters,
        start_snapshot=scope.start_snapshot,
        end_snapshot=scope.end_snapshot,
        total=total,
        groups=groups,
        labels=_labels(session, split, groups),
    )


def trend(
    session: Session,
    start: date,
    end: date,
    filters: Filters | None = None,
    *,
    zone: str = DEFAULT_ZONE,
) -> dict[date, GroupKpis]:
    """The KPIs of each day of ``[start, end]``, every day listed (no roll rates, no balance
    assigned: they describe a range)."""
    _tune(session)
    scope = make_scope(session, start, end, "day", filters or Filters(), zone)
    found = _groups(session, scope)
    return {day: found[day.isoformat()] for day in scope.days}


def dashboard(
    session: Session,
    start: date,
    end: date,
    split: str | None = None,
    *,
    zone: str = DEFAULT_ZONE,
) -> Dashboard:
    """The console's dashboard: :func:`kpis` with the split, :func:`trend` of the same days,
    and :func:`simulated_database`."""
    return Dashboard(
        report=kpis(session, start, end, split, zone=zone),
        trend=trend(session, start, end, zone=zone),
        simulated=audit.simulated_database(session),
    )
