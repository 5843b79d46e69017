"""The audit log: one call records who did what, to whom, when and with which details."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cobranza.db.models import AuditLog


def record(
    session: Session,
    at: datetime,
    action: str,
    phone: str | None,
    details: dict[str, Any] | None = None,
    actor: str = "bot",
) -> None:
    session.add(
        AuditLog(
            occurred_at=at, actor=actor, action=action, debtor_phone=phone, details=details or {}
        )
    )
