"""The debtors' web chat: a Socket.IO input channel served by the Rasa server itself, and the
chat page it serves at ``/webchat/`` (no CDN: the Socket.IO browser client is vendored).

Built on Rasa's :class:`~rasa.core.channels.socketio.SocketIOInput` (same events and message
format: ``bot_uttered`` with ``text`` and ``quick_replies`` for buttons) with these changes:

* **Server-issued sessions.** The server never adopts a session id chosen by the browser. On
  ``session_request`` it resumes a session only when the browser presents an id *and* the HMAC
  signature the server issued with it (secret: ``WEBCHAT_SESSION_SECRET``); otherwise it issues
  a new random ``web-…`` id. The id has no digit at all, so it can never be read as a phone
  number (the actions try the sender id as the debtor's number first). ``session_confirm``
  carries ``{"session_id", "signature"}``. A socket can only send into the session it was
  confirmed for: a ``user_uttered`` before ``session_request``, or naming another session, is
  refused with an error event.
* **RasaHQ/rasa#13027.** Rasa 3.6.21 calls ``sio.enter_room`` without ``await``; on
  python-socketio 5.x it is a coroutine, so the socket never joins the session's room and the
  bot's replies to a persisted session are lost. Here it is awaited.
* **Custom payloads.** Rasa spreads ``json_message`` into ``AsyncServer.emit(**json_message)``,
  which raises ``TypeError`` for our ``{"type": "list", "rows": [...]}``; here it is sent as
  ``bot_uttered`` ``{"custom": {...}}`` (a Rasa-style ``{"data": ...}`` payload is sent as is).
* **Input checks.** Empty or non-text messages get a polite error event in Spanish instead of
  reaching the bot (or raising). An over-long text reaches the bot cut to
  ``MAX_MESSAGE_CHARS + 1`` characters (``bound_user_text``): the NLU answers it with
  ``utter_mensaje_muy_largo`` from domain.yml and the tracker never holds more.
* **Rate limits** (``cobranza/channels/limits.py``): per session and per client address
  (``request.remote_addr`` when Sanic is told about the proxy, e.g. ``SANIC_PROXIES_COUNT=1``,
  else the peer address). Over the limit a message is dropped before Rasa, and the socket gets
  one ``rate_limited`` error event (text: ``utter_demasiados_mensajes``) a minute at most.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import logging
import re
import secrets
import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import rasa.core.channels.channel
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer

from cobranza import bootstrap
from cobranza.channels.limits import InboundGate, bound_user_text
from cobranza.channels.startup import freeze_after_start
from cobranza.config import WEBCHAT_SECRET_ENV, Secret, Settings
from cobranza.domain.text import MAX_MESSAGE_CHARS

logger = logging.getLogger(__name__)

CHANNEL_NAME = "webchat"
# The Redis pub/sub channel the replicas share the web chat's events on (WEBCHAT_REDIS_URL).
REDIS_CHANNEL = "cobranza-webchat"
SECRET_ENV = WEBCHAT_SECRET_ENV
SESSION_ID_PREFIX = "web-"
# Letters only (22 of 52: 125 random bits): no digit, so no id is ever a phone number.
SESSION_ID_ALPHABET = string.ascii_letters
SESSION_ID_LENGTH = 22
SESSION_ID_RE = re.compile(rf"web-[A-Za-z]{{{SESSION_ID_LENGTH}}}")
SIGNATURE_RE = re.compile(r"[A-Za-z0-9_-]{43}")
# Client metadata is untrusted: only these keys reach the tracker (the NLU reads `time_zone`).
ALLOWED_METADATA = {"time_zone": 64}

PAGE_URL_PREFIX = "/webchat"
STATIC_DIR = Path(__file__).resolve().parent / "static" / "webchat"
ASSET_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".map": "application/json; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
SECURITY_HEADERS: Mapping[str, str] = MappingProxyType(
    {
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
)
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
PAGE_HEADERS: Mapping[str, str] = MappingProxyType(
    {"Content-Security-Policy": PAGE_CSP, "X-Frame-Options": "SAMEORIGIN"}
)

ERROR_TEXTS = {
    "no_session": "Tu conversación todavía no está lista. Recarga la página e inténtalo de nuevo.",
    "wrong_session": (
        "Este mensaje no corresponde a tu conversación. Recarga la página e inténtalo de nuevo."
    ),
    "invalid": "No pude leer tu mensaje. ¿Podrías escribirlo de nuevo, por favor?",
    "empty": "Tu mensaje está vacío. Escribe algo para continuar, por favor.",
}
RATE_LIMITED = "rate_limited"  # error code; its text is utter_demasiados_mensajes (domain.yml)


class SessionSigner:
    """Issues random web chat session ids and signs/verifies them with an HMAC secret."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the web chat session secret is empty")
        self._secret = secret

    @classmethod
    def from_settings(cls, settings: Settings) -> SessionSigner:
        """The signer on ``WEBCHAT_SESSION_SECRET`` (:class:`cobranza.config.Settings`), or on a
        random secret for this process when it is unset."""
        if settings.webchat_session_secret is not None:
            secret = settings.webchat_session_secret.reveal()
            if len(secret) < 32:
                logger.warning(
                    "%s is shorter than 32 characters: use a long random value", SECRET_ENV
                )
            return cls(secret.encode("utf-8"))
        logger.warning(
            "%s is not set: using a random secret for this process; web chat sessions will not "
            "survive a restart (set it to a long random value, the same on every instance)",
            SECRET_ENV,
        )
        return cls(secrets.token_bytes(32))

    @staticmethod
    def new_session_id() -> str:
        return SESSION_ID_PREFIX + "".join(
            secrets.choice(SESSION_ID_ALPHABET) for _ in range(SESSION_ID_LENGTH)
        )

    def sign(self, session_id: str) -> str:
        digest = hmac.new(
            self._secret,
            b"cobranza-webchat-session\x00" + session_id.encode("utf-8"),
            hashlib.sha256,
        ).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def verify(self, session_id: object, signature: object) -> bool:
        if not isinstance(session_id, str) or not isinstance(signature, str):
            return False
        if not SESSION_ID_RE.fullmatch(session_id) or not SIGNATURE_RE.fullmatch(signature):
            return False
        return hmac.compare_digest(self.sign(session_id), signature)


class WebChatOutput(SocketIOOutput):
    """Rasa's Socket.IO output, to the session's room in the channel's namespace, with custom
    JSON payloads that reach the browser."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    def __init__(self, sio: AsyncServer, bot_message_evt: str, namespace: str | None) -> None:
        super().__init__(sio, bot_message_evt)
        self.namespace = namespace

    async def _send_message(self, socket_id: str, response: Any) -> None:
        await self.sio.emit(
            self.bot_message_evt, response, room=socket_id, namespace=self.namespace
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        # Rasa's documented socket.io form is {"data": ...}; anything else goes under "custom".
        # Never let bot content pick the room (Rasa honours a "room" key).
        if set(json_message) == {"data"}:
            payload: Any = json_message["data"]
        else:
            payload = {"custom": json_message}
        await self._send_message(recipient_id, payload)


@dataclass(frozen=True)
class _Asset:
    body: bytes
    content_type: str


def _load_assets(directory: Path) -> dict[str, _Asset]:
    """Every servable file, read once: requests never touch the file system, so no path a
    request names can escape the directory."""
    assets: dict[str, _Asset] = {}
    for path in sorted(directory.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        if (
            content_type
            and path.is_file()
            and not path.is_symlink()
            and ASSET_NAME_RE.fullmatch(path.name)
        ):
            assets[path.name] = _Asset(path.read_bytes(), content_type)
    return assets


def _render_page(template: bytes, values: dict[str, str]) -> bytes:
    text = template.decode("utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return text.encode("utf-8")


def _asset_response(
    asset: _Asset, request: Request, extra: Mapping[str, str] | None = None
) -> HTTPResponse:
    headers = {**SECURITY_HEADERS, **(extra or {})}
    body = b"" if request.method == "HEAD" else asset.body
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(asset.body))
    return response.raw(body, content_type=asset.content_type, headers=headers)


def _not_found() -> HTTPResponse:
    return response.text("No encontrado", status=404, headers=dict(SECURITY_HEADERS))


def page_blueprint(assets: dict[str, _Asset], page: _Asset) -> Blueprint:
    """``GET /webchat/`` (the chat page) and ``GET /webchat/<file>`` (its assets)."""
    bp = Blueprint("webchat_page", url_prefix=PAGE_URL_PREFIX, strict_slashes=True)

    @bp.route("", methods=["GET", "HEAD"], name="webchat_redirect")
    async def redirect(_: Request) -> HTTPResponse:
        # relative asset URLs need the trailing slash (relative: works behind a path prefix)
        return response.redirect("webchat/", headers=dict(SECURITY_HEADERS))

    @bp.route("/", methods=["GET", "HEAD"], name="webchat_index")
    async def index(request: Request) -> HTTPResponse:
        return _asset_response(page, request, PAGE_HEADERS)

    @bp.route("/<name:str>", methods=["GET", "HEAD"], name="webchat_asset")
    async def asset(request: Request, name: str) -> HTTPResponse:
        if name == "index.html":
            return _asset_response(page, request, PAGE_HEADERS)
        found = assets.get(name)
        return _not_found() if found is None else _asset_response(found, request)

    return bp


class WebChatBlueprint(SocketBlueprint):
    """Attaches the Socket.IO server at its path and the chat page at ``/webchat/`` (both are
    absolute: Rasa mounts the channel's own routes under ``/webhooks/webchat/``)."""

    def __init__(
        self, sio: AsyncServer, socketio_path: str, page: Blueprint, *args: Any, **kwargs: Any
    ) -> None:
        super().__init__(sio, socketio_path, *args, **kwargs)
        self.ctx.page = page

    def register(self, app: Sanic, options: dict[str, Any]) -> None:
        super().register(app, options)
        if self.ctx.page.name not in app.blueprints:
            app.blueprint(self.ctx.page)


def client_address(environ: Mapping[str, Any] | None) -> str | None:
    """The browser's address, for the per-address rate limit: the forwarded one when Sanic is
    configured for the proxy in front (``SANIC_PROXIES_COUNT`` / ``SANIC_REAL_IP_HEADER``; else
    Sanic ignores forwarding headers, which any client can forge), otherwise the peer address.
    Behind an unconfigured proxy every browser shares the proxy's address and its limit."""
    request = (environ or {}).get("sanic.request")
    if not isinstance(request, Request):
        return None
    return request.remote_addr or request.ip or None


class WebChatInput(SocketIOInput):
    """The debtors' web chat (see the module docstring). ``credentials.yml``::

    cobranza.channels.webchat.WebChatInput:
      user_message_evt: user_uttered
      bot_message_evt: bot_uttered
      session_persistence: true
      socketio_path: /socket.io

    With ``session_persistence: false`` a reload always starts a new conversation.
    """

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        credentials = credentials or {}
        return cls(
            user_message_evt=credentials.get("user_message_evt", "user_uttered"),
            bot_message_evt=credentials.get("bot_message_evt", "bot_uttered"),
            namespace=credentials.get("namespace"),
            session_persistence=bool(credentials.get("session_persistence", False)),
            socketio_path=credentials.get("socketio_path", "/socket.io"),
            jwt_key=credentials.get("jwt_key"),
            jwt_method=credentials.get("jwt_method", "HS256"),
            metadata_key=credentials.get("metadata_key", "metadata"),
            error_evt=credentials.get("error_evt", "chat_error"),
        )

    def __init__(
        self,
        user_message_evt: str = "user_uttered",
        bot_message_evt: str = "bot_uttered",
        namespace: str | None = None,
        session_persistence: bool = False,
        socketio_path: str | None = "/socket.io",
        jwt_key: str | None = None,
        jwt_method: str | None = "HS256",
        metadata_key: str | None = "metadata",
        error_evt: str = "chat_error",
        signer: SessionSigner | None = None,
        gate: InboundGate | None = None,
        redis_url: Secret | None = None,
    ) -> None:
        super().__init__(
            user_message_evt,
            bot_message_evt,
            namespace,
            session_persistence,
            socketio_path,
            jwt_key,
            jwt_method,
            metadata_key,
        )
        self.error_evt = error_evt
        if signer is None or gate is None:  # built by Rasa from credentials.yml
            app = bootstrap.app()
            signer = signer or SessionSigner.from_settings(app.settings)
            gate = gate or InboundGate.for_app(app)
            redis_url = redis_url or app.settings.webchat_redis_url
        self.signer = signer
        self.gate = gate
        self.redis_url = redis_url

    def _client_manager(self) -> AsyncRedisManager | None:
        """Several replicas (``WEBCHAT_REDIS_URL``): events to a session's room go through
        Redis, so the replica holding the browser's socket delivers a reply emitted on another
        one (the console's, whose call may reach any replica). None: python-socketio's
        in-process manager, one Rasa process."""
        url = self.redis_url
        if url is None:
            return None
        return AsyncRedisManager(url.reveal(), channel=REDIS_CHANNEL)

    def get_output_channel(self) -> OutputChannel | None:
        if self.sio is None:
            return super().get_output_channel()  # warns, returns None
        return WebChatOutput(self.sio, self.bot_message_evt, self.namespace)

    def _page_values(self) -> dict[str, str]:
        return {
            "socketio_path": self.socketio_path or "/socket.io",
            "namespace": self.namespace or "/",
            "user_message_evt": self.user_message_evt,
            "bot_message_evt": self.bot_message_evt,
            "error_evt": self.error_evt,
            "session_persistence": "true" if self.session_persistence else "false",
            "max_message_chars": str(MAX_MESSAGE_CHARS),
        }

    def _metadata(self, data: dict[str, Any]) -> dict[str, Any]:
        raw = data.get(self.metadata_key or "metadata")
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                return {}
        if not isinstance(raw, dict):
            return {}
        return {
            key: raw[key]
            for key, limit in ALLOWED_METADATA.items()
            if isinstance(raw.get(key), str) and 0 < len(raw[key]) <= limit
        }

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # cors_allowed_origins=[] as in Rasa: engine.io leaves CORS to Rasa's --cors setting
        sio = AsyncServer(
            async_mode="sanic", cors_allowed_origins=[], client_manager=self._client_manager()
        )
        self.sio = sio
        namespace = self.namespace
        signer = self.signer
        gate = self.gate
        assets = _load_assets(STATIC_DIR)
        page = _Asset(
            _render_page(assets["index.html"].body, self._page_values()), CONTENT_TYPES[".html"]
        )
        webhook = WebChatBlueprint(
            sio,
            self.socketio_path or "/socket.io",
            page_blueprint(assets, page),
            "webchat_webhook",
            __name__,
        )
        freeze_after_start(webhook)

        async def refuse(sid: str, code: str, text: str | None = None) -> None:
            await sio.emit(
                self.error_evt,
                {"code": code, "text": text or ERROR_TEXTS[code]},
                to=sid,
                namespace=namespace,
            )

        async def bound_session(sid: str) -> str | None:
            try:
                stored = await sio.get_session(sid, namespace=namespace)
            except KeyError:  # the socket is gone
                return None
            value = stored.get("session_id")
            return value if isinstance(value, str) else None

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=namespace)
        async def connect(sid: str, environ: dict, auth: dict | None = None) -> bool:
            if not self.jwt_key:
                return True
            token = auth.get("token") if isinstance(auth, dict) else None
            payload = None
            if isinstance(token, str) and token:
                payload = rasa.core.channels.channel.decode_bearer_token(
                    token, self.jwt_key, self.jwt_algorithm or "HS256"
                )
            return payload is not None

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: str, *_: Any) -> None:
            logger.debug("web chat socket %s disconnected", sid)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            session_id: str | None = None
            if self.session_persistence and isinstance(data, dict):
                claimed, signature = data.get("session_id"), data.get("signature")
                if signer.verify(claimed, signature):
                    session_id = str(claimed)
                elif claimed:
                    logger.info(
                        "web chat: refused an unsigned or forged session id; issuing a new one"
                    )
            if session_id is None:
                session_id = signer.new_session_id()
            previous = await bound_session(sid)
            if previous and previous != session_id:
                await sio.leave_room(sid, previous, namespace=namespace)
            # RasaHQ/rasa#13027: a coroutine on python-socketio 5.x, never awaited by Rasa 3.6
            await sio.enter_room(sid, session_id, namespace=namespace)
            await sio.save_session(sid, {"session_id": session_id}, namespace=namespace)
            await sio.emit(
                "session_confirm",
                {"session_id": session_id, "signature": signer.sign(session_id)},
                to=sid,
                namespace=namespace,
            )

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: str, data: Any = None) -> None:
            session_id = await bound_session(sid)
            if session_id is None:
                await refuse(sid, "no_session")
                return
            if not isinstance(data, dict):
                await refuse(sid, "invalid")
                return
            claimed = data.get("session_id")
            if claimed is not None and claimed != session_id:
                logger.warning("web chat: socket %s tried to send into another session", sid)
                await refuse(sid, "wrong_session")
                return
            text = data.get("message")
            if not isinstance(text, str):
                await refuse(sid, "invalid")
                return
            if not text.strip():
                await refuse(sid, "empty")
                return
            message = UserMessage(
                bound_user_text(text),
                WebChatOutput(sio, self.bot_message_evt, namespace),
                session_id,
                input_channel=self.name(),
                metadata=self._metadata(data),
            )

            async def tell(notice: str) -> None:
                await refuse(sid, RATE_LIMITED, notice)

            address = client_address(sio.get_environ(sid, namespace=namespace))
            if await gate.admit(message, address, tell):
                await on_new_message(message)

        return webhook
