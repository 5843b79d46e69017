"""Server-side identity verifications: the record that a conversation's sender gave the date
of birth on record for a number. Disclosure looks this record up (cobranza/compliance/), so a
tracker that merely *says* ``identidad_verificada: true`` discloses nothing.

A verification belongs to one conversation (the sender id on its channel) and one number; it
slides forward while the debtor keeps talking and ends with the Rasa session (a new session,
a wrong-number report or an opt-out end it earlier)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cobranza.db.models import IdentityVerification


def record(
    session: Session,
    conversation_id: str,
    channel: str,
    phone: str,
    now: datetime,
    ttl: timedelta,
    session_started_at: datetime | None = None,
) -> IdentityVerification:
    """Store a successful date-of-birth check; any earlier one of the conversation ends."""
    end(session, conversation_id, now)
    verification = IdentityVerification(
        conversation_id=conversation_id,
        channel=channel,
        phone=phone,
        session_started_at=session_started_at,
        verified_at=now,
        expires_at=now + ttl,
    )
    session.add(verification)
    session.flush()
    return verification


def current(session: Session, conversation_id: str, now: datetime) -> IdentityVerification | None:
    """The verification in force for this conversation, if any."""
    return session.execute(
        select(IdentityVerification)
        .where(
            IdentityVerification.conversation_id == conversation_id,
            IdentityVerification.ended_at.is_(None),
            IdentityVerification.expires_at > now,
        )
        .order_by(IdentityVerification.verified_at.desc(), IdentityVerification.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def verified_phone(session: Session, conversation_id: str, now: datetime) -> str | None:
    """The number whose date of birth was verified in this conversation, if still in force."""
    verification = current(session, conversation_id, now)
    return None if verification is None else str(verification.phone)


def extend(session: Session, verification_id: int, now: datetime, ttl: timedelta) -> None:
    """The debtor is still talking: the verification lasts as long as the session does."""
    until = now + ttl
    session.execute(
        update(IdentityVerification)
        .where(IdentityVerification.id == verification_id, IdentityVerification.expires_at < until)
        .values(expires_at=until)  # never earlier than it already was
    )


def end(session: Session, conversation_id: str, now: datetime) -> None:
    """End every verification of the conversation (new session, wrong number, opt-out)."""
    session.execute(
        update(IdentityVerification)
        .where(
            IdentityVerification.conversation_id == conversation_id,
            IdentityVerification.ended_at.is_(None),
        )
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
