"""WhatsApp Cloud API channel: our own Rasa connector.

Route: ``/webhooks/whatsapp/webhook``.

* ``GET``: Meta's verification handshake (``hub.mode=subscribe``, ``hub.verify_token``).
* ``POST``: accepted only with a valid ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with
  the app secret), else 403 and nothing is read. Every message of a batch is stored in our
  database as ``pending``, with what processing needs, *before* the webhook answers 200 (Meta
  does not deliver again what we acknowledged); its id de-duplicates deliveries, also across
  restarts. The conversation runs after: a worker per sender takes that sender's pending rows
  from the database in order of their timestamps and marks each ``done`` or ``failed`` (with the
  error's class, no content) exactly once; at start-up it picks up whatever a crash left
  pending. Status callbacks are stored for metrics.
* Text and interactive replies (the button's or row's id is the payload that drives the
  conversation) go to Rasa; images, voice notes, stickers, locations… get a polite answer from
  ``domain.yml`` (``utter_no_soportado_<tipo>``).
* Outbound: text, reply buttons (≤3, titles cut to 20 characters between words), lists (≤10
  rows, 24/72 characters), and an approved template when the debtor has not written in the last
  24 hours. Async HTTP with timeouts and retries with backoff on 429/5xx. Logs never carry a
  phone number (masked) or a message's text.

Configuration comes from the environment only (see :meth:`WhatsAppConfig.from_env`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import random
import traceback
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.events import UserUttered
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import func, select
from sqlalchemy import update as update_rows
from sqlalchemy.exc import IntegrityError

from cobranza import db, responses
from cobranza.channels.limits import InboundGate, bound_user_text
from cobranza.clock import Clock, SystemClock
from cobranza.config import ConfigError, Secret, load_settings
from cobranza.db.models import WhatsAppInbound, WhatsAppOutbound, WhatsAppStatus
from cobranza.db.vocabulary import InboundStatus
from cobranza.domain.phones import mask_phone
from cobranza.domain.text import shorten
from cobranza.errors import CobranzaError

logger = logging.getLogger(__name__)

CHANNEL = "whatsapp"
SERVICE_WINDOW = timedelta(hours=24)
MAX_BUTTONS, BUTTON_TITLE, BUTTON_BODY = 3, 20, 1024
MAX_ROWS, ROW_TITLE, ROW_DESCRIPTION, ROW_ID, LIST_BUTTON = 10, 24, 72, 200, 20
MAX_TEXT = 4096
CONCURRENT_CONVERSATIONS = 4
PENDING, DONE, FAILED = InboundStatus.PENDING, InboundStatus.DONE, InboundStatus.FAILED
MESSAGE_ID_KEY = "whatsapp_message_id"  # in the UserMessage metadata Rasa stores with the turn
PENDING_BATCH = 100  # pending rows a worker takes from the database at a time
ACTIONS_PATIENCE = 120.0  # seconds to wait for the action server at start-up
SUPPORTED_MEDIA = {
    "image": "imagen",
    "audio": "audio",
    "voice": "audio",
    "video": "video",
    "document": "documento",
    "sticker": "sticker",
    "location": "ubicacion",
    "contacts": "contactos",
    "reaction": "reaccion",
}


# --- configuration ---------------------------------------------------------------------------


@dataclass(frozen=True)
class WhatsAppConfig:
    verify_token: Secret
    app_secret: Secret
    access_token: Secret
    phone_number_id: str
    api_url: str
    template_name: str = "mensaje_pendiente"
    template_language: str = "es_MX"
    timeout_seconds: float = 10.0
    max_attempts: int = 4

    REQUIRED = (
        "WHATSAPP_VERIFY_TOKEN",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_ACCESS_TOKEN",
        "WHATSAPP_PHONE_NUMBER_ID",
        "WHATSAPP_API_URL",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WhatsAppConfig:
        """Every variable at once; a missing one stops the channel with its name."""
        env = os.environ if env is None else env
        values = {name: env.get(name, "").strip() for name in cls.REQUIRED}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise ConfigError(
                "the WhatsApp channel cannot start: set "
                + ", ".join(missing)
                + " (README: Connecting a WhatsApp Business number)"
            )
        api_url = values["WHATSAPP_API_URL"].rstrip("/")
        if not api_url.startswith(("https://", "http://")):
            raise ConfigError(f"WHATSAPP_API_URL must be an http(s) URL, got {api_url!r}")
        return cls(
            verify_token=Secret(values["WHATSAPP_VERIFY_TOKEN"]),
            app_secret=Secret(values["WHATSAPP_APP_SECRET"]),
            access_token=Secret(values["WHATSAPP_ACCESS_TOKEN"]),
            phone_number_id=values["WHATSAPP_PHONE_NUMBER_ID"],
            api_url=api_url,
            template_name=env.get("WHATSAPP_TEMPLATE_NAME", "").strip() or cls.template_name,
            template_language=env.get("WHATSAPP_TEMPLATE_LANGUAGE", "").strip()
            or cls.template_language,
        )


# --- inbound: signature and payload --------------------------------------------------------------


def signature_valid(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """``sha256=<hex>`` of the raw body, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower())


@dataclass(frozen=True)
class Inbound:
    message_id: str
    wa_id: str
    message_type: str
    sent_at: datetime
    text: str | None  # what goes to Rasa; None: a kind of message we answer politely
    kind: str = ""  # for the polite answer: imagen, audio, …


@dataclass(frozen=True)
class StatusUpdate:
    message_id: str
    wa_id: str
    status: str
    occurred_at: datetime
    error_code: int | None
    error_title: str | None


def _timestamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise ValueError(f"bad timestamp {value!r}") from exc


def _inbound(message: Mapping[str, Any]) -> Inbound:
    message_id, wa_id = str(message.get("id") or ""), str(message.get("from") or "")
    if not message_id or not wa_id.isdigit():
        raise ValueError("message without id or sender")
    kind = str(message.get("type") or "unsupported")
    sent_at = _timestamp(message.get("timestamp"))
    text: str | None = None
    if kind == "text":
        text = str((message.get("text") or {}).get("body") or "")
    elif kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get(interactive.get("type") or "") or {}
        text = str(reply.get("id") or reply.get("title") or "")
    elif kind == "button":  # a template's quick-reply button
        button = message.get("button") or {}
        text = str(button.get("payload") or button.get("text") or "")
    if text is not None and text.strip():
        return Inbound(message_id, wa_id, kind, sent_at, text)
    polite = SUPPORTED_MEDIA.get(kind, "otro")
    if kind == "audio" and (message.get("audio") or {}).get("voice"):
        polite = "audio"
    return Inbound(message_id, wa_id, kind, sent_at, None, polite)


def parse_webhook(payload: Any) -> tuple[list[Inbound], list[StatusUpdate]]:
    """Every message and status of a (possibly batched) notification. ``ValueError`` when the
    shape is not a WhatsApp Business Account notification."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise ValueError("not a whatsapp_business_account notification")
    messages: list[Inbound] = []
    statuses: list[StatusUpdate] = []
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            if not isinstance(value, dict):
                raise ValueError("change without a value object")
            for message in value.get("messages") or []:
                messages.append(_inbound(message))
            for status in value.get("statuses") or []:
                errors = status.get("errors") or [{}]
                code = errors[0].get("code")
                statuses.append(
                    StatusUpdate(
                        str(status.get("id") or ""),
                        str(status.get("recipient_id") or ""),
                        str(status.get("status") or ""),
                        _timestamp(status.get("timestamp")),
                        int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
                        (str(errors[0].get("title"))[:200] if errors[0].get("title") else None),
                    )
                )
    return messages, statuses


# --- storage ---------------------------------------------------------------------------------


class WhatsAppStore:
    """Our database, used from worker threads (the Sanic loop never blocks on it)."""

    def __init__(self, database_url: str, clock: Clock | None = None) -> None:
        self._sessions = db.make_session_factory(db.make_engine(database_url))
        self._clock = clock or SystemClock()

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
        except IntegrityError:
            return False
        return True

    async def accept(self, message: Inbound) -> bool:
        """Store the message as pending (committed when this returns). True the first time a
        message id is seen, False for a duplicate delivery."""
        return await asyncio.to_thread(self._accept, message, self._clock.now())

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
        return await asyncio.to_thread(self._finish, message_id, status, reason, self._clock.now())

    def _last_inbound(self, wa_id: str) -> datetime | None:
        with db.session_scope(self._sessions) as session:
            value: datetime | None = session.execute(
                select(func.max(WhatsAppInbound.sent_at)).where(WhatsAppInbound.wa_id == wa_id)
            ).scalar_one()
            return value

    async def last_inbound(self, wa_id: str) -> datetime | None:
        return await asyncio.to_thread(self._last_inbound, wa_id)

    def _sent(self, message_id: str, wa_id: str, kind: str) -> None:
        with db.session_scope(self._sessions) as session:
            session.merge(
                WhatsAppOutbound(
                    message_id=message_id,
                    wa_id=wa_id,
                    kind=kind,
                    sent_at=datetime.now(timezone.utc),
                )
            )

    async def sent(self, message_id: str, wa_id: str, kind: str) -> None:
        await asyncio.to_thread(self._sent, message_id, wa_id, kind)

    def _statuses(self, updates: list[StatusUpdate]) -> None:
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
            except IntegrityError:
                continue  # the same status delivered twice

    async def statuses(self, updates: list[StatusUpdate]) -> None:
        if updates:
            await asyncio.to_thread(self._statuses, updates)


# --- outbound ----------------------------------------------------------------------------------


class GraphError(CobranzaError):
    """The Graph API refused a message (after the retries)."""


class GraphClient:
    """POST ``{api_url}/{phone_number_id}/messages`` with retries on 429/5xx and timeouts."""

    def __init__(self, config: WhatsAppConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
                headers={"Authorization": f"Bearer {self.config.access_token.reveal()}"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, payload: dict[str, Any]) -> str:
        url = f"{self.config.api_url}/{self.config.phone_number_id}/messages"
        who = mask_phone(str(payload.get("to", "")))
        delay = 0.5
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                session = await self._client()
                async with session.post(url, json=payload) as reply:
                    body = await reply.json(content_type=None)
                    if reply.status == 200:
                        return str(body["messages"][0]["id"])
                    error = (body or {}).get("error") or {}
                    retry = reply.status == 429 or reply.status >= 500
                    logger.warning(
                        "Graph API %s for %s (attempt %d/%d, code %s)",
                        reply.status,
                        who,
                        attempt,
                        self.config.max_attempts,
                        error.get("code"),
                    )
                    if not retry:
                        raise GraphError(f"Graph API {reply.status}, code {error.get('code')}")
                    wait = float(reply.headers.get("Retry-After") or delay)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError) as exc:
                logger.warning(
                    "Graph API unreachable for %s (attempt %d/%d): %s",
                    who,
                    attempt,
                    self.config.max_attempts,
                    type(exc).__name__,
                )
                wait = delay
            if attempt < self.config.max_attempts:
                await asyncio.sleep(min(wait, 5.0) + random.uniform(0, delay / 4))
                delay *= 2
        raise GraphError(f"Graph API did not accept the message after {attempt} attempts")


class WhatsAppOutput(OutputChannel):
    """Sends the assistant's messages to one WhatsApp id (as Meta sent it: ``521…``)."""

    def __init__(self, client: GraphClient, store: WhatsAppStore) -> None:
        self.client = client
        self.store = store

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    async def _within_window(self, wa_id: str) -> bool:
        last = await self.store.last_inbound(wa_id)
        return last is not None and datetime.now(timezone.utc) - last < SERVICE_WINDOW

    async def _post(self, wa_id: str, kind: str, body: dict[str, Any]) -> None:
        if kind != "template" and not await self._within_window(wa_id):
            # Outside the 24-hour window only an approved template may be sent: it invites the
            # debtor to answer, which reopens the window (README: templates to create).
            logger.info("outside the 24 h window for %s: template instead", mask_phone(wa_id))
            kind, body = "template", self.template_body()
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id}
        payload.update(body)
        message_id = await self.client.send(payload)
        await self.store.sent(message_id, wa_id, kind)

    def template_body(self, parameters: list[str] | None = None) -> dict[str, Any]:
        template: dict[str, Any] = {
            "name": self.client.config.template_name,
            "language": {"code": self.client.config.template_language},
        }
        if parameters:
            template["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
            ]
        return {"type": "template", "template": template}

    async def send_template(self, wa_id: str, parameters: list[str] | None = None) -> None:
        """A business-initiated message (ask the compliance engine first)."""
        await self._post(wa_id, "template", self.template_body(parameters))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for start in range(0, len(text), MAX_TEXT):
            chunk = text[start : start + MAX_TEXT]
            await self._post(recipient_id, "text", {"type": "text", "text": {"body": chunk}})

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """A long choice comes as buttons *and* a ``{"type": "list"}`` custom payload: send the
        list only, once."""
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("type") == "list" and message.get("text"):
            rows = [r for r in custom.get("rows") or [] if isinstance(r, dict)]
            await self._send_list(recipient_id, str(message["text"]), rows)
            return
        await super().send_response(recipient_id, message)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        choices = [
            {"id": str(b.get("payload") or b.get("title") or ""), "title": str(b.get("title"))}
            for b in buttons
            if b.get("title")
        ]
        if not choices:
            await self.send_text_message(recipient_id, text)
        elif len(choices) <= MAX_BUTTONS and all(len(c["id"]) <= 256 for c in choices):
            if len(text) > BUTTON_BODY:
                await self.send_text_message(recipient_id, text)
                text = "Elige una opción:"
            reply_buttons = [
                {"type": "reply", "reply": {"id": c["id"], "title": shorten(c["title"], 20)}}
                for c in choices
            ]
            await self._post(
                recipient_id,
                "buttons",
                {
                    "type": "interactive",
                    "interactive": {
                        "type": "button",
                        "body": {"text": text},
                        "action": {"buttons": reply_buttons},
                    },
                },
            )
        else:
            await self._send_list(recipient_id, text, choices)

    async def _send_list(self, recipient_id: str, text: str, rows: list[dict[str, Any]]) -> None:
        built = []
        for row in rows[:MAX_ROWS]:
            title = str(row.get("title") or "")
            item: dict[str, Any] = {
                "id": str(row.get("id") or title)[:ROW_ID],
                "title": shorten(title, ROW_TITLE),
            }
            description = str(row.get("description") or (title if len(title) > ROW_TITLE else ""))
            if description:
                item["description"] = shorten(description, ROW_DESCRIPTION)
            built.append(item)
        if not built:
            await self.send_text_message(recipient_id, text)
            return
        await self._post(
            recipient_id,
            "list",
            {
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "body": {"text": text[:MAX_TEXT]},
                    "action": {
                        "button": shorten("Ver opciones", LIST_BUTTON),
                        "sections": [{"title": "Opciones", "rows": built}],
                    },
                },
            },
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        if json_message.get("type") == "list":
            await self._send_list(recipient_id, "Elige una opción:", json_message.get("rows", []))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, image)

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, attachment)


# --- the input channel -------------------------------------------------------------------------


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


def polite_replies(domain_path: Path = responses.DOMAIN) -> dict[str, str]:
    """``utter_no_soportado_<tipo>`` texts from domain.yml, by kind (``otro`` as fallback)."""
    replies = responses.first_texts("utter_no_soportado_", domain_path)
    if "otro" not in replies:
        raise ConfigError("domain.yml needs utter_no_soportado_otro for the WhatsApp channel")
    return replies


class WhatsAppInput(InputChannel):
    """``credentials.yml``: ``cobranza.channels.whatsapp.WhatsAppInput:`` (no values: the
    secrets come from the environment)."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        config = WhatsAppConfig.from_env()
        return cls(config, WhatsAppStore(load_settings().database_url))

    def __init__(
        self, config: WhatsAppConfig, store: WhatsAppStore, gate: InboundGate | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.gate = gate or InboundGate.from_settings(load_settings())
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
        return WhatsAppOutput(self.client, self.store)

    async def _handle(
        self, message: Inbound, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> None:
        output = WhatsAppOutput(self.client, self.store)
        if message.text is None:
            reply = self.replies.get(message.kind) or self.replies["otro"]
            await output.send_text_message(message.wa_id, reply)
            return
        user_message = UserMessage(
            bound_user_text(message.text),  # the NLU answers a bounded text "too long"
            output,
            message.wa_id,
            input_channel=CHANNEL,
            metadata={"whatsapp_message_id": message.message_id},
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
