"""Payment reminders the debtor asks for: a business-initiated message, so it needs consent and
passes the compliance engine when it is due, not only when it was scheduled.

Nothing sends the reminder row itself: the outreach campaign message about the same promise or
agreement fulfils it (cobranza/outreach/dispatcher.py: fulfil_requested_reminders). So the
moment announced is the next moment at which the enabled campaign for that kind of commitment
writes to this debtor, which the caller gives (``moments``: the outreach layer reads them from
the campaign files; this layer may not). When no campaign will write about it, nothing is
scheduled and the debtor is told so rather than promised a reminder that never comes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
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
    CommitmentKind,
    InstallmentStatus,
    PromiseStatus,
    ReminderStatus,
    Rule,
)

# Rules that will not change by waiting: the reminder is cancelled instead of retried.
FINAL_RULES = frozenset({Rule.OPT_OUT, Rule.CONSENT, Rule.THIRD_PARTY, Rule.DEBTOR_KNOWN})


@dataclass(frozen=True)
class Commitment:
    kind: CommitmentKind
    reference: str  # folio (of the promise, or of the agreement the instalment belongs to)
    due_on: date


# When the campaigns will write to the debtor about a commitment (aware datetimes, in order);
# empty when none will.
Moments = Callable[[Commitment], Sequence[datetime]]


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
    found = [
        Commitment(kind, row[0], row[1])
        for kind, row in (
            (CommitmentKind.PROMISE, promise),
            (CommitmentKind.INSTALLMENT, installment),
        )
        if row is not None
    ]
    return min(found, key=lambda c: c.due_on, default=None)


def next_moment(moments: Sequence[datetime], now: datetime) -> datetime | None:
    """The first of ``moments`` after ``now``; None if all have passed."""
    return min((when for when in moments if when > now), default=None)


class Outcome(Enum):
    SCHEDULED = "scheduled"  # (or already was): ``reminder`` says when
    NO_COMMITMENT = "no_commitment"  # no pending promise or instalment to remind of
    NO_CAMPAIGN = "no_campaign"  # no enabled campaign will write about this commitment
    TOO_LATE = "too_late"  # every moment a campaign writes about it has passed


@dataclass(frozen=True)
class Scheduled:
    outcome: Outcome
    commitment: Commitment | None = None
    reminder: Reminder | None = None  # when SCHEDULED


def schedule(
    session: Session, phone: str, channel: str, zone: str, clock: Clock, moments: Moments
) -> Scheduled:
    """Schedule a reminder for the next commitment (once per commitment), at the first of its
    ``moments`` after now."""
    now = clock.now()
    commitment = next_commitment(session, phone, now.astimezone(ZoneInfo(zone)).date())
    if commitment is None:
        return Scheduled(Outcome.NO_COMMITMENT)
    planned = moments(commitment)
    if not planned:
        return Scheduled(Outcome.NO_CAMPAIGN, commitment)
    existing = session.execute(
        select(Reminder).where(
            Reminder.debtor_phone == phone,
            Reminder.reference == commitment.reference,
            Reminder.due_on == commitment.due_on,
            Reminder.status == ReminderStatus.PENDING,
        )
    ).scalar_one_or_none()
    if existing is not None:
        return Scheduled(Outcome.SCHEDULED, commitment, existing)
    when = next_moment(planned, now)
    if when is None:
        return Scheduled(Outcome.TOO_LATE, commitment)
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
        return Scheduled(Outcome.SCHEDULED, commitment, raced)
    audit.record(
        session,
        now,
        AuditAction.REMINDER_SCHEDULED,
        phone,
        {"reference": commitment.reference, "scheduled_for": when.isoformat()},
    )
    session.flush()
    return Scheduled(Outcome.SCHEDULED, commitment, reminder)


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
