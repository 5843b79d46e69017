"""Hand-off tickets: the bot hands a conversation to a person with the reason and context."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from cobranza import audit
from cobranza.adapters import repository as repo
from cobranza.adapters.models import HandoffTicket
from cobranza.clock import Clock

REASONS = (
    "solicitud_agente",
    "disputa",
    "dificultad",
    "no_entendido",
    "insultos",
    "identidad_bloqueada",
    "descuento_fuera_de_politica",
)
REASON_WEIGHT = {"disputa": 30, "identidad_bloqueada": 20, "insultos": 10, "dificultad": 15}


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
) -> HandoffTicket:
    """Open (or reuse) the conversation's ticket; one open ticket per sender."""
    if reason not in REASONS:
        raise ValueError(f"unknown hand-off reason {reason!r}")
    existing = repo.open_ticket_for(session, sender_id)
    if existing is not None:
        return existing
    balance, dpd, debt_id = Decimal(0), 0, None
    if phone:
        try:
            debts = repo.active_debts(repo.get_debtor(session, phone))
        except repo.DebtorNotFound:
            debts = []
        balance = sum((Decimal(d.current_balance) for d in debts), Decimal(0))
        dpd = max((d.days_past_due for d in debts), default=0)
        debt_id = debts[0].id if debts else None
    now = clock.now()
    ticket = HandoffTicket(
        debtor_phone=phone,
        sender_id=sender_id,
        channel=channel,
        debt_id=debt_id,
        reason=reason,
        priority=priority(balance, dpd, reason),
        status="open",
        context=context,
        created_at=now,
    )
    session.add(ticket)
    session.flush()
    audit.record(
        session,
        now,
        "handoff_opened",
        phone,
        {"ticket": ticket.id, "reason": reason, "channel": channel},
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
