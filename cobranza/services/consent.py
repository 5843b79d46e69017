"""Consent and opt-out, and numbers that must never be contacted again (wrong number)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.db import audit
from cobranza.db.models import Consent, ContactBlock
from cobranza.domain.vocabulary import AuditAction, ConsentStatus

# Channels a revocation covers: opting out anywhere stops contact everywhere.
CONTACT_CHANNELS = ("whatsapp", "sms", "voice", "email", "webchat")


def revoke_consent(session: Session, phone: str, source: str, clock: Clock) -> None:
    now = clock.now()
    for channel in CONTACT_CHANNELS:
        session.add(
            Consent(
                debtor_phone=phone,
                channel=channel,
                status=ConsentStatus.REVOKED,
                source=source,
                recorded_at=now,
            )
        )
    audit.record(session, now, AuditAction.CONSENT_REVOKED, phone, {"source": source})
    session.flush()


def block_number(
    session: Session, phone: str, debtor_phone: str | None, reason: str, source: str, clock: Clock
) -> None:
    now = clock.now()
    session.add(
        ContactBlock(
            phone=phone, debtor_phone=debtor_phone, reason=reason, source=source, created_at=now
        )
    )
    audit.record(
        session, now, AuditAction.NUMBER_BLOCKED, debtor_phone, {"reason": reason, "source": source}
    )
    session.flush()


def grant_consent(
    session: Session, phone: str, channel: str, source: str, notice_url: str, clock: Clock
) -> None:
    """Consent given in conversation after the simplified privacy notice was shown: stored
    with its source, time and the notice it refers to (append-only, latest record wins)."""
    now = clock.now()
    session.add(
        Consent(
            debtor_phone=phone,
            channel=channel,
            status=ConsentStatus.GRANTED,
            source=source,
            recorded_at=now,
        )
    )
    audit.record(
        session,
        now,
        AuditAction.CONSENT_GRANTED,
        phone,
        {"channel": channel, "source": source, "privacy_notice": notice_url},
    )
    session.flush()


def list_blocks(session: Session, phone: str | None = None) -> list[ContactBlock]:
    """Blocked numbers (wrong number, third party), newest first; one number's if given."""
    query = select(ContactBlock).order_by(ContactBlock.created_at.desc(), ContactBlock.id.desc())
    if phone:
        query = query.where(ContactBlock.phone == phone)
    return list(session.execute(query).scalars())


def remove_blocks(session: Session, phone: str, reason: str, actor: str, clock: Clock) -> int:
    """Undo the blocks of a number (a report that turned out false), with the reason and who
    did it in the audit log. Returns how many were removed."""
    if not reason.strip():
        raise ValueError("a reason is required to remove a block")
    blocks = list_blocks(session, phone)
    if not blocks:
        return 0
    for block in blocks:
        session.delete(block)
    audit.record(
        session,
        clock.now(),
        AuditAction.NUMBER_UNBLOCKED,
        phone,
        {"removed": len(blocks), "reason": reason.strip()},
        actor=actor,
    )
    session.flush()
    return len(blocks)
