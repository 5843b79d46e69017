"""Twilio WhatsApp channel: signature check, Spanish text intact both ways, credentials.

The channel is mounted the way ``rasa run`` does it (``rasa.core.channels.channel.register``
under ``/webhooks/``) on a real Sanic server on a loopback port; sanic-testing is not
installed, so requests go through aiohttp.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from uuid import uuid4

import aiohttp
import pytest
from rasa.core.channels.channel import InputChannel, UserMessage, register
from rasa.core.channels.twilio import TwilioInput
from rasa.core.run import _create_single_channel
from rasa.shared.exceptions import RasaException
from rasa.shared.utils.io import read_config_file
from sanic import Sanic
from sanic.touchup import TouchUp
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator
from twilio.rest.api.v2010.account.message import MessageList

from cobranza import responses
from cobranza.channels.limits import RATE_LIMIT_NOTICE, InboundGate, RateLimiter
from cobranza.channels.twilio import (
    TwilioCredentialsError,
    TwilioWhatsAppInput,
    TwilioWhatsAppOutput,
)
from cobranza.clock import FixedClock
from cobranza.config import load_settings
from tests.fixtures import load_fixture

AUTH_TOKEN = "test-auth-token-0123456789abcdef"
ACCOUNT_SID = "AC" + "0" * 32
BOT_NUMBER = "whatsapp:+14155238886"
DEBTOR = "whatsapp:+5215512345678"
DEBTOR_DIGITS = "5512345678"
PUBLIC_URL = "https://bot.example.mx/webhooks/twilio_whatsapp/webhook"
PATH = "/webhooks/twilio_whatsapp/webhook"
CLASS_PATH = "cobranza.channels.twilio.TwilioWhatsAppInput"


def _form(name: str) -> dict[str, str]:
    """A recorded form (tests/fixtures/twilio/): every field a string, as Twilio posts it."""
    return {key: str(value) for key, value in load_fixture(f"twilio/{name}").items()}


def inbound(body: str | None = None, **extra: str) -> dict[str, str]:
    """Form fields as Twilio posts them for an incoming WhatsApp text (the recorded one, with
    another ``Body`` or more fields when a test needs them)."""
    form = _form("text")
    if body is not None:
        form["Body"] = body
    return {**form, **extra}


def sign(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def channel(webhook_url: str | None = PUBLIC_URL) -> TwilioWhatsAppInput:
    credentials = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "twilio_number": BOT_NUMBER,
    }
    if webhook_url:
        credentials["webhook_url"] = webhook_url
    made = TwilioWhatsAppInput.from_credentials(credentials)
    assert isinstance(made, TwilioWhatsAppInput)
    return made


class FakeAgent:
    """Stands in for ``app.ctx.agent``: records what ``register``'s handler passes on."""

    def __init__(self) -> None:
        self.messages: list[UserMessage] = []

    async def handle_message(self, message: UserMessage) -> None:
        self.messages.append(message)


@pytest.fixture(autouse=True)
def sanic_test_mode(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Several Sanic apps in one process, as sanic-testing allows.

    Each app start rewrites some Sanic methods in place ("touchup"); outside test mode a second
    start fails on the already rewritten code. Test mode keeps the originals under ``_<name>``;
    put them back afterwards so later code in this process starts from pristine Sanic.
    """
    monkeypatch.setattr(Sanic, "test_mode", True)
    yield
    for target, method_name in TouchUp._registry:
        original = getattr(target, f"_{method_name}", None)
        if original is not None:
            setattr(target, method_name, original)


Post = tuple[str, str, dict[str, str]]  # (URL path + query, raw form body, headers)


class LoopbackServer:
    """A socket bound on 127.0.0.1 first, so the URL (and any signature over it) is known."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    async def _exchange(self, input_channel: InputChannel, posts: list[Post]) -> list[int]:
        app = Sanic(f"twilio_test_{uuid4().hex}", configure_logging=False)
        app.ctx.agent = self.agent
        register([input_channel], app, "/webhooks/")  # as rasa.core.run.configure_app does
        server = await app.create_server(
            sock=self.sock, return_asyncio_server=True, access_log=False
        )
        assert server is not None
        await server.startup()
        await server.start_serving()
        statuses = []
        try:
            async with aiohttp.ClientSession() as session:
                for path, body, headers in posts:
                    async with session.post(
                        self.base + path,
                        data=body.encode("utf-8"),
                        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
                    ) as resp:
                        statuses.append(resp.status)
        finally:
            server.close()
            await server.wait_closed()
        return statuses

    def post(self, input_channel: InputChannel, *posts: Post) -> tuple[list[int], FakeAgent]:
        self.agent = FakeAgent()
        try:
            statuses = asyncio.run(self._exchange(input_channel, list(posts)))
        finally:
            self.sock.close()
        return statuses, self.agent


def serve_and_post(input_channel: InputChannel, *posts: Post) -> tuple[list[int], FakeAgent]:
    return LoopbackServer().post(input_channel, *posts)


def signed_post(params: dict[str, str], url: str = PUBLIC_URL, path: str = PATH) -> Post:
    return path, urlencode(params), {"X-Twilio-Signature": sign(url, params)}


def unsigned_post(params: dict[str, str], headers: dict[str, str]) -> Post:
    return PATH, urlencode(params), headers


# --- inbound ------------------------------------------------------------------------------


def test_valid_signature_passes_text_with_inverted_marks_and_sender(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    statuses, agent = serve_and_post(channel(), signed_post(inbound()))

    assert statuses == [204]  # Rasa's Twilio channel answers 204 (no TwiML reply)
    [message] = agent.messages
    assert message.text == "¡Ya pagué! ¿Cuánto debo? Ñandú"
    assert "@" not in message.text
    assert message.sender_id == DEBTOR
    assert message.input_channel == "twilio_whatsapp"
    assert isinstance(message.output_channel, TwilioWhatsAppOutput)
    assert DEBTOR_DIGITS not in caplog.text
    assert "Ya pagué" not in caplog.text


def test_missing_signature_is_rejected_and_nothing_processed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    statuses, agent = serve_and_post(channel(), unsigned_post(inbound(), {}))

    assert statuses == [403]
    assert agent.messages == []
    assert DEBTOR_DIGITS not in caplog.text


def test_wrong_signature_is_rejected() -> None:
    params = inbound()
    forged = {"X-Twilio-Signature": sign(PUBLIC_URL, params, token="not-the-token")}
    statuses, agent = serve_and_post(
        channel(),
        unsigned_post(params, forged),
        unsigned_post(params, {"X-Twilio-Signature": "x"}),
        unsigned_post(params, {"X-Twilio-Signature": ""}),
    )

    assert statuses == [403, 403, 403]
    assert agent.messages == []


def test_tampered_body_is_rejected() -> None:
    original = inbound("Sí, pago el viernes")
    tampered = inbound("Ya no me escriban, BAJA")
    signature = {"X-Twilio-Signature": sign(PUBLIC_URL, original)}
    other_sender = inbound("Sí, pago el viernes", From="whatsapp:+5215599998888")

    statuses, agent = serve_and_post(
        channel(),
        unsigned_post(tampered, signature),
        unsigned_post(other_sender, signature),
        unsigned_post({**original, "Extra": "1"}, signature),
    )

    assert statuses == [403, 403, 403]
    assert agent.messages == []


def test_signature_for_another_url_is_rejected() -> None:
    params = inbound()
    statuses, agent = serve_and_post(
        channel(), signed_post(params, url="https://evil.example/webhooks/twilio_whatsapp/webhook")
    )

    assert statuses == [403]
    assert agent.messages == []


def test_without_webhook_url_the_request_url_is_checked() -> None:
    params = inbound("¡Hola!")
    server = LoopbackServer()
    statuses, agent = server.post(
        channel(webhook_url=None),
        signed_post(params, url=server.base + PATH),
        signed_post(params, url=PUBLIC_URL),  # not the URL this server was called on
    )

    assert statuses == [204, 403]
    assert [m.text for m in agent.messages] == ["¡Hola!"]


def test_blank_fields_are_part_of_the_signature_location_message() -> None:
    # Twilio signs blank fields too (Body="" for a location); Sanic's request.form drops them.
    params = _form("location")
    assert params["Body"] == "" and params["Address"] == ""
    statuses, agent = serve_and_post(channel(), signed_post(params))

    assert statuses == [204]
    [message] = agent.messages
    assert message.text == "/locationData{'Latitude': 19.4326,'Longitude': -99.1332}"


def test_media_without_text_is_signed_correctly_and_ignored_as_in_rasa() -> None:
    params = _form("image")
    assert params["Body"] == "" and params["NumMedia"] == "1"
    statuses, agent = serve_and_post(channel(), signed_post(params))

    assert statuses == [204]
    assert agent.messages == []


def test_query_string_is_part_of_the_signed_url() -> None:
    # Twilio console URL with a query string; webhook_url configured without it.
    params = inbound("¡Listo!")
    signed_with_query = sign(PUBLIC_URL + "?tenant=mx", params)
    statuses, agent = serve_and_post(
        channel(),
        (PATH + "?tenant=mx", urlencode(params), {"X-Twilio-Signature": signed_with_query}),
        (PATH, urlencode(params), {"X-Twilio-Signature": signed_with_query}),
    )

    assert statuses == [204, 403]
    assert [m.text for m in agent.messages] == ["¡Listo!"]


# --- bounded input and rate limit ---------------------------------------------------------------

NOTICE = responses.text(RATE_LIMIT_NOTICE)


def test_a_100kb_body_reaches_rasa_bounded() -> None:
    big = ("¡Ya pagué! te pago 500 el viernes " * 3000)[:100_000]
    assert big[4000] == " "  # Rasa strips a message: the bound keeps a non-blank 4,001st
    statuses, agent = serve_and_post(channel(), signed_post(inbound(big)))
    assert statuses == [204]
    [message] = agent.messages
    # the NLU answers it "too long"; the tracker keeps 4,001 characters
    assert message.text == big[:4000] + "e"


def test_a_flood_from_one_number_reaches_rasa_20_times_and_gets_one_notice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    create = FakeCreate(monkeypatch)
    defaults = load_settings({})  # 20 a minute per number; a clock that stands still
    limiter = RateLimiter(
        defaults.rate_limit_per_minute,
        defaults.rate_limit_per_address_per_minute,
        FixedClock(datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc)),
    )
    limited = TwilioWhatsAppInput(
        ACCOUNT_SID,
        AUTH_TOKEN,
        BOT_NUMBER,
        webhook_url=PUBLIC_URL,
        gate=InboundGate(limiter, NOTICE),
    )
    posts = [signed_post(inbound(f"mensaje {n}", MessageSid=f"SM{n:032d}")) for n in range(30)]
    other = signed_post(inbound("hola", From="whatsapp:+5215599998888"))
    statuses, agent = serve_and_post(limited, *posts, other)
    assert statuses == [204] * 31
    assert [m.text for m in agent.messages] == [f"mensaje {n}" for n in range(20)] + ["hola"]
    assert create.calls == [{"to": DEBTOR, "from_": BOT_NUMBER, "body": NOTICE}]


def test_rasa_twilio_and_ours_can_share_one_app() -> None:
    app = Sanic(f"twilio_test_{uuid4().hex}", configure_logging=False)
    rasa_twilio = TwilioInput(ACCOUNT_SID, AUTH_TOKEN, BOT_NUMBER)
    register([rasa_twilio, channel()], app, "/webhooks/")
    paths = {route.path for route in app.router.routes}
    assert "webhooks/twilio_whatsapp/webhook" in paths
    assert "webhooks/twilio/webhook" in paths


# --- outbound -----------------------------------------------------------------------------


class FakeCreate:
    """Replaces ``client.messages.create`` (``MessageList.create``) and records its arguments."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, error: TwilioRestException | None = None
    ) -> None:
        self.calls: list[dict[str, Any]] = []

        def create(_messages: MessageList, **kwargs: Any) -> object:
            self.calls.append(kwargs)
            if error:
                raise error
            return object()

        monkeypatch.setattr(MessageList, "create", create)


def test_outbound_text_keeps_inverted_marks(monkeypatch: pytest.MonkeyPatch) -> None:
    create = FakeCreate(monkeypatch)
    out = channel().get_output_channel()
    assert isinstance(out, TwilioWhatsAppOutput)

    asyncio.run(out.send_text_message(DEBTOR, "¡Hola!\n\n¿Le llamo mañana? Año: 2026"))

    assert [c["body"] for c in create.calls] == ["¡Hola!", "¿Le llamo mañana? Año: 2026"]
    assert all(c["to"] == DEBTOR and c["from_"] == BOT_NUMBER for c in create.calls)


def test_outbound_adds_whatsapp_prefix_and_sends_media(monkeypatch: pytest.MonkeyPatch) -> None:
    create = FakeCreate(monkeypatch)
    out = TwilioWhatsAppOutput(ACCOUNT_SID, AUTH_TOKEN, "+14155238886")

    asyncio.run(out.send_text_message("+5215512345678", "¡Hola!"))
    asyncio.run(out.send_image_url(DEBTOR, "https://example.mx/ficha.png"))

    assert create.calls == [
        {"to": DEBTOR, "from_": BOT_NUMBER, "body": "¡Hola!"},
        {"to": DEBTOR, "from_": BOT_NUMBER, "media_url": ["https://example.mx/ficha.png"]},
    ]


def test_outbound_http_request_to_twilio_carries_the_text_unchanged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sent: list[dict[str, Any]] = []

    def fake_request(self: TwilioHttpClient, method: str, url: str, **kwargs: Any) -> Response:
        sent.append({"method": method, "url": url, "data": kwargs.get("data")})
        return Response(201, '{"sid": "SM123", "body": "¡Hola!"}')

    monkeypatch.setattr(TwilioHttpClient, "request", fake_request)
    out = channel().get_output_channel()

    asyncio.run(out.send_text_message(DEBTOR, "¡Hola!"))

    [request] = sent
    assert request["method"] == "POST"
    assert request["url"].endswith(f"/Accounts/{ACCOUNT_SID}/Messages.json")
    assert request["data"]["Body"] == "¡Hola!"
    assert request["data"]["To"] == DEBTOR


def test_outbound_error_is_logged_without_phone_number(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    error = TwilioRestException(
        400, "https://api.twilio.com", msg=f"The 'To' number {DEBTOR} is not valid", code=21211
    )
    create = FakeCreate(monkeypatch, error)
    out = channel().get_output_channel()

    asyncio.run(out.send_text_message(DEBTOR, "¡Hola!"))

    assert len(create.calls) == 1
    assert "21211" in caplog.text
    assert DEBTOR_DIGITS not in caplog.text
    assert "5678" in caplog.text  # the masked number, last four digits only


# --- credentials --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "credentials",
    [
        {"account_sid": ACCOUNT_SID, "twilio_number": BOT_NUMBER},
        {"account_sid": ACCOUNT_SID, "auth_token": "", "twilio_number": BOT_NUMBER},
        {"account_sid": ACCOUNT_SID, "auth_token": "  ", "twilio_number": BOT_NUMBER},
        {"account_sid": ACCOUNT_SID, "auth_token": None, "twilio_number": BOT_NUMBER},
    ],
)
def test_missing_auth_token_refuses_to_start(credentials: dict[str, Any]) -> None:
    with pytest.raises(TwilioCredentialsError, match="auth_token"):
        TwilioWhatsAppInput.from_credentials(credentials)


def test_no_credentials_or_unexpanded_variable_refuses_to_start() -> None:
    with pytest.raises(RasaException, match="auth_token"):
        TwilioWhatsAppInput.from_credentials(None)
    with pytest.raises(TwilioCredentialsError, match="unquoted"):
        TwilioWhatsAppInput.from_credentials(
            {
                "account_sid": ACCOUNT_SID,
                "auth_token": "${TWILIO_AUTH_TOKEN}",
                "twilio_number": BOT_NUMBER,
            }
        )
    with pytest.raises(TwilioCredentialsError, match="webhook_url"):
        TwilioWhatsAppInput.from_credentials(
            {
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
                "twilio_number": BOT_NUMBER,
                "webhook_url": "bot.example.mx/webhook",
            }
        )


def test_credentials_yml_block_resolves_with_env_substitution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", AUTH_TOKEN)
    monkeypatch.setenv("TWILIO_WHATSAPP_NUMBER", BOT_NUMBER)
    monkeypatch.setenv("TWILIO_WEBHOOK_URL", PUBLIC_URL)
    credentials_file = tmp_path / "credentials.yml"
    credentials_file.write_text(
        f"{CLASS_PATH}:\n"
        "  account_sid: ${TWILIO_ACCOUNT_SID}\n"
        "  auth_token: ${TWILIO_AUTH_TOKEN}\n"
        "  twilio_number: ${TWILIO_WHATSAPP_NUMBER}\n"
        "  webhook_url: ${TWILIO_WEBHOOK_URL}\n",
        encoding="utf-8",
    )

    all_credentials = read_config_file(credentials_file)
    made = _create_single_channel(CLASS_PATH, all_credentials[CLASS_PATH])

    assert isinstance(made, TwilioWhatsAppInput)
    assert made.auth_token == AUTH_TOKEN
    assert made.twilio_number == BOT_NUMBER
    assert made.webhook_url == PUBLIC_URL
    assert made.url_prefix() == "twilio_whatsapp"

    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "")
    with pytest.raises(TwilioCredentialsError, match="auth_token"):
        _create_single_channel(CLASS_PATH, read_config_file(credentials_file)[CLASS_PATH])
