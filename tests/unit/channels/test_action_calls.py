"""Rasa's check of the action server's answers with its schema checked once
(cobranza/channels/action_calls.py): the same verdicts and messages as Rasa's own, the
meta-schema check once per process, and in place wherever our tracker store is built."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction

from cobranza.channels import action_calls

RASAS_OWN = RemoteAction._validate_action_result  # as Rasa ships it, before anything installs ours
RASAS_RUN = RemoteAction.run

VALID: list[dict[str, Any]] = [
    {"events": [], "responses": []},
    {
        "events": [
            {"event": "slot", "name": "esperando", "value": None, "timestamp": None},
            {"event": "action", "name": "action_listen", "policy": None, "confidence": None},
        ],
        "responses": [{"response": "utter_saldo", "buttons": [], "saldo": "$1,200.00"}],
    },
    {},
]
INVALID: list[dict[str, Any]] = [
    {"events": "slot", "responses": []},
    {"events": [{"event": "slot", "name": 3}], "responses": []},
    {"events": [{"event": "no_such_event"}], "responses": []},
    {"events": [], "responses": ["utter_saldo"]},
    {"events": [{"name": "action_listen"}], "responses": []},
]


@pytest.fixture
def ours() -> Iterator[None]:
    """Our method in place for the test, Rasa's back afterwards."""
    action_calls.validator.cache_clear()
    assert action_calls.install()
    yield
    RemoteAction._validate_action_result = RASAS_OWN
    RemoteAction.run = RASAS_RUN


def _verdict(answer: dict[str, Any]) -> str | None:
    try:
        RemoteAction("action_informar_saldo", None)._validate_action_result(answer)
    except ValidationError as error:
        return error.message
    return None


@pytest.mark.parametrize("answer", VALID + INVALID)
def test_the_same_verdict_and_message_as_rasas_own(answer: dict[str, Any], ours: None) -> None:
    RemoteAction._validate_action_result = RASAS_OWN
    rasas = _verdict(answer)
    assert action_calls.install()
    assert (_verdict(answer) is None) is (answer in VALID)
    assert _verdict(answer) == rasas


def test_the_schema_is_checked_once_per_process(
    ours: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[object] = []
    cls = validator_for(RemoteAction.action_response_format_spec())
    original = cls.check_schema

    def counted(schema: object) -> None:
        checks.append(schema)
        original(schema)

    monkeypatch.setattr(cls, "check_schema", counted)
    for answer in VALID * 5 + INVALID:
        _verdict(answer)
    assert len(checks) == 1


def test_our_tracker_store_puts_it_in_place(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Rasa server of ours builds the store (endpoints.yml), so every one has it."""
    from rasa.shared.core.domain import Domain

    from cobranza import bootstrap
    from cobranza.channels.tracker_store import CobranzaTrackerStore
    from cobranza.config import load_settings

    monkeypatch.setattr(RemoteAction, "_validate_action_result", RASAS_OWN)
    monkeypatch.setattr(RemoteAction, "run", RASAS_RUN)
    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"})
    store = CobranzaTrackerStore(Domain.empty(), app=bootstrap.build(settings, profiles={}))
    assert RemoteAction._validate_action_result is action_calls.validate_action_result
    assert RemoteAction.run is action_calls.run_remote_action
    store.engine.dispose()


# --- the action server's connection, kept between calls ----------------------------------------


class _ActionServer:
    """A stand-in action server on a free loopback port: answers every call with no events and
    notes, per call, the TCP connection it came on (its transport, kept referenced so no two
    connections look alike), the query and the body."""

    def __init__(self, close_connections: bool = False) -> None:
        self.close_connections = close_connections
        self.calls: list[tuple[object, dict[str, str], Any, str]] = []
        self.url = ""

    async def __aenter__(self) -> _ActionServer:
        from aiohttp import web

        async def webhook(request: web.Request) -> web.Response:
            body = await request.json()
            self.calls.append((request.transport, dict(request.query), body, request.content_type))
            answer = web.json_response({"events": [], "responses": []})
            if self.close_connections:
                answer.force_close()  # "Connection: close", then the server closes it
            return answer

        app = web.Application()
        app.router.add_post("/webhook", webhook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/webhook"
        return self

    async def __aexit__(self, *_: object) -> None:
        await action_calls.close_kept_sessions()  # the client's side first, as Rasa's would
        await self._runner.cleanup()

    @property
    def connections(self) -> int:
        return len({id(transport) for transport, *_ in self.calls})


_ENDPOINTS: dict[str, Any] = {}


async def _call(url: str, name: str = "action_informar_saldo") -> list[Any]:
    """One custom action call as Rasa makes it: a new ``RemoteAction`` with the processor's
    endpoint (one object per server URL)."""
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.nlg import TemplatedNaturalLanguageGenerator
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.endpoints import EndpointConfig

    if url not in _ENDPOINTS:
        _ENDPOINTS[url] = EndpointConfig(url, token="-secret-token")
    return await RemoteAction(name, _ENDPOINTS[url]).run(
        CollectingOutputChannel(),
        TemplatedNaturalLanguageGenerator({}),
        DialogueStateTracker("+525512345678", []),
        Domain.empty(),
    )


@pytest.fixture
def kept() -> Iterator[None]:
    """Our connection keeping in place for the test, Rasa's back afterwards."""
    assert action_calls.install()
    yield
    RemoteAction.run = RASAS_RUN
    RemoteAction._validate_action_result = RASAS_OWN


def test_rasa_alone_opens_a_connection_per_call() -> None:
    """What the keeping is for: Rasa 3.6 opens a new session, so a new connection, per call."""

    async def scenario() -> int:
        async with _ActionServer() as server:
            for _ in range(3):
                await _call(server.url)
            return server.connections

    assert RemoteAction.run is RASAS_RUN
    assert asyncio.run(scenario()) == 3


def test_calls_share_one_kept_connection(kept: None) -> None:
    async def scenario() -> tuple[int, int]:
        async with _ActionServer() as server:
            for _ in range(3):
                assert await _call(server.url) == []
            return len(server.calls), server.connections

    assert asyncio.run(scenario()) == (3, 1)


def test_the_same_request_as_rasas_own(kept: None) -> None:
    """Same query (the token), body and content type as Rasa's per-call session sends."""

    async def scenario(run: Any) -> tuple[dict[str, str], Any, str]:
        RemoteAction.run = run
        async with _ActionServer() as server:
            await _call(server.url)
            _, query, body, content_type = server.calls[0]
        return query, body, content_type

    ours = asyncio.run(scenario(RemoteAction.run))
    rasas = asyncio.run(scenario(RASAS_RUN))
    assert ours == rasas
    assert ours[0] == {"token": "-secret-token"}


def test_a_connection_the_server_closed_is_not_reused(kept: None) -> None:
    """An action server that closes its connections (as Sanic does with idle ones): every call
    opens a new one and succeeds."""

    async def scenario() -> tuple[int, int]:
        async with _ActionServer(close_connections=True) as server:
            for _ in range(3):
                assert await _call(server.url) == []
            return len(server.calls), server.connections

    assert asyncio.run(scenario()) == (3, 3)


def test_each_event_loop_gets_its_own_connection(kept: None) -> None:
    """A session belongs to the loop that made it: a call on another loop (tests, a restarted
    server) does not reuse it."""

    async def scenario(server_url: str) -> None:
        assert await _call(server_url) == []
        await action_calls.close_kept_sessions()

    async def serve_twice() -> int:
        async with _ActionServer() as server:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, lambda: asyncio.run(scenario(server.url)))
            await loop.run_in_executor(None, lambda: asyncio.run(scenario(server.url)))
            return server.connections

    assert asyncio.run(serve_twice()) == 2
