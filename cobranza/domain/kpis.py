"""The manager's KPIs as values (docs/kpis.md): rates with their numerator and denominator,
each family's counts, the roll-rate arithmetic and the Spanish labels people read. Pure: the
queries that fill them are in cobranza/services/kpis/.

A rate whose denominator is 0 has no value (``None``), never 0: "no debtor was contacted" is
not "nobody answered"."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from cobranza.domain.delinquency import BUCKETS, CURRENT

ZERO = Decimal("0.00")
TOTAL = "total"

# How a split groups the rows (docs/kpis.md); "day" is each row's own local day.
DIMENSIONS = ("bucket", "persona", "creditor", "campaign", "channel", "arm")
SPLITS = (*DIMENSIONS, "day")
# Splits that put every row in exactly one group: their groups add up to the total.
PARTITIONS = ("bucket", "persona")
# The group of a debtor with no value for the dimension.
NO_BALANCE = "sin saldo"  # no snapshot row on the day: no open balance then
NO_SNAPSHOT = "sin registro"  # no snapshot day to read at all
FALLBACK = {
    "bucket": NO_BALANCE,
    "persona": "sin persona",
    "creditor": "sin acreedor",
    "campaign": "sin campaña",
    "channel": "sin contacto",
    "arm": "sin experimento",
}
SPLIT_LABELS = {
    "bucket": "tramo al inicio",
    "persona": "persona",
    "creditor": "acreedor",
    "campaign": "campaña",
    "channel": "canal",
    "arm": "brazo de experimento",
    "day": "día",
}
# The roll population's states, best first: a later one is a worse bucket.
STATES = (CURRENT, *BUCKETS, NO_BALANCE)
DELINQUENT = BUCKETS
CAN_ROLL = (CURRENT, *BUCKETS[:-1])
_ORDER = {name: n for n, name in enumerate((*STATES, NO_SNAPSHOT))}


@dataclass(frozen=True)
class Filters:
    """Keep only the rows whose group, for each dimension given, is that value."""

    bucket: str | None = None
    persona: str | None = None
    creditor: str | None = None
    campaign: str | None = None
    channel: str | None = None
    arm: str | None = None  # ``experiment/arm``

    def items(self) -> list[tuple[str, str]]:
        return [(d, v) for d in DIMENSIONS if (v := getattr(self, d)) is not None]


@dataclass(frozen=True)
class Rate:
    numerator: int
    denominator: int

    @property
    def value(self) -> float | None:
        return None if self.denominator == 0 else self.numerator / self.denominator


@dataclass(frozen=True)
class MoneyRate:
    numerator: Decimal
    denominator: Decimal

    @property
    def value(self) -> float | None:
        return None if self.denominator == 0 else float(self.numerator / self.denominator)


@dataclass(frozen=True)
class Funnel:
    """Distinct debtors per set, and each rate over the set below it (docs/kpis.md)."""

    contacted: int = 0
    replied: int = 0
    verified: int = 0
    promised: int = 0
    opted_out: int = 0
    handed_off: int = 0
    reply_rate: Rate = Rate(0, 0)
    right_party_rate: Rate = Rate(0, 0)
    promise_rate: Rate = Rate(0, 0)
    opt_out_rate: Rate = Rate(0, 0)
    handoff_rate: Rate = Rate(0, 0)


@dataclass(frozen=True)
class Messages:
    sent: int = 0
    delivered: int = 0

    @property
    def delivery_rate(self) -> Rate:
        return Rate(self.delivered, self.sent)


@dataclass(frozen=True)
class Promises:
    made: int = 0
    pesos_promised: Decimal = ZERO
    kept: int = 0  # of those due in the range
    broken: int = 0
    pending: int = 0

    @property
    def kept_rate(self) -> Rate:
        return Rate(self.kept, self.kept + self.broken)


@dataclass(frozen=True)
class Money:
    """``balance_assigned`` is None where it does not apply (a day of the trend)."""

    pesos_collected: Decimal = ZERO
    payments: int = 0
    balance_assigned: Decimal | None = ZERO

    @property
    def recovery_rate(self) -> MoneyRate | None:
        if self.balance_assigned is None:
            return None
        return MoneyRate(self.pesos_collected, self.balance_assigned)


@dataclass(frozen=True)
class Roll:
    """Debtors by bucket at the start snapshot and state at the end one."""

    transitions: Mapping[str, Mapping[str, int]] = field(default_factory=dict)

    @property
    def debtors(self) -> int:
        """The population: debtors with an open balance on the start snapshot."""
        return sum(n for ends in self.transitions.values() for n in ends.values())

    def _count(self, starts: Iterable[str], ends: Iterable[str] | None = None) -> int:
        wanted = None if ends is None else set(ends)
        return sum(
            n
            for start in starts
            for end, n in self.transitions.get(start, {}).items()
            if wanted is None or end in wanted
        )

    @property
    def cure_rate(self) -> Rate:
        return Rate(self._count(DELINQUENT, (CURRENT, NO_BALANCE)), self._count(DELINQUENT))

    def roll_forward(self, start: str) -> Rate:
        """From ``start`` to a later bucket (none after 90+: no rate)."""
        if start not in CAN_ROLL:
            return Rate(0, 0)
        later = STATES[STATES.index(start) + 1 : STATES.index(NO_BALANCE)]
        return Rate(self._count((start,), later), self._count((start,)))

    @property
    def roll_forward_rate(self) -> Rate:
        rates = [self.roll_forward(start) for start in CAN_ROLL]
        return Rate(sum(r.numerator for r in rates), sum(r.denominator for r in rates))


@dataclass(frozen=True)
class Resolution:
    """Hand-off tickets closed in the range and how long each took (hours)."""

    hours: tuple[float, ...] = ()

    @property
    def tickets_closed(self) -> int:
        return len(self.hours)

    @property
    def mean_hours(self) -> float | None:
        return statistics.fmean(self.hours) if self.hours else None

    @property
    def median_hours(self) -> float | None:
        return statistics.median(self.hours) if self.hours else None


@dataclass(frozen=True)
class Compliance:
    by_rule: Mapping[str, int] = field(default_factory=dict)

    @property
    def blocked(self) -> int:
        return sum(self.by_rule.values())


@dataclass(frozen=True)
class GroupKpis:
    """Every KPI of one group (or of the total). ``roll`` is None where it does not apply."""

    funnel: Funnel = Funnel()
    messages: Messages = Messages()
    promises: Promises = Promises()
    money: Money = Money()
    roll: Roll | None = Roll()
    resolution: Resolution = Resolution()
    compliance: Compliance = Compliance()


@dataclass(frozen=True)
class KpiReport:
    """The KPIs of ``[start, end]`` (local days in ``zone``): the total and, with a split, each
    group in order; ``labels`` names groups whose key is a code (creditors)."""

    start: date
    end: date
    zone: str
    split: str | None
    filters: Filters
    start_snapshot: date | None
    end_snapshot: date | None
    total: GroupKpis
    groups: dict[str, GroupKpis] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "zone": self.zone,
            "split": self.split,
            "filters": dict(self.filters.items()),
            "start_snapshot": _iso(self.start_snapshot),
            "end_snapshot": _iso(self.end_snapshot),
            "total": group_dict(self.total),
            "groups": [
                {"key": key, "label": self.labels.get(key, key), **group_dict(kpis)}
                for key, kpis in self.groups.items()
            ],
        }


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _rate(rate: Rate | MoneyRate | None) -> dict[str, Any] | None:
    if rate is None:
        return None
    return {
        "value": rate.value,
        "numerator": _plain(rate.numerator),
        "denominator": _plain(rate.denominator),
    }


def _plain(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def group_dict(k: GroupKpis) -> dict[str, Any]:
    """One group's KPIs as JSON: counts, pesos as strings, each rate with its parts."""
    f, m, p, money, r = k.funnel, k.messages, k.promises, k.money, k.roll
    return {
        "funnel": {
            "contacted": f.contacted,
            "replied": f.replied,
            "verified": f.verified,
            "promised": f.promised,
            "opted_out": f.opted_out,
            "handed_off": f.handed_off,
            "reply_rate": _rate(f.reply_rate),
            "right_party_rate": _rate(f.right_party_rate),
            "promise_rate": _rate(f.promise_rate),
            "opt_out_rate": _rate(f.opt_out_rate),
            "handoff_rate": _rate(f.handoff_rate),
        },
        "messages": {
            "messages_sent": m.sent,
            "messages_delivered": m.delivered,
            "delivery_rate": _rate(m.delivery_rate),
        },
        "promises": {
            "promises_made": p.made,
            "pesos_promised": str(p.pesos_promised),
            "promises_kept": p.kept,
            "promises_broken": p.broken,
            "promises_pending": p.pending,
            "promise_kept_rate": _rate(p.kept_rate),
        },
        "money": {
            "pesos_collected": str(money.pesos_collected),
            "payments": money.payments,
            "balance_assigned": _plain(money.balance_assigned),
            "recovery_rate": _rate(money.recovery_rate),
        },
        "roll": None
        if r is None
        else {
            "debtors": r.debtors,
            "transitions": {s: dict(ends) for s, ends in r.transitions.items()},
            "cure_rate": _rate(r.cure_rate),
            "roll_forward_rate": _rate(r.roll_forward_rate),
            "roll_forward_by_bucket": {s: _rate(r.roll_forward(s)) for s in CAN_ROLL},
        },
        "handoffs": {
            "tickets_closed": k.resolution.tickets_closed,
            "resolution_hours_mean": k.resolution.mean_hours,
            "resolution_hours_median": k.resolution.median_hours,
        },
        "compliance": {
            "blocked": k.compliance.blocked,
            "blocks_by_rule": dict(k.compliance.by_rule),
        },
    }


def _sum_rates(rates: Iterable[Rate]) -> Rate:
    found = list(rates)
    return Rate(sum(r.numerator for r in found), sum(r.denominator for r in found))


def _add(groups: list[GroupKpis], read: Any) -> Any:
    return sum(read(k) for k in groups)


def _funnel_sum(groups: list[GroupKpis]) -> Funnel:
    counts: dict[str, Any] = {
        name: _add(groups, lambda k, n=name: getattr(k.funnel, n))
        for name in ("contacted", "replied", "verified", "promised", "opted_out", "handed_off")
    }
    rates: dict[str, Any] = {
        name: _sum_rates(getattr(k.funnel, name) for k in groups)
        for name in (
            "reply_rate",
            "right_party_rate",
            "promise_rate",
            "opt_out_rate",
            "handoff_rate",
        )
    }
    return Funnel(**counts, **rates)


def combine(groups: Iterable[GroupKpis]) -> GroupKpis:
    """The total of groups that partition the rows (:data:`PARTITIONS`): every count, pesos,
    numerator and denominator added, transitions merged, the tickets' hours pooled."""
    found = list(groups)
    balances = [k.money.balance_assigned for k in found]
    transitions: dict[str, dict[str, int]] = {}
    by_rule: dict[str, int] = {}
    for k in found:
        for start, ends in (k.roll.transitions if k.roll else {}).items():
            for end, n in ends.items():
                transitions.setdefault(start, {})[end] = transitions.get(start, {}).get(end, 0) + n
        for rule, n in k.compliance.by_rule.items():
            by_rule[rule] = by_rule.get(rule, 0) + n
    return GroupKpis(
        funnel=_funnel_sum(found),
        messages=Messages(
            _add(found, lambda k: k.messages.sent), _add(found, lambda k: k.messages.delivered)
        ),
        promises=Promises(
            made=_add(found, lambda k: k.promises.made),
            pesos_promised=sum((k.promises.pesos_promised for k in found), ZERO),
            kept=_add(found, lambda k: k.promises.kept),
            broken=_add(found, lambda k: k.promises.broken),
            pending=_add(found, lambda k: k.promises.pending),
        ),
        money=Money(
            pesos_collected=sum((k.money.pesos_collected for k in found), ZERO),
            payments=_add(found, lambda k: k.money.payments),
            balance_assigned=None
            if None in balances
            else sum((b for b in balances if b is not None), ZERO),
        ),
        roll=None if any(k.roll is None for k in found) else Roll(transitions),
        resolution=Resolution(tuple(h for k in found for h in k.resolution.hours)),
        compliance=Compliance(by_rule),
    )


def group_order(split: str, keys: Iterable[str]) -> list[str]:
    """Buckets best to worst, then ``sin saldo``/``sin registro``; days in order; anything else
    alphabetically with its fallback group last."""
    if split == "bucket":
        return sorted(keys, key=lambda k: (_ORDER.get(k, len(_ORDER)), k))
    fallback = FALLBACK.get(split)
    return sorted(keys, key=lambda k: (k == fallback, k))


@dataclass(frozen=True)
class Indicator:
    """One column of the CLI's table and CSV: its JSON key, what people read, its kind
    (``count``, ``rate``, ``pesos``, ``hours``) and how to read it off a group."""

    key: str
    label: str
    kind: str


INDICATORS: tuple[Indicator, ...] = (
    Indicator("contacted", "deudores contactados", "count"),
    Indicator("replied", "deudores que respondieron", "count"),
    Indicator("reply_rate", "tasa de respuesta", "rate"),
    Indicator("verified", "identidad verificada", "count"),
    Indicator("right_party_rate", "contacto con el titular", "rate"),
    Indicator("promised", "deudores con promesa", "count"),
    Indicator("promise_rate", "tasa de promesa", "rate"),
    Indicator("messages_sent", "mensajes enviados", "count"),
    Indicator("messages_delivered", "mensajes entregados", "count"),
    Indicator("delivery_rate", "tasa de entrega", "rate"),
    Indicator("promises_made", "promesas hechas", "count"),
    Indicator("pesos_promised", "pesos prometidos", "pesos"),
    Indicator("promises_kept", "promesas cumplidas", "count"),
    Indicator("promises_broken", "promesas incumplidas", "count"),
    Indicator("promises_pending", "promesas pendientes", "count"),
    Indicator("promise_kept_rate", "tasa de cumplimiento", "rate"),
    Indicator("pesos_collected", "pesos cobrados", "pesos"),
    Indicator("payments", "pagos", "count"),
    Indicator("balance_assigned", "saldo asignado", "pesos"),
    Indicator("recovery_rate", "tasa de recuperación", "rate"),
    Indicator("debtors", "deudores con saldo al inicio", "count"),
    Indicator("cure_rate", "tasa de cura", "rate"),
    Indicator("roll_forward_rate", "tasa de deterioro", "rate"),
    Indicator("opted_out", "bajas", "count"),
    Indicator("opt_out_rate", "tasa de baja", "rate"),
    Indicator("handed_off", "canalizados a asesor", "count"),
    Indicator("handoff_rate", "tasa de canalización", "rate"),
    Indicator("tickets_closed", "tickets cerrados", "count"),
    Indicator("resolution_hours_mean", "horas de resolución (promedio)", "hours"),
    Indicator("resolution_hours_median", "horas de resolución (mediana)", "hours"),
    Indicator("blocked", "bloqueos de cumplimiento", "count"),
)


def flat(k: GroupKpis) -> dict[str, Any]:
    """Each indicator's value (a rate as its float or None), by key, for tables and CSV."""
    d = group_dict(k)
    values: dict[str, Any] = {}
    for family in d.values():
        if isinstance(family, dict):
            values.update(family)
    if d["roll"] is None:
        values.update(debtors=None, cure_rate=None, roll_forward_rate=None)
    out = {}
    for ind in INDICATORS:
        value = values.get(ind.key)
        out[ind.key] = value["value"] if isinstance(value, dict) else value
    return out
