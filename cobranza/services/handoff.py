"""Hand-off tickets: the bot hands a conversation to a person with the reason and context."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.db import audit
from cobranza.db import repository as repo
from cobranza.db.models import Debtor, HandoffTicket
from cobranza.domain.vocabulary import AuditAction, HandoffReason, TicketStatus

REASONS = HandoffReason.values()
REASON_WEIGHT: dict[str, int] = {
    HandoffReason.DISPUTA: 30,
    HandoffReason.IDENTIDAD_BLOQUEADA: 20,
    HandoffReason.INSULTOS: 10,
    HandoffReason.DIFICULTAD: 15,
    HandoffReason.REPORTE_SIN_VERIFICAR: 25,
}


def priority(balance: Decimal, days_past_due: int, reason: str) -> int:
    """Higher first: larger balances, older debts and sensitive reasons."""
    by_balance = min(40, int(balance // 2500))
    by_age = min(30, days_past_due // 6)
    return by_balance + by_age + REASON_WEIGHT.get(reason, 0)


def open_ticket(
    session: Session,
    sender_id: str,
    phone: str | None,
    channel: str,
    reason: str,
    context: dict[str, Any],
    clock: Clock,
    verified: bool = False,
) -> HandoffTicket:
    """Open (or reuse) the conversation's ticket; one active ticket per conversation, kept by
    a unique index so two requests at once still make one. ``phone`` is the number the
    conversation is about: the sender's own, or one typed on the web chat (kept in the context
    as ``claimed_phone`` — it may be no debtor's). Balance and debt set the priority only for a
    verified conversation: an unverified one reveals nothing of the claimed debtor's file."""
    if reason not in REASONS:
        raise ValueError(f"unknown hand-off reason {reason!r}")
    existing = repo.open_ticket_for(session, sender_id)
    if existing is not None:
        return existing
    debtor = session.get(Debtor, phone) if phone else None
    debts = repo.active_debts(debtor) if debtor is not None and verified else []
    balance = sum((Decimal(d.current_balance) for d in debts), Decimal(0))
    dpd = max((d.days_past_due for d in debts), default=0)
    now = clock.now()
    ticket = HandoffTicket(
        debtor_phone=debtor.phone if debtor is not None else None,
        sender_id=sender_id,
        channel=channel,
        debt_id=debts[0].id if debts else None,
        reason=reason,
        priority=priority(balance, dpd, reason),
        status=TicketStatus.OPEN,
        context={**context, "claimed_phone": phone, "identity_verified": verified},
        created_at=now,
    )
    try:
        with session.begin_nested():
            session.add(ticket)
    except IntegrityError:  # another request opened it a moment ago
        raced = repo.open_ticket_for(session, sender_id)
        if raced is None:
            raise
        return raced
    audit.record(
        session,
        now,
        AuditAction.HANDOFF_OPENED,
        ticket.debtor_phone,
        {"ticket": ticket.id, "reason": reason, "channel": channel, "verified": verified},
    )
    return ticket


def next_attention(now_local: datetime, opening: time, closing: time) -> date | None:
    """None when agents are working now (Monday to Saturday, opening to closing, local time);
    otherwise the day they start again."""
    working_day = now_local.weekday() < 6
    if working_day and opening <= now_local.time() < closing:
        return None
    day = now_local.date()
    if not (working_day and now_local.time() < opening):
        day += timedelta(days=1)
    while day.weekday() == 6:
        day += timedelta(days=1)
    return day
