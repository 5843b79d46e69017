"""A debtor disputes the debt: collection on it pauses until a person reviews it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cobranza.adapters.models import AuditLog
from cobranza.clock import Clock
from cobranza.promises import primary_debt


def open_dispute(session: Session, phone: str, said: str, clock: Clock) -> str:
    """Mark the debt disputed; returns its contract number."""
    debt = primary_debt(session, phone)
    debt.status = "disputed"
    session.add(
        AuditLog(
            occurred_at=clock.now(),
            actor="bot",
            action="dispute_opened",
            debtor_phone=phone,
            details={"debt_id": debt.id, "said": (said or "")[:500]},
        )
    )
    session.flush()
    return str(debt.contract_number)
