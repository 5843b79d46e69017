"""The manager's KPIs as values (docs/kpis.md): rates with their numerator and denominator,
each family's counts, the roll-rate arithmetic and the Spanish labels people read. Pure: the
queries that fill them are in cobranza/services/kpis/.

A rate whose denominator is 0 has no value (``None``), never 0: "no debtor was contacted" is
not "nobody answered"."""

from __future__ import annotations

import csv
import io
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
# The splits of the conversation family (:class:`Conversation`): its rows are messages whose
# sender is a keyed hash, never a debtor, so only their own channel and day split them.
CONVERSATION_SPLITS = ("channel", "day")
NO_CHANNEL = "sin canal"  # a message whose channel Rasa did not name
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
    debtors_delivered: int = 0  # distinct debtors with a delivered (or read) message

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
    debtors_kept: int = 0  # distinct debtors with a promise kept among those due

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
class Conversation:
    """The messages of the conversations, as Rasa's event broker carried them
    (``conversation_turns``, cobranza/events/): what people wrote, how many of those the NLU
    had a verdict on and did not understand, and what the assistant wrote."""

    received: int = 0
    judged: int = 0  # received with an intent: the NLU said something about them
    not_understood: int = 0
    sent: int = 0

    @property
    def not_understood_rate(self) -> Rate:
        return Rate(self.not_understood, self.judged)


@dataclass(frozen=True)
class GroupKpis:
    """Every KPI of one group (or of the total). ``roll`` is None where it does not apply;
    ``conversation`` is None under a split or filter other than :data:`CONVERSATION_SPLITS`."""

    funnel: Funnel = Funnel()
    messages: Messages = Messages()
    promises: Promises = Promises()
    money: Money = Money()
    roll: Roll | None = Roll()
    resolution: Resolution = Resolution()
    compliance: Compliance = Compliance()
    conversation: Conversation | None = Conversation()


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
    f, m, p, money, r, c = k.funnel, k.messages, k.promises, k.money, k.roll, k.conversation
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
            "debtors_delivered": m.debtors_delivered,
        },
        "promises": {
            "promises_made": p.made,
            "pesos_promised": str(p.pesos_promised),
            "promises_kept": p.kept,
            "promises_broken": p.broken,
            "promises_pending": p.pending,
            "promise_kept_rate": _rate(p.kept_rate),
            "debtors_kept": p.debtors_kept,
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
        "conversation": None
        if c is None
        else {
            "user_messages": c.received,
            "not_understood": c.not_understood,
            "not_understood_rate": _rate(c.not_understood_rate),
            "bot_messages": c.sent,
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
            _add(found, lambda k: k.messages.sent),
            _add(found, lambda k: k.messages.delivered),
            _add(found, lambda k: k.messages.debtors_delivered),
        ),
        promises=Promises(
            made=_add(found, lambda k: k.promises.made),
            pesos_promised=sum((k.promises.pesos_promised for k in found), ZERO),
            kept=_add(found, lambda k: k.promises.kept),
            broken=_add(found, lambda k: k.promises.broken),
            pending=_add(found, lambda k: k.promises.pending),
            debtors_kept=_add(found, lambda k: k.promises.debtors_kept),
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
        conversation=_conversation_sum(found),
    )


def _conversation_sum(groups: list[GroupKpis]) -> Conversation | None:
    found = [k.conversation for k in groups]
    if any(c is None for c in found):
        return None
    parts = [c for c in found if c is not None]
    return Conversation(
        received=sum(c.received for c in parts),
        judged=sum(c.judged for c in parts),
        not_understood=sum(c.not_understood for c in parts),
        sent=sum(c.sent for c in parts),
    )


def group_order(split: str, keys: Iterable[str]) -> list[str]:
    """Buckets best to worst, then ``sin saldo``/``sin registro``; days in order; anything else
    alphabetically with its fallback group last."""
    if split == "bucket":
        return sorted(keys, key=lambda k: (_ORDER.get(k, len(_ORDER)), k))
    fallback = FALLBACK.get(split)
    return sorted(keys, key=lambda k: (k == fallback, k))


# What an indicator counts, as the page, the CLI and the CSV name it (a rate: "%").
DEBTORS, PESOS, PERCENT, HOURS = "deudores", "pesos (MXN)", "%", "horas"


@dataclass(frozen=True)
class Indicator:
    """One indicator as people read it, the single source for the CLI's table and CSV, the
    console's dashboard and docs/kpis.md (tests/unit/domain/test_kpis.py checks the page
    there names each): its JSON key, its label, its kind (``count``, ``rate``, ``pesos``,
    ``hours``), its unit and its definition in one line (the dashboard shows it on hover)."""

    key: str
    label: str
    kind: str
    unit: str
    definition: str

    def as_dict(self) -> dict[str, str]:
        return {
            "key": self.key,
            "label": self.label,
            "kind": self.kind,
            "unit": self.unit,
            "definition": self.definition,
        }


def _counted(key: str, label: str, unit: str, definition: str) -> Indicator:
    return Indicator(key, label, "count", unit, definition)


def _rated(key: str, label: str, definition: str) -> Indicator:
    return Indicator(key, label, "rate", PERCENT, definition)


INDICATORS: tuple[Indicator, ...] = (
    _counted(
        "contacted",
        "deudores contactados",
        DEBTORS,
        "Deudores con al menos un contacto saliente en el periodo (campaña, recordatorio o "
        "asesor); no cuentan los envíos que Meta rechazó.",
    ),
    _counted(
        "replied",
        "deudores que respondieron",
        DEBTORS,
        "Deudores que respondieron en el periodo a un mensaje de campaña.",
    ),
    _rated(
        "reply_rate",
        "tasa de respuesta",
        "Deudores contactados que respondieron ÷ deudores contactados.",
    ),
    _counted(
        "verified",
        "identidad verificada",
        DEBTORS,
        "Deudores que confirmaron en el periodo ser el titular (fecha de nacimiento).",
    ),
    _rated(
        "right_party_rate",
        "contacto con el titular",
        "Deudores que respondieron y verificaron su identidad ÷ deudores que respondieron.",
    ),
    _counted(
        "promised",
        "deudores con promesa",
        DEBTORS,
        "Deudores con una promesa de pago hecha en el periodo (sin las canceladas).",
    ),
    _rated(
        "promise_rate",
        "tasa de promesa",
        "Deudores verificados que prometieron pagar ÷ deudores verificados.",
    ),
    _counted(
        "messages_sent",
        "mensajes enviados",
        "mensajes",
        "Mensajes de campaña que Meta aceptó en el periodo.",
    ),
    _counted(
        "messages_delivered",
        "mensajes entregados",
        "mensajes",
        "De los mensajes enviados, los entregados o leídos (último estado que avisó Meta).",
    ),
    _rated(
        "delivery_rate",
        "tasa de entrega",
        "Mensajes entregados o leídos ÷ mensajes enviados.",
    ),
    _counted(
        "debtors_delivered",
        "deudores con mensaje entregado",
        DEBTORS,
        "Deudores con al menos un mensaje de campaña enviado en el periodo y entregado o leído.",
    ),
    _counted(
        "promises_made",
        "promesas hechas",
        "promesas",
        "Promesas de pago hechas en el periodo, sin las canceladas.",
    ),
    Indicator(
        "pesos_promised",
        "pesos prometidos",
        "pesos",
        PESOS,
        "Suma de los montos de las promesas hechas en el periodo.",
    ),
    _counted(
        "promises_kept",
        "promesas cumplidas",
        "promesas",
        "Promesas con vencimiento en el periodo que se cumplieron.",
    ),
    _counted(
        "promises_broken",
        "promesas incumplidas",
        "promesas",
        "Promesas con vencimiento en el periodo que no se cumplieron.",
    ),
    _counted(
        "promises_pending",
        "promesas pendientes",
        "promesas",
        "Promesas con vencimiento en el periodo que aún no se liquidan.",
    ),
    _rated(
        "promise_kept_rate",
        "tasa de cumplimiento",
        "Promesas cumplidas ÷ (cumplidas + incumplidas), de las que vencieron en el periodo; "
        "las pendientes no cuentan.",
    ),
    _counted(
        "debtors_kept",
        "deudores con promesa cumplida",
        DEBTORS,
        "Deudores con al menos una promesa cumplida entre las que vencieron en el periodo.",
    ),
    Indicator(
        "pesos_collected",
        "pesos cobrados",
        "pesos",
        PESOS,
        "Suma de los pagos recibidos en el periodo.",
    ),
    _counted("payments", "pagos", "pagos", "Pagos recibidos en el periodo."),
    Indicator(
        "balance_assigned",
        "saldo asignado",
        "pesos",
        PESOS,
        "Saldo de todas las deudas al inicio del periodo: el saldo actual más los pagos "
        "recibidos desde entonces.",
    ),
    _rated(
        "recovery_rate",
        "tasa de recuperación",
        "Pesos cobrados en el periodo ÷ saldo asignado al inicio.",
    ),
    _counted(
        "debtors",
        "deudores con saldo al inicio",
        DEBTORS,
        "Deudores con saldo en el corte de tramos del día anterior al periodo.",
    ),
    _rated(
        "cure_rate",
        "tasa de cura",
        "Deudores atrasados al inicio que al final están al corriente o sin saldo ÷ deudores "
        "atrasados al inicio.",
    ),
    _rated(
        "roll_forward_rate",
        "tasa de deterioro",
        "Deudores que al final están en un tramo de atraso peor que al inicio ÷ deudores que "
        "podían empeorar (de al corriente a 61-90).",
    ),
    _counted(
        "opted_out",
        "bajas",
        DEBTORS,
        "Deudores que pidieron en el periodo no ser contactados.",
    ),
    _rated(
        "opt_out_rate",
        "tasa de baja",
        "Deudores contactados que pidieron la baja ÷ deudores contactados.",
    ),
    _counted(
        "handed_off",
        "canalizados a asesor",
        DEBTORS,
        "Deudores cuya conversación pasó a un asesor en el periodo.",
    ),
    _rated(
        "handoff_rate",
        "tasa de canalización",
        "Deudores que respondieron y pasaron a un asesor ÷ deudores que respondieron.",
    ),
    _counted(
        "tickets_closed",
        "tickets cerrados",
        "tickets",
        "Tickets de asesor cerrados en el periodo.",
    ),
    Indicator(
        "resolution_hours_mean",
        "horas de resolución (promedio)",
        "hours",
        HOURS,
        "Promedio de horas entre que se abrió y se cerró cada ticket cerrado en el periodo.",
    ),
    Indicator(
        "resolution_hours_median",
        "horas de resolución (mediana)",
        "hours",
        HOURS,
        "Mediana de horas entre que se abrió y se cerró cada ticket cerrado en el periodo.",
    ),
    _counted(
        "blocked",
        "bloqueos de cumplimiento",
        "bloqueos",
        "Veces que una regla de cumplimiento impidió en el periodo un contacto o mostrar datos "
        "de la deuda.",
    ),
    _counted(
        "user_messages",
        "mensajes recibidos",
        "mensajes",
        "Mensajes que las personas escribieron al asistente en el periodo, deudores o no "
        "(eventos de Rasa); solo se desglosan por canal y día.",
    ),
    _counted(
        "not_understood",
        "mensajes no entendidos",
        "mensajes",
        "Mensajes recibidos que el asistente no entendió: intención nlu_fallback o confianza "
        "bajo el umbral del FallbackClassifier (config.yml).",
    ),
    _rated(
        "not_understood_rate",
        "tasa de no entendidos",
        "Mensajes no entendidos ÷ mensajes recibidos con intención.",
    ),
    _counted(
        "bot_messages",
        "mensajes del asistente",
        "mensajes",
        "Mensajes que el asistente escribió en las conversaciones del periodo.",
    ),
)
INDICATOR = {i.key: i for i in INDICATORS}
# The funnel as the dashboard draws it: distinct debtors at each step, in the range.
FUNNEL = (
    "contacted",
    "debtors_delivered",
    "replied",
    "verified",
    "promised",
    "debtors_kept",
)
# A compliance rule (cobranza/domain/vocabulary.py, Rule) as a blocked decision names it.
RULE_LABELS = {
    "contact_window": "fuera del horario de contacto",
    "weekday": "fin de semana (solo días hábiles)",
    "reply": "respuesta a un mensaje del deudor",
    "third_party": "número equivocado o de un tercero",
    "opt_out": "el deudor pidió no ser contactado",
    "consent": "sin consentimiento para el canal",
    "daily_cap": "límite diario de contactos",
    "weekly_cap": "límite semanal de contactos",
    "dispute": "aclaración pendiente",
    "open_handoff": "conversación con un asesor",
    "identity": "identidad no verificada (datos de la deuda)",
    "identity_lock": "verificación bloqueada",
    "debtor_known": "número que no es de ningún deudor",
    "all_rules_met": "ninguna regla bloqueó",
}


def values(k: GroupKpis) -> dict[str, Any]:
    """Each indicator by key: a count, pesos as a string, hours, or a rate as
    ``{"value", "numerator", "denominator"}`` (``None``: it does not apply here)."""
    d = group_dict(k)
    found: dict[str, Any] = {}
    for family in d.values():
        if isinstance(family, dict):
            found.update(family)
    if d["roll"] is None:
        found.update(debtors=None, cure_rate=None, roll_forward_rate=None)
    if d["conversation"] is None:
        found.update(
            user_messages=None, not_understood=None, not_understood_rate=None, bot_messages=None
        )
    return {i.key: found.get(i.key) for i in INDICATORS}


def flat(k: GroupKpis) -> dict[str, Any]:
    """Each indicator's value (a rate as its float or None), by key, for tables and CSV."""
    return {
        key: value["value"] if isinstance(value, dict) else value
        for key, value in values(k).items()
    }


# --- the table the CLI prints and the CSV both the CLI and the console export ------------------

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection): such a
# cell is written with a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(kind: str, value: Any) -> str:
    """A value as the CSV has it: rates as fractions, hours with two decimals, no value
    empty."""
    if value is None:
        return ""
    if kind == "rate":
        return f"{value:.6f}"
    if kind == "hours":
        return f"{value:.2f}"
    return str(value)


def safe_cell(text: str) -> str:
    """``text`` as a spreadsheet reads it: never as a formula."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def report_groups(report: KpiReport) -> list[tuple[str, GroupKpis]]:
    """The total, then each group by the name people read."""
    return [(TOTAL, report.total)] + [
        (report.labels.get(key, key), kpis) for key, kpis in report.groups.items()
    ]


def indicator_rows(report: KpiReport, cell: Any) -> list[list[str]]:
    """One row per indicator, then one per compliance rule that blocked; a column per group
    (``cell(kind, value)`` writes a value)."""
    groups = report_groups(report)
    found = [flat(kpis) for _, kpis in groups]
    rows = [[i.label, *(cell(i.kind, v[i.key]) for v in found)] for i in INDICATORS]
    rules = sorted({r for _, kpis in groups for r in kpis.compliance.by_rule})
    rows += [
        [f"bloqueos: {rule}", *(str(kpis.compliance.by_rule.get(rule, 0)) for _, kpis in groups)]
        for rule in rules
    ]
    return rows


def kpis_csv(report: KpiReport, extra: tuple[str, str] | None = None) -> str:
    """A row per group (the total first), a column per indicator (Spanish headers); rates as
    fractions, pesos with two decimals, no rate as an empty cell; ``extra``: a last column
    (header, value) on every row. No cell reads as a formula (:func:`safe_cell`)."""
    rows = indicator_rows(report, csv_cell)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = [SPLIT_LABELS.get(report.split or "", "grupo"), *(row[0] for row in rows)]
    writer.writerow([safe_cell(c) for c in header + ([extra[0]] if extra else [])])
    for n, (name, _) in enumerate(report_groups(report), start=1):
        line = [name, *(row[n] for row in rows), *([extra[1]] if extra else [])]
        writer.writerow([safe_cell(c) for c in line])
    return out.getvalue()


# --- the console's dashboard -------------------------------------------------------------------


def _group_view(key: str, label: str, k: GroupKpis) -> dict[str, Any]:
    return {
        "key": key,
        "label": label,
        "values": values(k),
        "blocks_by_rule": dict(k.compliance.by_rule),
    }


@dataclass(frozen=True)
class Dashboard:
    """What the console's dashboard shows: the range's KPIs (total and split), the same days
    one by one, and whether the database is a simulation's (``cobranza simulate``)."""

    report: KpiReport
    trend: Mapping[date, GroupKpis]
    simulated: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON: each indicator's label, unit and definition once, then the values by key."""
        r = self.report
        return {
            "start": r.start.isoformat(),
            "end": r.end.isoformat(),
            "zone": r.zone,
            "split": r.split,
            "split_label": SPLIT_LABELS.get(r.split or ""),
            "start_snapshot": _iso(r.start_snapshot),
            "end_snapshot": _iso(r.end_snapshot),
            "simulated": self.simulated,
            "indicators": [i.as_dict() for i in INDICATORS],
            "funnel": list(FUNNEL),
            "rules": dict(RULE_LABELS),
            "total": _group_view(TOTAL, TOTAL, r.total),
            "groups": [_group_view(key, r.labels.get(key, key), k) for key, k in r.groups.items()],
            "trend": [
                {"day": day.isoformat(), "values": values(k)} for day, k in self.trend.items()
            ],
        }
