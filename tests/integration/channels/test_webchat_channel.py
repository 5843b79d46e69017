"""The web chat channel on a real Sanic server (loopback, free port) wired the way Rasa wires
channels (``rasa.core.channels.channel.register``), with a stub agent that echoes the text with
two buttons. Driven by a real Socket.IO client (python-socketio) and plain HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import socket
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest
import socketio
from rasa.core.channels import channel as rasa_channel
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Sanic
from sanic.touchup import TouchUp

from cobranza import responses
from cobranza.channels.limits import InboundGate, RateLimiter
from cobranza.channels.webchat import (
    MAX_MESSAGE_CHARS,
    SECRET_ENV,
    SESSION_ID_RE,
    STATIC_DIR,
    SessionSigner,
    WebChatInput,
)
from cobranza.clock import FixedClock
from cobranza.config import load_settings
from cobranza.domain.phones import InvalidPhone, normalize_phone

BUTTONS = [
    {"title": "Ver mis opciones", "payload": "/pedir_opciones"},
    {"title": "Hablar con alguien", "payload": '/pedir_agente{"motivo": "web"}'},
]
LIST_ROWS = [{"id": f'/informar{{"plan_elegido": "P{i}"}}', "title": f"Plan {i}"} for i in range(5)]
TIMEOUT = 5.0


def reply_to(text: str) -> list[dict[str, Any]]:
    """What the stub bot answers (Rasa bot messages, as the agent hands them to the channel)."""
    if text.startswith("/"):
        return [{"text": f"Recibí tu elección: {text}"}]
    if text == "menú":  # a custom list alone (no buttons): the page shows its rows as choices
        return [{"custom": {"type": "list", "rows": LIST_ROWS[:3]}}]
    if text == "lista":
        return [
            {
                "text": "Elige una opción:",
                "buttons": [{"title": r["title"], "payload": r["id"]} for r in LIST_ROWS],
                "custom": {"type": "list", "rows": LIST_ROWS},
            }
        ]
    return [{"text": f"eco: {text}", "buttons": BUTTONS}]


@dataclass
class StubAgent:
    """Stands in for ``rasa.core.agent.Agent``: records messages, answers through the channel."""

    received: list[UserMessage] = field(default_factory=list)

    async def handle_message(self, message: UserMessage) -> None:
        self.received.append(message)
        for reply in reply_to(message.text or ""):
            await message.output_channel.send_response(message.sender_id, dict(reply))


@dataclass
class StubServer:
    url: str
    agent: StubAgent
    channel: InputChannel
    loop: asyncio.AbstractEventLoop  # the server's (it runs in its own thread)


@contextlib.contextmanager
def serve_stub(channel: InputChannel) -> Iterator[StubServer]:
    """A Sanic app with the channel registered as ``rasa run`` does, served from a thread."""
    with _SanicTestMode.on(), _serving(channel) as running:
        yield running


class _SanicTestMode:
    """Several Sanic apps in one process, as sanic-testing allows: each app start rewrites some
    Sanic methods in place ("touch-up"); test mode keeps the originals under ``_<name>``. When
    the last running stub server stops they are put back, so later code in this process starts
    from pristine Sanic (as tests/unit/channels/test_twilio_channel.py does)."""

    running = 0
    previous = False

    @classmethod
    @contextlib.contextmanager
    def on(cls) -> Iterator[None]:
        if cls.running == 0:
            cls.previous = Sanic.test_mode
        cls.running += 1
        Sanic.test_mode = True
        try:
            yield
        finally:
            cls.running -= 1
            if cls.running == 0:
                Sanic.test_mode = cls.previous
                for target, method_name in TouchUp._registry:
                    original = getattr(target, f"_{method_name}", None)
                    if original is not None:
                        setattr(target, method_name, original)


@contextlib.contextmanager
def _serving(channel: InputChannel) -> Iterator[StubServer]:
    app = Sanic(f"webchat_test_{uuid.uuid4().hex[:12]}", configure_logging=False)
    agent = StubAgent()
    app.ctx.agent = agent
    rasa_channel.register([channel], app, route="/webhooks/")

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []
    holder: dict[str, Any] = {}

    async def start() -> None:
        server = await app.create_server(
            sock=sock, return_asyncio_server=True, access_log=False, noisy_exceptions=True
        )
        assert server is not None
        # create_server() already listens (it awaits the asyncio server in Sanic 21.12)
        await server.startup()
        await server.before_start()
        await server.after_start()
        holder["server"] = server

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as error:  # noqa: BLE001 (re-raised in the test thread)
            failure.append(error)
            started.set()
            return
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="webchat-stub-server", daemon=True)
    thread.start()
    assert started.wait(15), "the stub server did not start"
    if failure:
        raise failure[0]
    try:
        yield StubServer(f"http://127.0.0.1:{port}", agent, channel, loop)
    finally:

        async def stop() -> None:
            server = holder["server"]
            await server.before_stop()
            server.close()
            await server.wait_closed()
            await server.after_stop()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        sock.close()


def webchat(**overrides: Any) -> WebChatInput:
    credentials = {
        "user_message_evt": "user_uttered",
        "bot_message_evt": "bot_uttered",
        "session_persistence": True,
        "socketio_path": "/socket.io",
        **overrides,
    }
    channel = WebChatInput.from_credentials(credentials)
    assert isinstance(channel, WebChatInput)
    return channel


@pytest.fixture(scope="module")
def server() -> Iterator[StubServer]:
    with serve_stub(webchat()) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_agent(request: pytest.FixtureRequest) -> None:
    if "server" in request.fixturenames:
        request.getfixturevalue("server").agent.received.clear()


class Chat:
    """One browser tab: a Socket.IO client that queues every event it receives. Long-polling:
    python-engineio's asyncio WebSocket client needs aiohttp>=3.10 (Rasa pins 3.9); the browser
    test (tests/e2e/test_webchat_page.py) covers WebSocket."""

    def __init__(
        self, url: str, events: tuple[str, ...] = ("session_confirm", "bot_uttered", "chat_error")
    ) -> None:
        self.url = url
        self.client = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        for name in events:
            self.client.on(name, self._collector(name))

    def _collector(self, name: str) -> Any:
        async def collect(data: Any = None) -> None:
            await self.events.put((name, data))

        return collect

    async def __aenter__(self) -> Chat:
        await self.client.connect(
            self.url, socketio_path="/socket.io", transports=["polling"], wait_timeout=TIMEOUT
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        # abort=True: python-engineio's server leaves a pending long-poll open until the next
        # ping (25 s) after a clean close; the browser never waits for it, nor do we
        await self.client.eio.disconnect(abort=True)

    async def next(self, timeout: float = TIMEOUT) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), timeout)

    async def expect(self, name: str, timeout: float = TIMEOUT) -> Any:
        event, data = await self.next(timeout)
        assert event == name, (event, data)
        return data

    async def nothing(self, wait: float = 0.5) -> None:
        with pytest.raises(asyncio.TimeoutError):
            event = await self.next(wait)
            pytest.fail(f"unexpected event {event}")

    async def session(self, data: Any = None) -> dict[str, str]:
        await self.client.emit("session_request", data)
        return dict(await self.expect("session_confirm"))

    async def say(self, message: Any, **extra: Any) -> None:
        await self.client.emit("user_uttered", {"message": message, **extra})


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 20))


# --- sessions -------------------------------------------------------------------------------


def test_session_ids_are_issued_by_the_server(server: StubServer) -> None:
    async def scenario() -> None:
        async with Chat(server.url) as chat:
            # a debtor's phone number as session id would be an account takeover: never adopted
            confirmed = await chat.session({"session_id": "5215512345678"})
            assert confirmed["session_id"] != "5215512345678"
            assert SESSION_ID_RE.fullmatch(confirmed["session_id"])
            assert isinstance(server.channel, WebChatInput)
            assert server.channel.signer.verify(confirmed["session_id"], confirmed["signature"])
            await chat.say("hola", session_id="5215512345678")
            assert (await chat.expect("chat_error"))["code"] == "wrong_session"
            await chat.say("hola", session_id=confirmed["session_id"])
            assert await chat.expect("bot_uttered") == {
                "text": "eco: hola",
                "quick_replies": [{"content_type": "text", **b} for b in BUTTONS],
            }
        async with Chat(server.url) as other:
            assert (await other.session())["session_id"] != confirmed["session_id"]
        (message,) = server.agent.received
        assert message.sender_id == confirmed["session_id"] and message.sender_id.startswith("web-")
        assert message.input_channel == "webchat" and message.text == "hola"

    run(scenario())


def test_reply_arrives_after_reconnecting_to_a_persisted_session(server: StubServer) -> None:
    """RasaHQ/rasa#13027: Rasa's SocketIOInput never awaits ``enter_room``, so on
    python-socketio 5.x the socket is not in the session's room and this reply is lost."""

    async def scenario() -> None:
        async with Chat(server.url) as first:
            issued = await first.session()
            await first.say("hola")
            assert (await first.expect("bot_uttered"))["text"] == "eco: hola"
        async with Chat(server.url) as again:  # reload: a new socket presents the stored pair
            resumed = await again.session(issued)
            assert resumed == issued
            await again.say("sigo aquí")
            assert (await again.expect("bot_uttered"))["text"] == "eco: sigo aquí"
        assert {m.sender_id for m in server.agent.received} == {issued["session_id"]}

    run(scenario())


def test_both_tabs_of_a_session_get_the_replies(server: StubServer) -> None:
    async def scenario() -> None:
        async with Chat(server.url) as tab1, Chat(server.url) as tab2:
            issued = await tab1.session()
            assert await tab2.session(issued) == issued
            await tab1.say("hola")
            assert (await tab1.expect("bot_uttered"))["text"] == "eco: hola"
            assert (await tab2.expect("bot_uttered"))["text"] == "eco: hola"

    run(scenario())


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda s: {"session_id": s["session_id"]}, id="no-signature"),
        pytest.param(lambda s: {**s, "signature": s["signature"][:-2] + "AA"}, id="bad-signature"),
        pytest.param(lambda s: {**s, "session_id": "web-" + "A" * 22}, id="other-id"),
        pytest.param(lambda s: {**s, "signature": None}, id="null-signature"),
        pytest.param(lambda s: [s["session_id"], s["signature"]], id="not-an-object"),
    ],
)
def test_forged_session_ids_are_refused(server: StubServer, forge: Any) -> None:
    async def scenario() -> None:
        async with Chat(server.url) as chat:
            issued = await chat.session()
        async with Chat(server.url) as attacker:
            got = await attacker.session(forge(issued))
            assert got["session_id"] != issued["session_id"]
            assert SESSION_ID_RE.fullmatch(got["session_id"])

    run(scenario())


def test_a_socket_cannot_send_into_another_session(server: StubServer) -> None:
    async def scenario() -> None:
        async with Chat(server.url) as victim, Chat(server.url) as attacker:
            target = await victim.session()
            await attacker.session()
            await attacker.say("quiero el saldo", session_id=target["session_id"])
            error = await attacker.expect("chat_error")
            assert error["code"] == "wrong_session" and "conversación" in error["text"]
            await victim.nothing()
        assert server.agent.received == []

    run(scenario())


def test_messages_before_session_request_are_refused(server: StubServer) -> None:
    async def scenario() -> None:
        async with Chat(server.url) as chat:
            await chat.say("hola", session_id="web-" + "B" * 22)
            assert (await chat.expect("chat_error"))["code"] == "no_session"
            await chat.nothing()
        assert server.agent.received == []

    run(scenario())


def test_without_persistence_sessions_are_not_resumed() -> None:
    async def scenario(url: str) -> None:
        async with Chat(url) as chat:
            issued = await chat.session()
        async with Chat(url) as again:
            assert (await again.session(issued))["session_id"] != issued["session_id"]

    with serve_stub(webchat(session_persistence=False)) as running:
        run(scenario(running.url))


# --- messages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"message": ""}, "empty"),
        ({"message": " \n\t "}, "empty"),
        ({"message": 42}, "invalid"),
        ({"message": None}, "invalid"),
        ({"message": ["hola"]}, "invalid"),
        ({}, "invalid"),
        ("hola", "invalid"),
        (None, "invalid"),
    ],
    ids=[
        "empty",
        "blank",
        "number",
        "null",
        "list",
        "missing",
        "not-an-object",
        "none",
    ],
)
def test_bad_messages_get_a_polite_error(server: StubServer, payload: Any, code: str) -> None:
    async def scenario() -> None:
        async with Chat(server.url) as chat:
            await chat.session()
            await chat.client.emit("user_uttered", payload)
            error = await chat.expect("chat_error")
            assert error["code"] == code
            assert error["text"].endswith(("por favor.", "por favor?"))
            await chat.say("hola")  # the socket still works
            assert (await chat.expect("bot_uttered"))["text"] == "eco: hola"
        assert [m.text for m in server.agent.received] == ["hola"]

    run(scenario())


def test_longest_message_is_accepted(server: StubServer) -> None:
    async def scenario() -> None:
        async with Chat(server.url) as chat:
            await chat.session()
            await chat.say("a" * MAX_MESSAGE_CHARS)
            assert (await chat.expect("bot_uttered"))["text"].startswith("eco: aaa")

    run(scenario())


@pytest.mark.parametrize("size", [MAX_MESSAGE_CHARS + 1, 100_000])
def test_an_over_long_message_reaches_the_bot_bounded(server: StubServer, size: int) -> None:
    """Rasa keeps the text in the tracker: never more than one character over the limit (the
    NLU answers it "too long", from domain.yml)."""
    text = ("te pago 500 el viernes " * (size // 20))[:size]

    async def scenario() -> None:
        async with Chat(server.url) as chat:
            await chat.session()
            await chat.say(text)
            assert (await chat.expect("bot_uttered", timeout=10))["text"].startswith("eco: te")

    run(scenario())
    [message] = server.agent.received
    assert message.text == text[: MAX_MESSAGE_CHARS + 1]
    assert len(message.text) == MAX_MESSAGE_CHARS + 1


def test_button_payloads_and_custom_lists_reach_the_browser(server: StubServer) -> None:
    async def scenario() -> None:
        async with Chat(server.url) as chat:
            await chat.session()
            await chat.say(BUTTONS[1]["payload"])
            assert await chat.expect("bot_uttered") == {
                "text": f"Recibí tu elección: {BUTTONS[1]['payload']}"
            }
            await chat.say("lista")
            buttons = await chat.expect("bot_uttered")
            assert [q["payload"] for q in buttons["quick_replies"]] == [r["id"] for r in LIST_ROWS]
            # Rasa's SocketIOOutput raises TypeError on this payload; here it arrives whole
            assert await chat.expect("bot_uttered") == {
                "custom": {"type": "list", "rows": LIST_ROWS}
            }

    run(scenario())


def test_only_the_time_zone_metadata_reaches_the_bot(server: StubServer) -> None:
    async def scenario() -> None:
        async with Chat(server.url) as chat:
            await chat.session()
            await chat.say(
                "hola", metadata={"time_zone": "America/Tijuana", "phone": "5215512345678"}
            )
            await chat.expect("bot_uttered")
            await chat.say("otra vez", metadata=json.dumps({"time_zone": "America/Cancun"}))
            await chat.expect("bot_uttered")
            await chat.say("y otra", metadata="{no es json")
            await chat.expect("bot_uttered")
        assert [m.metadata for m in server.agent.received] == [
            {"time_zone": "America/Tijuana"},
            {"time_zone": "America/Cancun"},
            {},
        ]

    run(scenario())


def test_output_channel_for_external_events(server: StubServer) -> None:
    """``/conversations/<id>/execute?output_channel=latest`` reaches the session's room."""

    async def scenario() -> None:
        async with Chat(server.url) as chat:
            issued = await chat.session()
            output = server.channel.get_output_channel()
            assert output is not None and output.name() == "webchat"
            future = asyncio.run_coroutine_threadsafe(
                output.send_text_message(issued["session_id"], "Te recordamos tu pago."),
                server.loop,
            )
            await asyncio.wrap_future(future)
            assert await chat.expect("bot_uttered") == {"text": "Te recordamos tu pago."}

    run(scenario())


# --- rate limits ----------------------------------------------------------------------------

NOTICE = responses.text("utter_demasiados_mensajes")
DEFAULTS = load_settings({})  # 20 messages a minute per session, 120 per address


def limited_webchat() -> WebChatInput:
    """The web chat with the default limits on a clock that stands still (no refill mid-test)."""
    limiter = RateLimiter(
        DEFAULTS.rate_limit_per_minute,
        DEFAULTS.rate_limit_per_address_per_minute,
        FixedClock(datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc)),
    )
    return WebChatInput(session_persistence=True, gate=InboundGate(limiter, NOTICE))


async def flood(chat: Chat, count: int) -> None:
    """``count`` messages as fast as the client sends them in small batches: python-engineio
    refuses a long-polling POST with more than 16 packets ("Too many packets in payload") and
    drops the connection, which would end the flood early."""
    for n in range(count):
        await chat.say(f"mensaje {n}")
        await asyncio.sleep(0.02)


async def replies(chat: Chat, count: int) -> Counter[str]:
    """The next ``count`` events (by name, with the error code), then half a second of nothing."""
    seen: Counter[str] = Counter()
    for _ in range(count):
        event, data = await chat.next(TIMEOUT)
        if event == "chat_error":
            assert data == {"code": "rate_limited", "text": NOTICE}
            event = "rate_limited"
        seen[event] += 1
    await chat.nothing()
    return seen


def test_a_flood_from_one_session_reaches_the_bot_20_times_and_gets_one_notice() -> None:
    async def scenario(url: str) -> None:
        async with Chat(url) as chat:
            await chat.session()
            await flood(chat, 35)
            assert await replies(chat, 21) == {"bot_uttered": 20, "rate_limited": 1}

    with serve_stub(limited_webchat()) as running:
        run(scenario(running.url))
        assert len(running.agent.received) == 20


def test_many_sessions_from_one_address_share_its_limit() -> None:
    """Seven sockets, a new session each, 20 messages each, all from 127.0.0.1: 120 reach the
    bot; the seventh session gets nothing through and is told once."""

    async def scenario(url: str) -> Counter[str]:
        total: Counter[str] = Counter()
        for _ in range(7):
            async with Chat(url) as chat:
                await chat.session()
                await flood(chat, 20)
                got = Counter[str]()
                while True:
                    try:
                        event, data = await chat.next(1.0)
                    except asyncio.TimeoutError:
                        break
                    got["rate_limited" if event == "chat_error" else event] += 1
                    if event == "chat_error":
                        assert data == {"code": "rate_limited", "text": NOTICE}
                assert got["rate_limited"] <= 1
                total.update(got)
        return total

    with serve_stub(limited_webchat()) as running:
        total = asyncio.run(asyncio.wait_for(scenario(running.url), 60))
        assert len(running.agent.received) == 120
    assert total == {"bot_uttered": 120, "rate_limited": 1}  # the 7th session, told once


def test_rate_limit_notices_reach_only_the_sender() -> None:
    async def scenario(url: str) -> None:
        async with Chat(url) as flooder, Chat(url) as other:
            await flooder.session()
            await other.session()
            await flood(flooder, 25)
            assert await replies(flooder, 21) == {"bot_uttered": 20, "rate_limited": 1}
            await other.say("hola")
            assert (await other.expect("bot_uttered"))["text"] == "eco: hola"

    with serve_stub(limited_webchat()) as running:
        run(scenario(running.url))


# --- session ids are not phone numbers --------------------------------------------------------


def test_issued_session_ids_are_never_a_phone_number(server: StubServer) -> None:
    """The actions try the sender id as the debtor's number first: no id may parse as one."""
    signer = SessionSigner(b"s" * 32)
    issued = [signer.new_session_id() for _ in range(20_000)]
    assert len(set(issued)) == len(issued)
    parsed = []
    for session_id in issued:
        assert SESSION_ID_RE.fullmatch(session_id), session_id
        assert signer.verify(session_id, signer.sign(session_id))
        try:
            parsed.append(normalize_phone(session_id))
        except InvalidPhone:
            continue
    assert parsed == []

    async def from_the_server() -> list[str]:
        ids = []
        for _ in range(5):
            async with Chat(server.url) as chat:
                ids.append((await chat.session())["session_id"])
        return ids

    for session_id in run(from_the_server()):
        with pytest.raises(InvalidPhone):
            normalize_phone(session_id)


# --- secret ---------------------------------------------------------------------------------


def test_signatures_survive_a_restart_with_the_environment_secret(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Each load_settings() is a process start reading WEBCHAT_SESSION_SECRET.
    monkeypatch.setenv(SECRET_ENV, "s" * 48)
    first = SessionSigner.from_settings(load_settings())
    second = SessionSigner.from_settings(load_settings())
    session_id = first.new_session_id()
    assert second.verify(session_id, first.sign(session_id))
    monkeypatch.delenv(SECRET_ENV)
    with caplog.at_level(logging.WARNING, logger="cobranza.channels.webchat"):
        random_one = SessionSigner.from_settings(load_settings())
    assert "will not survive a restart" in caplog.text
    assert not random_one.verify(session_id, first.sign(session_id))


# --- page -----------------------------------------------------------------------------------


def http_get(url: str, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """Sends the path exactly as given (no client-side normalisation)."""
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        conn.endheaders()
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


def test_the_page_and_its_assets_are_served(server: StubServer) -> None:
    status, headers, body = http_get(server.url, "/webchat/")
    assert status == 200 and headers["content-type"] == "text/html; charset=utf-8"
    page = body.decode()
    assert "Asistente de cobranza" in page and 'placeholder="Escribe tu mensaje…"' in page
    assert 'data-socketio-path="/socket.io"' in page and "{{" not in page
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert "http://" not in page and "https://" not in page  # nothing from a CDN

    for name, content_type in [
        ("chat.js", "text/javascript; charset=utf-8"),
        ("chat.css", "text/css; charset=utf-8"),
        ("socket.io.min.js", "text/javascript; charset=utf-8"),
    ]:
        status, headers, body = http_get(server.url, f"/webchat/{name}")
        assert status == 200 and headers["content-type"] == content_type, name
        assert body == (STATIC_DIR / name).read_bytes()
    assert b"Socket.IO v4." in (STATIC_DIR / "socket.io.min.js").read_bytes()[:100]

    status, headers, body = http_get(server.url, "/webchat/chat.js", method="HEAD")
    assert status == 200 and body == b"" and headers["content-type"].startswith("text/javascript")
    status, headers, _ = http_get(server.url, "/webchat")
    assert status in (301, 302, 307, 308) and headers["location"] == "webchat/"
    assert http_get(server.url, "/webchat/index.html")[2] == http_get(server.url, "/webchat/")[2]
    assert http_get(server.url, "/webchat/nada.js")[0] == 404
    status, _, body = http_get(server.url, "/webhooks/webchat/")
    assert status == 200 and json.loads(body) == {"status": "ok"}


@pytest.mark.parametrize(
    "path",
    [
        "/webchat/../../etc/passwd",
        "/webchat/..%2F..%2Fetc%2Fpasswd",
        "/webchat/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/webchat/%2e%2e/%2e%2e/etc/passwd",
        "/webchat/..%252F..%252Fetc%252Fpasswd",
        "/webchat/..%5c..%5cetc%5cpasswd",
        "/webchat/..\\..\\etc\\passwd",
        "/webchat/%2Fetc%2Fpasswd",
        "/webchat//etc/passwd",
        "/webchat/....//....//etc/passwd",
        "/webchat/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd",
        "/webchat/..",
        "/webchat/../webchat.py",
        "/webchat/..%2Fwebchat.py",
        "/webchat/..%2F__init__.py",
    ],
)
def test_path_traversal_is_refused(server: StubServer, path: str) -> None:
    status, _, body = http_get(server.url, path)
    assert status in (400, 404), (path, status)
    assert b"root:" not in body and b"import" not in body
