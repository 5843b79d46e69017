"""Payment reminders the debtor asks for: a business-initiated message, so it needs consent and
passes the compliance engine when it is due, not only when it was scheduled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.compliance import decisions
from cobranza.config import Settings
from cobranza.db import audit
from cobranza.db.models import (
    AgreementInstallment,
    PaymentAgreement,
    Promise,
    Reminder,
)
from cobranza.domain.vocabulary import (
    AgreementStatus,
    AuditAction,
    InstallmentStatus,
    PromiseStatus,
    ReminderStatus,
    Rule,
)

# The moments of the campaign steps that send the reminder (campaigns/recordatorio_promesa.yml:
# dia_anterior, dia_de_pago), so that what the assistant promises is what goes out.
REMIND_AT = time(10, 0)  # local time, the day before the payment
LAST_CHANCE_AT = time(9, 0)  # local time, on the day, when the day before has passed
# Rules that will not change by waiting: the reminder is cancelled instead of retried.
FINAL_RULES = frozenset({Rule.OPT_OUT, Rule.CONSENT, Rule.THIRD_PARTY, Rule.DEBTOR_KNOWN})


@dataclass(frozen=True)
class Commitment:
    reference: str  # folio
    due_on: date


def next_commitment(session: Session, phone: str, today: date) -> Commitment | None:
    """The nearest pending promise or agreement instalment, today or later."""
    promise = session.execute(
        select(Promise.folio, Promise.due_date)
        .where(Promise.debtor_phone == phone, Promise.status == PromiseStatus.PENDING)
        .where(Promise.due_date >= today)
        .order_by(Promise.due_date, Promise.id.desc())  # the latest promise for that day
        .limit(1)
    ).first()
    installment = session.execute(
        select(PaymentAgreement.folio, AgreementInstallment.due_date)
        .join(AgreementInstallment.agreement)
        .where(
            PaymentAgreement.debtor_phone == phone,
            PaymentAgreement.status == AgreementStatus.ACTIVE,
            AgreementInstallment.status == InstallmentStatus.PENDING,
            AgreementInstallment.due_date >= today,
        )
        .order_by(AgreementInstallment.due_date)
        .limit(1)
    ).first()
    found = [Commitment(r[0], r[1]) for r in (promise, installment) if r is not None]
    return min(found, key=lambda c: c.due_on, default=None)


def reminder_time(due_on: date, zone: str, now: datetime) -> datetime | None:
    """10:00 local the day before; 09:00 on the day if that has passed; None if both have."""
    tz = ZoneInfo(zone)
    for day, at in ((due_on - timedelta(days=1), REMIND_AT), (due_on, LAST_CHANCE_AT)):
        when = datetime.combine(day, at, tzinfo=tz)
        if when > now:
            return when
    return None


@dataclass(frozen=True)
class Scheduled:
    reminder: Reminder | None  # None: nothing to remind, or too late
    commitment: Commitment | None


def schedule(session: Session, phone: str, channel: str, zone: str, clock: Clock) -> Scheduled:
    """Schedule a reminder for the next commitment (once per commitment)."""
    now = clock.now()
    commitment = next_commitment(session, phone, now.astimezone(ZoneInfo(zone)).date())
    if commitment is None:
        return Scheduled(None, None)
    existing = session.execute(
        select(Reminder).where(
            Reminder.debtor_phone == phone,
            Reminder.reference == commitment.reference,
            Reminder.due_on == commitment.due_on,
            Reminder.status == ReminderStatus.PENDING,
        )
    ).scalar_one_or_none()
    if existing is not None:
        return Scheduled(existing, commitment)
    when = reminder_time(commitment.due_on, zone, now)
    if when is None:
        return Scheduled(None, commitment)
    reminder = Reminder(
        debtor_phone=phone,
        channel=channel,
        reference=commitment.reference,
        due_on=commitment.due_on,
        scheduled_for=when,
        status=ReminderStatus.PENDING,
        created_at=now,
    )
    try:
        with session.begin_nested():  # one reminder per folio and moment, even in a race
            session.add(reminder)
    except IntegrityError:
        raced = session.execute(
            select(Reminder).where(
                Reminder.reference == commitment.reference, Reminder.scheduled_for == when
            )
        ).scalar_one()
        return Scheduled(raced, commitment)
    audit.record(
        session,
        now,
        AuditAction.REMINDER_SCHEDULED,
        phone,
        {"reference": commitment.reference, "scheduled_for": when.isoformat()},
    )
    session.flush()
    return Scheduled(reminder, commitment)


def due(
    session: Session, settings: Settings, clock: Clock
) -> list[tuple[Reminder, decisions.Decision]]:
    """Pending reminders whose time has come, each with a fresh compliance decision. Those the
    rules block for good (opt-out, no consent, third party) are cancelled with the rule; those
    blocked for now (window, caps, open case) stay pending for a later run."""
    now = clock.now()
    pending = (
        session.execute(
            select(Reminder)
            .where(Reminder.status == ReminderStatus.PENDING, Reminder.scheduled_for <= now)
            .order_by(Reminder.scheduled_for, Reminder.id)
        )
        .scalars()
        .all()
    )
    results = []
    for reminder in pending:
        decision = decisions.decide_contact(
            session,
            reminder.debtor_phone,
            settings,
            clock,
            channel=reminder.channel,
            initiated_by="bot:recordatorio",
            actor="system",
        )
        final = set(decision.blocked_by) & FINAL_RULES
        if final:
            reminder.status = ReminderStatus.CANCELLED
            reminder.status_reason = sorted(final)[0]
        results.append((reminder, decision))
    session.flush()
    return results


def mark_sent(session: Session, reminder: Reminder, clock: Clock) -> None:
    """After the channel delivered it: counts towards the caps."""
    reminder.status = ReminderStatus.SENT
    decisions.record_contact(
        session, reminder.debtor_phone, reminder.channel, "bot:recordatorio", clock.now()
    )
