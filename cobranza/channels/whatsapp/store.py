"""The channel's rows in our database: the inbox (``whatsapp_inbound``: pending → done or
failed, the message id de-duplicating deliveries across restarts), what was sent
(``whatsapp_outbound``) and Meta's status callbacks (``whatsapp_status``).

Used from worker threads: the Sanic loop never blocks on the database. The sessions and the
clock come from the process's :class:`cobranza.bootstrap.App` (:meth:`WhatsAppStore.from_app`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.bootstrap import App
from cobranza.channels.whatsapp.config import PENDING, PENDING_BATCH
from cobranza.channels.whatsapp.parse import Inbound, StatusUpdate
from cobranza.clock import Clock
from cobranza.db.models import WhatsAppInbound, WhatsAppOutbound, WhatsAppStatus
from cobranza.domain.phones import InvalidPhone, normalize_phone
from cobranza.outreach import replies, statuses


def debtor_phone(wa_id: str) -> str | None:
    """The E.164 number behind a WhatsApp id, or None when it is no Mexican number."""
    try:
        return normalize_phone(wa_id)
    except InvalidPhone:
        return None


class WhatsAppStore:
    """Our database, used from worker threads (the Sanic loop never blocks on it). ``clock``
    stamps every row this store writes (received, processed, sent)."""

    def __init__(self, sessions: sessionmaker, clock: Clock) -> None:
        self._sessions = sessions
        self.clock = clock

    @classmethod
    def from_app(cls, app: App) -> WhatsAppStore:
        """The store on the process's engine and clock."""
        return cls(app.sessions, app.clock)

    def _accept(self, message: Inbound, now: datetime) -> bool:
        try:
            with db.session_scope(self._sessions) as session:
                session.add(
                    WhatsAppInbound(
                        message_id=message.message_id,
                        wa_id=message.wa_id,
                        message_type=message.message_type,
                        sent_at=message.sent_at,
                        received_at=now,
                        body=message.text,
                        polite_kind=message.kind or None,
                        status=PENDING,
                    )
                )
                session.flush()  # a duplicate delivery fails here, before the reply counts
                phone = debtor_phone(message.wa_id)
                if phone is not None:
                    replies.record_reply(session, phone, message.sent_at)
        except IntegrityError:
            return False
        return True

    async def accept(self, message: Inbound) -> bool:
        """Store the message as pending (committed when this returns). True the first time a
        message id is seen, False for a duplicate delivery."""
        return await asyncio.to_thread(self._accept, message, self.clock.now())

    @staticmethod
    def _inbound(row: WhatsAppInbound) -> Inbound:
        return Inbound(
            row.message_id,
            row.wa_id,
            row.message_type,
            row.sent_at,
            row.body,
            row.polite_kind or "",
        )

    def _pending(self, wa_id: str) -> list[Inbound]:
        with db.session_scope(self._sessions) as session:
            rows = session.execute(
                select(WhatsAppInbound)
                .where(WhatsAppInbound.status == PENDING, WhatsAppInbound.wa_id == wa_id)
                .order_by(
                    WhatsAppInbound.sent_at,
                    WhatsAppInbound.received_at,
                    WhatsAppInbound.message_id,
                )
                .limit(PENDING_BATCH)
            ).scalars()
            return [self._inbound(row) for row in rows]

    async def pending(self, wa_id: str) -> list[Inbound]:
        """The sender's pending messages, oldest first (the order the debtor wrote them)."""
        return await asyncio.to_thread(self._pending, wa_id)

    def _pending_senders(self) -> dict[str, list[str]]:
        senders: dict[str, list[str]] = {}
        with db.session_scope(self._sessions) as session:
            rows = session.execute(
                select(WhatsAppInbound.wa_id, WhatsAppInbound.message_id)
                .where(WhatsAppInbound.status == PENDING)
                .order_by(
                    WhatsAppInbound.wa_id,
                    WhatsAppInbound.sent_at,
                    WhatsAppInbound.received_at,
                    WhatsAppInbound.message_id,
                )
            )
            for wa_id, message_id in rows:
                senders.setdefault(wa_id, []).append(message_id)
        return senders

    async def pending_senders(self) -> dict[str, list[str]]:
        """Every pending message id, by sender: what a crash left behind."""
        return await asyncio.to_thread(self._pending_senders)

    def _finish(self, message_id: str, status: str, reason: str | None, now: datetime) -> bool:
        with db.session_scope(self._sessions) as session:
            result = session.execute(
                update_rows(WhatsAppInbound)
                .where(WhatsAppInbound.message_id == message_id, WhatsAppInbound.status == PENDING)
                .values(status=status, status_reason=reason, processed_at=now, body=None)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)

    async def finish(self, message_id: str, status: str, reason: str | None = None) -> bool:
        """Mark a pending message done or failed, and forget its text (the conversation keeps
        what it needs). Only a pending row changes, so it is marked once: False otherwise."""
        return await asyncio.to_thread(self._finish, message_id, status, reason, self.clock.now())

    def _last_inbound(self, wa_id: str) -> datetime | None:
        with db.session_scope(self._sessions) as session:
            value: datetime | None = session.execute(
                select(func.max(WhatsAppInbound.sent_at)).where(WhatsAppInbound.wa_id == wa_id)
            ).scalar_one()
            return value

    async def last_inbound(self, wa_id: str) -> datetime | None:
        return await asyncio.to_thread(self._last_inbound, wa_id)

    def _sent(self, message_id: str, wa_id: str, kind: str, now: datetime) -> None:
        with db.session_scope(self._sessions) as session:
            session.merge(
                WhatsAppOutbound(message_id=message_id, wa_id=wa_id, kind=kind, sent_at=now)
            )

    async def sent(self, message_id: str, wa_id: str, kind: str) -> None:
        await asyncio.to_thread(self._sent, message_id, wa_id, kind, self.clock.now())

    def _statuses(self, updates: list[StatusUpdate]) -> None:
        """Store each callback, and settle the outreach row it is about (if it is one)."""
        for update in updates:
            try:
                with db.session_scope(self._sessions) as session:
                    session.add(
                        WhatsAppStatus(
                            message_id=update.message_id,
                            wa_id=update.wa_id,
                            status=update.status[:16],
                            occurred_at=update.occurred_at,
                            error_code=update.error_code,
                            error_title=update.error_title,
                        )
                    )
                    session.flush()  # the same status delivered twice fails here
                    statuses.apply_callback(
                        session,
                        update.message_id,
                        update.status,
                        update.occurred_at,
                        update.error_code,
                    )
            except IntegrityError:
                continue

    async def statuses(self, updates: list[StatusUpdate]) -> None:
        if updates:
            await asyncio.to_thread(self._statuses, updates)
