"""A debtor answering a campaign message: the reply counts as a contact (for the KPIs), and the
conversation learns why we wrote, once identity is verified (actions/capabilities.py says it
with ``utter_motivo_<anchor>``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cobranza.db import audit
from cobranza.db.models import (
    AgreementInstallment,
    ContactAttempt,
    OutreachMessage,
    PaymentAgreement,
    Promise,
)
from cobranza.domain.vocabulary import AuditAction, ContactOutcome, OutreachStatus, PromiseStatus

# A reply within this long after a campaign message answers it.
REPLY_WINDOW = timedelta(days=7)
# The conversation mentions why we wrote when the debtor answered this recently.
CONTEXT_WINDOW = timedelta(hours=24)
DELIVERED = (OutreachStatus.SENT, OutreachStatus.DELIVERED, OutreachStatus.READ)


def record_reply(session: Session, phone: str, at: datetime) -> OutreachMessage | None:
    """Mark the latest unanswered campaign message of the last week as answered (once): an
    inbound contact attempt for the KPIs and an audit row. None when nothing was waiting."""
    row = session.execute(
        select(OutreachMessage)
        .where(
            OutreachMessage.debtor_phone == phone,
            OutreachMessage.status.in_(DELIVERED),
            OutreachMessage.sent_at >= at - REPLY_WINDOW,
            OutreachMessage.sent_at <= at,
            OutreachMessage.replied_at.is_(None),
        )
        .order_by(OutreachMessage.sent_at.desc(), OutreachMessage.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        return None
    row.replied_at = at
    if row.status != OutreachStatus.READ:
        row.status = OutreachStatus.READ  # an answer proves it was read
    session.add(
        ContactAttempt(
            debtor_phone=phone,
            channel="whatsapp",
            direction="inbound",
            initiated_by=f"campaign:{row.campaign}",
            attempted_at=at,
            outcome=ContactOutcome.REPLY,
            notes=f"outreach:{row.id}",
        )
    )
    audit.record(
        session,
        at,
        AuditAction.OUTREACH_REPLIED,
        phone,
        {"campaign": row.campaign, "step": row.step, "reference": row.reference},
        actor="system",
    )
    session.flush()
    return row


def answered_recently(session: Session, phone: str, now: datetime) -> OutreachMessage | None:
    """The campaign message the debtor answered in the last 24 hours, if any: why we wrote."""
    return session.execute(
        select(OutreachMessage)
        .where(
            OutreachMessage.debtor_phone == phone,
            OutreachMessage.replied_at >= now - CONTEXT_WINDOW,
        )
        .order_by(OutreachMessage.replied_at.desc(), OutreachMessage.id.desc())
        .limit(1)
    ).scalar_one_or_none()


@dataclass(frozen=True)
class Motive:
    """Why we wrote, as the conversation says it after identity is verified: ``kind`` names the
    response (``utter_motivo_<kind>``), ``values`` fill it."""

    kind: str  # cuenta, promesa, promesa_incumplida, parcialidad
    campaign: str
    step: str
    reference: str | None
    amount: Decimal | None = None
    due_on: date | None = None
    number: int | None = None


def motive(session: Session, phone: str, now: datetime) -> Motive | None:
    """The reason behind the campaign message the debtor answered in the last 24 hours: the
    promise or instalment it was about (read now, so the amount is today's), else the account."""
    row = answered_recently(session, phone, now)
    if row is None:
        return None
    base = {"campaign": row.campaign, "step": row.step, "reference": row.reference}
    folio, _, number = (row.reference or "").partition("#")
    if number.isdigit():
        installment = session.execute(
            select(AgreementInstallment)
            .join(AgreementInstallment.agreement)
            .where(
                PaymentAgreement.folio == folio,
                PaymentAgreement.debtor_phone == phone,
                AgreementInstallment.number == int(number),
            )
        ).scalar_one_or_none()
        if installment is not None:
            return Motive(
                "parcialidad",
                **base,
                amount=Decimal(installment.amount),
                due_on=installment.due_date,
                number=installment.number,
            )
    elif folio:
        promise = session.execute(
            select(Promise).where(Promise.folio == folio, Promise.debtor_phone == phone)
        ).scalar_one_or_none()
        if promise is not None:
            kind = "promesa_incumplida" if promise.status == PromiseStatus.BROKEN else "promesa"
            return Motive(kind, **base, amount=Decimal(promise.amount), due_on=promise.due_date)
    return Motive("cuenta", **base)
