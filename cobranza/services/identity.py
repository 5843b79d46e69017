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

from sqlalchemy import select
from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.db import audit, verifications
from cobranza.db import repository as repo
from cobranza.db.models import IdentityAttempt
from cobranza.db.vocabulary import AuditAction

MAX_ATTEMPTS = 3
LOCK_HOURS = 24
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


def _failures_since_success(session: Session, where: object, since: datetime) -> list[datetime]:
    rows = session.execute(
        select(IdentityAttempt.succeeded, IdentityAttempt.attempted_at)
        .where(where, IdentityAttempt.attempted_at >= since)
        .order_by(IdentityAttempt.attempted_at, IdentityAttempt.id)
    ).all()
    failures: list[datetime] = []
    for succeeded, attempted_at in rows:
        failures = [] if succeeded else [*failures, attempted_at]
    return failures


def _status(failures: list[datetime]) -> VerificationResult:
    if len(failures) >= MAX_ATTEMPTS:
        return VerificationResult(
            False, 0, failures[MAX_ATTEMPTS - 1] + timedelta(hours=LOCK_HOURS)
        )
    return VerificationResult(False, MAX_ATTEMPTS - len(failures), None)


def lock_status(
    session: Session, phone: str | None, clock: Clock, conversation_id: str | None = None
) -> VerificationResult:
    """Locked if the number (failures from proven channels) or the conversation (any failure)
    has failed three times since its last success in the last 24 h; otherwise the attempts
    left, the fewer of the two."""
    since = clock.now() - timedelta(hours=LOCK_HOURS)
    results = []
    if phone:
        where = (IdentityAttempt.phone == phone) & IdentityAttempt.proven.is_(True)
        results.append(_status(_failures_since_success(session, where, since)))
    if conversation_id:
        where = IdentityAttempt.conversation_id == conversation_id
        results.append(_status(_failures_since_success(session, where, since)))
    locked = [r for r in results if r.locked]
    if locked:
        return max(locked, key=lambda r: r.locked_until or since)
    return min(results, key=lambda r: r.attempts_left, default=_status([]))


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
