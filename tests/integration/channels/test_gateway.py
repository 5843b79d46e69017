"""The WhatsApp gateway (cobranza/channels/whatsapp/gateway.py) over real HTTP on loopback: Meta
(an aiohttp client, signed deliveries from the fake Graph API's builders), the gateway in this
process on a free port, real Redis on 127.0.0.1:6379 (a unique key prefix per test), and a real
upstream HTTP server standing in for nginx's private server, which checks what it receives:
the signature under the app secret, the route header, one sender per request.

Hostile input is normal input: forged and missing signatures, an oversized body (declared and
undeclared), malformed JSON, replays, concurrent identical deliveries, an upstream that fails,
Redis down. One test runs the module as a process: missing settings, /health, SIGTERM."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import redis
from aiohttp import web

from cobranza.channels.whatsapp.gateway import ROUTE_HEADER, build_app
from cobranza.channels.whatsapp.parse import parse_webhook
from cobranza.config import PROJECT_ROOT, GatewaySettings, Secret
from cobranza.simulation.fake_graph import (
    signed_request,
    status_update,
    text_message,
    webhook_payload,
)
from cobranza.testing.servers import free_port
from tests.support.http_attacks import raw_request
from tests.support.redis_switch import RedisSwitch

APP_SECRET = "secreto-de-la-app-" + "x" * 14
VERIFY_TOKEN = "token-de-verificacion"
REDIS_URL = "redis://127.0.0.1:6379/0"
ANA, BETO, CARLA = "5215511111111", "5215522222222", "5215533333333"
LIMIT = 64 * 1024  # RASA_MAX_REQUEST_BYTES, at its minimum: the gateway's body bound


def route_of(sender: str) -> str:
    return hmac.new(APP_SECRET.encode(), sender.encode(), hashlib.sha256).hexdigest()


@dataclass
class Received:
    route: str
    payload: dict[str, Any]

    @property
    def senders(self) -> set[str]:
        messages, statuses = parse_webhook(self.payload)
        return {m.wa_id for m in messages} | {s.wa_id for s in statuses}

    @property
    def message_ids(self) -> list[str]:
        return [m.message_id for m in parse_webhook(self.payload)[0]]


@dataclass
class Upstream:
    """nginx's private server as the gateway sees it: records every forward it accepts, after
    checking it as a replica would (signature) and as nginx would (the route header)."""

    status_for: Callable[[Received], int] = lambda _r: 200
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        expected = "sha256=" + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        if request.headers.get("X-Hub-Signature-256") != expected:
            self.refused.append("signature")
            return web.json_response({"error": "invalid signature"}, status=403)
        route = request.headers.get(ROUTE_HEADER, "")
        if not route:
            self.refused.append("no route")
            return web.Response(status=400)
        received = Received(route, json.loads(raw))
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.status_for(received)
        if status < 300:
            self.received.append(received)
        return web.json_response({}, status=status)

    def ids(self) -> list[str]:
        return [i for r in self.received for i in r.message_ids]


@dataclass
class Running:
    urls: list[str]  # one per gateway process, sharing the upstream and Redis's prefix
    upstream: Upstream
    session: aiohttp.ClientSession
    prefix: str

    @property
    def url(self) -> str:
        return self.urls[0]

    async def deliver(
        self, payload: dict[str, Any], *, secret: str = APP_SECRET, via: int = 0
    ) -> tuple[int, str]:
        body, headers = signed_request(payload, secret)
        url = self.urls[via % len(self.urls)]
        async with self.session.post(url, data=body, headers=headers) as response:
            return response.status, await response.text()


def settings(upstream_port: int, redis_url: str = REDIS_URL) -> GatewaySettings:
    return GatewaySettings(
        app_secret=Secret(APP_SECRET),
        verify_token=Secret(VERIFY_TOKEN),
        redis_url=Secret(redis_url),
        port=free_port(),
        upstream_url=f"http://127.0.0.1:{upstream_port}/webhooks/whatsapp/webhook",
        dedup_ttl=timedelta(hours=1),
        max_request_bytes=LIMIT,
    )


def forget(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@asynccontextmanager
async def running(
    upstream: Upstream | None = None,
    redis_url: str = REDIS_URL,
    forward_timeout: float = 10.0,
    gateways: int = 1,
    redis_retry: float = 5.0,
) -> AsyncIterator[Running]:
    upstream = upstream or Upstream()
    upstream_app = web.Application()
    upstream_app.router.add_post("/webhooks/whatsapp/webhook", upstream.handle)
    upstream_runner = web.AppRunner(upstream_app, access_log=None)
    await upstream_runner.setup()
    upstream_port = free_port()
    await web.TCPSite(upstream_runner, "127.0.0.1", upstream_port).start()
    prefix = f"cobranza:test:gateway:{secrets.token_hex(6)}:"
    runners, urls = [], []
    try:
        for _ in range(gateways):
            config = settings(upstream_port, redis_url)
            app = build_app(
                config, key_prefix=prefix, forward_timeout=forward_timeout, redis_retry=redis_retry
            )
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, config.host, config.port).start()
            urls.append(f"http://127.0.0.1:{config.port}/webhooks/whatsapp/webhook")
        async with aiohttp.ClientSession() as session:
            yield Running(urls, upstream, session, prefix)
    finally:
        for runner in runners:
            await runner.cleanup()
        await upstream_runner.cleanup()
        forget(prefix)


def on_gateway(
    scenario: Callable[[Running], Awaitable[None]], upstream: Upstream | None = None, **options: Any
) -> None:
    """Run ``scenario`` against the gateways :func:`running` starts with these options, from
    a test (one event loop for all of it)."""

    async def main() -> None:
        async with running(upstream, **options) as gw:
            await scenario(gw)

    asyncio.run(main())


def batch(*values: dict[str, Any]) -> dict[str, Any]:
    return webhook_payload(list(values))


# --------------------------------------------------------------------------- the handshake


def test_the_handshake_answers_the_challenge_only_to_our_verify_token() -> None:
    async def scenario(gw: Running) -> None:
        good = {
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "42",
        }
        async with gw.session.get(gw.url, params=good) as response:
            assert response.status == 200
            assert response.content_type == "text/plain"
            assert await response.text() == "42"
        for bad in (
            {**good, "hub.verify_token": VERIFY_TOKEN + "x"},
            {**good, "hub.verify_token": ""},
            {**good, "hub.mode": "unsubscribe"},
            {"hub.challenge": "42"},
        ):
            async with gw.session.get(gw.url, params=bad) as response:
                assert response.status == 403
                assert "42" not in await response.text()
        async with gw.session.get(gw.url.replace("/webhooks/whatsapp/webhook", "/health")) as r:
            assert r.status == 200 and (await r.json())["status"] == "ok"

    on_gateway(scenario)


# --------------------------------------------------------------------------- attacks


def test_forged_and_missing_signatures_are_refused_and_nothing_is_forwarded() -> None:
    async def scenario(gw: Running) -> None:
        payload = batch(text_message(ANA, "hola", "wamid.forjado"))
        status, _ = await gw.deliver(payload, secret="otro-secreto")
        assert status == 403
        body, headers = signed_request(payload, APP_SECRET)
        async with gw.session.post(gw.url, data=body, headers={}) as response:
            assert response.status == 401
        # A valid signature over another body does not sign this one.
        other, _ = signed_request(batch(text_message(ANA, "adios")), APP_SECRET)
        async with gw.session.post(gw.url, data=other, headers=headers) as response:
            assert response.status == 403
        assert gw.upstream.received == [] and gw.upstream.refused == []

    on_gateway(scenario)


def test_an_oversized_body_is_refused_with_413_without_being_read_whole() -> None:
    async def scenario(gw: Running) -> None:
        huge = batch(text_message(ANA, "a" * LIMIT, "wamid.grande"))
        status, _ = await gw.deliver(huge)
        assert status == 413
        port = int(gw.url.split(":")[2].split("/")[0])
        # Declared far beyond the bound and never sent: refused from the header alone.
        head = (
            "POST /webhooks/whatsapp/webhook HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: 1073741824"
        )
        status_declared, _ = await asyncio.to_thread(raw_request, port, head, b"{}", 5)
        assert status_declared == 413
        # Chunked, with no length: refused once the bound is passed.
        chunk = b"a" * 4096
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(40))
        head = (
            "POST /webhooks/whatsapp/webhook HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked"
        )
        status_chunked, _ = await asyncio.to_thread(raw_request, port, head, chunked, 5)
        assert status_chunked in (413, -1)
        # Compressed bodies are not inflated (Meta does not compress; a bomb would).
        body, headers = signed_request(batch(text_message(ANA, "hola")), APP_SECRET)
        headers["Content-Encoding"] = "deflate"
        async with gw.session.post(gw.url, data=body, headers=headers) as response:
            assert response.status == 415
        assert gw.upstream.received == []

    on_gateway(scenario)


def test_malformed_json_and_foreign_shapes_get_400() -> None:
    async def scenario(gw: Running) -> None:
        for raw in (b"{not json", b"[" * 60_000, b'{"object": NaN}', "ñ".encode("latin-1")):
            headers = {
                "X-Hub-Signature-256": "sha256="
                + hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
            }
            async with gw.session.post(gw.url, data=raw, headers=headers) as response:
                assert response.status == 400, raw[:20]
        status, _ = await gw.deliver({"object": "page", "entry": []})
        assert status == 400
        no_sender = batch(text_message(ANA, "hola"))
        del no_sender["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
        status, _ = await gw.deliver(no_sender)
        assert status == 400
        assert gw.upstream.received == []

    on_gateway(scenario)


# --------------------------------------------------------------------------- splitting


def test_a_batch_of_three_senders_becomes_three_signed_forwards_one_sender_each() -> None:
    async def scenario(gw: Running) -> None:
        payload = batch(
            text_message(ANA, "hola", "wamid.a1"),
            text_message(BETO, "buenas", "wamid.b1"),
            text_message(ANA, "soy ana", "wamid.a2"),
            text_message(CARLA, "ya pagué", "wamid.c1"),
        )
        status, _ = await gw.deliver(payload)
        assert status == 200
        assert gw.upstream.refused == []
        by_route = {r.route: r for r in gw.upstream.received}
        assert set(by_route) == {route_of(ANA), route_of(BETO), route_of(CARLA)}
        for sender in (ANA, BETO, CARLA):
            part = by_route[route_of(sender)]
            assert part.senders == {sender}
            contacts = part.payload["entry"][0]["changes"][0]["value"]["contacts"]
            assert {c["wa_id"] for c in contacts} == {sender}
            assert sender not in part.route  # a keyed hash, never the number
        assert by_route[route_of(ANA)].message_ids == ["wamid.a1", "wamid.a2"]

    on_gateway(scenario)


def test_statuses_are_routed_by_their_recipient() -> None:
    async def scenario(gw: Running) -> None:
        payload = batch(
            status_update(ANA, "wamid.saliente1", "delivered"),
            status_update(BETO, "wamid.saliente2", "read"),
            text_message(ANA, "gracias", "wamid.a9"),
        )
        assert (await gw.deliver(payload))[0] == 200
        by_route = {r.route: r for r in gw.upstream.received}
        assert set(by_route) == {route_of(ANA), route_of(BETO)}
        ana = parse_webhook(by_route[route_of(ANA)].payload)
        assert [m.message_id for m in ana[0]] == ["wamid.a9"]
        assert [(s.message_id, s.status) for s in ana[1]] == [("wamid.saliente1", "delivered")]
        beto = parse_webhook(by_route[route_of(BETO)].payload)
        assert beto[0] == [] and [s.wa_id for s in beto[1]] == [BETO]
        # The same status again is left out; the next status of that message is not.
        again = batch(
            status_update(ANA, "wamid.saliente1", "delivered"),
            status_update(ANA, "wamid.saliente1", "read"),
        )
        assert (await gw.deliver(again))[0] == 200
        last = parse_webhook(gw.upstream.received[-1].payload)[1]
        assert [(s.message_id, s.status) for s in last] == [("wamid.saliente1", "read")]
        assert len(gw.upstream.received) == 3

    on_gateway(scenario)


# --------------------------------------------------------------------------- de-duplication


def test_a_replayed_delivery_is_forwarded_once() -> None:
    async def scenario(gw: Running) -> None:
        payload = batch(text_message(ANA, "hola", "wamid.replay"))
        for _ in range(3):
            assert (await gw.deliver(payload))[0] == 200
        assert gw.upstream.ids() == ["wamid.replay"]
        # Remembered under the prefix, for GATEWAY_DEDUP_TTL_HOURS (1 h here).
        client = redis.Redis.from_url(REDIS_URL)
        try:
            assert 3500 < client.ttl(gw.prefix + "wamid.replay") <= 3600
        finally:
            client.close()
        # A batch mixing the old message and a new one forwards only the new one.
        mixed = batch(
            text_message(ANA, "hola", "wamid.replay"), text_message(ANA, "otra", "wamid.new")
        )
        assert (await gw.deliver(mixed))[0] == 200
        assert gw.upstream.ids() == ["wamid.replay", "wamid.new"]

    on_gateway(scenario)


def test_a_failed_part_gets_502_and_the_redelivery_forwards_only_that_part() -> None:
    failing = {"on": True}

    def status_for(received: Received) -> int:
        return 500 if failing["on"] and received.route == route_of(BETO) else 200

    async def scenario(gw: Running) -> None:
        payload = batch(
            text_message(ANA, "hola", "wamid.a"),
            text_message(BETO, "hola", "wamid.b"),
            text_message(CARLA, "hola", "wamid.c"),
        )
        assert (await gw.deliver(payload))[0] == 502
        assert sorted(gw.upstream.ids()) == ["wamid.a", "wamid.c"]
        failing["on"] = False
        assert (await gw.deliver(payload))[0] == 200  # Meta delivers the whole batch again
        assert sorted(gw.upstream.ids()) == ["wamid.a", "wamid.b", "wamid.c"]

    on_gateway(scenario, Upstream(status_for=status_for))


def test_a_slow_upstream_gets_502() -> None:
    upstream = Upstream()

    async def scenario(gw: Running) -> None:
        upstream.delay = 1.5
        started = time.monotonic()
        assert (await gw.deliver(batch(text_message(ANA, "hola", "wamid.lento"))))[0] == 502
        assert 0.9 < time.monotonic() - started < 1.4
        upstream.delay = 0.0
        assert (await gw.deliver(batch(text_message(ANA, "hola", "wamid.lento"))))[0] == 200

    # The timeout per forward is 10 s (FORWARD_TIMEOUT); 1 s here, to keep the test short.
    on_gateway(scenario, upstream, forward_timeout=1.0)


def test_redis_down_still_forwards_everything_and_logs_once_without_content(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="cobranza")

    async def scenario(gw: Running) -> None:
        payload = batch(text_message(ANA, "hola", "wamid.sinredis"))
        for _ in range(3):
            assert (await gw.deliver(payload))[0] == 200
        # Without its memory the gateway forwards the replay: the replica's inbox drops it.
        assert gw.upstream.ids() == ["wamid.sinredis"] * 3

    on_gateway(scenario, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    outage = [r for r in caplog.records if "Redis" in r.getMessage()]
    assert len(outage) == 1, [r.getMessage() for r in outage]
    text = caplog.text
    for secret in (ANA, "wamid.sinredis", "hola", APP_SECRET, route_of(ANA)):
        assert secret not in text


def test_each_redis_outage_is_logged_once_and_de_duplication_resumes_after_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="cobranza")
    switch = RedisSwitch()

    async def scenario(gw: Running) -> None:
        switch.on()  # the gateway opens Redis lazily: at the first delivery
        first = batch(text_message(ANA, "hola", "wamid.antes"))
        second = batch(text_message(ANA, "sigo", "wamid.durante"))
        assert (await gw.deliver(first))[0] == 200
        switch.off()
        for payload in (first, second, second):  # the replay of first is forwarded again
            assert (await gw.deliver(payload))[0] == 200
            await asyncio.sleep(0.35)  # past the retry: each delivery tries Redis again
        switch.on()
        await asyncio.sleep(0.35)
        assert (await gw.deliver(first))[0] == 200  # remembered before the outage
        assert (await gw.deliver(second))[0] == 200  # accepted during it: not remembered
        assert (await gw.deliver(second))[0] == 200  # remembered now
        switch.off()
        assert (await gw.deliver(batch(text_message(ANA, "otra", "wamid.x"))))[0] == 200
        assert gw.upstream.ids() == [
            "wamid.antes",
            "wamid.antes",
            "wamid.durante",
            "wamid.durante",
            "wamid.durante",
            "wamid.x",
        ]

    with switch:
        on_gateway(scenario, redis_url=switch.url, redis_retry=0.3)
    messages = [r.getMessage() for r in caplog.records if "Redis" in r.getMessage()]
    assert [m.split(" ")[1] for m in messages] == ["unreachable", "answers", "unreachable"]


def test_two_gateways_forward_concurrent_identical_deliveries_at_most_once_each() -> None:
    """What the topology guarantees across gateway processes: Redis's check-then-set is not
    atomic, so each process may forward a message once; the replica's inbox keeps one."""

    async def scenario(gw: Running) -> None:
        payload = batch(text_message(ANA, "hola", "wamid.dos"))
        replies = await asyncio.gather(*(gw.deliver(payload, via=i) for i in range(20)))
        assert [status for status, _ in replies] == [200] * 20
        assert 1 <= len(gw.upstream.ids()) <= 2
        assert set(gw.upstream.ids()) == {"wamid.dos"}
        assert (await gw.deliver(payload, via=1))[0] == 200  # remembered by then
        assert len(gw.upstream.ids()) <= 2

    on_gateway(scenario, Upstream(delay=0.2), gateways=2)


def test_concurrent_identical_deliveries_are_forwarded_once_by_one_gateway() -> None:
    """20 identical deliveries at once to one gateway process: one forward. Across several
    gateway processes the Redis check-then-set is not atomic (two may both find the id
    unseen and both forward it); the replica's inbox (its primary key) drops the second."""

    async def scenario(gw: Running) -> None:
        payload = batch(text_message(ANA, "hola", "wamid.veinte"))
        statuses = await asyncio.gather(*(gw.deliver(payload) for _ in range(20)))
        assert [s for s, _ in statuses] == [200] * 20
        assert gw.upstream.ids() == ["wamid.veinte"]

    on_gateway(scenario, Upstream(delay=0.2))


def test_concurrent_identical_deliveries_while_the_upstream_fails_all_get_502() -> None:
    """A delivery that waited on another's forward of the same message does not answer 200
    when that forward failed: Meta must deliver it again."""

    async def scenario(gw: Running) -> None:
        payload = batch(text_message(ANA, "hola", "wamid.falla"))
        statuses = await asyncio.gather(*(gw.deliver(payload) for _ in range(5)))
        assert [s for s, _ in statuses] == [502] * 5

    on_gateway(scenario, Upstream(status_for=lambda _r: 503, delay=0.2))


# --------------------------------------------------------------------------- the process


def _environment(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("WHATSAPP_", "GATEWAY_", "DATABASE_URL"))
    }
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env.update(overrides)
    return env


def test_the_module_runs_stops_on_sigterm_and_names_a_missing_setting() -> None:
    missing = subprocess.run(
        [sys.executable, "-m", "cobranza.channels.whatsapp.gateway"],
        env=_environment(WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert missing.returncode == 1
    assert "WHATSAPP_APP_SECRET" in missing.stderr

    asyncio.run(_serve_then_sigterm_in_the_middle_of_a_forward())


async def _serve_then_sigterm_in_the_middle_of_a_forward() -> None:
    """SIGTERM while a delivery's forward is in progress: the delivery in hand is finished
    (200 to Meta), the process exits 0, and its log names no one."""
    upstream = Upstream(delay=1.0)
    upstream_app = web.Application()
    upstream_app.router.add_post("/webhooks/whatsapp/webhook", upstream.handle)
    upstream_runner = web.AppRunner(upstream_app, access_log=None)
    await upstream_runner.setup()
    upstream_port = free_port()
    await web.TCPSite(upstream_runner, "127.0.0.1", upstream_port).start()
    port = free_port()
    wamid = f"wamid.sigterm-{secrets.token_hex(6)}"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cobranza.channels.whatsapp.gateway",
        env=_environment(
            WHATSAPP_APP_SECRET=APP_SECRET,
            WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
            GATEWAY_PORT=str(port),
            GATEWAY_UPSTREAM_URL=f"http://127.0.0.1:{upstream_port}/webhooks/whatsapp/webhook",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 30
            while True:
                try:
                    async with session.get(f"http://127.0.0.1:{port}/health") as response:
                        assert response.status == 200
                        break
                except aiohttp.ClientConnectionError:
                    assert process.returncode is None, await process.communicate()
                    assert time.monotonic() < deadline, "the gateway did not start"
                    await asyncio.sleep(0.2)
            body, headers = signed_request(batch(text_message(ANA, "hola", wamid)), APP_SECRET)
            url = f"http://127.0.0.1:{port}/webhooks/whatsapp/webhook"

            async def deliver() -> int:
                async with session.post(url, data=body, headers=headers) as response:
                    return response.status

            delivery = asyncio.create_task(deliver())
            await asyncio.sleep(0.4)  # the forward is waiting on the upstream
            assert not delivery.done()
            process.send_signal(signal.SIGTERM)
            assert await delivery == 200
            _out, err = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0, err
        log = err.decode()
        assert "Traceback" not in log and "stopping" in log
        for secret in (ANA, wamid, "hola", route_of(ANA), VERIFY_TOKEN):
            assert secret not in log
        assert [r.message_ids for r in upstream.received] == [[wamid]]
    finally:
        if process.returncode is None:
            process.kill()
            await process.communicate()
        await upstream_runner.cleanup()
        forget("cobranza:gateway:seen:" + wamid)
