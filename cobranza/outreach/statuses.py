"""Meta's status callbacks settle outreach rows: ``sent`` → ``delivered`` → ``read`` only move
forward (callbacks can arrive out of order or twice); ``failed`` is final, with Meta's code.
A callback can also arrive before the dispatcher stored the ``wamid`` (Meta is fast, our commit
is not): the channel stores every callback in ``whatsapp_statuses`` first, and
:func:`apply_received` replays them when the wamid is written."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cobranza.db.models import OutreachMessage, WhatsAppStatus
from cobranza.domain.vocabulary import OutreachStatus

# How far along a message is; a callback never moves a row backwards.
PROGRESS = {
    OutreachStatus.SENT: 1,
    OutreachStatus.DELIVERED: 2,
    OutreachStatus.READ: 3,
}
CALLBACKS = {
    "sent": OutreachStatus.SENT,
    "delivered": OutreachStatus.DELIVERED,
    "read": OutreachStatus.READ,
}


def settle(
    row: OutreachMessage, status: str, occurred_at: datetime, error_code: int | None
) -> bool:
    """Apply one callback to its row; True when the row changed."""
    current = OutreachStatus(row.status)
    if current in (OutreachStatus.FAILED, OutreachStatus.DROPPED, OutreachStatus.PLANNED):
        return False  # final, or never sent (a stray callback)
    if status == "failed":
        row.status = OutreachStatus.FAILED
        row.status_reason = f"graph_{error_code}" if error_code is not None else "graph_failed"
        row.settled_at = occurred_at
        return True
    target = CALLBACKS.get(status)
    if target is None or PROGRESS.get(current, 0) >= PROGRESS[target]:
        return False
    row.status = target
    if target is not OutreachStatus.SENT:
        row.settled_at = occurred_at
    return True


def apply_callback(
    session: Session, wamid: str, status: str, occurred_at: datetime, error_code: int | None
) -> bool:
    """The row sent with this wamid, settled by one callback (False: not ours, or no change)."""
    row = session.execute(
        select(OutreachMessage).where(OutreachMessage.wamid == wamid)
    ).scalar_one_or_none()
    return row is not None and settle(row, status, occurred_at, error_code)


def apply_received(session: Session, row: OutreachMessage) -> None:
    """Callbacks stored before the row had its wamid, in the order they happened."""
    received = session.execute(
        select(WhatsAppStatus)
        .where(WhatsAppStatus.message_id == row.wamid)
        .order_by(WhatsAppStatus.occurred_at, WhatsAppStatus.id)
    ).scalars()
    for callback in received:
        settle(row, callback.status, callback.occurred_at, callback.error_code)
