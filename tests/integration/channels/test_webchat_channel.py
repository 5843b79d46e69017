"""The web chat channel on a real Sanic server (loopback, free port) wired the way Rasa wires
channels (``rasa.core.channels.channel.register``), with a stub agent that echoes the text with
two buttons (tests/support/webchat.py). Driven by a real Socket.IO client (python-socketio) and
plain HTTP."""

from __future__ import annotations

import asyncio
import http.client
import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import pytest

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
from cobranza.config import Secret, load_settings
from cobranza.domain.phones import InvalidPhone, normalize_phone
from tests.support.webchat import (
    BUTTONS,
    LIST_ROWS,
    TIMEOUT,
    Chat,
    StubServer,
    flood,
    serve_stub,
    webchat,
)


@pytest.fixture(scope="module")
def server() -> Iterator[StubServer]:
    with serve_stub(webchat()) as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_agent(request: pytest.FixtureRequest) -> None:
    if "server" in request.fixturenames:
        request.getfixturevalue("server").agent.received.clear()


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


# --- several replicas -----------------------------------------------------------------------


def _replica(base: WebChatInput, redis_url: Secret | None) -> WebChatInput:
    """A second Rasa process's web chat: the same session secret, its own Socket.IO server."""
    return WebChatInput(
        session_persistence=True, signer=base.signer, gate=base.gate, redis_url=redis_url
    )


@pytest.mark.parametrize("shared", [True, False], ids=["redis", "in-process"])
def test_a_reply_emitted_on_another_replica_reaches_the_browser(shared: bool) -> None:
    """The console's reply to a web chat visitor goes through whichever replica its call
    reaches; the browser's socket is on another. With WEBCHAT_REDIS_URL the event crosses
    through Redis; without it (one process's manager) it is lost: the reason for the setting."""
    base = webchat()
    url = Secret("redis://127.0.0.1:6379/0") if shared else None
    with serve_stub(_replica(base, url)) as holder, serve_stub(_replica(base, url)) as other:

        async def scenario() -> None:
            async with Chat(holder.url) as chat:
                issued = await chat.session()
                output = other.channel.get_output_channel()
                assert output is not None
                sent = asyncio.run_coroutine_threadsafe(
                    output.send_text_message(issued["session_id"], "hola desde la otra réplica"),
                    other.loop,
                )
                await asyncio.wrap_future(sent)
                if shared:
                    reply = await chat.expect("bot_uttered")
                    assert reply["text"] == "hola desde la otra réplica"
                else:
                    await chat.nothing(1.5)

        run(scenario())
