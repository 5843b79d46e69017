"""What a supervisor sees and does over the agents' work: every agent's claimed tickets and the
unclaimed queue (:func:`queues`), moving a ticket to another agent or back to the queue
(:func:`reassign`, :func:`release`, over the guarded updates of cobranza/services/tickets.py),
and one agent's recent actions from the audit log (:func:`activity`).

Tickets are shown as agents may read them (:func:`tickets.public`: nothing of an unverified
conversation's debtor). The activity names tickets, folios and outcomes, never a debtor's number.
Who may call these is the console's business (cobranza/console/routes.py declares a role for
every endpoint); the services trust their caller to have checked it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from cobranza.clock import Clock, local_today
from cobranza.db.models import Agent, AuditLog, HandoffTicket
from cobranza.domain.vocabulary import AuditAction, TicketStatus
from cobranza.errors import Conflict, NotFound, Rejected
from cobranza.services import tickets

# An agent's own steps, as the audit log names them (actor ``agent:<username>``)...
OWN_ACTIONS = (
    AuditAction.AGENT_LOGIN,
    AuditAction.TICKET_CLAIMED,
    AuditAction.AGENT_VIEWED_DEBTOR,
    AuditAction.AGENT_REPLY,
    AuditAction.AGENT_REPLY_BLOCKED,
    AuditAction.PROMISE_RECORDED,
    AuditAction.PROMISE_SUPERSEDED,
    AuditAction.AGREEMENT_RECORDED,
    AuditAction.TICKET_CLOSED,
    AuditAction.TICKET_REASSIGNED,
    AuditAction.TICKET_RELEASED,
)
# ...and what a supervisor did to the agent's tickets (``from`` or ``to`` the agent).
MOVES = (AuditAction.TICKET_REASSIGNED, AuditAction.TICKET_RELEASED)
# The details an activity entry may carry: no debtor's number, name or balance.
SHOWN_DETAILS = ("ticket", "outcome", "rule", "from", "to", "folio", "amount", "due_date")
MAX_PAGE = 100
DEFAULT_PAGE = 50
MAX_DAYS = 92
DEFAULT_DAYS = 7


class UnknownAgent(NotFound):
    """No account has this user name."""


class InactiveAgent(Rejected):
    """The account is disabled: it cannot be given a ticket."""


class SameAgent(Rejected):
    """The ticket already belongs to the agent it would be given to."""


class TicketMoved(Conflict):
    """The ticket is no longer as the supervisor saw it (claimed, moved or closed meanwhile)."""


class BadRange(Rejected):
    """An activity query outside the bounds (dates, page size); the message is in Spanish."""


def _account(session: Session, username: str) -> Agent:
    agent = session.execute(select(Agent).where(Agent.username == username)).scalar_one_or_none()
    if agent is None:
        raise UnknownAgent(username)
    return agent


def _day_start(day: date, time_zone: str) -> datetime:
    """The instant (UTC) a local day begins."""
    return datetime.combine(day, time(0), ZoneInfo(time_zone)).astimezone(timezone.utc)


# --- every agent's queue ------------------------------------------------------------------------


def queues(session: Session, clock: Clock, time_zone: str) -> dict[str, Any]:
    """The unclaimed tickets and, for every active account (and any other name holding a
    ticket, e.g. a disabled agent), its claimed tickets and its counts: ``claimed`` now and
    ``closed_today`` (closed since local midnight in ``time_zone``). Queue order throughout."""
    now = clock.now()
    listed = tickets.queue(session, now)
    held: dict[str, list[dict[str, Any]]] = {}
    for ticket in listed:
        if ticket["status"] == TicketStatus.CLAIMED:
            held.setdefault(str(ticket["claimed_by"]), []).append(ticket)
    closed = _closed_since(session, _day_start(local_today(clock, time_zone), time_zone))
    accounts = {a.username: a for a in session.execute(select(Agent)).scalars()}
    names = sorted({n for n, a in accounts.items() if a.active} | set(held))
    return {
        "unclaimed": [t for t in listed if t["status"] == TicketStatus.OPEN],
        "agents": [_agent_queue(n, accounts.get(n), held.get(n, []), closed[n]) for n in names],
    }


def _closed_since(session: Session, since: datetime) -> Counter[str]:
    rows = session.execute(
        select(HandoffTicket.claimed_by, func.count())
        .where(
            HandoffTicket.status == TicketStatus.CLOSED,
            HandoffTicket.closed_at >= since,
            HandoffTicket.claimed_by.is_not(None),
        )
        .group_by(HandoffTicket.claimed_by)
    ).all()
    return Counter({str(name): int(count) for name, count in rows})


def _agent_queue(
    username: str, account: Agent | None, held: list[dict[str, Any]], closed_today: int
) -> dict[str, Any]:
    return {
        "username": username,
        "display_name": str(account.display_name) if account else username,
        "role": str(account.role) if account else None,
        "active": bool(account.active) if account else False,
        "counts": {"claimed": len(held), "closed_today": closed_today},
        "tickets": held,
    }


# --- moving a ticket ------------------------------------------------------------------------------


def reassign(
    session: Session, ticket_id: int, holder: str | None, to: str, supervisor: str, clock: Clock
) -> None:
    """Give the ticket to the active account ``to``, if it is still held by ``holder`` (``None``:
    still unclaimed). Raises :class:`SameAgent`, :class:`UnknownAgent`, :class:`InactiveAgent`,
    :class:`TicketMoved` (someone else won the race), or ``tickets.TicketError`` (no ticket).
    The guarded update comes first; why it lost is read after it."""
    if holder == to:
        raise SameAgent(to)
    if tickets.reassign(session, ticket_id, holder, to, supervisor, clock):
        return
    if not _account(session, to).active:
        raise InactiveAgent(to)
    raise TicketMoved(ticket_id)


def release(session: Session, ticket_id: int, holder: str, supervisor: str, clock: Clock) -> None:
    """Back to the queue, if ``holder`` still has it; raises :class:`TicketMoved` otherwise."""
    if not tickets.release(session, ticket_id, holder, supervisor, clock):
        raise TicketMoved(ticket_id)


# --- one agent's activity -----------------------------------------------------------------------


@dataclass(frozen=True)
class ActivityQuery:
    """Local days ``first``..``last`` (inclusive) in ``time_zone``, newest first, ``limit`` per
    page; ``before``: the ``next`` of the previous page (an audit row id)."""

    username: str
    first: date
    last: date
    time_zone: str
    limit: int = DEFAULT_PAGE
    before: int | None = None

    def check(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise BadRange(f"El tamaño de página va de 1 a {MAX_PAGE}.")
        if self.last < self.first:
            raise BadRange("La fecha final es anterior a la inicial.")
        if (self.last - self.first).days >= MAX_DAYS:
            raise BadRange(f"El periodo puede abarcar hasta {MAX_DAYS} días.")
        if self.before is not None and self.before < 1:
            raise BadRange("La página pedida no existe.")


def period(
    clock: Clock, time_zone: str, first: date | None, last: date | None
) -> tuple[date, date]:
    """The days asked for; by default up to today (local) and :data:`DEFAULT_DAYS` long."""
    last = last or local_today(clock, time_zone)
    return first or last - timedelta(days=DEFAULT_DAYS - 1), last


def activity(session: Session, query: ActivityQuery) -> dict[str, Any]:
    """The agent's own steps (:data:`OWN_ACTIONS`) and the supervisors' moves of its tickets,
    newest first: ``{"agent", "entries", "next"}``; ``next`` is the ``before`` of the following
    page, ``None`` on the last. Raises :class:`UnknownAgent` and :class:`BadRange`."""
    query.check()
    agent = _account(session, query.username)
    mine = and_(
        AuditLog.actor == f"agent:{agent.username}",
        AuditLog.action.in_([a.value for a in OWN_ACTIONS]),
    )
    about = and_(
        AuditLog.action.in_([a.value for a in MOVES]),
        or_(
            AuditLog.details["from"].as_string() == agent.username,
            AuditLog.details["to"].as_string() == agent.username,
        ),
    )
    conditions = [
        or_(mine, about),
        AuditLog.occurred_at >= _day_start(query.first, query.time_zone),
        AuditLog.occurred_at < _day_start(query.last + timedelta(days=1), query.time_zone),
    ]
    if query.before is not None:
        conditions.append(AuditLog.id < query.before)
    rows = (
        session.execute(
            select(AuditLog).where(*conditions).order_by(AuditLog.id.desc()).limit(query.limit + 1)
        )
        .scalars()
        .all()
    )
    page = rows[: query.limit]
    return {
        "agent": {"username": agent.username, "display_name": agent.display_name},
        "entries": [_entry(row) for row in page],
        "next": int(page[-1].id) if len(rows) > query.limit else None,
    }


def _entry(row: AuditLog) -> dict[str, Any]:
    actor = str(row.actor)
    details = row.details or {}
    return {
        "id": int(row.id),
        "at": row.occurred_at.isoformat(),
        "action": str(row.action),
        "by": actor.removeprefix("agent:"),
        **{key: details[key] for key in SHOWN_DETAILS if key in details},
    }
