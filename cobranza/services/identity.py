"""Identity before disclosure: the debtor confirms the date of birth on record.

Every answer is an :class:`IdentityAttempt`. Three failures within 24 hours lock the
*conversation* until 24 hours after the third; they lock the *number* too only when the channel
proves the sender holds it (WhatsApp, Twilio), so a stranger typing a debtor's number on the
web chat can fail as often as they like without locking the debtor out. A success is recorded
server-side (cobranza/db/verifications.py): that record, not a slot, opens disclosure.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.compliance import facts, rules
from cobranza.compliance.rules import LOCK_HOURS, MAX_ATTEMPTS
from cobranza.db import audit, verifications
from cobranza.db import repository as repo
from cobranza.db.models import IdentityAttempt
from cobranza.domain.vocabulary import AuditAction

__all__ = [
    "FAILED",
    "LOCK_HOURS",
    "MAX_ATTEMPTS",
    "PROVEN_CHANNELS",
    "VERIFIED",
    "VerificationResult",
    "lock_status",
    "verify_birth_date",
]

FAILED = AuditAction.IDENTITY_FAILED
VERIFIED = AuditAction.IDENTITY_VERIFIED
# Channels (as the actions name them) whose sender id is a number the sender proved to hold.
PROVEN_CHANNELS = frozenset({"whatsapp"})


@dataclass(frozen=True)
class VerificationResult:
    verified: bool
    attempts_left: int
    locked_until: datetime | None

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


def lock_status(
    session: Session, phone: str | None, clock: Clock, conversation_id: str | None = None
) -> VerificationResult:
    """Locked if the number (failures from proven channels) or the conversation (any failure)
    has failed three times since its last success in the last 24 h; otherwise the attempts
    left, the fewer of the two. The rule is the compliance core's
    (:func:`cobranza.compliance.rules.identity_lock`), so disclosure and verification agree."""
    now = clock.now()
    lock = rules.identity_lock(facts.identity(session, phone, conversation_id, now), now)
    return VerificationResult(False, lock.attempts_left, lock.locked_until)


def verify_birth_date(
    session: Session,
    phone: str,
    claimed: date | None,
    clock: Clock,
    *,
    conversation_id: str,
    channel: str,
    ttl: timedelta,
    session_started_at: datetime | None = None,
) -> VerificationResult:
    """Check a claimed birth date (None: unreadable answer, counts as a failure). A success
    is stored as the conversation's verification, in force for ``ttl`` after the last turn."""
    status = lock_status(session, phone, clock, conversation_id)
    if status.locked:
        return status
    try:
        on_record: date | None = repo.get_debtor(session, phone).date_of_birth
    except repo.DebtorNotFound:  # a number typed on the web chat: fails like a wrong date
        on_record = None
    ok = claimed is not None and claimed == on_record
    now = clock.now()
    proven = channel in PROVEN_CHANNELS
    session.add(
        IdentityAttempt(
            conversation_id=conversation_id,
            channel=channel,
            phone=phone,
            proven=proven,
            succeeded=ok,
            attempted_at=now,
        )
    )
    details = {"channel": channel, "proven_number": proven}
    audit.record(session, now, VERIFIED if ok else FAILED, phone, details)
    session.flush()
    if ok:
        verifications.record(session, conversation_id, channel, phone, now, ttl, session_started_at)
        return VerificationResult(True, MAX_ATTEMPTS, None)
    return lock_status(session, phone, clock, conversation_id)
