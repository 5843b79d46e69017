"""The Rasa input channel: the webhook (verification handshake, signed notifications stored
before the 200), a worker per sender that runs the conversation from the stored rows, and the
recovery of what a crash left pending.

Several Rasa replicas may share the database (and the tracker store). The gateway normally
sends all of a sender's messages to one replica, but a failover moves the sender to another one
and back, and both may then hold that sender's pending rows. So a worker first takes the
sender's lease in the database (store.py: ``conversation_leases``, our lock store across
replicas; Rasa's OSS lock stores are not safe across them), renews it every third of its
lifetime while it runs turns, and gives it up once nothing is pending. While another live
replica holds it, the worker leaves the rows pending (the holder reads them too) and looks again
after a back-off. Every replica also sweeps, every ``sweep_every`` seconds, for pending rows no
live lease covers (a dead replica's) and answers them; each row is answered by one replica,
in the order the debtor wrote them. A single process (``make run``) takes and releases one
lease per burst of messages and is otherwise unchanged."""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.events import UserUttered
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from cobranza import bootstrap
from cobranza.bootstrap import App
from cobranza.channels.limits import InboundGate, bound_user_text
from cobranza.channels.startup import freeze_after_start
from cobranza.channels.whatsapp.config import (
    ACTIONS_PATIENCE,
    CHANNEL,
    CONCURRENT_CONVERSATIONS,
    DONE,
    FAILED,
    LEASES,
    MESSAGE_ID_KEY,
    LeaseTimes,
    WhatsAppSettings,
    load_whatsapp_settings,
    polite_replies,
)
from cobranza.channels.whatsapp.output import WhatsAppOutput
from cobranza.channels.whatsapp.parse import (
    Inbound,
    handshake_challenge,
    parse_webhook,
    signature_valid,
)
from cobranza.channels.whatsapp.store import WhatsAppStore
from cobranza.domain.phones import mask_phone
from cobranza.outreach.graph import GraphClient

logger = logging.getLogger(__name__)


def _where(exc: BaseException) -> str:
    """Where an error was raised (file:line), to log instead of its message, which may quote
    what the debtor wrote."""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "?"


async def _wait_until_listening(url: str, poll: float, patience: float) -> bool:
    """True once something accepts connections at the URL's host and port."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    while True:
        try:
            _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), poll)
        except (OSError, asyncio.TimeoutError):
            if loop.time() >= deadline:
                logger.warning("the action server is not listening after %.0f s", patience)
                return False
            await asyncio.sleep(poll)
            continue
        writer.close()
        return True


OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


@dataclass
class _Held:
    """A sender's lease while this replica's worker holds it. The lock keeps a renewal from
    running while a message's mark may give the lease up: a renewal finding it gone then would
    read as "taken by another replica"."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    held: bool = True


def _log_start_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "WhatsApp: pending messages not recovered: %s", type(task.exception()).__name__
        )


class WhatsAppInput(InputChannel):
    """``credentials.yml``: ``cobranza.channels.whatsapp.WhatsAppInput:`` (no values: the
    secrets come from the environment, through :func:`cobranza.config.load_whatsapp_settings`).

    The database, the clock, the rate limits and the replica's name (``COBRANZA_REPLICA``, the
    holder of its leases) are the :class:`~cobranza.bootstrap.App`'s: Rasa's process-wide one
    (:func:`cobranza.bootstrap.app`), or one a test passes, with ``leases`` times of its own."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        config = load_whatsapp_settings()  # first: a missing variable stops the channel
        return cls(config, bootstrap.app())

    def __init__(
        self,
        config: WhatsAppSettings,
        app: App,
        gate: InboundGate | None = None,
        leases: LeaseTimes = LEASES,
    ) -> None:
        self.config = config
        self.clock = app.clock
        self.replica = app.settings.replica
        self.leases = leases
        self.store = WhatsAppStore.from_app(app)
        self.gate = gate or InboundGate.from_settings(app.settings, app.clock)
        self.client = GraphClient(config)
        self.replies = polite_replies()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._woken: set[str] = set()  # senders with rows stored since their worker last looked
        self._held: dict[str, _Held] = {}  # the leases this replica's workers hold, by sender
        # By sender, the ids a crash or a dead replica left pending (checked against Rasa);
        # forgotten when the sender's worker is done (another replica may have answered them).
        self._recovered: dict[str, set[str]] = {}
        self._tracker_store: TrackerStore | None = None
        self._open = asyncio.Event()  # workers wait on it; see hold_until_started
        self._open.set()
        self._starting: asyncio.Task[int] | None = None
        self._sweeping: asyncio.Task[None] | None = None
        # Conversations run in the same event loop as the webhook, and the model's inference
        # holds the loop: a few at a time keep the acknowledgements fast under load.
        self._running = asyncio.Semaphore(CONCURRENT_CONVERSATIONS)

    def get_output_channel(self) -> OutputChannel:
        return WhatsAppOutput(self.client, self.store, self.clock)

    async def _handle(self, message: Inbound, on_new_message: OnNewMessage) -> None:
        output = WhatsAppOutput(self.client, self.store, self.clock, reply_to=message.message_id)
        if message.text is None:
            reply = self.replies.get(message.kind) or self.replies["otro"]
            await output.send_text_message(message.wa_id, reply)
            return
        user_message = UserMessage(
            bound_user_text(message.text),  # the NLU answers a bounded text "too long"
            output,
            message.wa_id,
            input_channel=CHANNEL,
            metadata={MESSAGE_ID_KEY: message.message_id},
        )
        if await self.gate.admit(user_message):  # per-sender rate limit; one polite notice
            await on_new_message(user_message)

    async def _already_answered(self, message: Inbound) -> bool:
        """A message a crash left pending may have had its whole turn: Rasa saves the turn
        (with the message id in the user event's metadata) after its answers went out, and the
        crash fell before the row was marked. Then it is not run again."""
        if message.text is None or self._tracker_store is None:
            return False
        try:
            tracker = await self._tracker_store.retrieve_full_tracker(message.wa_id)
        except Exception as exc:  # noqa: BLE001 - unreadable: run the turn rather than drop it
            logger.warning(
                "could not read the conversation of %s: %s",
                mask_phone(message.wa_id),
                type(exc).__name__,
            )
            return False
        return tracker is not None and any(
            isinstance(event, UserUttered)
            and (event.metadata or {}).get(MESSAGE_ID_KEY) == message.message_id
            for event in tracker.events
        )

    async def _process(
        self, message: Inbound, on_new_message: OnNewMessage, last: bool = False
    ) -> bool:
        """Handle one pending row and mark it: done, or failed with the error's class only.
        The ``last`` of a batch: True when nothing of the sender's is pending any more, and the
        lease went with the mark."""
        recovered = self._recovered.get(message.wa_id, set())
        if message.message_id in recovered:
            recovered.discard(message.message_id)
            if await self._already_answered(message):
                return await self._mark(message, last, DONE)
        try:
            async with self._running:
                await self._handle(message, on_new_message)
        except Exception as exc:  # noqa: BLE001 - any failure marks the row; logged without content
            logger.error(
                "WhatsApp message %s from %s failed: %s at %s",
                message.message_type,
                mask_phone(message.wa_id),
                type(exc).__name__,
                _where(exc),
            )
            return await self._mark(message, last, FAILED, type(exc).__name__[:60])
        return await self._mark(message, last, DONE)

    async def _mark(
        self, message: Inbound, last: bool, status: str, reason: str | None = None
    ) -> bool:
        holding = self._held[message.wa_id]
        async with holding.lock:
            holder = self.replica if last else None  # only then may nothing be left pending
            finished = await self.store.finish(message, status, reason, holder)
            holding.held = not finished.released
        if not finished.marked:
            logger.warning("WhatsApp message from %s was already marked", mask_phone(message.wa_id))
        return finished.released

    async def _drain(self, wa_id: str, on_new_message: OnNewMessage) -> None:
        """The sender's worker: with the sender's lease, their pending rows, oldest first, until
        none is left. While another live replica holds the lease, it answers the rows (ours
        too): look again after a back-off as long as something is pending."""
        try:
            await self._open.wait()
            wait = self.leases.retry
            while True:
                self._woken.discard(wa_id)
                if await self.store.take_lease(wa_id, self.replica, self.leases.lifetime):
                    wait = self.leases.retry
                    if not await self._answer(wa_id, on_new_message):
                        await self.store.release_lease(wa_id, self.replica)
                elif await self.store.has_pending(wa_id):
                    await asyncio.sleep(wait)
                    wait = min(2 * wait, self.leases.retry_max)
                    continue
                # No await between this check and the removal: a row stored meanwhile has woken
                # this sender again, and the loop looks once more.
                if wa_id not in self._woken:
                    del self._workers[wa_id]
                    self._recovered.pop(wa_id, None)
                    return
        except asyncio.CancelledError:
            # Shutdown, or the lease went to another replica: the rows stay pending for the
            # holder; the lease is left to expire (a dying process cannot be relied on to free
            # it, and a replica that lost it has nothing to free).
            if self._workers.get(wa_id) is asyncio.current_task():
                del self._workers[wa_id]
            raise
        except Exception as exc:  # noqa: BLE001 - the worker must end; logged, rows stay pending
            # The database failed: the rows stay pending for the next wake-up or sweep.
            logger.error(
                "WhatsApp worker for %s stopped: %s", mask_phone(wa_id), type(exc).__name__
            )
            self._workers.pop(wa_id, None)

    async def _answer(self, wa_id: str, on_new_message: OnNewMessage) -> bool:
        """Drain the sender's pending rows while holding their lease, renewed meanwhile. True
        when the last row's mark gave the lease up too."""
        worker = asyncio.current_task()
        assert worker is not None  # called from the worker task
        self._held[wa_id] = holding = _Held()
        keeper = asyncio.create_task(self._keep_lease(wa_id, holding, worker))
        try:
            while True:
                self._woken.discard(wa_id)
                batch = await self.store.pending(wa_id)
                if not batch:
                    return False
                for message in batch:
                    if await self._process(message, on_new_message, message is batch[-1]):
                        return True  # nothing of the sender's is pending any more
        finally:
            keeper.cancel()
            del self._held[wa_id]

    async def _keep_lease(self, wa_id: str, holding: _Held, worker: asyncio.Task[None]) -> None:
        """Renew the lease every third of its lifetime while the worker runs turns (one may
        last minutes: Rasa waits up to 300 s for an action). Lost to another replica (this one
        stalled past the lifetime): the turn in progress stops, the holder answers the rows."""
        while True:
            await asyncio.sleep(self.leases.renew_every)
            async with holding.lock:
                if not holding.held:
                    return
                try:
                    renewed = await self.store.renew_lease(
                        wa_id, self.replica, self.leases.lifetime
                    )
                except Exception as exc:  # noqa: BLE001 - retried at the next tick; logged
                    logger.warning(
                        "lease of %s not renewed: %s", mask_phone(wa_id), type(exc).__name__
                    )
                    continue
            if not renewed:
                logger.error(
                    "lease of %s taken by another replica: its turn stops here", mask_phone(wa_id)
                )
                worker.cancel()
                return

    def _wake(self, wa_id: str, on_new_message: OnNewMessage) -> None:
        self._woken.add(wa_id)
        if wa_id not in self._workers:
            self._workers[wa_id] = asyncio.create_task(self._drain(wa_id, on_new_message))

    def _enqueue(self, message: Inbound, on_new_message: OnNewMessage) -> None:
        """The message is stored as pending: wake its sender's worker."""
        self._wake(message.wa_id, on_new_message)

    async def _wake_unleased(
        self, on_new_message: OnNewMessage, older_than: timedelta, ours: str | None
    ) -> int:
        """Wake the senders whose pending rows no live lease covers; those rows were left by a
        crash or a dead replica, and are checked against Rasa before being run."""
        senders = await self.store.unleased_senders(older_than, ours)
        for wa_id, message_ids in senders.items():
            self._recovered.setdefault(wa_id, set()).update(message_ids)
            self._wake(wa_id, on_new_message)
        return sum(len(ids) for ids in senders.values())

    async def recover(
        self,
        on_new_message: OnNewMessage,
        tracker_store: TrackerStore | None = None,
    ) -> int:
        """Process what a crash left pending (each message once); the number found. Senders
        another live replica holds are its own; this replica's leases from before its restart
        (same name) count as free."""
        self._tracker_store = tracker_store
        found = await self._wake_unleased(on_new_message, timedelta(), self.replica)
        if found:
            logger.info("%d WhatsApp message(s) left pending: processing them", found)
        return found

    async def _sweep(self, on_new_message: OnNewMessage) -> None:
        """Every ``sweep_every`` seconds: answer pending rows no live lease covers (a dead
        replica's) once they are ``orphan_after`` old, without waiting for its restart."""
        older_than = timedelta(seconds=self.leases.orphan_after)
        while True:
            await asyncio.sleep(self.leases.sweep_every)
            try:
                found = await self._wake_unleased(on_new_message, older_than, None)
            except Exception as exc:  # noqa: BLE001 - the next sweep tries again; logged
                logger.warning("WhatsApp sweep failed: %s", type(exc).__name__)
                continue
            if found:
                logger.info("%d WhatsApp message(s) nobody was answering: processing them", found)

    def hold_until_started(self) -> None:
        """Served by Rasa: no worker runs before :meth:`start` (the action server may still be
        starting; a turn run without it loses its custom actions)."""
        self._open.clear()

    async def start(
        self,
        on_new_message: OnNewMessage,
        tracker_store: TrackerStore | None = None,
        actions_url: str | None = None,
        poll: float = 0.5,
        patience: float = ACTIONS_PATIENCE,
    ) -> int:
        """Once the action server listens (or after ``patience`` seconds), let the workers run,
        recover what a crash left pending, and start the sweep."""
        try:
            if actions_url:
                await _wait_until_listening(actions_url, poll, patience)
        finally:
            self._open.set()
        found = await self.recover(on_new_message, tracker_store)
        if self._sweeping is None or self._sweeping.done():
            self._sweeping = asyncio.create_task(self._sweep(on_new_message))
        return found

    async def stop(self) -> None:
        """Stop the sweep (the server is stopping; tests)."""
        if self._sweeping is not None:
            self._sweeping.cancel()
            await asyncio.gather(self._sweeping, return_exceptions=True)
            self._sweeping = None

    async def idle(self) -> None:
        """Wait until every queued message was handled (tests and the load script)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        hook = Blueprint("whatsapp_webhook", __name__)
        freeze_after_start(hook)
        self.hold_until_started()

        @hook.listener("after_server_start")
        async def start_workers(app: Sanic, _loop: Any) -> None:
            # Rasa loads its agent before the server starts: its tracker store and action
            # endpoint are known here. Started as a task: the server must not wait on it.
            agent = getattr(app.ctx, "agent", None)
            endpoint = getattr(agent, "action_endpoint", None)
            self._starting = asyncio.create_task(
                self.start(
                    on_new_message,
                    getattr(agent, "tracker_store", None),
                    getattr(endpoint, "url", None),
                )
            )
            self._starting.add_done_callback(_log_start_failure)

        @hook.listener("before_server_stop")
        async def stop_sweeping(app: Sanic, _loop: Any) -> None:
            await self.stop()

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            query = {name: request.args.get(name) or "" for name in request.args}
            challenge = handshake_challenge(query, self.config.verify_token.reveal())
            if challenge is not None:
                return response.text(challenge)
            return response.text("verificación rechazada", status=403)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            raw = request.body or b""
            header = request.headers.get("X-Hub-Signature-256")
            if not signature_valid(raw, header, self.config.app_secret.reveal()):
                logger.warning("WhatsApp webhook with a missing or invalid signature: refused")
                return response.json({"error": "invalid signature"}, status=403)
            try:
                messages, statuses = parse_webhook(json.loads(raw))
            except ValueError as exc:  # JSONDecodeError is a ValueError
                logger.warning("WhatsApp webhook not understood: %s", exc)
                return response.json({"error": f"payload not understood: {exc}"}, status=400)
            await self.store.statuses(statuses)
            fresh = [m for m in messages if await self.store.accept(m)]
            for message in sorted(fresh, key=lambda m: (m.wa_id, m.sent_at)):
                self._enqueue(message, on_new_message)
            return response.json(
                {"received": len(messages), "new": len(fresh), "statuses": len(statuses)}
            )

        return hook
