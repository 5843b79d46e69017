"""Attacks on the agents' console, against the real aiohttp app on a loopback port, a real
database and a fake Rasa HTTP API (a real server that records the raw request paths).

Login: brute force on one user, guesses spread over many users from one address, 20 guesses
at the same instant, the lockout's answer for unknown users, durability across a restart.
Sessions: cookie flags, idle and absolute expiry on an injected clock, logout, an agent
disabled mid-session. Requests: hostile conversation ids, forged cross-site POSTs. And the
debtor's file: shown only for a conversation whose date of birth was verified."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import sessionmaker

from cobranza import bootstrap, db
from cobranza.config import load_console_settings, load_settings
from cobranza.console.server import Console
from cobranza.db.models import AuditLog, HandoffTicket
from cobranza.services import agents
from tests.support.clock import NOW

ANA, ANA_PASSWORD = "ana.ruiz", "clave-de-ana-123"
BETO, BETO_PASSWORD = "beto.diaz", "clave-de-beto-123"
HEADERS = {"X-Consola": "1"}  # what the console's page sends with every POST
RASA_TOKEN = "-token-de-prueba"


class MovableClock:
    """The console's clock, moved by the test (idle and absolute session expiry, lockouts)."""

    def __init__(self, instant: datetime) -> None:
        self._instant = instant
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._instant

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._instant += delta


@dataclass
class FakeRasa:
    """Rasa's HTTP API as the console sees it: records every request's raw path and body (the
    console's only way to the debtor's channel)."""

    requests: list[tuple[str, str]] = field(default_factory=list)
    bodies: list[str] = field(default_factory=list)
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.raw_path))
        self.bodies.append(await request.text())
        if request.query.get("token") != RASA_TOKEN:
            return web.json_response({"error": "token"}, status=401)
        if request.method == "GET" and request.path.endswith("/tracker"):
            events = [{"event": "user", "text": "hola", "timestamp": NOW.timestamp() - 60}]
            return web.json_response({"events": events})
        return web.json_response({})

    def paths(self) -> list[str]:
        return [path.split("?")[0] for _, path in self.requests]


class Loop:
    """An asyncio loop in a thread, where the console and the fake Rasa serve."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=30)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()  # else its self-pipe leaks, reported during whichever test runs next


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve on a port the system picks (no window between choosing a port and binding it)."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, int(runner.addresses[0][1])


@dataclass
class Running:
    url: str
    clock: MovableClock
    rasa: FakeRasa
    sessions: sessionmaker
    database_url: str
    stop: Callable[[], None]
    app: web.Application | None = None  # the console's aiohttp app, as served

    def login(
        self, username: str = ANA, password: str = ANA_PASSWORD, **headers: str
    ) -> requests.Response:
        return requests.post(
            f"{self.url}/api/login",
            json={"username": username, "password": password},
            headers={**HEADERS, **headers},
            timeout=30,
        )

    def agent(self, username: str = ANA, password: str = ANA_PASSWORD) -> requests.Session:
        """A logged-in browser-like client (cookie jar, the page's header on POSTs)."""
        client = requests.Session()
        client.headers.update(HEADERS)
        reply = client.post(
            f"{self.url}/api/login", json={"username": username, "password": password}, timeout=30
        )
        assert reply.status_code == 200, reply.text
        return client

    def audit(self, action: str) -> list[AuditLog]:
        with db.session_scope(self.sessions) as session:
            rows = session.execute(select(AuditLog).where(AuditLog.action == action)).scalars()
            return list(rows)


Starter = Callable[..., Running]


def _add_agents(sessions: sessionmaker) -> None:
    with db.session_scope(sessions) as session:
        if not session.execute(select(agents.Agent.id)).first():
            agents.add_agent(session, ANA, "Ana Ruiz", ANA_PASSWORD, MovableClock(NOW))
            agents.add_agent(session, BETO, "Beto Díaz", BETO_PASSWORD, MovableClock(NOW))


@pytest.fixture
def database_url(seeded_sqlite_url: str, tmp_path: Path) -> str:
    """A private copy of the demo portfolio (tickets and logins write to it)."""
    copy = tmp_path / "console.db"
    shutil.copyfile(make_url(seeded_sqlite_url).database or "", copy)
    return f"sqlite:///{copy}"


def _starter(database_url: str) -> Generator[Starter, None, None]:
    loop = Loop()
    engine = db.make_engine(database_url)
    sessions = db.make_session_factory(engine)
    _add_agents(sessions)
    started: list[Running] = []
    clock = MovableClock(NOW)
    try:
        yield from _starting(loop, sessions, clock, database_url, started)
    finally:
        for running in started:
            running.stop()
        loop.stop()
        engine.dispose()


def _starting(
    loop: Loop,
    sessions: sessionmaker,
    clock: MovableClock,
    database_url: str,
    started: list[Running],
) -> Iterator[Starter]:

    def start(**env: str) -> Running:
        rasa = FakeRasa()
        rasa_app = web.Application()
        rasa_app.router.add_route("*", "/{tail:.*}", rasa.handle)
        rasa_runner, rasa_port = loop.run(_serve(rasa_app))
        rasa.url = f"http://127.0.0.1:{rasa_port}"
        settings = load_settings({"DATABASE_URL": database_url, **env})
        config = load_console_settings({"RASA_URL": rasa.url, "RASA_API_TOKEN": RASA_TOKEN})
        console = Console(bootstrap.build(settings, clock=clock), config)
        console_app = console.app()
        console_runner, console_port = loop.run(_serve(console_app))
        runners = [console_runner, rasa_runner]

        def stop() -> None:
            for runner in runners:
                loop.run(runner.cleanup())
            runners.clear()

        running = Running(
            f"http://127.0.0.1:{console_port}",
            clock,
            rasa,
            sessions,
            database_url,
            stop,
            console_app,
        )
        started.append(running)
        return running

    yield start


@pytest.fixture
def start_console(database_url: str) -> Iterator[Starter]:
    yield from _starter(database_url)


@pytest.fixture
def console(start_console: Starter) -> Running:
    return start_console()


def _ticket(running: Running, sender_id: str, phone: str | None = None, **context: Any) -> int:
    with db.session_scope(running.sessions) as session:
        ticket = HandoffTicket(
            sender_id=sender_id,
            debtor_phone=phone,
            channel="rest",
            reason="solicitud_agente",
            priority=10,
            status="open",
            context={"reason": "solicitud_agente", "messages": [], **context},
            created_at=running.clock.now() - timedelta(minutes=3),
        )
        session.add(ticket)
        session.flush()
        return int(ticket.id)


# --- login throttling ---------------------------------------------------------------------------


def test_brute_force_on_one_user_locks_it_durably(start_console: Starter) -> None:
    console = start_console(CONSOLE_LOGIN_MAX_FAILURES_PER_ADDRESS="50")
    for attempt in range(5):
        wrong = console.login(ANA, f"adivinanza-{attempt}")
        assert wrong.status_code == 401, (attempt, wrong.text)
    locked = console.login(ANA, ANA_PASSWORD)  # even the right password, during the lockout
    assert locked.status_code == 429, locked.text
    assert "intentos" in locked.json()["error"]
    assert 890 <= int(locked.headers["Retry-After"]) <= 900
    assert locked.headers["Content-Type"].startswith("application/json")
    assert "Set-Cookie" not in locked.headers
    assert console.login(BETO, BETO_PASSWORD).status_code == 200, "other users are not locked"

    console.stop()  # a restart does not forget the lockout
    console = start_console(CONSOLE_LOGIN_MAX_FAILURES_PER_ADDRESS="50")
    console.clock.advance(timedelta(minutes=10))
    again = console.login(ANA, ANA_PASSWORD)
    assert again.status_code == 429 and 290 <= int(again.headers["Retry-After"]) <= 300
    console.clock.advance(timedelta(minutes=5, seconds=1))
    assert console.login(ANA, ANA_PASSWORD).status_code == 200, "the lockout ends"

    failures = console.audit("agent_login_failed")
    assert len(failures) == 5
    assert {f.details["agent"] for f in failures} == {ANA}
    assert all(f.details["address"] == "127.0.0.1" for f in failures)
    lockouts = console.audit("agent_login_locked")
    assert [(lock.details["scope"], lock.details["subject"]) for lock in lockouts] == [
        ("user", ANA)
    ]
    assert len(console.audit("agent_login_refused")) == 2
    with db.session_scope(console.sessions) as session:
        everything = json.dumps(
            [a.details for a in session.execute(select(AuditLog)).scalars()], ensure_ascii=False
        )
    assert "adivinanza" not in everything and ANA_PASSWORD not in everything


def test_guesses_spread_over_users_lock_the_address(start_console: Starter) -> None:
    console = start_console()
    for n in range(20):
        assert console.login(f"usuario{n:02d}", "x" * 12).status_code == 401
    blocked = console.login(ANA, ANA_PASSWORD)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    spoofed = console.login(ANA, ANA_PASSWORD, **{"X-Forwarded-For": "203.0.113.9"})
    assert spoofed.status_code == 429, "X-Forwarded-For is ignored from an untrusted peer"
    lock = console.audit("agent_login_locked")
    assert [(a.details["scope"], a.details["subject"]) for a in lock] == [("address", "127.0.0.1")]


def test_a_trusted_proxy_names_the_client_address(start_console: Starter) -> None:
    console = start_console(CONSOLE_TRUSTED_PROXIES="127.0.0.1")
    attacker = {"X-Forwarded-For": "198.51.100.7, 203.0.113.66"}  # the proxy appends the peer
    for n in range(20):
        assert console.login(f"usuario{n:02d}", "x" * 12, **attacker).status_code == 401
    assert console.login(ANA, ANA_PASSWORD, **attacker).status_code == 429
    agent = {"X-Forwarded-For": "203.0.113.10"}
    assert console.login(ANA, ANA_PASSWORD, **agent).status_code == 200, "others still log in"
    lock = console.audit("agent_login_locked")
    assert [a.details["subject"] for a in lock] == ["203.0.113.66"]


def _median_seconds(call: Callable[[], requests.Response], status: int, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        assert call().status_code == status
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_unknown_users_take_as_long_as_known_ones(start_console: Starter) -> None:
    """Wrong password, unknown user, disabled user: one scrypt each. Locked: none at all."""
    console = start_console(CONSOLE_LOGIN_MAX_FAILURES_PER_ADDRESS="500")
    with db.session_scope(console.sessions) as session:
        agents.set_active(session, BETO, False, console.clock)
    assert console.login("calentamiento", "x").status_code == 401  # warm-up
    known = _median_seconds(lambda: console.login(ANA, "no-es-la-clave"), 401, 4)
    unknown = _median_seconds(lambda: console.login("nadie.aqui", "no-es-la-clave"), 401, 4)
    disabled = _median_seconds(lambda: console.login(BETO, BETO_PASSWORD), 401, 4)
    slowest, fastest = max(known, unknown, disabled), min(known, unknown, disabled)
    assert slowest < 2.5 * fastest, (known, unknown, disabled)

    for name in (ANA, "nadie.aqui"):  # the fifth failure locks both names
        assert console.login(name, "no-es-la-clave").status_code == 401
        assert console.login(name, "no-es-la-clave").status_code == 429
    locked_known = _median_seconds(lambda: console.login(ANA, ANA_PASSWORD), 429, 9)
    locked_unknown = _median_seconds(lambda: console.login("nadie.aqui", "x"), 429, 9)
    assert abs(locked_known - locked_unknown) < 0.05, (locked_known, locked_unknown)
    assert locked_known < known, "a lockout answers without checking a password"


def _concurrent_guesses(console: Running, threads: int = 20) -> list[int]:
    start = threading.Barrier(threads)
    statuses: list[int] = []
    lock = threading.Lock()

    def guess(n: int) -> None:
        start.wait()
        status = console.login(ANA, f"adivinanza-{n:02d}").status_code
        with lock:
            statuses.append(status)

    workers = [threading.Thread(target=guess, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return statuses


def test_twenty_guesses_at_once_do_not_bypass_the_counter(console: Running) -> None:
    statuses = _concurrent_guesses(console)
    assert len(statuses) == 20 and set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) <= 5, f"{statuses.count(401)} passwords were tried"
    assert console.login(ANA, ANA_PASSWORD).status_code == 429


def test_twenty_guesses_at_once_on_postgresql(empty_postgres: Engine) -> None:
    db.upgrade(empty_postgres)
    starter = _starter(empty_postgres.url.render_as_string(hide_password=False))
    try:
        console = next(starter)()
        statuses = _concurrent_guesses(console)
        assert statuses.count(401) <= 5 and statuses.count(429) >= 15, statuses
        assert console.login(ANA, ANA_PASSWORD).status_code == 429
    finally:
        starter.close()


def test_a_successful_login_forgives_earlier_mistakes(console: Running) -> None:
    for _ in range(4):
        assert console.login(ANA, "casi-la-clave").status_code == 401
    assert console.login().status_code == 200
    for _ in range(4):
        assert console.login(ANA, "casi-la-clave").status_code == 401
    assert console.login().status_code == 200, "four new mistakes are not five"


def test_oversized_and_malformed_logins(console: Running) -> None:
    url = f"{console.url}/api/login"
    huge = requests.post(
        url,
        data=b"x" * 200_000,
        headers={**HEADERS, "Content-Type": "application/json"},
        timeout=30,
    )
    assert huge.status_code == 413
    for body in (b"{", b"[]", b'"texto"', b"null"):
        bad = requests.post(
            url, data=body, headers={**HEADERS, "Content-Type": "application/json"}, timeout=30
        )
        assert bad.status_code == 422, body
    long_name = console.login("a" * 5000, "x" * 40_000)
    assert long_name.status_code == 401
    odd = requests.post(
        url, json={"username": ["ana"], "password": {"x": 1}}, headers=HEADERS, timeout=30
    )
    assert odd.status_code in (401, 422)


# --- sessions -----------------------------------------------------------------------------------


def _cookie(reply: requests.Response) -> str:
    return reply.headers["Set-Cookie"]


def test_session_cookie_flags(start_console: Starter) -> None:
    plain = _cookie(start_console().login())
    assert "HttpOnly" in plain and "SameSite=Strict" in plain and "Path=/" in plain
    assert "Secure" not in plain, "loopback development over http"
    secure = _cookie(start_console(CONSOLE_SECURE_COOKIE="true").login())
    assert "HttpOnly" in secure and "SameSite=Strict" in secure and "Secure" in secure


def test_idle_sessions_end_and_the_absolute_lifetime_holds(console: Running) -> None:
    agent = console.agent()
    me = f"{console.url}/api/me"
    for _ in range(3):  # busy for 87 minutes, never idle for 30
        console.clock.advance(timedelta(minutes=29))
        assert agent.get(me, timeout=10).status_code == 200
    console.clock.advance(timedelta(minutes=30, seconds=1))
    gone = agent.get(me, timeout=10)
    assert gone.status_code == 401 and "sesión" in gone.json()["error"]

    polling = console.agent()
    for n in range(20):  # the page's background polls alone do not keep a session alive
        console.clock.advance(timedelta(minutes=2))
        polled = polling.get(f"{console.url}/api/tickets", headers={"X-Consola-Poll": "1"})
        assert polled.status_code == (200 if n < 14 else 401), n

    busy = console.agent()
    for _ in range(16):
        console.clock.advance(timedelta(minutes=29))
        assert busy.get(me, timeout=10).status_code == 200
    console.clock.advance(timedelta(minutes=25))  # 8 h 9 min after the login
    assert busy.get(me, timeout=10).status_code == 401


def test_logout_revokes_the_session_on_the_server(console: Running) -> None:
    token = console.login().json()["token"]
    bearer = {"Authorization": f"Bearer {token}", **HEADERS}
    assert requests.get(f"{console.url}/api/me", headers=bearer, timeout=10).status_code == 200
    out = requests.post(f"{console.url}/api/logout", headers=bearer, timeout=10)
    assert out.status_code == 200
    assert requests.get(f"{console.url}/api/me", headers=bearer, timeout=10).status_code == 401


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    cobranza = str(Path(sys.executable).with_name("cobranza"))
    return subprocess.run(
        [cobranza, *args],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_disabled_agent_is_out_at_once(console: Running) -> None:
    agent = console.agent()
    ticket = _ticket(console, "5215500099901")
    assert agent.post(f"{console.url}/api/tickets/{ticket}/claim", timeout=10).status_code == 200

    disabled = _cli(console.database_url, "agent", "disable", ANA)
    assert disabled.returncode == 0, disabled.stderr
    assert ANA in disabled.stdout
    assert agent.get(f"{console.url}/api/tickets", timeout=10).status_code == 401
    reply = agent.post(f"{console.url}/api/tickets/{ticket}/reply", json={"text": "hola"})
    assert reply.status_code == 401
    assert console.login().status_code == 401, "a disabled agent cannot log in"

    assert _cli(console.database_url, "agent", "disable", "nadie.aqui").returncode == 1
    enabled = _cli(console.database_url, "agent", "enable", ANA)
    assert enabled.returncode == 0, enabled.stderr
    assert console.login().status_code == 200
    assert [a.details["agent"] for a in console.audit("agent_disabled")] == [ANA]
    assert [a.details["agent"] for a in console.audit("agent_enabled")] == [ANA]
    listed = _cli(console.database_url, "agent", "list", "--json")
    expected = {"username": ANA, "name": "Ana Ruiz", "active": True, "role": "agent"}
    assert expected in json.loads(listed.stdout)


# --- requests -----------------------------------------------------------------------------------

HOSTILE_SENDERS = (
    "a/b",
    "x/tracker/events",
    "x?token=robado",
    "x#fragmento",
    "..",
    "../../version",
    ".",
    "%2F",
    "a%2F..%2Fb",
    "con espacio",
    "niño-ñandú-😀",
    "<script>alert(1)</script>",
    "\\..\\",
)
SAFE_SENDERS = ("5215512345678", "whatsapp:+5215512345678", "web-3f2a9c_x.y~z")


def test_hostile_conversation_ids_are_opaque(console: Running) -> None:
    agent = console.agent()
    api = f"{console.url}/api/tickets"
    for sender in HOSTILE_SENDERS:
        ticket = _ticket(console, sender)
        before = len(console.rasa.requests)
        shown = agent.get(f"{api}/{ticket}", timeout=10)
        assert shown.status_code == 200, (sender, shown.text)
        assert shown.headers["Content-Type"].startswith("application/json")
        detail = shown.json()
        assert detail["ticket"]["sender_id"] == sender
        assert detail["transcript"] == [] and detail["conversation"]["addressable"] is False
        assert agent.post(f"{api}/{ticket}/claim", timeout=10).status_code == 200
        reply = agent.post(f"{api}/{ticket}/reply", json={"text": "hola"}, timeout=10)
        assert reply.status_code == 422 and "identificador" in reply.json()["error"], sender
        assert agent.post(f"{api}/{ticket}/resume", timeout=10).status_code == 422
        closed = agent.post(f"{api}/{ticket}/close", json={"outcome": "sin_acuerdo"})
        assert closed.status_code == 200, (sender, closed.text)
        assert len(console.rasa.requests) == before, f"{sender!r} reached Rasa"
    listed = agent.get(api, timeout=10)
    assert listed.status_code == 200

    for sender in SAFE_SENDERS:
        ticket = _ticket(console, sender)
        assert agent.get(f"{api}/{ticket}", timeout=10).status_code == 200
        assert console.rasa.paths()[-1] == f"/conversations/{sender}/tracker", sender
        assert agent.post(f"{api}/{ticket}/claim", timeout=10).status_code == 200
        assert agent.post(f"{api}/{ticket}/resume", timeout=10).status_code == 200
        assert console.rasa.paths()[-1] == f"/conversations/{sender}/tracker/events"


def test_hostile_paths_are_not_reflected(console: Running) -> None:
    agent = console.agent()
    page = agent.get(f"{console.url}/", timeout=10).text
    for raw in (*HOSTILE_SENDERS, "1 OR 1=1", "-1", "1e3", "9" * 40):
        for url in (
            f"{console.url}/api/tickets/{quote(raw, safe='')}",
            f"{console.url}/api/tickets/{quote(raw, safe='')}/claim",
            f"{console.url}/static/{quote(raw, safe='')}",
        ):
            reply = (
                agent.post(url, timeout=10)
                if url.endswith("/claim")
                else agent.get(url, timeout=10)
            )
            if reply.status_code == 200:  # "/static/.." is "/" once the client resolves it
                assert raw in (".", "..") and reply.text == page, (raw, url)
                continue
            assert reply.status_code in (404, 405), (raw, url, reply.status_code)
            assert "<script>" not in reply.text and "text/html" not in reply.headers.get(
                "Content-Type", ""
            )
    assert agent.get(f"{console.url}/static/..%2Fserver.py", timeout=10).status_code == 404
    assert agent.get(f"{console.url}/static/../server.py", timeout=10).status_code == 404


def test_cross_site_posts_are_refused(console: Running) -> None:
    ticket = _ticket(console, "5215500099902")
    agent = console.agent()
    claim = f"{console.url}/api/tickets/{ticket}/claim"
    bare = requests.Session()
    bare.cookies.update(agent.cookies)  # the browser would attach the cookie

    forged = bare.post(claim, timeout=10)
    assert forged.status_code == 403 and "origen" in forged.json()["error"]
    as_form = bare.post(
        f"{console.url}/api/logout",
        data="x=1",
        headers={"Content-Type": "text/plain", "Origin": "https://malicioso.example"},
    )
    assert as_form.status_code == 403
    other_site = bare.post(
        claim, headers={**HEADERS, "Origin": "https://malicioso.example"}, timeout=10
    )
    assert other_site.status_code == 403
    null_origin = bare.post(claim, headers={**HEADERS, "Origin": "null"}, timeout=10)
    assert null_origin.status_code == 403
    login = requests.post(
        f"{console.url}/api/login", json={"username": ANA, "password": ANA_PASSWORD}, timeout=10
    )
    assert login.status_code == 403, "login CSRF"
    assert agent.get(f"{console.url}/api/me", timeout=10).status_code == 200, "still logged in"

    same_site = bare.post(claim, headers={**HEADERS, "Origin": console.url}, timeout=10)
    assert same_site.status_code == 200, same_site.text


# --- the debtor's file: only for a verified conversation -----------------------------------------

MARIA = "+525512345678"  # María Fernanda, in the demo portfolio: $8,450.00
STRANGER = "+525599990000"  # no debtor has it
JUAN = "+526641234567"  # Juan Carlos, another debtor
TTL = timedelta(minutes=10)  # shorter than the console's idle timeout


def _handoff(running: Running, sender: str, phone: str | None, reason: str) -> int:
    """A ticket as the assistant opens it (cobranza/services/handoff.py), never verified by itself."""
    from cobranza.services.handoff import open_ticket

    with db.session_scope(running.sessions) as session:
        ticket = open_ticket(
            session,
            sender,
            phone,
            "webchat",
            reason,
            {"reason": reason, "persona": "fuga_de_datos", "messages": []},
            running.clock,
        )
        return int(ticket.id)


def _verify(running: Running, sender: str, phone: str) -> None:
    from cobranza.db import verifications

    with db.session_scope(running.sessions) as session:
        verifications.record(session, sender, "webchat", phone, running.clock.now(), TTL)


def _record_attempts(
    agent: requests.Session, running: Running, ticket: int, offers: list[dict[str, str]]
) -> tuple[requests.Response, requests.Response]:
    api = f"{running.url}/api/tickets/{ticket}"
    due = (running.clock.now() + timedelta(days=3)).date().isoformat()
    promise = agent.post(f"{api}/promise", json={"amount": "1500", "date": due}, timeout=10)
    offer = offers[0]["code"] if offers else "pay_in_full"
    agreement = agent.post(f"{api}/agreement", json={"offer": offer}, timeout=10)
    return promise, agreement


def _no_file(detail: dict[str, Any], claimed: str) -> None:
    assert detail["debtor"] is None and detail["offers"] == []
    assert detail["identity"] == {
        "verified": False,
        "phone": claimed,
        "label": "número no verificado",
    }
    assert detail["ticket"]["debtor_phone"] is None
    assert detail["ticket"]["context"].get("persona") is None
    text = json.dumps(detail, ensure_ascii=False)
    for secret in ("8,450", "8450", "María", "fuga_de_datos", "promises", "balance"):
        assert secret not in text, secret


@pytest.mark.parametrize("reason", ["solicitud_agente", "identidad_bloqueada"])
def test_an_unverified_conversation_shows_no_debtor_file(console: Running, reason: str) -> None:
    """A stranger who typed María's number on the web chat (or failed her date of birth three
    times) and asked for a person: the agent sees the claimed number, marked unverified."""
    sender = f"webchat-extrano-{reason}"
    ticket = _handoff(console, sender, MARIA, reason)
    agent = console.agent()
    api = f"{console.url}/api/tickets"
    detail = agent.get(f"{api}/{ticket}", timeout=10).json()
    _no_file(detail, MARIA)
    listed = next(t for t in agent.get(api, timeout=10).json()["tickets"] if t["id"] == ticket)
    assert listed["debtor_phone"] is None and listed["verified"] is False
    assert listed["claimed_phone"] == MARIA and listed["context"].get("persona") is None

    assert agent.post(f"{api}/{ticket}/claim", timeout=10).status_code == 200
    promise, agreement = _record_attempts(agent, console, ticket, [])
    for refused in (promise, agreement):
        assert refused.status_code == 422 and "no verificado" in refused.json()["error"]
    _verify(console, sender, JUAN)  # another debtor's number verified in this conversation
    _no_file(agent.get(f"{api}/{ticket}", timeout=10).json(), MARIA)
    assert _record_attempts(agent, console, ticket, [])[0].status_code == 422
    assert console.audit("agent_viewed_debtor") == []
    assert console.audit("promise_recorded") == []


def test_a_number_outside_the_portfolio_is_shown_as_claimed(console: Running) -> None:
    ticket = _handoff(console, "webchat-sin-cartera", STRANGER, "solicitud_agente")
    agent = console.agent()
    detail = agent.get(f"{console.url}/api/tickets/{ticket}", timeout=10).json()
    _no_file(detail, STRANGER)
    assert agent.post(f"{console.url}/api/tickets/{ticket}/claim", timeout=10).status_code == 200
    promise, agreement = _record_attempts(agent, console, ticket, [])
    assert promise.status_code == 422 and agreement.status_code == 422


def test_a_verified_conversation_shows_the_file_and_every_view_is_audited(
    console: Running,
) -> None:
    sender = "webchat-maria"
    ticket = _handoff(console, sender, MARIA, "solicitud_agente")
    _verify(console, sender, MARIA)
    agent = console.agent()
    url = f"{console.url}/api/tickets/{ticket}"
    detail = agent.get(url, timeout=10).json()
    assert detail["identity"] == {"verified": True, "phone": MARIA, "label": "número verificado"}
    assert detail["debtor"]["balance_text"] == "$8,450.00" and detail["offers"]
    assert detail["ticket"]["debtor_phone"] == MARIA
    assert agent.get(url, timeout=10).json()["debtor"]["name"]
    polled = agent.get(url, headers={"X-Consola-Poll": "1"}, timeout=10).json()
    assert "debtor" not in polled and "offers" not in polled, "a poll does not fetch the file"
    assert polled["identity"]["verified"] is True
    views = console.audit("agent_viewed_debtor")
    assert len(views) == 2, "every call that returned the file, and only those"
    assert {(v.actor, v.debtor_phone, v.details["ticket"]) for v in views} == {
        (f"agent:{ANA}", MARIA, ticket)
    }

    assert agent.post(f"{url}/claim", timeout=10).status_code == 200
    promise, agreement = _record_attempts(agent, console, ticket, detail["offers"])
    assert promise.status_code == 200 and promise.json()["folio"].startswith("PP-"), promise.text
    assert agreement.status_code == 200 and agreement.json()["folio"].startswith("CV-")

    console.clock.advance(TTL + timedelta(seconds=1))  # the verification expires
    _no_file(agent.get(url, timeout=10).json(), MARIA)
    assert _record_attempts(agent, console, ticket, [])[0].status_code == 422


def test_behind_a_tls_proxy_the_origin_is_the_public_one(start_console: Starter) -> None:
    """The proxy at 127.0.0.1 serves https://consola.example and passes X-Forwarded-Host."""
    console = start_console(CONSOLE_TRUSTED_PROXIES="127.0.0.1", CONSOLE_SECURE_COOKIE="true")
    public = {"X-Forwarded-Host": "consola.example", "X-Forwarded-For": "203.0.113.10"}
    assert console.login(Origin="https://consola.example", **public).status_code == 200
    assert console.login(Origin="http://consola.example", **public).status_code == 403
    assert console.login(Origin="https://otro.example", **public).status_code == 403
    direct = start_console(CONSOLE_SECURE_COOKIE="true")  # no trusted proxy: header ignored
    assert direct.login(Origin="https://consola.example", **public).status_code == 403


# --- settings and migration ----------------------------------------------------------------------


def test_console_settings_fail_fast_with_the_variables_name() -> None:
    from cobranza.config import ConfigError

    defaults = load_settings({}).console
    assert (defaults.max_failures_per_user, defaults.max_failures_per_address) == (5, 20)
    assert defaults.failure_window == defaults.lockout == timedelta(minutes=15)
    assert defaults.idle_timeout == timedelta(minutes=30) and defaults.secure_cookie is False
    assert load_settings({"CONSOLE_SECURE_COOKIE": "TRUE"}).console.secure_cookie is True
    for name, value in (
        ("CONSOLE_SECURE_COOKIE", "quizá"),
        ("CONSOLE_LOGIN_MAX_FAILURES_PER_USER", "0"),
        ("CONSOLE_LOGIN_MAX_FAILURES_PER_ADDRESS", "-3"),
        ("CONSOLE_LOGIN_WINDOW_MINUTES", "15m"),
        ("CONSOLE_LOGIN_LOCKOUT_MINUTES", "0"),
        ("CONSOLE_IDLE_TIMEOUT_MINUTES", "media hora"),
        ("CONSOLE_TRUSTED_PROXIES", "10.0.0.1, proxy.interno"),
    ):
        with pytest.raises(ConfigError, match=name):
            load_settings({name: value})


def _sessions_survive_the_migration(engine: Engine) -> None:
    from sqlalchemy import text

    db.upgrade(engine, "0006")
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO agents (id, username, display_name, password_hash, active, "
                "created_at) VALUES (1, 'ana.ruiz', 'Ana', 'scrypt$x', :yes, :at)"
            ),
            {"yes": True, "at": NOW.replace(tzinfo=None)},
        )
        connection.execute(
            text(
                "INSERT INTO agent_sessions (token_hash, agent_id, created_at, expires_at) "
                "VALUES ('h', 1, :at, :until)"
            ),
            {
                "at": NOW.replace(tzinfo=None),
                "until": (NOW + timedelta(hours=8)).replace(tzinfo=None),
            },
        )
    db.upgrade(engine)
    with db.session_scope(db.make_session_factory(engine)) as session:
        row = session.get(agents.AgentSession, "h")
        assert row is not None and row.last_seen_at == row.created_at == NOW
        account = session.get(agents.Agent, 1)
        assert account is not None and account.role == "agent", "accounts stay agents (0013)"
    db.downgrade(engine, "0006")
    db.upgrade(engine)


def test_migration_keeps_sessions_on_sqlite(empty_sqlite: Engine) -> None:
    _sessions_survive_the_migration(empty_sqlite)


def test_migration_keeps_sessions_on_postgresql(empty_postgres: Engine) -> None:
    _sessions_survive_the_migration(empty_postgres)


def test_a_bug_is_an_error_not_a_missing_debtor(
    console: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The console used to catch LookupError for "no such debtor", so a KeyError in the report
    showed the agent an empty file and was logged nowhere. Only our NotFound means "not found";
    a bug answers 500 (aiohttp logs it)."""

    sender = "webchat-bug"
    ticket = _handoff(console, sender, MARIA, "solicitud_agente")
    _verify(console, sender, MARIA)

    from cobranza.services import views

    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise KeyError("full_name")

    monkeypatch.setattr(views, "debtor_report", broken)
    answer = console.agent().get(f"{console.url}/api/tickets/{ticket}", timeout=10)
    assert answer.status_code == 500
    assert "8,450" not in answer.text


def test_a_bug_answers_json_and_logs_the_traceback_without_personal_data(
    console: Running, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug (here a KeyError in a service) is not "not found": the agent gets a 500 with a JSON
    error like every other answer, and the log has the traceback but not the debtor's data."""
    import logging

    sender = "webchat-bug-json"
    ticket = _handoff(console, sender, MARIA, "solicitud_agente")
    _verify(console, sender, MARIA)

    from cobranza.services import views

    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise KeyError("full_name")

    monkeypatch.setattr(views, "debtor_report", broken)
    with caplog.at_level(logging.ERROR):
        answer = console.agent().get(f"{console.url}/api/tickets/{ticket}", timeout=10)
    assert answer.status_code == 500
    assert answer.headers["Content-Type"].startswith("application/json")
    assert "técnico" in answer.json()["error"]
    assert answer.headers["X-Frame-Options"] == "DENY"
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is KeyError]
    assert logged, "the bug is logged with its traceback"
    text = "\n".join(caplog.text.splitlines())
    for personal in (MARIA, "María", "8,450"):
        assert personal not in text, personal


def test_the_queue_shows_a_score_only_for_a_verified_conversation(console: Running) -> None:
    """María has a current score: the agents' queue lists her verified conversation with its
    band and expected recovery, ahead of an older unscored one; a stranger who typed her number
    gets neither her score nor her place in the queue."""
    from tests.support.scores import score

    with db.session_scope(console.sessions) as session:
        score(session, MARIA, 0.6, "B", as_of=NOW.date(), expected="5070.00")
    stranger = _handoff(console, "webchat-extrano-score", MARIA, "solicitud_agente")
    console.clock.advance(timedelta(minutes=1))
    verified = _handoff(console, "webchat-maria-score", MARIA, "solicitud_agente")
    _verify(console, "webchat-maria-score", MARIA)
    listed = console.agent().get(f"{console.url}/api/tickets", timeout=10).json()["tickets"]
    order = [t["id"] for t in listed if t["id"] in (stranger, verified)]
    assert order == [verified, stranger]
    shown = {t["id"]: t for t in listed}
    assert shown[verified]["score"] == {
        "band": "B",
        "expected_recovery": "5070.00",
        "expected_recovery_text": "$5,070.00",
        "horizon_days": None,  # no card for its model in this console's model directory
    }
    assert shown[stranger]["score"] is None
    text = json.dumps(shown[stranger], ensure_ascii=False)
    for secret in ("5070", "5,070", "fuga_de_datos", "8450"):
        assert secret not in text, secret


def test_the_queue_score_says_its_models_horizon(start_console: Starter, tmp_path: Path) -> None:
    """A score predicts payment within its model's horizon, as the model's card says (14 days
    here, not a fixed 30): the queue carries it for the console's tooltip. A score whose model
    has no card left says nothing rather than a wrong number."""
    from tests.support.scores import model_card, score

    console = start_console(SCORING_MODEL_DIR=str(model_card(tmp_path, 14)))
    with db.session_scope(console.sessions) as session:
        score(session, MARIA, 0.6, "B", as_of=NOW.date(), expected="5070.00")
        score(session, JUAN, 0.3, "D", as_of=NOW.date(), expected="900.00", model_id="gbm-gone")
    tickets = {
        _handoff(console, "webchat-maria-horizon", MARIA, "solicitud_agente"): 14,
        _handoff(console, "webchat-juan-horizon", JUAN, "solicitud_agente"): None,
    }
    _verify(console, "webchat-maria-horizon", MARIA)
    _verify(console, "webchat-juan-horizon", JUAN)
    listed = console.agent().get(f"{console.url}/api/tickets", timeout=10).json()["tickets"]
    horizons = {t["id"]: t["score"]["horizon_days"] for t in listed if t["id"] in tickets}
    assert horizons == tickets


def test_the_score_reaches_agents_only_never_the_debtors_channel(console: Running) -> None:
    """With María scored and verified, the agent's queue carries her band and expected recovery;
    a whole hand-off (view, claim, reply, promise, plan, hand back) sends nothing of it to Rasa,
    the console's only way to the debtor: the agent's words and the resume events, no more."""
    from tests.support.scores import score

    with db.session_scope(console.sessions) as session:
        score(session, MARIA, 0.44, "C", as_of=NOW.date(), expected="3718.00")
    sender = "webchat-maria-guardrail"
    ticket = _handoff(console, sender, MARIA, "solicitud_agente")
    _verify(console, sender, MARIA)
    agent = console.agent()
    api = f"{console.url}/api/tickets"
    listed = next(t for t in agent.get(api, timeout=10).json()["tickets"] if t["id"] == ticket)
    assert listed["score"] == {
        "band": "C",
        "expected_recovery": "3718.00",
        "expected_recovery_text": "$3,718.00",
        "horizon_days": None,
    }
    detail = agent.get(f"{api}/{ticket}", timeout=10).json()
    assert detail["debtor"]["balance_text"] == "$8,450.00"
    for secret in ("3718", "3,718", "score", "recovery"):  # the queue's alone
        assert secret not in json.dumps(detail, ensure_ascii=False), secret
    assert agent.post(f"{api}/{ticket}/claim", timeout=10).status_code == 200
    words = "Hola María, ¿qué día podrías hacer un pago?"
    replied = agent.post(f"{api}/{ticket}/reply", json={"text": words}, timeout=10)
    assert replied.status_code == 200, replied.text
    promise, agreement = _record_attempts(agent, console, ticket, detail["offers"])
    assert promise.status_code == 200 and agreement.status_code == 200
    assert agent.post(f"{api}/{ticket}/resume", timeout=10).status_code == 200

    sent = [
        json.loads(body)
        for (method, _), body in zip(console.rasa.requests, console.rasa.bodies, strict=True)
        if method == "POST"
    ]
    assert sent == [
        [{"event": "slot", "name": "mensaje_asesor", "value": words}],
        {"name": "action_mensaje_asesor"},
        [{"event": "resume"}, {"event": "action", "name": "action_listen"}],
    ]
    everything = "\n".join(path for _, path in console.rasa.requests) + "".join(console.rasa.bodies)
    for secret in ("3718", "3,718", '"C"', "band", "score", "0.44", "recovery"):
        assert secret not in everything, secret
