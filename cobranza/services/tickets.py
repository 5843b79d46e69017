"""The hand-off queue as agents work it: list, claim (one agent per ticket, atomically), close
with an outcome, or hand the conversation back to the assistant. Every step is audited with the
agent's name. Used by the console and by the JSON API for helpdesks.

A ticket names the number its conversation is about, but only a date of birth verified *in
that conversation* (cobranza/db/verifications.py) makes it the debtor's: until then an agent sees
the claimed number marked unverified and nothing of the debtor's file (:func:`public`).

A supervisor can also give a ticket to another agent (:func:`reassign`) or put it back in the
queue (:func:`release`). Like :func:`claim` and :func:`close`, each is one conditional UPDATE
guarded on the holder its caller saw, so a claim, a close, a reassignment and a release racing
for one ticket leave exactly one winner; nothing is written for the others.

The queue is ordered by priority, then by the debtor's expected recovery (the current score's
probability × open balance, cobranza/services/scores.py), highest first, then by age. Only a
verified ticket's debtor counts as scored: an unverified conversation may have typed someone
else's number, and must neither jump the queue with that debtor's score nor show it. A ticket
with no score (unverified, no debtor, or a debtor not scored yet) comes after the scored ones of
its priority. A verified ticket shows its debtor's band and expected recovery (``score``), part
of the file agents may read; never the reasons."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cobranza.clock import Clock
from cobranza.db import audit, verifications
from cobranza.db.models import Agent, HandoffTicket
from cobranza.domain.money import format_mxn
from cobranza.domain.vocabulary import AuditAction, TicketOutcome, TicketStatus
from cobranza.errors import Conflict
from cobranza.services.scores import latest_scores

OUTCOMES = TicketOutcome.values()


# Parts of a ticket's context that belong to the debtor's file (older tickets kept the persona).
FILE_KEYS = ("persona", "balance", "balance_text", "days_past_due", "promises")


class TicketError(Conflict):
    """The ticket does not exist or is not in a state that allows the step."""


def verified(session: Session, ticket: HandoffTicket, now: datetime) -> bool:
    """True while the ticket's conversation holds a verification for the ticket's debtor. A
    verification for another number, an expired or ended one, or none: False."""
    if not ticket.debtor_phone:
        return False
    return verifications.verified_phone(session, ticket.sender_id, now) == ticket.debtor_phone


def public(described: dict[str, Any]) -> dict[str, Any]:
    """What an agent may read of a ticket: without a verification, the number only as claimed,
    and no part of the debtor's file."""
    if described["verified"]:
        return described
    context = {k: v for k, v in (described["context"] or {}).items() if k not in FILE_KEYS}
    hidden = {**described, "debtor_phone": None, "context": context}
    if "score" in hidden:
        hidden["score"] = None
    return hidden


def _no_horizon(model_id: str) -> int | None:
    return None


def queue(
    session: Session, now: datetime, horizon_days: Callable[[str], int | None] = _no_horizon
) -> list[dict[str, Any]]:
    """Open and claimed tickets, as agents may read them: highest priority first, then the
    highest expected recovery of a verified ticket's debtor (unscored after), then the oldest.
    Each carries ``score``: ``{band, expected_recovery, expected_recovery_text, horizon_days}``
    for a verified ticket whose debtor has a current score, else ``None``; ``horizon_days``
    (the days within which the score predicts payment, from its model's card) is what
    ``horizon_days`` says for the score's model (this layer does not read model cards)."""
    tickets = (
        session.execute(
            select(HandoffTicket)
            .where(HandoffTicket.status != TicketStatus.CLOSED)
            .order_by(HandoffTicket.priority.desc(), HandoffTicket.created_at, HandoffTicket.id)
        )
        .scalars()
        .all()
    )
    checked = [(t, verified(session, t, now)) for t in tickets]
    phones = {t.debtor_phone for t, is_verified in checked if is_verified and t.debtor_phone}
    current = latest_scores(session, phones, on=now.date()) if phones else {}
    entries = []
    for ticket, is_verified in checked:
        found = current.get(ticket.debtor_phone or "") if is_verified else None
        described = describe(ticket, now, is_verified)
        described["score"] = (
            {
                "band": found.band,
                "expected_recovery": str(found.expected_recovery),
                "expected_recovery_text": format_mxn(found.expected_recovery),
                "horizon_days": horizon_days(found.model_id),
            }
            if found is not None
            else None
        )
        recovery = found.expected_recovery if found is not None else None
        entries.append((ticket, recovery, public(described)))
    # Stable sort on top of the query's order (priority, age, id): within a priority, the
    # scored tickets by expected recovery, highest first, then the unscored ones.
    entries.sort(key=lambda e: (-e[0].priority, e[1] is None, -(e[1] or Decimal(0))))
    return [entry for _, _, entry in entries]


def describe(ticket: HandoffTicket, now: datetime, is_verified: bool = False) -> dict[str, Any]:
    """The whole ticket, for the console's own use; agents get :func:`public` of it."""
    context = dict(ticket.context or {})
    return {
        "id": ticket.id,
        "status": ticket.status,
        "reason": ticket.reason,
        "priority": ticket.priority,
        "channel": ticket.channel,
        "sender_id": ticket.sender_id,
        "debtor_phone": ticket.debtor_phone,
        "claimed_phone": ticket.debtor_phone or context.get("claimed_phone"),
        "verified": is_verified,
        "created_at": ticket.created_at.isoformat(),
        "waiting_minutes": int((now - ticket.created_at).total_seconds() // 60),
        "claimed_by": ticket.claimed_by,
        "context": context,
    }


def _get(session: Session, ticket_id: int) -> HandoffTicket:
    ticket = session.get(HandoffTicket, ticket_id)
    if ticket is None:
        raise TicketError(f"no existe el ticket {ticket_id}")
    return ticket


def claim(session: Session, ticket_id: int, agent: str, clock: Clock) -> bool:
    """True for exactly one agent: a single conditional UPDATE decides, in the database."""
    now = clock.now()
    won = session.execute(
        update(HandoffTicket)
        .where(HandoffTicket.id == ticket_id, HandoffTicket.status == TicketStatus.OPEN)
        .values(status=TicketStatus.CLAIMED, claimed_by=agent, claimed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    if won != 1:
        _get(session, ticket_id)  # raises when it does not exist
        return False
    ticket = _get(session, ticket_id)
    session.refresh(ticket)
    audit.record(
        session,
        now,
        AuditAction.TICKET_CLAIMED,
        ticket.debtor_phone,
        {"ticket": ticket_id},
        f"agent:{agent}",
    )
    return True


def _held_by(holder: str | None) -> ColumnElement[Any]:
    """The guard of a move: the ticket is still as its mover saw it, unclaimed (``None``) or
    claimed by ``holder``."""
    if holder is None:
        return HandoffTicket.status == TicketStatus.OPEN
    return and_(HandoffTicket.status == TicketStatus.CLAIMED, HandoffTicket.claimed_by == holder)


def _guarded(
    session: Session, ticket_id: int, guards: list[ColumnElement[Any]], values: dict[str, Any]
) -> HandoffTicket | None:
    """One conditional UPDATE, the transaction's first statement (so SQLite takes its write
    lock before reading anything a concurrent writer could change): the ticket when it won,
    None when the guards no longer held. Raises :class:`TicketError` for an unknown ticket."""
    won = session.execute(
        update(HandoffTicket)
        .where(HandoffTicket.id == ticket_id, *guards)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    ticket = _get(session, ticket_id)
    if won != 1:
        return None
    session.refresh(ticket)
    return ticket


def _move(
    session: Session,
    ticket_id: int,
    holder: str | None,
    to: str | None,
    action: AuditAction,
    supervisor: str,
    clock: Clock,
) -> bool:
    """From ``holder`` to the active account ``to`` (``None``: back to the queue), audited with
    the supervisor as actor when it wins."""
    now = clock.now()
    guards = [_held_by(holder)]
    if to is None:
        values: dict[str, Any] = {
            "status": TicketStatus.OPEN,
            "claimed_by": None,
            "claimed_at": None,
        }
    else:
        guards.append(exists().where(Agent.username == to, Agent.active.is_(True)))
        values = {"status": TicketStatus.CLAIMED, "claimed_by": to, "claimed_at": now}
    ticket = _guarded(session, ticket_id, guards, values)
    if ticket is None:
        return False
    details = {"ticket": ticket_id, "from": holder, "to": to}
    audit.record(session, now, action, ticket.debtor_phone, details, f"agent:{supervisor}")
    return True


def reassign(
    session: Session, ticket_id: int, holder: str | None, to: str, supervisor: str, clock: Clock
) -> bool:
    """Give the ticket to the active account ``to`` if it is still held by ``holder`` (``None``:
    still unclaimed). True for the one request that wins; False when the ticket moved meanwhile
    or ``to`` is no active account."""
    return _move(session, ticket_id, holder, to, AuditAction.TICKET_REASSIGNED, supervisor, clock)


def release(session: Session, ticket_id: int, holder: str, supervisor: str, clock: Clock) -> bool:
    """Put the ticket back in the queue, unclaimed, if ``holder`` still has it."""
    return _move(session, ticket_id, holder, None, AuditAction.TICKET_RELEASED, supervisor, clock)


def close(session: Session, ticket_id: int, agent: str, outcome: str, clock: Clock) -> None:
    """Close the agent's ticket with an outcome: guarded on the agent still holding it, so a
    supervisor's move at the same instant and the close cannot both win."""
    if outcome not in OUTCOMES:
        raise TicketError(f"resultado desconocido {outcome!r}; use uno de {', '.join(OUTCOMES)}")
    now = clock.now()
    values = {"status": TicketStatus.CLOSED, "outcome": outcome, "closed_at": now}
    ticket = _guarded(session, ticket_id, [_held_by(agent)], values)
    if ticket is None:
        raise TicketError(f"el ticket {ticket_id} no está asignado a {agent}")
    audit.record(
        session,
        now,
        AuditAction.TICKET_CLOSED,
        ticket.debtor_phone,
        {"ticket": ticket_id, "outcome": outcome},
        f"agent:{agent}",
    )
    session.flush()


def hand_back(session: Session, ticket_id: int, agent: str, clock: Clock) -> HandoffTicket:
    """Close the ticket as returned to the assistant; the caller resumes the conversation."""
    close(session, ticket_id, agent, TicketOutcome.DEVUELTO_AL_ASISTENTE, clock)
    return _get(session, ticket_id)
