"""The audit log: one call records who did what, to whom, when and with which details."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cobranza.db.models import AuditLog
from cobranza.domain.vocabulary import AuditAction


def record(
    session: Session,
    at: datetime,
    action: AuditAction | str,
    phone: str | None,
    details: dict[str, Any] | None = None,
    actor: str = "bot",
) -> None:
    """``action`` is an :class:`AuditAction`; a plain string is accepted only when it is one of
    their values (an unknown action raises ``ValueError``, so the list stays complete). The row
    stores the plain value."""
    code = AuditAction(action).value
    session.add(
        AuditLog(
            occurred_at=at, actor=actor, action=code, debtor_phone=phone, details=details or {}
        )
    )


# Who writes the ``simulation_started`` row that marks a database ``cobranza simulate`` made.
SIMULATION_ACTOR = "simulacion"


def simulated_database(session: Session) -> bool:
    """Did ``cobranza simulate`` create its run in this database? It only runs on an empty one
    and marks it with a ``simulation_started`` audit row: every number in it is simulated."""
    return recorded(session, AuditAction.SIMULATION_STARTED, SIMULATION_ACTOR)


def recorded(session: Session, action: AuditAction, actor: str) -> bool:
    """Is there any ``action`` row by ``actor``? (Read through the actor's index: the audit log
    has no index on the action alone.)"""
    found = select(AuditLog.id).where(AuditLog.actor == actor, AuditLog.action == action.value)
    return session.execute(found.limit(1)).first() is not None
