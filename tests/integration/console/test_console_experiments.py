"""The experiments' API of the console (supervisors only) on the real aiohttp app, SQLite and
PostgreSQL: the list and one experiment's report, read through the experiments service
(cobranza/services/experiments.py) with the console's clock. While any arm is short of its
planned sample the report carries each arm's rate and Wilson interval and nothing else: no
difference, no test, no p-value, no winner; at the plan, the comparisons and the verdict.
Hostile names, roles and sessions, concurrent first requests (the files are read once), broken
files (503, read again once fixed)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
import yaml
from sqlalchemy.engine import Engine

from cobranza import db
from cobranza.console import handlers
from cobranza.db import audit
from cobranza.domain.experiments import build_experiment
from cobranza.domain.vocabulary import AuditAction
from cobranza.services.experiments import results
from tests.integration.cli.test_experiments_cli import EXPERIMENT, enrol
from tests.integration.console.test_console_roles import (
    BETO,
    PASSWORDS,
    SOFIA,
    _add_team,
    _at_once,
)
from tests.integration.console.test_console_security import (
    Running,
    _starter,
    database_url,  # noqa: F401  (the fixture: a private copy of the demo portfolio)
)

NAME = EXPERIMENT["name"]  # payment rate in 7 days, 20 debtors an arm
SOURCE = f"experiments/{NAME}.yml"  # as the files name it
LIST = "/api/supervisor/experiments"
REPORT = f"/api/supervisor/experiments/{NAME}"
UNKNOWN = {"error": "No existe ese experimento."}
# What only a reached plan may show (docs/experiments.md, "Why no peeking").
TEST_KEYS = {"difference", "z", "p_value", "adjusted_p_value", "confidence"}


def _experiments_dir(tmp_path: Path, *definitions: dict[str, Any]) -> Path:
    directory = tmp_path / "experiments"
    directory.mkdir(exist_ok=True)
    for definition in definitions:
        (directory / f"{definition['name']}.yml").write_text(
            yaml.safe_dump(definition, allow_unicode=True), encoding="utf-8"
        )
    return directory


def _running(url: str, directory: Path) -> Iterator[Running]:
    starter = _starter(url)
    try:
        running = next(starter)(EXPERIMENTS_DIR=str(directory))
        _add_team(running)
        yield running
    finally:
        starter.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def console(
    request: pytest.FixtureRequest,
    database_url: str,  # noqa: F811
    tmp_path: Path,
) -> Iterator[Running]:
    """The console on a copy of the demo portfolio (SQLite) or a fresh PostgreSQL, with one
    experiment in its EXPERIMENTS_DIR."""
    url = database_url
    if request.param == "postgresql":
        engine: Engine = request.getfixturevalue("empty_postgres")
        db.upgrade(engine)
        url = engine.url.render_as_string(hide_password=False)
    yield from _running(url, _experiments_dir(tmp_path, EXPERIMENT))


@pytest.fixture
def sqlite_console(database_url: str, tmp_path: Path) -> Iterator[Running]:  # noqa: F811
    yield from _running(database_url, _experiments_dir(tmp_path, EXPERIMENT))


def _enrol(console: Running, arm: str, count: int, paying: int) -> None:
    engine = db.make_engine(console.database_url)
    try:
        enrol(engine, arm, count, paying)
    finally:
        engine.dispose()


def _expected(console: Running) -> dict[str, Any]:
    """The service's own report at the console's clock."""
    with db.session_scope(console.sessions) as session:
        return results(session, build_experiment(EXPERIMENT, SOURCE), console.clock.now()).as_dict()


def _keys(value: Any) -> set[str]:
    """Every key at any depth of a JSON value."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def _get(client: requests.Session, console: Running, path: str) -> requests.Response:
    return client.get(console.url + path, timeout=30)


def test_running_shows_each_arms_rate_and_no_comparison(console: Running) -> None:
    _enrol(console, "control", 20, 2)
    _enrol(console, "asistente", 19, 19)  # every one pays, one short of the plan
    sofia = console.agent(SOFIA, PASSWORDS[SOFIA])

    report = _get(sofia, console, REPORT)
    assert report.status_code == 200, report.text
    data = report.json()
    assert data == _expected(console)
    assert data["outcome"] == "running" and data["missing"] == {"asistente": 1}
    assert data["verdict"] == "en curso (faltan 1 deudor; asistente: 1)"
    assert data["comparisons"] == [] and data["winner"] is None and data["cutoff"] is None
    assert not _keys(data) & TEST_KEYS, "no difference or test before the plan"
    arms = [(a["analysed"], a["successes"], a["rate"]) for a in data["arms"]]
    assert arms == [(20, 2, 0.1), (19, 19, 1.0)]
    low, high = data["arms"][0]["interval"]
    assert (round(low, 3), round(high, 3)) == (0.028, 0.301)  # Wilson 95%, as the CLI prints
    assert data["planned_per_arm"] == 20 and data["simulated"] is False
    assert data["as_of"] == console.clock.now().isoformat(timespec="seconds")

    listed = _get(sofia, console, LIST)
    assert listed.status_code == 200, listed.text
    [entry] = listed.json()["experiments"]
    assert entry == {
        "experiment": NAME,
        "description": EXPERIMENT["description"],
        "enabled": True,
        "target": "paso temprana_1_30.primer_aviso",
        "metric": "payment_rate",
        "metric_label": "tasa de pago",
        "window_days": 7,
        "planned_per_arm": 20,
        "planned_total": 40,
        "as_of": data["as_of"],
        "outcome": "running",
        "verdict": data["verdict"],
        "missing": {"asistente": 1},
        "simulated": False,
        "exposed": 39,
        "arms": [
            {"name": "control", "variant": "aviso_cuenta", "weight": 50, "exposed": 20,
             "analysed": 20},
            {"name": "asistente", "variant": "aviso_cuenta_asistente", "weight": 50,
             "exposed": 19, "analysed": 19},
        ],
    }  # fmt: skip


def test_the_verdict_and_the_comparison_once_every_arm_has_its_plan(console: Running) -> None:
    _enrol(console, "control", 25, 5)
    _enrol(console, "asistente", 22, 15)
    with db.session_scope(console.sessions) as session:
        audit.record(
            session,
            console.clock.now(),
            AuditAction.SIMULATION_STARTED,
            None,
            actor=audit.SIMULATION_ACTOR,
        )
    sofia = console.agent(SOFIA, PASSWORDS[SOFIA])

    data = _get(sofia, console, REPORT).json()
    assert data == _expected(console)
    assert data["outcome"] == "wins" and data["winner"] == "asistente"
    assert data["verdict"] == "gana asistente" and data["missing"] == {}
    assert [(a["analysed"], a["successes"]) for a in data["arms"]] == [(25, 5), (20, 15)]
    [comparison] = data["comparisons"]
    assert comparison["arm"] == "asistente" and comparison["outcome"] == "wins"
    assert comparison["difference"] == pytest.approx(0.55)
    assert comparison["interval"][0] > 0 and comparison["confidence"] == pytest.approx(0.95)
    assert comparison["adjusted_p_value"] < 0.05
    assert data["cutoff"] == "2026-11-04T02:00:00+00:00"  # when asistente reached 20
    assert data["simulated"] is True, "a database `cobranza simulate` made says so"
    [entry] = _get(sofia, console, LIST).json()["experiments"]
    assert (entry["outcome"], entry["verdict"], entry["simulated"]) == (
        "wins",
        data["verdict"],
        True,
    )
    assert not _keys(entry) & (TEST_KEYS | {"rate", "interval", "comparisons"}), (
        "the list is a list"
    )


def test_roles_sessions_and_hostile_names(sqlite_console: Running) -> None:
    console = sqlite_console
    _enrol(console, "control", 3, 1)
    sofia = console.agent(SOFIA, PASSWORDS[SOFIA])
    beto = console.agent(BETO, PASSWORDS[BETO])
    for path in (LIST, REPORT, "/api/supervisor/experiments/no_existe"):
        assert requests.get(console.url + path, timeout=30).status_code == 401, path
        forged = {"Authorization": "Bearer " + "x" * 43, "X-Consola-Rol": "supervisor"}
        assert requests.get(console.url + path, headers=forged, timeout=30).status_code == 401
        refused = _get(beto, console, path)
        assert refused.status_code == 403 and refused.json() == {
            "error": "Tu rol no permite esta acción."
        }
    for raw in (
        "no_existe",
        "AVISO_PRUEBA",
        f"{NAME}%20",
        f"{NAME}.yml",
        f"{NAME}%00",
        "%2E%2E",
        "..%5C..%5Cetc%5Cpasswd",
        quote("acción"),
        quote("aviso_prueba\u200b"),  # a zero-width space
        "%FF%FE",
        quote("<script>alert(1)</script>", safe=""),
        "a" * 61,
        "a" * 4000,
    ):
        answer = _get(sofia, console, f"/api/supervisor/experiments/{raw}")
        assert (answer.status_code, answer.json()) == (404, UNKNOWN), raw
    for raw in ("..", "..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", f"{NAME}/otro"):
        answer = _get(sofia, console, f"/api/supervisor/experiments/{raw}")
        assert answer.status_code == 404, raw  # not a route: aiohttp's own 404
        assert "root:" not in answer.text
    huge = _get(sofia, console, "/api/supervisor/experiments/" + "a" * 20_000)
    assert huge.status_code in (400, 414, 431), huge.status_code  # refused before any route
    assert _get(sofia, console, f"{REPORT}?name=../../etc/passwd").status_code == 200
    posted = sofia.post(console.url + REPORT, json={}, timeout=30)
    assert posted.status_code == 405
    assert _get(sofia, console, REPORT).json()["arms"][0]["exposed"] == 3, "still serving"


def test_concurrent_first_requests_read_the_files_once(
    sqlite_console: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = sqlite_console
    _enrol(console, "control", 20, 4)
    reads: list[int] = []
    real = handlers.worker.load_files

    def counted(app: Any) -> Any:
        reads.append(1)
        return real(app)

    monkeypatch.setattr(handlers.worker, "load_files", counted)
    cookies = console.agent(SOFIA, PASSWORDS[SOFIA]).cookies
    paths = [LIST, REPORT, REPORT, "/api/supervisor/experiments/otro"] * 3
    answers: dict[int, requests.Response] = {}

    def call(n: int) -> Callable[[], requests.Response]:
        def run() -> requests.Response:
            answers[n] = requests.get(console.url + paths[n], cookies=cookies, timeout=60)
            return answers[n]

        return run

    statuses = _at_once([call(n) for n in range(len(paths))])
    assert sorted(statuses) == [200] * 9 + [404] * 3, statuses
    assert len(reads) == 1, "read once, by whichever request came first"
    reports = {a.text for n, a in answers.items() if paths[n] == REPORT}
    assert (
        len(reports) == 1
        and _expected(console)
        == requests.get(console.url + REPORT, cookies=cookies, timeout=30).json()
    )


def test_broken_files_answer_503_and_are_read_again_once_fixed(
    database_url: str,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken: dict[str, Any] = copy.deepcopy(EXPERIMENT)
    broken["arms"][0]["weight"] = 70  # 70 + 50: one problem
    directory = _experiments_dir(tmp_path, broken)
    for console in _running(database_url, directory):
        sofia = console.agent(SOFIA, PASSWORDS[SOFIA])
        for path in (LIST, REPORT):
            answer = _get(sofia, console, path)
            assert answer.status_code == 503, answer.text
            assert "cobranza campaigns validate" in answer.json()["error"]
        logged = [r.getMessage() for r in caplog.records if "outreach files" in r.getMessage()]
        assert logged and all(m.endswith("(1 problems)") for m in logged), logged
        _experiments_dir(tmp_path, EXPERIMENT)  # the designer fixes it
        fixed = _get(sofia, console, REPORT)
        assert fixed.status_code == 200 and fixed.json()["experiment"] == NAME
        assert _get(sofia, console, "/api/me").status_code == 200, "the rest of the console works"


def test_no_experiments_is_an_empty_list(database_url: str, tmp_path: Path) -> None:  # noqa: F811
    empty = tmp_path / "ninguno"
    empty.mkdir()
    for console in _running(database_url, empty):
        sofia = console.agent(SOFIA, PASSWORDS[SOFIA])
        assert _get(sofia, console, LIST).json() == {"experiments": []}
        assert _get(sofia, console, REPORT).status_code == 404
