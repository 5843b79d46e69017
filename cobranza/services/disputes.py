"""A debtor disputes the debt: collection on it pauses until a person reviews it."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.db import audit
from cobranza.domain.vocabulary import AuditAction, DebtStatus
from cobranza.services.promises import primary_debt


def open_dispute(session: Session, phone: str, said: str, clock: Clock) -> str:
    """Mark the debt disputed; returns its contract number."""
    debt = primary_debt(session, phone)
    debt.status = DebtStatus.DISPUTED
    audit.record(
        session,
        clock.now(),
        AuditAction.DISPUTE_OPENED,
        phone,
        {"debt_id": debt.id, "said": (said or "")[:500]},
    )
    session.flush()
    return str(debt.contract_number)
