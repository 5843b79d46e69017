"""What the debtor tells us about their situation: hardship and discount requests. Both feed
the persona rules, so the persona is reassigned at once."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.db import audit
from cobranza.db import repository as repo
from cobranza.domain.vocabulary import AuditAction
from cobranza.personas.profiles import PersonaProfile
from cobranza.services import views


def _reassign(
    session: Session, phone: str, profiles: dict[str, PersonaProfile], clock: Clock
) -> str:
    debtor = repo.get_debtor(session, phone)
    debtor.persona = views.assign(session, debtor, profiles, clock).persona
    session.flush()
    return str(debtor.persona)


def declare_hardship(
    session: Session, phone: str, said: str, profiles: dict[str, PersonaProfile], clock: Clock
) -> str:
    """Record the hardship (first declaration kept) and return the persona now in force."""
    debtor = repo.get_debtor(session, phone)
    if debtor.hardship_declared_at is None:
        debtor.hardship_declared_at = clock.now()
        debtor.hardship_reason = (said or "")[:200]
    audit.record(session, clock.now(), AuditAction.HARDSHIP_DECLARED, phone)
    return _reassign(session, phone, profiles, clock)


def register_discount_request(
    session: Session, phone: str, profiles: dict[str, PersonaProfile], clock: Clock
) -> str:
    debtor = repo.get_debtor(session, phone)
    debtor.discount_requests = (debtor.discount_requests or 0) + 1
    debtor.last_discount_request_at = clock.now()
    audit.record(session, clock.now(), AuditAction.DISCOUNT_REQUESTED, phone)
    return _reassign(session, phone, profiles, clock)
