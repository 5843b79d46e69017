"""The KPI families as set queries (GROUP BY the group key; docs/kpis.md), two statements per
question: the funnel (:func:`funnel`), and every other family in one UNION ALL
(:func:`tallies`), so that a debtor's groups (a membership: a CTE) are computed once per
statement, not once per family."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    String,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    null,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.orm import Session

from cobranza.db.models import (
    MONEY,
    AuditLog,
    Consent,
    ContactAttempt,
    Creditor,
    Debt,
    FeatureSnapshot,
    HandoffTicket,
    IdentityVerification,
    OutreachMessage,
    Payment,
    Promise,
    UTCDateTime,
    blocked_decisions,
)
from cobranza.domain.kpis import (
    FALLBACK,
    NO_BALANCE,
    ZERO,
    Funnel,
    Messages,
    Money,
    Promises,
    Rate,
    Roll,
)
from cobranza.domain.vocabulary import (
    ConsentStatus,
    ContactDirection,
    OutreachStatus,
    PromiseStatus,
)
from cobranza.services.kpis.scope import (
    Memberships,
    Rows,
    Scope,
    by,
    campaign_of,
    counted_attempt,
    in_range,
    keyed,
    own_keys,
)

# The funnel's sets (docs/kpis.md): contacted, replied, verified, promised, opted out, handed off.
SETS = ("c", "r", "v", "p", "o", "h")
# The dimensions every funnel table has a value of its own for.
FUNNEL_OWN = ("channel", "day")
DELIVERED = (OutreachStatus.DELIVERED, OutreachStatus.READ)
# `cobranza can-contact` records its what-ifs as decisions by this actor: not blocks.
WHAT_IF_ACTOR = "cli"


def _pesos(total: Any) -> Decimal:
    """A sum of pesos; an empty sum (NULL) is 0.00."""
    return ZERO if total is None else Decimal(total)


# --- the funnel -------------------------------------------------------------------------------


def _flags(**on: Any) -> list[Any]:
    return [(on[s] if s in on else literal(0)).label(s) for s in SETS]


def _funnel_rows(scope: Scope) -> list[tuple[Rows, dict[str, Any]]]:
    """Each table of the funnel, with which sets a row of it puts its debtor in."""
    ca = ContactAttempt
    outbound = case((ca.direction == ContactDirection.OUTBOUND, 1), else_=0)
    inbound = case((ca.direction == ContactDirection.INBOUND, 1), else_=0)
    iv, pr, co, ht = IdentityVerification, Promise, Consent, HandoffTicket
    return [
        (
            Rows(
                ca.__table__,
                ca.debtor_phone,
                [in_range(ca.attempted_at, scope), counted_attempt()],
                {"channel": ca.channel, "day": ca.attempted_at},
            ),
            {"c": outbound, "r": inbound},
        ),
        (
            Rows(
                iv.__table__,
                iv.phone,
                [in_range(iv.verified_at, scope)],
                {"channel": iv.channel, "day": iv.verified_at},
            ),
            {"v": literal(1)},
        ),
        (
            Rows(
                pr.__table__,
                pr.debtor_phone,
                [in_range(pr.created_at, scope), pr.status != PromiseStatus.CANCELLED],
                {"channel": pr.channel, "day": pr.created_at},
            ),
            {"p": literal(1)},
        ),
        (
            Rows(
                co.__table__,
                co.debtor_phone,
                [co.status == ConsentStatus.REVOKED, in_range(co.recorded_at, scope)],
                {"channel": co.channel, "day": co.recorded_at},
            ),
            {"o": literal(1)},
        ),
        (
            Rows(
                ht.__table__,
                ht.debtor_phone,
                [in_range(ht.created_at, scope), ht.debtor_phone.isnot(None)],
                {"channel": ht.channel, "day": ht.created_at},
            ),
            {"h": literal(1)},
        ),
    ]


def funnel(session: Session, scope: Scope, members: Memberships) -> dict[str, Funnel]:
    """One statement: the union of the funnel's rows as (debtor, own keys, flags), grouped by
    debtor (is the debtor in each set), then joined once to the debtor's groups and grouped by
    group (set sizes, intersections). Every funnel table has a channel and a day of its own;
    any other dimension is the debtor's."""
    own = [d for d in scope.dimensions if d in FUNNEL_OWN]
    branches = []
    for rows, flags in _funnel_rows(scope):
        from_, keys = own_keys(rows, scope, own)
        branches.append(
            select(rows.phone.label("phone"), *[keys[d].label(d) for d in own], *_flags(**flags))
            .select_from(from_)
            .where(*rows.where)
        )
    facts = union_all(*branches).subquery("facts")
    grouping = [facts.c.phone, *[facts.c[d] for d in own]]
    per = (
        select(*grouping, *[func.max(facts.c[s]).label(s) for s in SETS])
        .group_by(*grouping)
        .subquery("per_debtor")
    )
    rows = Rows(per, per.c.phone, [], {d: per.c[d] for d in own}, keys=True)
    from_, key, where = keyed(rows, scope, members)
    c, r, v, p, o, h = (per.c[s] for s in SETS)
    found = session.execute(
        select(
            key,
            *[func.sum(per.c[s]) for s in SETS],
            func.sum(c * r),
            func.sum(r * v),
            func.sum(v * p),
            func.sum(c * o),
            func.sum(r * h),
        )
        .select_from(from_)
        .where(*where)
        .group_by(*by(key))
        .having(func.count() > 0)
    ).all()
    out = {}
    for key, *counts in found:
        nc, nr, nv, np_, no, nh, cr, rv, vp, co, rh = (int(x or 0) for x in counts)
        out[key] = Funnel(
            contacted=nc,
            replied=nr,
            verified=nv,
            promised=np_,
            opted_out=no,
            handed_off=nh,
            reply_rate=Rate(cr, nc),
            right_party_rate=Rate(rv, nr),
            promise_rate=Rate(vp, nv),
            opt_out_rate=Rate(co, nc),
            handoff_rate=Rate(rh, nr),
        )
    return out


# --- every other family, in one statement -----------------------------------------------------


def _columns(
    family: str,
    key: Any,
    *,
    sub: Any = None,
    sub2: Any = None,
    n: Any = None,
    amount: Any = None,
    at1: Any = None,
    at2: Any = None,
) -> list[Any]:
    """The union's columns, the same in every part: which family, the group, up to two codes
    (a status, a rule, a bucket), a count, pesos, two instants."""

    def typed(value: Any, kind: Any) -> Any:  # a NULL typed, so PostgreSQL can match parts
        return cast(null(), kind) if value is None else type_coerce(value, kind)

    return [
        literal(family, String()).label("family"),
        key.label("key"),
        typed(sub, String()).label("sub"),
        typed(sub2, String()).label("sub2"),
        (func.count() if n is None else n).label("n"),
        typed(amount, MONEY).label("amount"),
        typed(at1, UTCDateTime()).label("at1"),
        typed(at2, UTCDateTime()).label("at2"),
    ]


def _grouped(rows: Rows, scope: Scope, members: Memberships, family: str, **cols: Any) -> Any:
    """A family's part: its rows in the scope, counted (and summed) per group and codes."""
    from_, key, where = keyed(rows, scope, members)
    codes = [c for c in (cols.get("sub"), cols.get("sub2")) if c is not None]
    return (
        select(*_columns(family, key, **cols))
        .select_from(from_)
        .where(*where)
        .group_by(*by(key), *codes)
        .having(func.count() > 0)
    )


def _with_creditor(from_: Any) -> Any:
    return from_.join(Creditor, Creditor.id == Debt.creditor_id)


def _promise_rows(when: Any, day: Any, date_day: bool = False) -> Rows:
    pr = Promise
    return Rows(
        pr.__table__,
        pr.debtor_phone,
        [when, pr.status != PromiseStatus.CANCELLED],
        {"channel": pr.channel, "creditor": Creditor.code, "day": day},
        {"creditor": lambda f: _with_creditor(f.join(Debt, Debt.id == pr.debt_id))},
        date_day=date_day,
    )


def _debt_rows(from_: Any, where: list[Any], day: Any = None) -> Rows:
    """Rows joined to their debt: about its debtor, with its creditor's code as their own."""
    own: dict[str, Any] = {"creditor": Creditor.code}
    if day is not None:
        own["day"] = day
    return Rows(from_, Debt.debtor_phone, where, own, {"creditor": _with_creditor})


def _messages(scope: Scope, members: Memberships) -> Any:
    om = OutreachMessage
    rows = Rows(
        om.__table__,
        om.debtor_phone,
        [in_range(om.sent_at, scope)],
        {"campaign": om.campaign, "channel": literal("whatsapp", String()), "day": om.sent_at},
    )
    delivered = case((om.status.in_(DELIVERED), "delivered"), else_="other")
    return _grouped(rows, scope, members, "messages", sub=delivered)


def _reached(scope: Scope, members: Memberships) -> Any:
    """Distinct debtors with a message sent in the range that was delivered or read."""
    om = OutreachMessage
    rows = Rows(
        om.__table__,
        om.debtor_phone,
        [in_range(om.sent_at, scope), om.status.in_(DELIVERED)],
        {"campaign": om.campaign, "channel": literal("whatsapp", String()), "day": om.sent_at},
    )
    return _grouped(rows, scope, members, "reached", n=func.count(distinct(om.debtor_phone)))


def _promises_made(scope: Scope, members: Memberships) -> Any:
    pr = Promise
    rows = _promise_rows(in_range(pr.created_at, scope), pr.created_at)
    return _grouped(rows, scope, members, "made", amount=func.sum(pr.amount))


def _promises_due(scope: Scope, members: Memberships) -> Any:
    pr = Promise
    rows = _promise_rows(pr.due_date.between(scope.start, scope.end), pr.due_date, date_day=True)
    return _grouped(rows, scope, members, "due", sub=pr.status)


def _kept_by(scope: Scope, members: Memberships) -> Any:
    """Distinct debtors with a promise kept among those due in the range."""
    pr = Promise
    due = pr.due_date.between(scope.start, scope.end)
    rows = _promise_rows(and_(due, pr.status == PromiseStatus.KEPT), pr.due_date, date_day=True)
    return _grouped(rows, scope, members, "kept_by", n=func.count(distinct(pr.debtor_phone)))


def _collected(scope: Scope, members: Memberships) -> Any:
    rows = _debt_rows(
        Payment.__table__.join(Debt, Debt.id == Payment.debt_id),
        [in_range(Payment.paid_at, scope)],
        Payment.paid_at,
    )
    return _grouped(rows, scope, members, "paid", amount=func.sum(Payment.amount))


def _balance_at_start(scope: Scope, members: Memberships) -> Any:
    """Each debt's balance when the range starts: today's plus its payments since then."""
    since = (
        select(Payment.debt_id, func.sum(Payment.amount).label("amount"))
        .where(Payment.paid_at >= scope.lo)
        .group_by(Payment.debt_id)
        .subquery("paid_since")
    )
    balance = type_coerce(Debt.current_balance + func.coalesce(since.c.amount, 0), MONEY)
    rows = _debt_rows(Debt.__table__.outerjoin(since, since.c.debt_id == Debt.id), [balance > 0])
    return _grouped(rows, scope, members, "balance", amount=func.sum(balance))


def _roll(scope: Scope, members: Memberships) -> Any:
    """Debtors by bucket on the start snapshot day and state on the end one."""
    first = FeatureSnapshot.__table__.alias("first_snapshot")
    last = (
        select(FeatureSnapshot.debtor_phone.label("phone"), FeatureSnapshot.bucket)
        .where(FeatureSnapshot.as_of == scope.end_snapshot)
        .subquery("last_snapshot")
    )
    rows = Rows(
        first.outerjoin(last, last.c.phone == first.c.debtor_phone),
        first.c.debtor_phone,
        [first.c.as_of == scope.start_snapshot],
        {"bucket": first.c.bucket},
    )
    state = func.coalesce(last.c.bucket, NO_BALANCE)
    return _grouped(rows, scope, members, "roll", sub=first.c.bucket, sub2=state)


def _tickets(scope: Scope, members: Memberships) -> Any:
    """Each ticket closed in the range (a debtor's), with when it was opened and closed."""
    ht = HandoffTicket
    rows = Rows(
        ht.__table__,
        ht.debtor_phone,
        [in_range(ht.closed_at, scope), ht.debtor_phone.isnot(None)],
        {"channel": ht.channel, "day": ht.closed_at},
    )
    from_, key, where = keyed(rows, scope, members)
    columns = _columns("ticket", key, n=literal(1), at1=ht.created_at, at2=ht.closed_at)
    return select(*columns).select_from(from_).where(*where)


def _blocks(scope: Scope, members: Memberships, dialect: str) -> Any:
    """Compliance decisions that blocked, by rule (the partial index's rows)."""
    details = AuditLog.details
    initiated_by = details["initiated_by"].as_string()
    rows = Rows(
        AuditLog.__table__,
        AuditLog.debtor_phone,
        [
            text(blocked_decisions(dialect, "audit_log.")),
            in_range(AuditLog.occurred_at, scope),
            AuditLog.actor != WHAT_IF_ACTOR,
        ],
        {
            "channel": details["channel"].as_string(),
            "campaign": func.coalesce(campaign_of(initiated_by), FALLBACK["campaign"]),
            "day": AuditLog.occurred_at,
        },
    )
    return _grouped(rows, scope, members, "blocks", sub=details["rule"].as_string())


@dataclass
class Tallies:
    """What :func:`tallies` found, by family and group key."""

    messages: dict[str, Messages] = field(default_factory=dict)
    promises: dict[str, Promises] = field(default_factory=dict)
    money: dict[str, Money] = field(default_factory=dict)
    roll: dict[str, Roll] = field(default_factory=dict)
    hours: dict[str, list[float]] = field(default_factory=dict)
    blocks: dict[str, dict[str, int]] = field(default_factory=dict)

    def keys(self) -> set[str]:
        found: set[str] = set()
        for family in (self.messages, self.promises, self.money, self.roll, self.hours):
            found |= set(family)
        return found | set(self.blocks)


def tallies(
    session: Session, scope: Scope, members: Memberships, *, whole_range: bool = True
) -> Tallies:
    """Messages, promises, money, roll, tickets and blocks in one statement. ``whole_range``
    False (a day of the trend): no balance assigned and no roll, which describe a range."""
    dialect = session.get_bind().dialect.name
    parts = [
        _messages(scope, members),
        _reached(scope, members),
        _promises_made(scope, members),
        _promises_due(scope, members),
        _kept_by(scope, members),
        _collected(scope, members),
        _tickets(scope, members),
        _blocks(scope, members, dialect),
    ]
    if whole_range:
        parts.append(_balance_at_start(scope, members))
        if scope.start_snapshot is not None and scope.end_snapshot is not None:
            parts.append(_roll(scope, members))
    raw: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for family, key, *rest in session.execute(union_all(*parts)).all():
        raw[family][key].append(rest)
    return _decode(raw, whole_range)


Row = list[Any]  # sub, sub2, n, amount, at1, at2


def _decode(raw: dict[str, dict[str, list[Row]]], whole_range: bool) -> Tallies:
    out = Tallies()
    reached = _debtors(raw["reached"])
    out.messages = {
        k: replace(_messages_of(rows), debtors_delivered=reached.get(k, 0))
        for k, rows in raw["messages"].items()
    }
    kept_by = _debtors(raw["kept_by"])
    for k in set(raw["made"]) | set(raw["due"]):
        made = raw["made"].get(k, [[None, None, 0, None, None, None]])[0]
        due = {sub: int(n) for sub, _, n, *_ in raw["due"].get(k, [])}
        out.promises[k] = Promises(
            made=int(made[2]),
            pesos_promised=_pesos(made[3]),
            kept=due.get(PromiseStatus.KEPT, 0),
            broken=due.get(PromiseStatus.BROKEN, 0),
            pending=due.get(PromiseStatus.PENDING, 0),
            debtors_kept=kept_by.get(k, 0),
        )
    for k in set(raw["paid"]) | set(raw["balance"]):
        paid = raw["paid"].get(k, [[None, None, 0, None, None, None]])[0]
        balance = raw["balance"].get(k, [[None, None, 0, None, None, None]])[0]
        out.money[k] = Money(
            pesos_collected=_pesos(paid[3]),
            payments=int(paid[2]),
            balance_assigned=_pesos(balance[3]) if whole_range else None,
        )
    for k, rows in raw["roll"].items():
        transitions: dict[str, dict[str, int]] = defaultdict(dict)
        for start, end, n, *_ in rows:
            transitions[start][end] = int(n)
        out.roll[k] = Roll(dict(transitions))
    out.hours = {k: [_hours(r[4], r[5]) for r in rows] for k, rows in raw["ticket"].items()}
    out.blocks = {k: {str(r[0]): int(r[2]) for r in rows} for k, rows in raw["blocks"].items()}
    return out


def _debtors(found: dict[str, list[Row]]) -> dict[str, int]:
    """A family of one count per group (distinct debtors)."""
    return {k: int(rows[0][2]) for k, rows in found.items()}


def _messages_of(rows: list[Row]) -> Messages:
    counts = {sub: int(n) for sub, _, n, *_ in rows}
    return Messages(sent=sum(counts.values()), delivered=counts.get("delivered", 0))


def _hours(created: datetime, closed: datetime) -> float:
    return (closed - created).total_seconds() / 3600
