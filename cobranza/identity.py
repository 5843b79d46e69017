"""Identity before disclosure: the debtor confirms the date of birth on record.

Failed attempts are kept in the audit log, so the lock survives a new session or a restart:
three failures within 24 hours lock disclosure until 24 hours after the third one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cobranza import audit
from cobranza.adapters import repository as repo
from cobranza.adapters.models import AuditLog
from cobranza.clock import Clock

MAX_ATTEMPTS = 3
LOCK_HOURS = 24
FAILED = "identity_failed"
VERIFIED = "identity_verified"


@dataclass(frozen=True)
class VerificationResult:
    verified: bool
    attempts_left: int
    locked_until: datetime | None

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


def lock_status(session: Session, phone: str, clock: Clock) -> VerificationResult:
    """Failures since the last success in the last 24 h decide the lock."""
    now = clock.now()
    since = now - timedelta(hours=LOCK_HOURS)
    rows = session.execute(
        select(AuditLog.action, AuditLog.occurred_at)
        .where(
            AuditLog.debtor_phone == phone,
            AuditLog.action.in_((FAILED, VERIFIED)),
            AuditLog.occurred_at >= since,
        )
        .order_by(AuditLog.occurred_at, AuditLog.id)
    ).all()
    failures: list[datetime] = []
    for action, occurred_at in rows:
        failures = [] if action == VERIFIED else [*failures, occurred_at]
    if len(failures) >= MAX_ATTEMPTS:
        return VerificationResult(
            False, 0, failures[MAX_ATTEMPTS - 1] + timedelta(hours=LOCK_HOURS)
        )
    return VerificationResult(False, MAX_ATTEMPTS - len(failures), None)


def verify_birth_date(
    session: Session, phone: str, claimed: date | None, clock: Clock, channel: str
) -> VerificationResult:
    """Check a claimed birth date (None: unreadable answer, counts as a failure)."""
    status = lock_status(session, phone, clock)
    if status.locked:
        return status
    try:
        on_record: date | None = repo.get_debtor(session, phone).date_of_birth
    except repo.DebtorNotFound:  # a number typed on the web chat: fails like a wrong date
        on_record = None
    ok = claimed is not None and claimed == on_record
    audit.record(session, clock.now(), VERIFIED if ok else FAILED, phone, {"channel": channel})
    session.flush()
    if ok:
        return VerificationResult(True, MAX_ATTEMPTS, None)
    return lock_status(session, phone, clock)
