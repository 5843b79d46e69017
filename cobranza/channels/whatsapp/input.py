"""The Rasa input channel: the webhook (verification handshake, signed notifications stored
before the 200), a worker per sender that runs the conversation from the stored rows, and the
recovery of what a crash left pending."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import traceback
from collections.abc import Awaitable, Callable
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
from cobranza.channels.whatsapp.config import (
    ACTIONS_PATIENCE,
    CHANNEL,
    CONCURRENT_CONVERSATIONS,
    DONE,
    FAILED,
    MESSAGE_ID_KEY,
    WhatsAppSettings,
    load_whatsapp_settings,
    polite_replies,
)
from cobranza.channels.whatsapp.output import WhatsAppOutput
from cobranza.channels.whatsapp.parse import Inbound, parse_webhook, signature_valid
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


def _log_start_failure(task: asyncio.Task[int]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error(
            "WhatsApp: pending messages not recovered: %s", type(task.exception()).__name__
        )


class WhatsAppInput(InputChannel):
    """``credentials.yml``: ``cobranza.channels.whatsapp.WhatsAppInput:`` (no values: the
    secrets come from the environment, through :func:`cobranza.config.load_whatsapp_settings`).

    The database, the clock and the rate limits are the :class:`~cobranza.bootstrap.App`'s:
    Rasa's process-wide one (:func:`cobranza.bootstrap.app`), or one a test passes."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        config = load_whatsapp_settings()  # first: a missing variable stops the channel
        return cls(config, bootstrap.app())

    def __init__(self, config: WhatsAppSettings, app: App, gate: InboundGate | None = None) -> None:
        self.config = config
        self.clock = app.clock
        self.store = WhatsAppStore.from_app(app)
        self.gate = gate or InboundGate.from_settings(app.settings, app.clock)
        self.client = GraphClient(config)
        self.replies = polite_replies()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._woken: set[str] = set()  # senders with rows stored since their worker last looked
        self._recovered: set[str] = set()  # ids a crash left pending (checked against Rasa)
        self._tracker_store: TrackerStore | None = None
        self._open = asyncio.Event()  # workers wait on it; see hold_until_started
        self._open.set()
        self._starting: asyncio.Task[int] | None = None
        # Conversations run in the same event loop as the webhook, and the model's inference
        # holds the loop: a few at a time keep the acknowledgements fast under load.
        self._running = asyncio.Semaphore(CONCURRENT_CONVERSATIONS)

    def get_output_channel(self) -> OutputChannel:
        return WhatsAppOutput(self.client, self.store, self.clock)

    async def _handle(
        self, message: Inbound, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        output = WhatsAppOutput(self.client, self.store, self.clock)
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
        self, message: Inbound, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """Handle one pending row and mark it: done, or failed with the error's class only."""
        if message.message_id in self._recovered:
            self._recovered.discard(message.message_id)
            if await self._already_answered(message):
                await self._mark(message, DONE)
                return
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
            await self._mark(message, FAILED, type(exc).__name__[:60])
            return
        await self._mark(message, DONE)

    async def _mark(self, message: Inbound, status: str, reason: str | None = None) -> None:
        if not await self.store.finish(message.message_id, status, reason):
            logger.warning("WhatsApp message from %s was already marked", mask_phone(message.wa_id))

    async def _drain(
        self, wa_id: str, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """The sender's worker: their pending rows, oldest first, until none is left."""
        try:
            await self._open.wait()
            while True:
                self._woken.discard(wa_id)
                batch = await self.store.pending(wa_id)
                for message in batch:
                    await self._process(message, on_new_message)
                # No await between this check and the removal: a row stored meanwhile has woken
                # this sender again, and the loop looks once more.
                if not batch and wa_id not in self._woken:
                    del self._workers[wa_id]
                    return
        except Exception as exc:  # noqa: BLE001 - the worker must end; logged, rows stay pending
            # The database failed: the rows stay pending for the next wake-up or start.
            logger.error(
                "WhatsApp worker for %s stopped: %s", mask_phone(wa_id), type(exc).__name__
            )
            self._workers.pop(wa_id, None)

    def _wake(self, wa_id: str, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> None:
        self._woken.add(wa_id)
        if wa_id not in self._workers:
            self._workers[wa_id] = asyncio.create_task(self._drain(wa_id, on_new_message))

    def _enqueue(
        self, message: Inbound, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        """The message is stored as pending: wake its sender's worker."""
        self._wake(message.wa_id, on_new_message)

    async def recover(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        tracker_store: TrackerStore | None = None,
    ) -> int:
        """Process what a crash left pending (each message once); the number found."""
        self._tracker_store = tracker_store
        senders = await self.store.pending_senders()
        for wa_id, message_ids in senders.items():
            self._recovered.update(message_ids)
            self._wake(wa_id, on_new_message)
        found = sum(len(ids) for ids in senders.values())
        if found:
            logger.info("%d WhatsApp message(s) left pending: processing them", found)
        return found

    def hold_until_started(self) -> None:
        """Served by Rasa: no worker runs before :meth:`start` (the action server may still be
        starting; a turn run without it loses its custom actions)."""
        self._open.clear()

    async def start(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        tracker_store: TrackerStore | None = None,
        actions_url: str | None = None,
        poll: float = 0.5,
        patience: float = ACTIONS_PATIENCE,
    ) -> int:
        """Once the action server listens (or after ``patience`` seconds), let the workers run
        and recover what a crash left pending."""
        try:
            if actions_url:
                await _wait_until_listening(actions_url, poll, patience)
        finally:
            self._open.set()
        return await self.recover(on_new_message, tracker_store)

    async def idle(self) -> None:
        """Wait until every queued message was handled (tests and the load script)."""
        while self._workers:
            await asyncio.gather(*list(self._workers.values()), return_exceptions=True)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint("whatsapp_webhook", __name__)
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

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            mode = request.args.get("hub.mode")
            token = request.args.get("hub.verify_token") or ""
            challenge = request.args.get("hub.challenge") or ""
            expected = self.config.verify_token.reveal()
            if mode == "subscribe" and hmac.compare_digest(token.encode(), expected.encode()):
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
