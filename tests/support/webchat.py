"""The web chat channel on a real Sanic server (loopback, free port) wired the way Rasa wires
channels (``rasa.core.channels.channel.register``), with a stub agent that echoes the text with
two buttons, and a Socket.IO client that plays one browser tab. The channel's integration tests
and the browser tests (tests/e2e) drive the same stub server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import socketio
from rasa.core.channels import channel as rasa_channel
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Sanic
from sanic.touchup import TouchUp

from cobranza.channels.webchat import WebChatInput

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


async def flood(chat: Chat, count: int) -> None:
    """``count`` messages as fast as the client sends them in small batches: python-engineio
    refuses a long-polling POST with more than 16 packets ("Too many packets in payload") and
    drops the connection, which would end the flood early."""
    for n in range(count):
        await chat.say(f"mensaje {n}")
        await asyncio.sleep(0.02)
