"""What the scoring model may know about a debtor on a day, from our own tables only.

:func:`features_as_of` computes every feature of :data:`FEATURES` for every debtor (or the
``phones`` given) *as of the end of* ``day`` in each debtor's own time zone, with one query per
table (no query per debtor: 100,000 debtors take seconds). Every query bounds its timestamps by
that per-zone end of day (:func:`end_of_day`): a row dated after it cannot change a feature. The
exceptions are the columns our tables overwrite in place, reconstructed backwards:

* **balance**: ``current_balance`` plus the payments recorded after the day (each import
  lowers the balance by the payment, cobranza/services/reconciliation.py). Debts that were not
  open yet (``opened_on`` after the day) are left out; a written-off debt is counted while its
  reconstructed balance is positive (our tables do not date the write-off).
* **days past due**: the lender's ``days_past_due`` at ``balance_as_of``, counted forward (or
  back) to the day when it is above zero, exactly as the outreach planner does
  (cobranza/outreach/planner.py). An import that pays a debt off resets it to 0, and a partial
  payment moves ``balance_as_of`` to the payment's date without changing it: recomputed later,
  a past day's days past due can come out lower. That is why training uses the snapshots
  written *on* the day (cobranza/scoring/snapshots.py: ``feature_snapshots``), never features
  recomputed afterwards.
* **a promise's status**: kept or broken only if ``resolved_at`` is on or before the day;
  otherwise it was still pending then. A superseded (cancelled) promise was pending until its
  ``updated_at``.
* **an instalment**: paid if ``paid_at`` is on or before the day; missed if its deadline (due
  date + ``promise_grace_days``, the debtor's midnight, as reconciliation settles it) passed by
  the day without that; a cancelled one is left out (our tables do not date the cancellation).
* **opt-out**: the latest ``consents`` record per channel recorded by the day.
* **persona**: not the stored column (today's): the persona engine
  (cobranza/personas/engine.py) run on the same facts it uses, computed as of the day.

**Protected attributes.** No name, no sex (we do not hold it), no place beyond the time zone
(which decides when we may write, and is on every lender's file), no date of birth. Age is
added (:data:`AGE`) only when the operator switches ``SCORING_USE_AGE`` on and writes why in
``SCORING_AGE_JUSTIFICATION`` (both recorded in the model card); it is derived from the date of
birth when a model needs it and never stored in a snapshot.

Values: numbers are ``float`` (``None`` when unknown, e.g. days since the last payment of
someone who never paid: gradient boosting learns where missing values go); categories are the
stored strings (``str``; the model card keeps the vocabulary seen in training, and a value it
has not seen is treated as missing). The descriptions below are the documentation of record
(docs/scoring.md repeats them)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cobranza.db.models import (
    AgreementInstallment,
    AuditLog,
    Consent,
    ContactAttempt,
    Creditor,
    Debt,
    Debtor,
    OutreachMessage,
    Payment,
    PaymentAgreement,
    Promise,
    UTCDateTime,
)
from cobranza.domain.delinquency import bucket_for
from cobranza.domain.vocabulary import (
    AuditAction,
    ConsentStatus,
    ContactDirection,
    ContactOutcome,
    InstallmentStatus,
    PromiseStatus,
)
from cobranza.personas.engine import DebtorFacts, assign_persona
from cobranza.personas.profiles import PersonaProfile

NUMBER = "number"
CATEGORY = "category"
ZERO = Decimal("0.00")
WINDOWS = (30, 90, 180, 365)
_CHUNK = 500  # phones per IN (…) when a caller asks for a few debtors


@dataclass(frozen=True)
class Feature:
    """One model input: its stored name, kind, what it means (English, for the docs) and the
    label an agent reads next to a score's reasons (Spanish)."""

    name: str
    kind: str
    description: str
    label: str


FEATURES: tuple[Feature, ...] = (
    Feature(
        "days_past_due",
        NUMBER,
        "Days past due of the most overdue debt open on the day (planner's rule: the lender's "
        "figure at balance_as_of counted forward when above zero).",
        "días de atraso",
    ),
    Feature(
        "bucket",
        CATEGORY,
        "Delinquency bucket of days_past_due (al_corriente, 1-30, 31-60, 61-90, 90+).",
        "tramo de atraso",
    ),
    Feature(
        "balance",
        NUMBER,
        "Open balance on the day, pesos: current balances plus the payments recorded after the "
        "day, over the debts opened by then.",
        "saldo",
    ),
    Feature(
        "original_amount",
        NUMBER,
        "Sum of the original amounts of the debts open on the day, pesos.",
        "monto original",
    ),
    Feature(
        "balance_share",
        NUMBER,
        "balance / original_amount: how much of what was lent is still owed.",
        "proporción del saldo",
    ),
    Feature("open_debts", NUMBER, "Debts with a balance on the day.", "adeudos abiertos"),
    Feature(
        "days_since_last_payment",
        NUMBER,
        "Days from the last payment on any of the debtor's debts (payments, or the lender's "
        "last_payment_on when it is on or before the day) to the day; missing if none.",
        "días desde el último pago",
    ),
    Feature("payments_30d", NUMBER, "Payments in the 30 days ending on the day.", "pagos 30 días"),
    Feature("paid_30d", NUMBER, "Pesos paid in the 30 days ending on the day.", "pagado 30 días"),
    Feature("payments_90d", NUMBER, "Payments in the 90 days ending on the day.", "pagos 90 días"),
    Feature("paid_90d", NUMBER, "Pesos paid in the 90 days ending on the day.", "pagado 90 días"),
    Feature(
        "payments_180d", NUMBER, "Payments in the 180 days ending on the day.", "pagos 180 días"
    ),
    Feature(
        "paid_180d", NUMBER, "Pesos paid in the 180 days ending on the day.", "pagado 180 días"
    ),
    Feature(
        "paid_share_90d",
        NUMBER,
        "paid_90d / (balance + paid_90d): the share of the balance 90 days ago paid since.",
        "proporción pagada 90 días",
    ),
    Feature(
        "promises_made_90d",
        NUMBER,
        "Promises created in the 90 days ending on the day.",
        "promesas hechas 90 días",
    ),
    Feature(
        "promises_kept_90d",
        NUMBER,
        "Promises resolved as kept in the 90 days ending on the day.",
        "promesas cumplidas 90 días",
    ),
    Feature(
        "promises_broken_90d",
        NUMBER,
        "Promises resolved as broken in the 90 days ending on the day.",
        "promesas incumplidas 90 días",
    ),
    Feature(
        "promise_pending",
        NUMBER,
        "1 if a promise made by the day was still unresolved at its end, else 0.",
        "promesa pendiente",
    ),
    Feature(
        "days_to_promise_due",
        NUMBER,
        "Days from the day to the earliest due date of those pending promises (negative: "
        "overdue, inside its grace); missing if none.",
        "días para la fecha prometida",
    ),
    Feature(
        "agreements",
        NUMBER,
        "Payment agreements (plans) made by the day.",
        "convenios",
    ),
    Feature(
        "instalments_paid",
        NUMBER,
        "Agreement instalments paid by the day.",
        "parcialidades pagadas",
    ),
    Feature(
        "instalments_missed",
        NUMBER,
        "Agreement instalments whose deadline (due + grace) passed by the day unpaid.",
        "parcialidades vencidas",
    ),
    Feature(
        "agreement_open",
        NUMBER,
        "1 if an agreement has an instalment neither paid nor missed at the end of the day.",
        "convenio vigente",
    ),
    Feature(
        "outbound_contacts_30d",
        NUMBER,
        "Outbound contact attempts in the 30 days ending on the day (not counting those Meta "
        "refused before sending).",
        "contactos salientes 30 días",
    ),
    Feature(
        "inbound_contacts_30d",
        NUMBER,
        "Inbound contacts (the debtor wrote or called) in the 30 days ending on the day.",
        "contactos entrantes 30 días",
    ),
    Feature(
        "messages_sent_30d",
        NUMBER,
        "Campaign messages sent in the 30 days ending on the day.",
        "mensajes enviados 30 días",
    ),
    Feature(
        "replies_30d",
        NUMBER,
        "Campaign messages answered in the 30 days ending on the day.",
        "respuestas 30 días",
    ),
    Feature(
        "reply_rate_90d",
        NUMBER,
        "Campaign messages answered / sent in the 90 days ending on the day; missing if none "
        "was sent.",
        "tasa de respuesta 90 días",
    ),
    Feature(
        "days_since_last_reply",
        NUMBER,
        "Days from the debtor's last answer (a campaign message answered, or an inbound "
        "contact) to the day; missing if never.",
        "días desde la última respuesta",
    ),
    Feature(
        "last_reply_hour",
        NUMBER,
        "Local hour (0-23, the debtor's zone) of that last answer; missing if never.",
        "hora de la última respuesta",
    ),
    Feature(
        "last_contact_channel",
        CATEGORY,
        "Channel of the latest contact attempt by the day (whatsapp, sms, voice, …); missing "
        "if none.",
        "último canal de contacto",
    ),
    Feature(
        "hardship",
        NUMBER,
        "1 if the debtor declared hardship on or before the day (hardship_declared_at).",
        "dificultad declarada",
    ),
    Feature(
        "dispute",
        NUMBER,
        "1 if a dispute was opened by the day (audit log: dispute_opened).",
        "disputa abierta",
    ),
    Feature(
        "opted_out",
        NUMBER,
        "1 if, at the end of the day, the latest consent record of any channel is a revocation.",
        "baja de contacto",
    ),
    Feature(
        "discount_requests",
        NUMBER,
        "Discount requests by the day: the debtor's counter when its last request is on or "
        "before the day, else the discount_requested rows of the audit log by the day.",
        "solicitudes de descuento",
    ),
    Feature(
        "persona",
        CATEGORY,
        "The persona the engine assigns on the facts as of the day (not the stored column).",
        "persona",
    ),
    Feature("time_zone", CATEGORY, "The debtor's IANA time zone.", "zona horaria"),
    Feature(
        "product",
        CATEGORY,
        "Product of the primary debt (most overdue, then largest balance, then lowest id).",
        "producto",
    ),
    Feature(
        "creditor",
        CATEGORY,
        "Creditor code of the primary debt.",
        "acreedor",
    ),
)
AGE = Feature(
    "age",
    NUMBER,
    "PROTECTED. Whole years from the date of birth to the day. Only with SCORING_USE_AGE=true "
    "and a written SCORING_AGE_JUSTIFICATION, both recorded in the model card.",
    "edad",
)
FEATURE_NAMES: tuple[str, ...] = tuple(f.name for f in FEATURES)
BY_NAME: dict[str, Feature] = {f.name: f for f in (*FEATURES, AGE)}
# Never model inputs, whatever the operator sets: what identifies a person or a protected trait.
PROTECTED = ("full_name", "date_of_birth", "sex", "gender", "state", "municipality")

Value = float | str | None


@dataclass(frozen=True)
class FeatureRow:
    """One debtor's features on one day, and the open balance (the target's base)."""

    features: dict[str, Value]
    balance: Decimal


def labels() -> dict[str, str]:
    """Each feature's Spanish label by name (stored with a score's reasons, for people)."""
    return {f.name: f.label for f in (*FEATURES, AGE)}


def feature_names(use_age: bool = False) -> tuple[str, ...]:
    """The model's inputs in order: :data:`FEATURES`, and ``age`` last when switched on."""
    return (*FEATURE_NAMES, AGE.name) if use_age else FEATURE_NAMES


# --- the day's bounds, per zone ---------------------------------------------------------------


def _zone(name: str, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(timezone.utc)


@dataclass(frozen=True)
class DayBounds:
    """For one zone: the end of ``day`` (the first instant after it) and the start of each
    window of :data:`WINDOWS` days ending on it."""

    cut: datetime
    since: dict[int, datetime]


def day_bounds(day: date, zones: Iterable[str], default_zone: str) -> dict[str, DayBounds]:
    out: dict[str, DayBounds] = {}
    for name in zones:
        zone = _zone(name, default_zone)
        out[name] = DayBounds(
            _start_of(day + timedelta(days=1), zone),
            {n: _start_of(day + timedelta(days=1 - n), zone) for n in WINDOWS},
        )
    return out


def end_of_day(zone_column: Any, bounds: Mapping[str, DayBounds]) -> ColumnElement[Any]:
    """SQL: the end of the day in the zone ``zone_column`` names (one CASE over the zones)."""
    whens = [(zone_column == name, literal(b.cut, UTCDateTime())) for name, b in bounds.items()]
    latest = max(b.cut for b in bounds.values())
    return case(*whens, else_=literal(latest, UTCDateTime()))


# --- the computation --------------------------------------------------------------------------


@dataclass
class _Acc:
    """Per-debtor accumulators (filled from one pass over each table)."""

    zone: str
    hardship: bool = False
    debts: list[tuple[int, Decimal, Decimal, int, str, str]] | None = None
    last_payment: date | None = None
    payments: dict[int, int] | None = None
    paid: dict[int, Decimal] | None = None
    on_time_12m: int = 0
    late_12m: int = 0
    made_90d: int = 0
    kept_90d: int = 0
    broken_90d: int = 0
    kept_due_90d: int = 0
    broken_due_90d: int = 0
    pending_due: date | None = None
    agreements: int = 0
    inst_paid: int = 0
    inst_missed: int = 0
    agreement_open: bool = False
    outbound_30d: int = 0
    inbound_30d: int = 0
    sent_30d: int = 0
    sent_90d: int = 0
    replies_30d: int = 0
    replies_90d: int = 0
    last_reply: datetime | None = None
    last_contact: tuple[datetime, int, str] | None = None
    dispute: bool = False
    discounts: int = 0
    consent: dict[str, tuple[datetime, int, str]] | None = None
    age: int | None = None


def _chunks(phones: Sequence[str] | None) -> list[Sequence[str] | None]:
    if phones is None:
        return [None]
    return [phones[i : i + _CHUNK] for i in range(0, len(phones), _CHUNK)]


@dataclass(frozen=True)
class _Reader:
    """The reads of one computation: its session, the debtors asked for (None: every one), and
    the bounds of the day in each of their zones."""

    session: Session
    wanted: Sequence[str] | None
    bounds: Mapping[str, DayBounds]

    def rows(self, query: Any, phone: Any) -> list[Any]:
        """``query``'s rows for the wanted debtors; ``phone`` is its debtor's phone column."""
        out: list[Any] = []
        for chunk in _chunks(self.wanted):
            q = query if chunk is None else query.where(phone.in_(chunk))
            out.extend(self.session.execute(q).all())
        return out

    def by_the_day(self, query: Any, phone: Any, at: Any) -> list[Any]:
        """``query``'s rows whose timestamp ``at`` is before the end of the day in their debtor's
        zone: the query joined to the debtor ``phone`` names, and cut there."""
        joined, cut = self._local(query, phone)
        return self.rows(joined.where(at < cut), phone)

    def after_the_day(self, query: Any, phone: Any, at: Any) -> list[Any]:
        """The rows :meth:`by_the_day` leaves out: ``at`` at or after the end of the day."""
        joined, cut = self._local(query, phone)
        return self.rows(joined.where(at >= cut), phone)

    def _local(self, query: Any, phone: Any) -> tuple[Any, ColumnElement[Any]]:
        joined = query.join(Debtor, phone == Debtor.phone)
        return joined, end_of_day(Debtor.time_zone, self.bounds)


def years_between(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def features_as_of(
    session: Session,
    day: date,
    phones: Collection[str] | None = None,
    *,
    profiles: Mapping[str, PersonaProfile],
    default_time_zone: str = "America/Mexico_City",
    grace_days: int = 2,
    use_age: bool = False,
) -> dict[str, FeatureRow]:
    """Every debtor with an open balance at the end of ``day`` → their features then (module
    docstring). ``phones`` narrows it to those debtors; ``grace_days`` is the settings'
    ``promise_grace_days`` (an instalment is missed after it); ``profiles`` the persona profiles
    the engine assigns with; ``use_age`` adds :data:`AGE` (protected: the caller decides)."""
    wanted = sorted(set(phones)) if phones is not None else None
    if wanted is not None and not wanted:
        return {}
    debtor_rows = _Reader(session, wanted, {}).rows(
        select(
            Debtor.phone,
            Debtor.time_zone,
            Debtor.hardship_declared_at,
            Debtor.date_of_birth,
            Debtor.discount_requests,
            Debtor.last_discount_request_at,
        ),
        Debtor.phone,
    )
    if not debtor_rows:
        return {}
    zones = {row[1] for row in debtor_rows}
    bounds = day_bounds(day, zones, default_time_zone)
    read = _Reader(session, wanted, bounds)
    acc: dict[str, _Acc] = {}
    counted: set[str] = set()
    for phone, tz, hardship_at, born, discounts, last_discount in debtor_rows:
        a = _Acc(zone=tz, debts=[], payments=defaultdict(int), paid=defaultdict(lambda: ZERO))
        a.hardship = hardship_at is not None and hardship_at < bounds[tz].cut
        if discounts and last_discount is not None and last_discount < bounds[tz].cut:
            # Every request was made by the day: the column is the count as of the day.
            a.discounts = discounts
            counted.add(phone)
        if use_age:
            a.age = years_between(born, day)
        acc[phone] = a
    oldest = min(b.since[max(WINDOWS)] for b in bounds.values())

    # Debts, with the payments after the day added back to their balance.
    after: dict[int, Decimal] = {
        debt_id: Decimal(amount)
        for debt_id, amount in read.after_the_day(
            select(Payment.debt_id, func.sum(Payment.amount))
            .join(Debt, Payment.debt_id == Debt.id)
            .group_by(Payment.debt_id),
            Debt.debtor_phone,
            Payment.paid_at,
        )
    }
    for row in read.rows(
        select(
            Debt.id,
            Debt.debtor_phone,
            Debt.current_balance,
            Debt.original_amount,
            Debt.days_past_due,
            Debt.balance_as_of,
            Debt.last_payment_on,
            Debt.product,
            Creditor.code,
        )
        .join(Creditor, Debt.creditor_id == Creditor.id)
        .where(Debt.opened_on <= day),
        Debt.debtor_phone,
    ):
        debt_id, phone, current, original, dpd, as_of, last_on, product, creditor = row
        a = acc[phone]
        balance = Decimal(current) + after.get(debt_id, ZERO)
        if last_on is not None and last_on <= day:
            a.last_payment = max(a.last_payment or last_on, last_on)
        if balance <= ZERO:
            continue
        dpd_day = max(0, dpd + (day - as_of).days) if dpd > 0 else 0
        assert a.debts is not None
        a.debts.append((debt_id, balance, Decimal(original), dpd_day, product, creditor))

    # Payments up to the end of the day, in the windows.
    for phone, paid_at, amount, due_on in read.by_the_day(
        select(Debt.debtor_phone, Payment.paid_at, Payment.amount, Payment.due_on)
        .join(Debt, Payment.debt_id == Debt.id)
        .where(Payment.paid_at >= oldest),
        Debt.debtor_phone,
        Payment.paid_at,
    ):
        a = acc[phone]
        b = bounds[a.zone]
        local = paid_at.astimezone(_zone(a.zone, default_time_zone)).date()
        a.last_payment = max(a.last_payment or local, local)
        assert a.payments is not None and a.paid is not None
        for n in (30, 90, 180):
            if paid_at >= b.since[n]:
                a.payments[n] += 1
                a.paid[n] += Decimal(amount)
        if due_on is not None and paid_at >= b.since[365]:
            # The persona engine's punctuality (repository.payment_punctuality_since).
            if paid_at.date() <= due_on:
                a.on_time_12m += 1
            else:
                a.late_12m += 1

    # Promises made by the day, their status as of its end.
    for phone, created, resolved, updated, status, due in read.by_the_day(
        select(
            Promise.debtor_phone,
            Promise.created_at,
            Promise.resolved_at,
            Promise.updated_at,
            Promise.status,
            Promise.due_date,
        ),
        Promise.debtor_phone,
        Promise.created_at,
    ):
        a = acc[phone]
        b = bounds[a.zone]
        if created >= b.since[90]:
            a.made_90d += 1
        settled = status in (PromiseStatus.KEPT, PromiseStatus.BROKEN)
        if settled and resolved is not None and resolved < b.cut:
            if resolved >= b.since[90]:
                a.kept_90d += status == PromiseStatus.KEPT
                a.broken_90d += status == PromiseStatus.BROKEN
            if due >= day - timedelta(days=90):  # the persona engine's window: by due date
                a.kept_due_90d += status == PromiseStatus.KEPT
                a.broken_due_90d += status == PromiseStatus.BROKEN
            continue
        if status == PromiseStatus.CANCELLED and updated is not None and updated < b.cut:
            continue  # superseded by the day
        a.pending_due = min(a.pending_due or due, due)

    # Agreements made by the day and their instalments as of its end.
    for phone, _agreement, number, inst_status, inst_due, inst_paid_at in read.by_the_day(
        select(
            PaymentAgreement.debtor_phone,
            PaymentAgreement.id,
            AgreementInstallment.number,
            AgreementInstallment.status,
            AgreementInstallment.due_date,
            AgreementInstallment.paid_at,
        )
        .join(AgreementInstallment, AgreementInstallment.agreement_id == PaymentAgreement.id)
        .order_by(PaymentAgreement.id, AgreementInstallment.number),
        PaymentAgreement.debtor_phone,
        PaymentAgreement.created_at,
    ):
        a = acc[phone]
        if number == 1:
            a.agreements += 1
        if inst_status == InstallmentStatus.CANCELLED:
            continue
        if inst_paid_at is not None and inst_paid_at < bounds[a.zone].cut:
            a.inst_paid += 1
        elif inst_due + timedelta(days=grace_days) < day:
            a.inst_missed += 1
        else:
            a.agreement_open = True

    # Contact attempts (outbound and inbound) by the day.
    for attempt_id, phone, at, channel, direction, outcome in read.by_the_day(
        select(
            ContactAttempt.id,
            ContactAttempt.debtor_phone,
            ContactAttempt.attempted_at,
            ContactAttempt.channel,
            ContactAttempt.direction,
            ContactAttempt.outcome,
        ),
        ContactAttempt.debtor_phone,
        ContactAttempt.attempted_at,
    ):
        a = acc[phone]
        if a.last_contact is None or (at, attempt_id) > a.last_contact[:2]:
            a.last_contact = (at, attempt_id, channel)
        if direction == ContactDirection.INBOUND:
            a.last_reply = max(a.last_reply or at, at)
            if at >= bounds[a.zone].since[30]:
                a.inbound_30d += 1
        elif outcome != ContactOutcome.NOT_SENT and at >= bounds[a.zone].since[30]:
            a.outbound_30d += 1

    # Campaign messages sent, and answered, by the day.
    for phone, sent_at, replied_at in read.by_the_day(
        select(
            OutreachMessage.debtor_phone, OutreachMessage.sent_at, OutreachMessage.replied_at
        ).where(OutreachMessage.sent_at.is_not(None)),
        OutreachMessage.debtor_phone,
        OutreachMessage.sent_at,
    ):
        a = acc[phone]
        b = bounds[a.zone]
        if sent_at >= b.since[90]:
            a.sent_90d += 1
            a.sent_30d += sent_at >= b.since[30]
        if replied_at is not None and replied_at < b.cut:
            a.last_reply = max(a.last_reply or replied_at, replied_at)
            if replied_at >= b.since[90]:
                a.replies_90d += 1
                a.replies_30d += replied_at >= b.since[30]

    # Disputes and discount requests (audit log) by the day.
    for phone, action in read.by_the_day(
        select(AuditLog.debtor_phone, AuditLog.action).where(
            AuditLog.action.in_((AuditAction.DISPUTE_OPENED, AuditAction.DISCOUNT_REQUESTED))
        ),
        AuditLog.debtor_phone,
        AuditLog.occurred_at,
    ):
        a = acc[phone]
        if action == AuditAction.DISPUTE_OPENED:
            a.dispute = True
        elif phone not in counted:
            a.discounts += 1

    # Consent in force per channel at the end of the day.
    for consent_id, phone, channel, status, recorded in read.by_the_day(
        select(
            Consent.id, Consent.debtor_phone, Consent.channel, Consent.status, Consent.recorded_at
        ),
        Consent.debtor_phone,
        Consent.recorded_at,
    ):
        a = acc[phone]
        if a.consent is None:
            a.consent = {}
        known = a.consent.get(channel)
        if known is None or (recorded, consent_id) > known[:2]:
            a.consent[channel] = (recorded, consent_id, status)

    return {
        phone: row
        for phone, a in sorted(acc.items())
        if (row := _row(a, day, profiles, default_time_zone)) is not None
    }


def _days(later: date, earlier: date | None) -> float | None:
    return None if earlier is None else float((later - earlier).days)


def _row(
    a: _Acc, day: date, profiles: Mapping[str, PersonaProfile], default_zone: str
) -> FeatureRow | None:
    assert a.debts is not None and a.payments is not None and a.paid is not None
    if not a.debts:
        return None
    balance = sum((d[1] for d in a.debts), ZERO)
    original = sum((d[2] for d in a.debts), ZERO)
    dpd = max(d[3] for d in a.debts)
    primary = sorted(a.debts, key=lambda d: (-d[3], -d[1], d[0]))[0]
    facts = DebtorFacts(
        days_past_due=dpd,
        balance=balance,
        broken_promises_90d=a.broken_due_90d,
        kept_promises_90d=a.kept_due_90d,
        discount_requests=a.discounts,
        on_time_payments_12m=a.on_time_12m,
        late_payments_12m=a.late_12m,
        hardship_declared=a.hardship,
    )
    zone = _zone(a.zone, default_zone)
    last_reply_local = a.last_reply.astimezone(zone) if a.last_reply else None
    paid_90 = a.paid[90]
    features: dict[str, Value] = {
        "days_past_due": float(dpd),
        "bucket": bucket_for(dpd),
        "balance": float(balance),
        "original_amount": float(original),
        "balance_share": float(balance / original) if original > 0 else None,
        "open_debts": float(len(a.debts)),
        "days_since_last_payment": _days(day, a.last_payment),
        "payments_30d": float(a.payments[30]),
        "paid_30d": float(a.paid[30]),
        "payments_90d": float(a.payments[90]),
        "paid_90d": float(paid_90),
        "payments_180d": float(a.payments[180]),
        "paid_180d": float(a.paid[180]),
        "paid_share_90d": float(paid_90 / (balance + paid_90)),
        "promises_made_90d": float(a.made_90d),
        "promises_kept_90d": float(a.kept_90d),
        "promises_broken_90d": float(a.broken_90d),
        "promise_pending": 1.0 if a.pending_due is not None else 0.0,
        "days_to_promise_due": (
            float((a.pending_due - day).days) if a.pending_due is not None else None
        ),
        "agreements": float(a.agreements),
        "instalments_paid": float(a.inst_paid),
        "instalments_missed": float(a.inst_missed),
        "agreement_open": 1.0 if a.agreement_open else 0.0,
        "outbound_contacts_30d": float(a.outbound_30d),
        "inbound_contacts_30d": float(a.inbound_30d),
        "messages_sent_30d": float(a.sent_30d),
        "replies_30d": float(a.replies_30d),
        "reply_rate_90d": float(a.replies_90d / a.sent_90d) if a.sent_90d else None,
        "days_since_last_reply": (
            _days(day, last_reply_local.date()) if last_reply_local else None
        ),
        "last_reply_hour": float(last_reply_local.hour) if last_reply_local else None,
        "last_contact_channel": a.last_contact[2] if a.last_contact else None,
        "hardship": 1.0 if a.hardship else 0.0,
        "dispute": 1.0 if a.dispute else 0.0,
        "opted_out": (
            1.0
            if any(s == ConsentStatus.REVOKED for _, _, s in (a.consent or {}).values())
            else 0.0
        ),
        "discount_requests": float(a.discounts),
        "persona": assign_persona(facts, dict(profiles)).persona,
        "time_zone": a.zone,
        "product": primary[4],
        "creditor": primary[5],
    }
    if a.age is not None:
        features[AGE.name] = float(a.age)
    return FeatureRow(features, balance)


def describe() -> list[dict[str, str]]:
    """The documented features, in order (``cobranza score show``, docs/scoring.md)."""
    return [
        {"name": f.name, "kind": f.kind, "label": f.label, "description": f.description}
        for f in (*FEATURES, AGE)
    ]


__all__ = [
    "AGE",
    "BY_NAME",
    "CATEGORY",
    "FEATURES",
    "FEATURE_NAMES",
    "NUMBER",
    "PROTECTED",
    "Feature",
    "FeatureRow",
    "describe",
    "feature_names",
    "features_as_of",
]
