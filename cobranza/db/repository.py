"""Queries over the data model. Functions take a Session; callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased, selectinload

from cobranza.db.models import (
    AuditLog,
    Consent,
    ConversationTurn,
    Debt,
    Debtor,
    HandoffTicket,
    Payment,
    Promise,
)
from cobranza.domain.vocabulary import DebtStatus, TicketStatus, TurnKind
from cobranza.errors import NotFound


class DebtorNotFound(NotFound):
    """No debtor with that phone number."""


# A unit of work that sets ``session.info[DEBTOR_MEMO] = {}`` (an action run: actions/base.py)
# reads each debtor, with debts and creditors, once: the services it calls get the same object.
DEBTOR_MEMO = "cobranza_debtors"


def remember_debtors(session: Session) -> None:
    """Let :func:`get_debtor` keep the debtors it reads for the rest of this session. Reading
    again would change nothing within it: the identity map hands back the same objects and
    SQLAlchemy does not overwrite attributes or collections already loaded (a change made in
    the session is on those very objects). Only for sessions whose code reads and writes debtors
    and debts through these objects (:meth:`cobranza.bootstrap.App.action_run`), never for a
    long-lived one."""
    session.info.setdefault(DEBTOR_MEMO, {})


def get_debtor(session: Session, phone: str) -> Debtor:
    memo: dict[str, Debtor] | None = session.info.get(DEBTOR_MEMO)
    if memo is not None and phone in memo:
        return memo[phone]
    debtor = session.execute(
        select(Debtor)
        .options(selectinload(Debtor.debts).selectinload(Debt.creditor))
        .where(Debtor.phone == phone)
    ).scalar_one_or_none()
    if debtor is None:
        raise DebtorNotFound(phone)
    if memo is not None:
        memo[phone] = debtor
    return debtor


# Debts still owed (paid and written-off ones are not).
ACTIVE_DEBT_STATUSES = (DebtStatus.ACTIVE, DebtStatus.PAUSED, DebtStatus.DISPUTED)


def active_debts(debtor: Debtor) -> list[Debt]:
    return [d for d in debtor.debts if d.status in ACTIVE_DEBT_STATUSES]


def promise_counts_since(session: Session, phone: str, since: datetime) -> dict[str, int]:
    """Promises by status whose due date falls on or after ``since``."""
    rows = session.execute(
        select(Promise.status, func.count())
        .where(Promise.debtor_phone == phone, Promise.due_date >= since.date())
        .group_by(Promise.status)
    ).all()
    return {status: count for status, count in rows}


def payment_punctuality_since(session: Session, phone: str, since: datetime) -> tuple[int, int]:
    """(on time, late) payments since ``since`` that covered a known due date."""
    rows = session.execute(
        select(Payment.paid_at, Payment.due_on)
        .join(Debt, Payment.debt_id == Debt.id)
        .where(Debt.debtor_phone == phone, Payment.paid_at >= since, Payment.due_on.is_not(None))
    ).all()
    on_time = sum(1 for paid_at, due_on in rows if paid_at.date() <= due_on)
    return on_time, len(rows) - on_time


def latest_consents(session: Session, phone: str) -> dict[str, Consent]:
    """The consent record in force per channel (the latest one)."""
    records: Sequence[Consent] = (
        session.execute(
            select(Consent)
            .where(Consent.debtor_phone == phone)
            .order_by(Consent.recorded_at, Consent.id)
        )
        .scalars()
        .all()
    )
    latest: dict[str, Consent] = {}
    for record in records:
        latest[record.channel] = record
    return latest


def promises_of(session: Session, phone: str) -> list[Promise]:
    return list(
        session.execute(
            select(Promise)
            .where(Promise.debtor_phone == phone)
            .order_by(Promise.due_date.desc(), Promise.id.desc())
        )
        .scalars()
        .all()
    )


def all_debtor_phones(session: Session) -> list[str]:
    return list(session.execute(select(Debtor.phone).order_by(Debtor.phone)).scalars().all())


def window_start(now: datetime, days: int) -> datetime:
    return now - timedelta(days=days)


def open_ticket_for(session: Session, sender_id: str) -> HandoffTicket | None:
    return session.execute(
        select(HandoffTicket)
        .where(HandoffTicket.sender_id == sender_id, HandoffTicket.status != TicketStatus.CLOSED)
        .order_by(HandoffTicket.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def audit_entries(
    session: Session, phone: str, action: str | None = None, limit: int = 200
) -> list[AuditLog]:
    """The last ``limit`` audit entries about ``phone`` (only ``action`` when given), oldest
    first."""
    query = select(AuditLog).where(AuditLog.debtor_phone == phone)
    if action:
        query = query.where(AuditLog.action == action)
    newest_first = query.order_by(AuditLog.occurred_at.desc(), AuditLog.id.desc())
    rows = session.execute(newest_first).scalars().all()[:limit]
    return list(reversed(rows))


def conversation_channel(sender_key: Any, received_at: Any) -> Any:
    """SQL (a scalar subquery): the channel of the sender's latest user message at or before
    ``received_at``, the channel of a bot message in that conversation (Rasa's bot events name
    none). NULL when there is none yet. The arguments are values or columns of the outer query."""
    user = aliased(ConversationTurn)
    return (
        select(user.channel)
        .where(
            user.sender_key == sender_key,
            user.kind == TurnKind.USER,
            user.received_at <= received_at,
        )
        .order_by(user.received_at.desc())
        .limit(1)
        .scalar_subquery()
    )
