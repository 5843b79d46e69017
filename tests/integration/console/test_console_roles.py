"""Agents and supervisors on the real console (aiohttp on a loopback port, a private copy of the
demo database, the fake Rasa of test_console_security.py).

Every route registered on the app declares who may call it, and the server enforces it: no
session 401, a role not declared 403, whatever the body says. Supervisors see every agent's
queue, reassign and release tickets (audited with the supervisor as actor; a claim, a
reassignment and a release racing for one ticket leave one winner, on SQLite and PostgreSQL),
and read an agent's activity, a bounded page at a time. Hostile input: unknown ids and names,
disabled agents, stale views, oversized and malformed bodies, forged cross-site requests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.engine import Engine

from cobranza import db
from cobranza.console.routes import ACCESS, SUPERVISORS, Access
from cobranza.db.models import AuditLog, HandoffTicket
from cobranza.domain.vocabulary import ConsoleRole
from cobranza.services import agents
from tests.integration.console.test_console_security import (
    ANA,
    ANA_PASSWORD,
    BETO,
    BETO_PASSWORD,
    HEADERS,
    MovableClock,
    Running,
    Starter,
    _cli,
    _starter,
    _ticket,
    database_url,  # noqa: F401  (the fixture: a private copy of the demo portfolio)
)
from tests.support.clock import NOW

SOFIA, SOFIA_PASSWORD = "sofia.mora", "clave-de-sofia-123"  # supervisor
RAUL, RAUL_PASSWORD = "raul.vega", "clave-de-raul-123"  # supervisor
CARLA, CARLA_PASSWORD = "carla.paz", "clave-de-carla-123"  # agent, disabled
PASSWORDS = {ANA: ANA_PASSWORD, BETO: BETO_PASSWORD, SOFIA: SOFIA_PASSWORD, RAUL: RAUL_PASSWORD}
# The routes anyone may call without a session; any other route needs a declared role.
PUBLIC_ROUTES = {
    ("GET", "/"),
    ("GET", "/static/{name}"),
    ("GET", "/static/vendor/{name}"),  # Chart.js, copied from npm
    ("POST", "/api/login"),
    ("POST", "/api/logout"),
    ("POST", "/api/payments"),  # its own bearer token (test_payments_endpoint.py)
}


def _add_team(running: Running) -> None:
    with db.session_scope(running.sessions) as session:
        clock = MovableClock(NOW)
        supervisor = ConsoleRole.SUPERVISOR
        agents.add_agent(session, SOFIA, "Sofía Mora", SOFIA_PASSWORD, clock, supervisor)
        agents.add_agent(session, RAUL, "Raúl Vega", RAUL_PASSWORD, clock, supervisor)
        agents.add_agent(session, CARLA, "Carla Paz", CARLA_PASSWORD, clock)
        agents.set_active(session, CARLA, False, clock)


def _start(starter: Iterator[Starter]) -> Running:
    running = next(starter)()
    _add_team(running)
    return running


@pytest.fixture
def console(database_url: str) -> Iterator[Running]:  # noqa: F811
    starter = _starter(database_url)
    try:
        yield _start(starter)
    finally:
        starter.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_console(request: pytest.FixtureRequest, database_url: str) -> Iterator[Running]:  # noqa: F811
    """The console on a copy of the demo portfolio (SQLite), or on a fresh PostgreSQL."""
    url = database_url
    if request.param == "postgresql":
        engine: Engine = request.getfixturevalue("empty_postgres")
        db.upgrade(engine)
        url = engine.url.render_as_string(hide_password=False)
    starter = _starter(url)
    try:
        yield _start(starter)
    finally:
        starter.close()


def _user(console: Running, username: str) -> requests.Session:
    return console.agent(username, PASSWORDS[username])


def _claimed(console: Running, sender: str, by: str | None) -> int:
    """A ticket, claimed by ``by`` (the service's own claim) or left in the queue."""
    from cobranza.services import tickets

    ticket = _ticket(console, sender)
    if by is not None:
        with db.session_scope(console.sessions) as session:
            assert tickets.claim(session, ticket, by, console.clock)
    return ticket


def _state(console: Running, ticket: int) -> tuple[str, str | None]:
    with db.session_scope(console.sessions) as session:
        row = session.get(HandoffTicket, ticket)
        assert row is not None
        return str(row.status), row.claimed_by


def _moves(console: Running, ticket: int) -> list[AuditLog]:
    with db.session_scope(console.sessions) as session:
        rows = session.execute(
            select(AuditLog)
            .where(AuditLog.action.in_(["ticket_reassigned", "ticket_released", "ticket_claimed"]))
            .order_by(AuditLog.id)
        ).scalars()
        return [row for row in rows if row.details.get("ticket") == ticket]


# --- every route declares its roles -------------------------------------------------------------


def _declared(app: web.Application) -> dict[tuple[str, str], Access | None]:
    """Every route registered on the app and its declaration (None: undeclared)."""
    access = app[ACCESS]
    return {
        (route.method, route.resource.canonical): access.get(route)
        for route in app.router.routes()
        if route.resource is not None
    }


def _concrete(path: str, ticket: int) -> str:
    return (
        path.replace("{ticket_id}", str(ticket))
        .replace("{username}", ANA)
        .replace("{name}", "console.js")
        .replace("{experiment}", "primer_aviso_asistente")
    )


def _call(
    client: requests.Session | Any, method: str, url: str, **headers: str
) -> requests.Response:
    return client.request(method, url, json={}, headers={**HEADERS, **headers}, timeout=30)


def test_every_route_declares_its_roles_and_the_server_enforces_them(console: Running) -> None:
    assert console.app is not None
    declared = _declared(console.app)
    assert len(declared) == 23
    undeclared = [route for route, access in declared.items() if access is None]
    assert undeclared == [], f"routes without a declared role set: {undeclared}"
    public = {route for route, access in declared.items() if access is not None and access.public}
    assert public == PUBLIC_ROUTES, "a new public route must be added here on purpose"
    supervisors_only = {r for r, a in declared.items() if a == SUPERVISORS}
    assert {path for _, path in supervisors_only} == {
        "/api/supervisor/queues",
        "/api/supervisor/tickets/{ticket_id}/reassign",
        "/api/supervisor/tickets/{ticket_id}/release",
        "/api/supervisor/agents/{username}/activity",
        "/api/supervisor/experiments",
        "/api/supervisor/experiments/{experiment}",
        "/api/supervisor/kpis",
        "/api/supervisor/kpis.csv",
    }

    ticket = _claimed(console, "5215500077001", ANA)
    users = {ConsoleRole.AGENT: _user(console, BETO), ConsoleRole.SUPERVISOR: _user(console, SOFIA)}
    for (method, path), access in declared.items():
        assert access is not None
        if access.public:
            continue
        url = console.url + _concrete(path, ticket)
        anonymous = _call(requests, method, url)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert "sesión" in anonymous.json()["error"]
        for role, client in users.items():
            answer = _call(client, method, url, **{"X-Consola-Poll": "1"})
            if role in access.roles:
                assert answer.status_code not in (401, 403), (role, method, path, answer.text)
            else:
                assert answer.status_code == 403, (role, method, path, answer.text)
                assert answer.json() == {"error": "Tu rol no permite esta acción."}
    assert _state(console, ticket) == ("claimed", ANA), "no refused request changed anything"


def test_a_route_without_a_declaration_is_found_and_refused(console: Running) -> None:
    """What a future endpoint registered outside the table gets: the walk above names it, and
    the server refuses to run it (500) rather than serve it unchecked."""
    from cobranza import bootstrap
    from cobranza.config import load_console_settings, load_settings
    from cobranza.console.server import Console
    from tests.integration.console.test_console_security import Loop, _serve

    settings = load_settings({"DATABASE_URL": console.database_url})
    config = load_console_settings({"RASA_URL": console.rasa.url, "RASA_API_TOKEN": "x" * 12})
    app = Console(bootstrap.build(settings, clock=console.clock), config).app()
    ran: list[str] = []

    async def forgotten(request: web.Request) -> web.Response:
        ran.append(request.path)
        return web.json_response({"secreto": True})

    app.router.add_get("/api/olvidada", forgotten)
    undeclared = {route for route, access in _declared(app).items() if access is None}
    assert undeclared == {("GET", "/api/olvidada"), ("HEAD", "/api/olvidada")}
    loop = Loop()
    try:
        runner, port = loop.run(_serve(app))
        try:
            supervisor = _user(console, SOFIA)
            cookie = {"Cookie": f"consola_sesion={supervisor.cookies['consola_sesion']}"}
            url = f"http://127.0.0.1:{port}/api/olvidada"
            answer = requests.get(url, headers=cookie, timeout=30)
            assert answer.status_code == 500 and ran == []
        finally:
            loop.run(runner.cleanup())
    finally:
        loop.stop()


def test_the_role_comes_from_the_account_never_from_the_request(console: Running) -> None:
    forged = requests.post(
        f"{console.url}/api/login",
        json={"username": ANA, "password": ANA_PASSWORD, "role": "supervisor"},
        headers=HEADERS,
        timeout=30,
    )
    assert forged.status_code == 200 and forged.json()["agent"]["role"] == "agent"
    bearer = {"Authorization": f"Bearer {forged.json()['token']}", **HEADERS}
    queues = f"{console.url}/api/supervisor/queues"
    for extra in ({}, {"X-Consola-Rol": "supervisor"}, {"Cookie": "rol=supervisor"}):
        assert requests.get(queues, headers={**bearer, **extra}, timeout=30).status_code == 403
    ticket = _claimed(console, "5215500077002", BETO)
    move = f"{console.url}/api/supervisor/tickets/{ticket}/reassign"
    body: dict[str, Any] = {"to": ANA, "from": BETO, "role": "supervisor", "agent": {"role": "x"}}
    assert requests.post(move, json=body, headers=bearer, timeout=30).status_code == 403
    assert _state(console, ticket) == ("claimed", BETO)
    me = requests.get(f"{console.url}/api/me", headers=bearer, timeout=30).json()["agent"]
    assert me == {"username": ANA, "display_name": "Ana Ruiz", "role": "agent"}
    supervisor = _user(console, SOFIA).get(f"{console.url}/api/me", timeout=30).json()
    assert supervisor["agent"]["role"] == "supervisor"


# --- every agent's queue --------------------------------------------------------------------------


def test_a_supervisor_sees_every_agents_queue_and_counts(console: Running) -> None:
    unclaimed = _claimed(console, "5215500077010", None)
    ana_first = _claimed(console, "5215500077011", ANA)
    ana_second = _claimed(console, "5215500077012", ANA)
    beto_one = _claimed(console, "5215500077013", BETO)
    carla_one = _claimed(console, "5215500077014", CARLA)  # claimed before she was disabled
    ana = _user(console, ANA)
    closed = ana.post(
        f"{console.url}/api/tickets/{ana_second}/close", json={"outcome": "sin_acuerdo"}
    )
    assert closed.status_code == 200, closed.text

    answer = _user(console, SOFIA).get(f"{console.url}/api/supervisor/queues", timeout=30)
    assert answer.status_code == 200, answer.text
    data = answer.json()
    assert unclaimed in [t["id"] for t in data["unclaimed"]]
    assert all(t["status"] == "open" for t in data["unclaimed"])
    people = {a["username"]: a for a in data["agents"]}
    assert set(people) == {ANA, BETO, SOFIA, RAUL, CARLA}, "active accounts and any holder"
    assert [t["id"] for t in people[ANA]["tickets"]] == [ana_first]
    assert people[ANA]["counts"] == {"claimed": 1, "closed_today": 1}
    assert people[ANA]["display_name"] == "Ana Ruiz" and people[ANA]["role"] == "agent"
    assert [t["id"] for t in people[BETO]["tickets"]] == [beto_one]
    assert people[SOFIA]["counts"] == {"claimed": 0, "closed_today": 0}
    assert people[SOFIA]["role"] == "supervisor"
    assert people[CARLA]["active"] is False and [t["id"] for t in people[CARLA]["tickets"]] == [
        carla_one
    ]
    for entry in data["unclaimed"] + [t for a in data["agents"] for t in a["tickets"]]:
        assert entry["verified"] is False and entry["debtor_phone"] is None, "as agents see it"


# --- reassign and release -------------------------------------------------------------------------


def _reassign(client: requests.Session, console: Running, ticket: int, **body: Any) -> Any:
    url = f"{console.url}/api/supervisor/tickets/{ticket}/reassign"
    return client.post(url, json=body, timeout=30)


def _release(client: requests.Session, console: Running, ticket: int, **body: Any) -> Any:
    url = f"{console.url}/api/supervisor/tickets/{ticket}/release"
    return client.post(url, json=body, timeout=30)


def test_reassign_and_release_are_audited_with_the_supervisor(console: Running) -> None:
    ticket = _claimed(console, "5215500077020", ANA)
    sofia, ana, beto = _user(console, SOFIA), _user(console, ANA), _user(console, BETO)
    moved = _reassign(sofia, console, ticket, to=BETO, **{"from": ANA})
    assert moved.status_code == 200, moved.text
    assert moved.json()["ticket"]["claimed_by"] == BETO
    assert _state(console, ticket) == ("claimed", BETO)
    api = f"{console.url}/api/tickets/{ticket}"
    assert ana.post(f"{api}/reply", json={"text": "hola"}).status_code == 409, "no longer hers"
    assert beto.post(f"{api}/reply", json={"text": "hola"}).status_code == 200

    released = _release(sofia, console, ticket, **{"from": BETO})
    assert released.status_code == 200, released.text
    assert released.json()["ticket"]["status"] == "open"
    assert _state(console, ticket) == ("open", None)
    assert ana.post(f"{api}/claim").status_code == 200, "back in the queue for anyone"
    unclaimed = _claimed(console, "5215500077021", None)
    given = _reassign(sofia, console, unclaimed, to=RAUL, **{"from": None})
    assert given.status_code == 200 and _state(console, unclaimed) == ("claimed", RAUL)

    trail = [(m.action, m.actor, m.details) for m in _moves(console, ticket)]
    assert trail == [
        ("ticket_claimed", f"agent:{ANA}", {"ticket": ticket}),
        ("ticket_reassigned", f"agent:{SOFIA}", {"ticket": ticket, "from": ANA, "to": BETO}),
        ("ticket_released", f"agent:{SOFIA}", {"ticket": ticket, "from": BETO, "to": None}),
        ("ticket_claimed", f"agent:{ANA}", {"ticket": ticket}),
    ]
    assert [m.details for m in _moves(console, unclaimed)] == [
        {"ticket": unclaimed, "from": None, "to": RAUL}
    ]


def test_hostile_supervisor_requests(console: Running) -> None:
    ticket = _claimed(console, "5215500077030", ANA)
    sofia = _user(console, SOFIA)
    refusals: list[tuple[Any, int]] = [
        (_reassign(sofia, console, 999_999, to=BETO, **{"from": ANA}), 404),
        (_reassign(sofia, console, ticket, to="nadie.aqui", **{"from": ANA}), 404),
        (_reassign(sofia, console, ticket, to=CARLA, **{"from": ANA}), 422),  # disabled
        (_reassign(sofia, console, ticket, to=ANA, **{"from": ANA}), 422),  # already hers
        (_reassign(sofia, console, ticket, to=BETO), 422),  # whose it is, unsaid
        (_reassign(sofia, console, ticket, to=RAUL, **{"from": BETO}), 409),  # a stale view
        (_reassign(sofia, console, ticket, to=BETO, **{"from": None}), 409),  # "unclaimed"
        (_release(sofia, console, ticket, **{"from": None}), 422),
        (_release(sofia, console, ticket), 422),
        (_release(sofia, console, ticket, **{"from": BETO}), 409),
    ]
    for to in (None, "", ["beto.diaz"], {"u": BETO}, 7, "b" * 61, "x" * 50_000):
        refusals.append((_reassign(sofia, console, ticket, to=to, **{"from": ANA}), 422))
    for holder in (["ana.ruiz"], 3, "", "a" * 61):
        refusals.append((_release(sofia, console, ticket, **{"from": holder}), 422))
    for status in ((a.status_code, expected) for a, expected in refusals):
        assert status[0] == status[1], [(a.status_code, e, a.text) for a, e in refusals]
    assert all("error" in answer.json() for answer, _ in refusals)
    base = f"{console.url}/api/supervisor/tickets"
    for raw in ("abc", "-1", "1e3", "9" * 40, "1%20OR%201=1"):
        assert sofia.post(f"{base}/{raw}/release", json={"from": ANA}).status_code == 404, raw
    url = f"{base}/{ticket}/reassign"
    typed = {"Content-Type": "application/json"}
    for body in (
        b"{",
        b"[]",
        b"null",
        b'"beto"',
        '{"to": "\ud800"}'.encode("utf-8", "surrogatepass"),
    ):
        assert sofia.post(url, data=body, headers=typed).status_code == 422, body
    assert sofia.post(url, data=b'{"to": "beto.diaz", "from": "ana.ruiz"}').status_code == 422
    huge = sofia.post(url, data=b'{"to": "' + b"x" * 200_000 + b'"}', headers=typed)
    assert huge.status_code == 413
    bare = requests.Session()
    bare.cookies.update(sofia.cookies)  # the browser would attach the cookie cross-site
    move = {"to": BETO, "from": ANA}
    assert bare.post(url, json=move, timeout=30).status_code == 403, "no X-Consola header"
    cross = sofia.post(url, json=move, headers={"Origin": "https://otro.example"})
    assert cross.status_code == 403 and "origen" in cross.json()["error"]
    assert _state(console, ticket) == ("claimed", ANA) and len(_moves(console, ticket)) == 1


# --- races ----------------------------------------------------------------------------------------


def _at_once(calls: list[Callable[[], requests.Response]]) -> list[int]:
    """Each call in its own thread, released at the same instant; their statuses in order."""
    start = threading.Barrier(len(calls))
    statuses: list[int] = [0] * len(calls)

    def run(index: int) -> None:
        start.wait()
        statuses[index] = calls[index]().status_code

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def _race_unclaimed(console: Running, clients: dict[str, requests.Session], ticket: int) -> None:
    """A claim by Beto and two supervisors giving the ticket away, at the same instant."""
    statuses = _at_once(
        [
            lambda: clients[BETO].post(f"{console.url}/api/tickets/{ticket}/claim", timeout=30),
            lambda: _reassign(clients[SOFIA], console, ticket, to=ANA, **{"from": None}),
            lambda: _reassign(clients[RAUL], console, ticket, to=RAUL, **{"from": None}),
        ]
    )
    assert sorted(statuses) == [200, 409, 409], statuses
    winner = [BETO, ANA, RAUL][statuses.index(200)]
    assert _state(console, ticket) == ("claimed", winner)
    assert len(_moves(console, ticket)) == 1, "only the winner is audited"


def _race_claimed(console: Running, clients: dict[str, requests.Session], ticket: int) -> None:
    """Ana's ticket: one supervisor gives it to Beto, another releases it, Ana closes it."""
    close = f"{console.url}/api/tickets/{ticket}/close"
    statuses = _at_once(
        [
            lambda: _reassign(clients[SOFIA], console, ticket, to=BETO, **{"from": ANA}),
            lambda: _release(clients[RAUL], console, ticket, **{"from": ANA}),
            lambda: clients[ANA].post(close, json={"outcome": "sin_acuerdo"}, timeout=30),
        ]
    )
    assert sorted(statuses) == [200, 409, 409], statuses
    expected = [("claimed", BETO), ("open", None), ("closed", ANA)][statuses.index(200)]
    assert _state(console, ticket) == expected
    moved = _moves(console, ticket)[1:]  # after Ana's own claim
    closed = [a for a in console.audit("ticket_closed") if a.details["ticket"] == ticket]
    assert (len(moved), len(closed)) == ((0, 1) if expected[0] == "closed" else (1, 0))


def test_claims_reassignments_and_releases_racing_have_one_winner(any_console: Running) -> None:
    console = any_console
    clients = {name: _user(console, name) for name in (ANA, BETO, SOFIA, RAUL)}
    for round_ in range(5):
        _race_unclaimed(console, clients, _claimed(console, f"52155000780{round_:02d}", None))
        _race_claimed(console, clients, _claimed(console, f"52155000781{round_:02d}", ANA))


# --- one agent's activity -------------------------------------------------------------------------


def _activity(client: requests.Session, console: Running, who: str = ANA, **query: Any) -> Any:
    """``None`` values are left out of the query string."""
    url = f"{console.url}/api/supervisor/agents/{who}/activity"
    return client.get(url, params=query, timeout=30)


def test_an_agents_activity_newest_first_a_bounded_page_at_a_time(any_console: Running) -> None:
    console = any_console
    from cobranza.services import tickets

    yesterday = _ticket(console, "5215500079000")
    with db.session_scope(console.sessions) as session:  # the day before, by the service
        assert tickets.claim(session, yesterday, ANA, MovableClock(NOW - timedelta(days=1)))
    ana, beto, sofia = _user(console, ANA), _user(console, BETO), _user(console, SOFIA)
    first = _claimed(console, "5215500079001", None)
    second = _claimed(console, "5215500079002", None)
    api = f"{console.url}/api/tickets"
    assert ana.post(f"{api}/{first}/claim").status_code == 200
    assert ana.post(f"{api}/{first}/reply", json={"text": "Hola, soy Ana."}).status_code == 200
    assert ana.post(f"{api}/{first}/close", json={"outcome": "sin_acuerdo"}).status_code == 200
    assert ana.post(f"{api}/{second}/claim").status_code == 200
    assert beto.post(f"{api}/{second}/claim").status_code == 409  # Beto's, not Ana's
    assert _reassign(sofia, console, second, to=BETO, **{"from": ANA}).status_code == 200

    page = _activity(sofia, console)
    assert page.status_code == 200, page.text
    data = page.json()
    assert data["agent"] == {"username": ANA, "display_name": "Ana Ruiz"}
    actions = [(e["action"], e["by"], e.get("ticket")) for e in data["entries"]]
    assert actions == [
        ("ticket_reassigned", SOFIA, second),
        ("ticket_claimed", ANA, second),
        ("ticket_closed", ANA, first),
        ("agent_reply", ANA, first),
        ("ticket_claimed", ANA, first),
        ("agent_login", ANA, None),
        ("ticket_claimed", ANA, yesterday),
    ]
    assert data["next"] is None
    assert data["entries"][0]["from"] == ANA and data["entries"][0]["to"] == BETO
    assert data["entries"][2]["outcome"] == "sin_acuerdo"
    ids = [e["id"] for e in data["entries"]]

    pages, before = [], None
    while True:
        chunk = _activity(sofia, console, limit=3, before=before).json()
        assert len(chunk["entries"]) <= 3
        pages.append([e["id"] for e in chunk["entries"]])
        before = chunk["next"]
        if before is None:
            break
    assert pages == [ids[:3], ids[3:6], ids[6:]]
    today = console.clock.now().date().isoformat()
    only_today = _activity(sofia, console, **{"from": today, "to": today}).json()
    assert [e["id"] for e in only_today["entries"]] == ids[:-1], "yesterday's claim is out"
    assert (
        _activity(sofia, console, **{"from": "2026-01-01", "to": "2026-01-31"}).json()["entries"]
        == []
    )
    beto_log = _activity(sofia, console, BETO).json()["entries"]
    assert [e["action"] for e in beto_log] == ["ticket_reassigned", "agent_login"]


def test_hostile_activity_queries(console: Running) -> None:
    sofia = _user(console, SOFIA)
    assert _activity(sofia, console, "nadie.aqui").status_code == 404
    for raw in ("A", "ab", "x" * 61, "ana%2Fruiz", "..", "<script>"):
        answer = sofia.get(f"{console.url}/api/supervisor/agents/{raw}/activity", timeout=30)
        assert answer.status_code == 404, raw
    for query in (
        {"from": "ayer"},
        {"to": "2026-13-01"},
        {"from": "2026-11-22T00:00"},
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "-5"},
        {"limit": "1e3"},
        {"limit": "9" * 40},
        {"before": "0"},
        {"before": "abc"},
        {"from": "2026-11-22", "to": "2026-11-01"},
        {"from": "2026-01-01", "to": "2026-11-22"},  # over 92 days
    ):
        answer = _activity(sofia, console, **query)
        assert answer.status_code == 422, (query, answer.text)
        assert answer.json()["error"]
    assert _activity(sofia, console, limit="100").status_code == 200
    assert _activity(sofia, console, CARLA).status_code == 200, "a disabled agent's history"
    assert _activity(_user(console, BETO), console).status_code == 403


# --- roles from the command line --------------------------------------------------------------


def test_a_role_change_is_audited_and_applies_at_once(console: Running) -> None:
    sofia = _user(console, SOFIA)
    queues = f"{console.url}/api/supervisor/queues"
    assert sofia.get(queues, timeout=30).status_code == 200
    demoted = _cli(console.database_url, "agent", "role", SOFIA, "agente")
    assert demoted.returncode == 0, demoted.stderr
    assert "agente" in demoted.stdout and "sesiones terminadas: 1" in demoted.stdout
    assert sofia.get(queues, timeout=30).status_code == 401, "her session ended"
    again = _user(console, SOFIA)
    assert again.get(f"{console.url}/api/me").json()["agent"]["role"] == "agent"
    assert again.get(queues, timeout=30).status_code == 403

    promoted = _cli(console.database_url, "agent", "role", ANA, "supervisor")
    assert promoted.returncode == 0, promoted.stderr
    assert _user(console, ANA).get(queues, timeout=30).status_code == 200
    same = _cli(console.database_url, "agent", "role", ANA, "supervisor")
    assert same.returncode == 1 and "ya tiene el rol supervisor" in same.stderr
    unknown = _cli(console.database_url, "agent", "role", "nadie.aqui", "supervisor")
    assert unknown.returncode == 1 and "no existe" in unknown.stderr
    assert _cli(console.database_url, "agent", "role", ANA, "jefe").returncode == 2

    changes = console.audit("agent_role_changed")
    assert [(c.details["agent"], c.details["from"], c.details["to"]) for c in changes] == [
        (SOFIA, "supervisor", "agent"),
        (ANA, "agent", "supervisor"),
    ]
    assert all(c.actor.startswith("cli:") for c in changes)


def test_the_cli_adds_a_supervisor(console: Running) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    add = [str(Path(sys.executable).with_name("cobranza")), "agent", "add", "lucia.sol"]
    added = subprocess.run(
        [*add, "--name", "Lucía Sol", "--supervisor", "--password-stdin"],
        input="clave-de-lucia-123\n",
        env={**os.environ, "DATABASE_URL": console.database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    assert "rol supervisor" in added.stdout
    lucia = console.agent("lucia.sol", "clave-de-lucia-123")
    assert lucia.get(f"{console.url}/api/supervisor/queues", timeout=30).status_code == 200
    listed = _cli(console.database_url, "agent", "list")
    row = next(line for line in listed.stdout.splitlines() if "lucia.sol" in line)
    assert "supervisor" in row
    assert any(ANA in line and "agente" in line for line in listed.stdout.splitlines())
    added_rows = {a.details["agent"]: a.details.get("role") for a in console.audit("agent_added")}
    assert added_rows["lucia.sol"] == "supervisor"
