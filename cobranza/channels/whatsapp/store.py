"""The channel's rows in our database: the inbox (``whatsapp_inbound``: pending → done or
failed, the message id de-duplicating deliveries across restarts), what was sent
(``whatsapp_outbound``), Meta's status callbacks (``whatsapp_status``), and what lets several
Rasa replicas share one database:

* ``conversation_leases``: one row per sender a replica is answering (holder, expires_at). Only
  the holder runs that sender's turns, so two replicas never answer one sender at once. Rasa's
  own lock stores cannot do this: the in-memory one locks within one process, and the Redis one
  has no fencing across replicas; the database every replica already shares can. A lease is
  taken by one statement (``INSERT … ON CONFLICT (wa_id) DO UPDATE … WHERE holder = me OR
  expires_at < now``): it changes a row only for the holder or over an expired lease, and the
  database settles concurrent attempts, so exactly one replica gets it (its row count is 1, the
  others' 0). The holder renews it with an ``UPDATE … WHERE holder = me`` (a late renewal never
  brings back a lease given up), and gives it up by deleting its row, in the transaction that
  marks the sender's last pending message. Expiry is judged on the replicas' clocks, which must
  agree to well within a lease's lifetime (NTP).
* ``whatsapp_reply_attempts``: the k-th reply sent while handling inbound message M, written
  *before* the Graph API call (M, k is the key). WhatsApp's send API has no idempotency key, so
  a reply is sent at most once: the attempt is recorded, then the call is made, then Meta's id
  is stored. A turn re-run after a crash (Rasa sent its replies but had not saved the turn)
  skips the replies whose attempt exists. A table of its own, not columns on
  ``whatsapp_outbound``: that table is keyed by Meta's id, which exists only after the call.
  Business-initiated messages (outreach) have no inbound message and are not recorded here.

Used from worker threads: the Sanic loop never blocks on the database. The sessions and the
clock come from the process's :class:`cobranza.bootstrap.App` (:meth:`WhatsAppStore.from_app`);
the clock stamps rows and decides when a lease has expired.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import delete, exists, func, select
from sqlalchemy import update as update_rows
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cobranza import db
from cobranza.bootstrap import App
from cobranza.channels.whatsapp.config import PENDING, PENDING_BATCH
from cobranza.channels.whatsapp.parse import Inbound, StatusUpdate
from cobranza.clock import Clock
from cobranza.db.models import (
    ConversationLease,
    WhatsAppInbound,
    WhatsAppOutbound,
    WhatsAppReplyAttempt,
    WhatsAppStatus,
)
from cobranza.domain.phones import InvalidPhone, normalize_phone
from cobranza.outreach import replies, statuses


def debtor_phone(wa_id: str) -> str | None:
    """The E.164 number behind a WhatsApp id, or None when it is no Mexican number."""
    try:
        return normalize_phone(wa_id)
    except InvalidPhone:
        return None


def _insert(session: Session) -> Any:
    """The dialect's INSERT with ``ON CONFLICT`` (SQLite and PostgreSQL, the two we run on)."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"no INSERT … ON CONFLICT for {name}")


Reply = tuple[str, int]  # (the inbound message's id, the reply's ordinal within its turn)


class Finished(NamedTuple):
    marked: bool  # False: the row was no longer pending
    released: bool  # the sender's lease was given up with it


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

    @staticmethod
    def _has_pending_in(session: Session, wa_id: str) -> bool:
        pending = exists().where(WhatsAppInbound.status == PENDING, WhatsAppInbound.wa_id == wa_id)
        return bool(session.execute(select(pending)).scalar_one())

    def _has_pending(self, wa_id: str) -> bool:
        with db.session_scope(self._sessions) as session:
            return self._has_pending_in(session, wa_id)

    async def has_pending(self, wa_id: str) -> bool:
        return await asyncio.to_thread(self._has_pending, wa_id)

    def _pending_senders(
        self, now: datetime, older_than: timedelta, except_holder: str | None, unleased: bool
    ) -> dict[str, list[str]]:
        query = select(WhatsAppInbound.wa_id, WhatsAppInbound.message_id).where(
            WhatsAppInbound.status == PENDING
        )
        if older_than:
            query = query.where(WhatsAppInbound.received_at <= now - older_than)
        if unleased:
            live = exists().where(
                ConversationLease.wa_id == WhatsAppInbound.wa_id,
                ConversationLease.expires_at >= now,
            )
            if except_holder is not None:
                live = live.where(ConversationLease.holder != except_holder)
            query = query.where(~live)
        query = query.order_by(
            WhatsAppInbound.wa_id,
            WhatsAppInbound.sent_at,
            WhatsAppInbound.received_at,
            WhatsAppInbound.message_id,
        )
        senders: dict[str, list[str]] = {}
        with db.session_scope(self._sessions) as session:
            for wa_id, message_id in session.execute(query):
                senders.setdefault(wa_id, []).append(message_id)
        return senders

    async def pending_senders(self) -> dict[str, list[str]]:
        """Every pending message id, by sender, oldest first."""
        return await asyncio.to_thread(
            self._pending_senders, self.clock.now(), timedelta(), None, False
        )

    async def unleased_senders(
        self, older_than: timedelta = timedelta(), ours: str | None = None
    ) -> dict[str, list[str]]:
        """The pending message ids (by sender, oldest first) stored at least ``older_than`` ago
        whose sender no live lease covers: what a dead replica left, or a crash of this one.
        A live lease of ``ours`` counts as free (at start-up: the previous life's)."""
        return await asyncio.to_thread(
            self._pending_senders, self.clock.now(), older_than, ours, True
        )

    def _take_lease(self, wa_id: str, holder: str, now: datetime, until: datetime) -> bool:
        with db.session_scope(self._sessions) as session:
            table = ConversationLease.__table__
            statement = _insert(session)(table).values(wa_id=wa_id, holder=holder, expires_at=until)
            statement = statement.on_conflict_do_update(
                index_elements=[table.c.wa_id],
                set_={"holder": holder, "expires_at": until},
                where=(table.c.holder == holder) | (table.c.expires_at < now),
            )
            return bool(session.execute(statement).rowcount == 1)

    async def take_lease(self, wa_id: str, holder: str, lifetime: float) -> bool:
        """Take or renew the sender's lease for ``lifetime`` seconds: True when ``holder`` has
        it now, False while another holder's lease is live."""
        now = self.clock.now()
        return await asyncio.to_thread(
            self._take_lease, wa_id, holder, now, now + timedelta(seconds=lifetime)
        )

    @staticmethod
    def _release_in(session: Session, wa_id: str, holder: str) -> None:
        session.execute(
            delete(ConversationLease)
            .where(ConversationLease.wa_id == wa_id, ConversationLease.holder == holder)
            .execution_options(synchronize_session=False)
        )

    def _renew_lease(self, wa_id: str, holder: str, until: datetime) -> bool:
        with db.session_scope(self._sessions) as session:
            result = session.execute(
                update_rows(ConversationLease)
                .where(ConversationLease.wa_id == wa_id, ConversationLease.holder == holder)
                .values(expires_at=until)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)

    async def renew_lease(self, wa_id: str, holder: str, lifetime: float) -> bool:
        """Extend a lease ``holder`` has: False when it has not (it was taken over after it
        expired). Never creates one: a renewal still running when the lease is given up does
        not take it again."""
        until = self.clock.now() + timedelta(seconds=lifetime)
        return await asyncio.to_thread(self._renew_lease, wa_id, holder, until)

    def _release_lease(self, wa_id: str, holder: str) -> None:
        with db.session_scope(self._sessions) as session:
            self._release_in(session, wa_id, holder)

    async def release_lease(self, wa_id: str, holder: str) -> None:
        """Give the sender's lease up, if ``holder`` still has it."""
        await asyncio.to_thread(self._release_lease, wa_id, holder)

    def _attempt(self, reply: Reply, now: datetime) -> bool:
        with db.session_scope(self._sessions) as session:
            statement = (
                _insert(session)(WhatsAppReplyAttempt.__table__)
                .values(reply_to=reply[0], ordinal=reply[1], attempted_at=now)
                .on_conflict_do_nothing(index_elements=["reply_to", "ordinal"])
            )
            return bool(session.execute(statement).rowcount == 1)

    async def attempt(self, reply: Reply) -> bool:
        """Record that this reply is about to be sent (committed when this returns): True the
        first time, False when it was attempted before (a turn re-run): do not send it."""
        return await asyncio.to_thread(self._attempt, reply, self.clock.now())

    def _finish(
        self,
        message: Inbound,
        status: str,
        reason: str | None,
        holder: str | None,
        now: datetime,
    ) -> Finished:
        with db.session_scope(self._sessions) as session:
            result = session.execute(
                update_rows(WhatsAppInbound)
                .where(
                    WhatsAppInbound.message_id == message.message_id,
                    WhatsAppInbound.status == PENDING,
                )
                .values(status=status, status_reason=reason, processed_at=now, body=None)
                .execution_options(synchronize_session=False)
            )
            if holder is None or self._has_pending_in(session, message.wa_id):
                return Finished(result.rowcount == 1, released=False)
            self._release_in(session, message.wa_id, holder)
            return Finished(result.rowcount == 1, released=True)

    async def finish(
        self, message: Inbound, status: str, reason: str | None = None, holder: str | None = None
    ) -> Finished:
        """Mark a pending message done or failed, and forget its text (the conversation keeps
        what it needs). Only a pending row changes, so it is marked once (``marked`` False
        otherwise). With ``holder``: the sender's lease is given up in the same transaction
        when nothing of theirs is left pending (one commit instead of two per quiet message)."""
        return await asyncio.to_thread(
            self._finish, message, status, reason, holder, self.clock.now()
        )

    def _last_inbound(self, wa_id: str) -> datetime | None:
        with db.session_scope(self._sessions) as session:
            value: datetime | None = session.execute(
                select(func.max(WhatsAppInbound.sent_at)).where(WhatsAppInbound.wa_id == wa_id)
            ).scalar_one()
            return value

    async def last_inbound(self, wa_id: str) -> datetime | None:
        return await asyncio.to_thread(self._last_inbound, wa_id)

    def _sent(
        self, message_id: str, wa_id: str, kind: str, reply: Reply | None, now: datetime
    ) -> None:
        with db.session_scope(self._sessions) as session:
            session.merge(
                WhatsAppOutbound(message_id=message_id, wa_id=wa_id, kind=kind, sent_at=now)
            )
            if reply is not None:
                session.execute(
                    update_rows(WhatsAppReplyAttempt)
                    .where(
                        WhatsAppReplyAttempt.reply_to == reply[0],
                        WhatsAppReplyAttempt.ordinal == reply[1],
                    )
                    .values(message_id=message_id)
                    .execution_options(synchronize_session=False)
                )

    async def sent(
        self, message_id: str, wa_id: str, kind: str, reply: Reply | None = None
    ) -> None:
        """Meta accepted the message (its id): stored, and linked to the reply's attempt."""
        await asyncio.to_thread(self._sent, message_id, wa_id, kind, reply, self.clock.now())

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
