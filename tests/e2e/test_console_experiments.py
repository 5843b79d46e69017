"""The supervisors' "Experimentos" view in a browser (Debian's Chromium, Playwright) against the
console's own process (``python -m cobranza.console``; no Rasa needed), on the databases of two
real ``cobranza simulate`` runs with the same seed and start and an experiment on the weekly
follow-up planned for 15 debtors an arm: three days in, no arm has its plan and the page says
«En curso: faltan …» with each arm's rate, Wilson interval and progress, and no difference or
test; two weeks in, every arm has it and the page gives the verdict with the difference, its
Newcombe interval and the p-values. Both runs are marked simulated: the banner says so. Every
figure on the page is the experiments service's, computed here from the same database. An agent
has neither the view nor its API (403). No console error on the supervisor's page.

The console runs on the wall clock, so the runs start on the Monday three weeks before this
week's: every window has closed by the time the page is read.
Screenshots: results/console-experiments-running.png, results/console-experiments-verdict.png,
results/console-experiments-agent.png."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from cobranza import db
from cobranza.clock import SystemClock, local_today
from cobranza.config import PROJECT_ROOT, load_settings
from cobranza.domain.experiments import build_experiment
from cobranza.domain.vocabulary import ConsoleRole
from cobranza.services import agents
from cobranza.services.experiments import results
from cobranza.simulation.run import simulate
from tests.e2e.conftest import RESULTS, ConsoleProcess
from tests.e2e.test_console_supervision import ANA, PASSWORDS, SOFIA, TIMEOUT_MS, _log_in
from tests.integration.simulation.test_simulation_experiments import DEFINITION

pytestmark = pytest.mark.slow

CDMX = ZoneInfo("America/Mexico_City")
NAME = DEFINITION["name"]  # reply rate in 3 days, 15 debtors an arm
IDLE = "opciones_intro_directo"  # disabled: its arms have no debtor
DEBTORS, SEED = 160, 7
EARLY, LATE = 3, 14  # days simulated: short of the plan, and past it


def _start() -> datetime:
    """05:00 in Mexico City on the Monday three weeks before this week's."""
    today = local_today(SystemClock(), "America/Mexico_City")
    monday = today - timedelta(days=today.weekday() + 21)
    return datetime.combine(monday, day_time(5, 0), tzinfo=CDMX)


@pytest.fixture(scope="module")
def experiments_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("exp-page") / "experiments"
    directory.mkdir()
    (directory / f"{NAME}.yml").write_text(
        yaml.safe_dump(DEFINITION, allow_unicode=True), encoding="utf-8"
    )
    # The shipped disabled experiment: listed, validated, nobody ever exposed.
    idle = PROJECT_ROOT / "experiments" / f"{IDLE}.yml"
    (directory / idle.name).write_text(idle.read_text(encoding="utf-8"), encoding="utf-8")
    return directory


def _run(days: int, directory: Path, tmp: Path) -> tuple[str, dict[str, Any]]:
    """A simulation's database with the console's accounts, and the service's report on it once
    every window has closed."""
    start = _start()
    base = load_settings({})
    settings = replace(base, outreach=replace(base.outreach, experiments_dir=directory))
    url = f"sqlite:///{tmp / f'run-{days}.db'}"
    report = simulate(days, DEBTORS, SEED, start=start, database_url=url, settings=settings)
    assert report.violations == []
    engine = db.make_engine(url)
    clock = SystemClock()
    after = start + timedelta(days=days + DEFINITION["window_days"] + 1)
    experiment = build_experiment(DEFINITION, f"experiments/{NAME}.yml")
    with db.session_scope(db.make_session_factory(engine)) as session:
        agents.add_agent(session, ANA, "Ana Ruiz", PASSWORDS[ANA], clock)
        role = ConsoleRole.SUPERVISOR
        agents.add_agent(session, SOFIA, "Sofía Mora", PASSWORDS[SOFIA], clock, role)
        expected = results(session, experiment, after).as_dict()
    engine.dispose()
    assert after < clock.now(), "the page reads the run after every window closed"
    assert all(a["window_closed"] == a["exposed"] > 0 for a in expected["arms"]), expected
    return url, expected


@pytest.fixture(scope="module")
def runs(
    experiments_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[str, dict[str, Any]]]:
    tmp = tmp_path_factory.mktemp("exp-runs")
    return {"early": _run(EARLY, experiments_dir, tmp), "late": _run(LATE, experiments_dir, tmp)}


def _supervisor_page(browser: Any, url: str, errors: list[str]) -> Any:
    """Sofía logged in, on the Experimentos view; from then on every console error is kept (an
    error the page catches shows in its error line, which the test reads too)."""
    from playwright.sync_api import expect

    page = _log_in(browser, url, SOFIA)
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    expect(page.get_by_test_id("agent-name")).to_have_text("Sofía Mora")
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.get_by_test_id("nav-experiments").click()
    expect(page.get_by_test_id("experiments")).to_be_visible()
    expect(page.get_by_test_id("queue")).to_be_hidden()
    expect(page.get_by_test_id("supervision")).to_be_hidden()
    expect(page.get_by_test_id("nav-experiments")).to_have_attribute("aria-pressed", "true")
    return page


def _signed(share: float) -> str:
    return f"{'+' if share >= 0 else '-'}{abs(share * 100):.1f}"


def _pct(share: float) -> str:
    return f"{share * 100:.1f}%"


def _running_words(missing: dict[str, int]) -> str:
    if len(missing) == 2 and len(set(missing.values())) == 1:
        return f"En curso: faltan {next(iter(missing.values()))} por brazo"
    return "En curso: faltan " + " y ".join(f"{n} en {arm}" for arm, n in missing.items())


def _check_list_and_arms(page: Any, expected: dict[str, Any], state: str) -> Any:
    """The list's line, then the report's per-arm table; returns the report."""
    from playwright.sync_api import expect

    item = page.locator(f"[data-testid='exp-item'][data-experiment='{NAME}']")
    expect(item.get_by_test_id("exp-item-state")).to_have_text(state)
    arms = " · ".join(f"{a['name']} {a['exposed']}" for a in expected["arms"])
    total = sum(a["exposed"] for a in expected["arms"])
    expect(item.get_by_test_id("exp-item-exposed")).to_have_text(
        f"Expuestos: {total} ({arms}) · plan 15 por brazo"
    )
    expect(item).to_contain_text("Simulado")
    item.get_by_test_id("exp-open").click()
    report = page.get_by_test_id("exp-report")
    expect(report.get_by_role("heading", name=f"Experimento {NAME}")).to_be_visible()
    banner = report.get_by_test_id("exp-simulated")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Datos simulados")
    expect(report.get_by_test_id("exp-plan")).to_contain_text("15 deudores por brazo (30 en total)")
    for arm in expected["arms"]:
        row = report.locator(f"[data-testid='exp-arm'][data-arm='{arm['name']}']")
        expect(row.get_by_test_id("exp-arm-exposed")).to_have_text(str(arm["exposed"]))
        expect(row.get_by_test_id("exp-arm-progress")).to_have_text(f"{arm['analysed']} / 15")
        progress = row.locator("progress")
        expect(progress).to_have_attribute("value", str(min(arm["analysed"], 15)))
        expect(row.get_by_test_id("exp-arm-rate")).to_have_text(_pct(arm["rate"]))
        low, high = arm["interval"]
        interval = row.get_by_test_id("exp-arm-interval")
        # No debtor analysed: no rate and no interval (the API's 0–1 is no information)
        shown = "—" if arm["rate"] is None else f"{_pct(low)} – {_pct(high)}"
        expect(interval).to_have_text(shown)
        expect(interval).to_have_attribute("title", _starts("Intervalo de Wilson al 95%: "))
        expect(interval.locator(".exp-ci__range")).to_have_count(0 if arm["rate"] is None else 1)
    return report


def _starts(prefix: str) -> Any:
    import re

    return re.compile("^" + re.escape(prefix))


def test_a_supervisor_reads_an_experiment_running_then_decided(
    runs: dict[str, tuple[str, dict[str, Any]]],
    experiments_dir: Path,
    browser: Any,
    console_process: ConsoleProcess,
) -> None:
    """``runs`` first: the simulations run their own event loop, before Playwright's."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    errors: list[str] = []
    folder = {"EXPERIMENTS_DIR": str(experiments_dir)}
    url, early = runs["early"]
    assert early["outcome"] == "running" and early["missing"], "three days are short of the plan"
    with console_process(url, "console-experiments-running.log", folder) as console:
        page = _supervisor_page(browser, console, errors)
        report = _check_list_and_arms(page, early, "En curso")
        verdict = report.get_by_test_id("exp-verdict")
        expect(verdict.get_by_test_id("exp-verdict-text")).to_have_text(
            _running_words(early["missing"])
        )
        expect(verdict).to_have_attribute("title", _starts("El veredicto espera a que cada brazo"))
        expect(report.get_by_test_id("exp-comparisons")).to_have_count(0)
        expect(report).not_to_contain_text("Newcombe")
        expect(report).not_to_contain_text("Holm")
        expect(page.get_by_test_id("error")).to_be_empty()
        page.screenshot(path=str(RESULTS / "console-experiments-running.png"), full_page=True)
        # An experiment nobody saw: no rate and no interval («—», not «0.0% – 100.0%»)
        idle = page.locator(f"[data-testid='exp-item'][data-experiment='{IDLE}']")
        idle.get_by_test_id("exp-open").click()
        expect(report.get_by_role("heading", name=f"Experimento {IDLE}")).to_be_visible()
        for arm in ("control", "directo"):
            row = report.locator(f"[data-testid='exp-arm'][data-arm='{arm}']")
            expect(row.get_by_test_id("exp-arm-rate")).to_have_text("—")
            expect(row.get_by_test_id("exp-arm-interval")).to_have_text("—")
        page.close()

    url, late = runs["late"]
    assert late["outcome"] != "running" and len(late["comparisons"]) == 1
    with console_process(url, "console-experiments-verdict.log", folder) as console:
        page = _supervisor_page(browser, console, errors)
        verdict_words = late["verdict"][0].upper() + late["verdict"][1:]
        report = _check_list_and_arms(page, late, verdict_words)
        [c] = late["comparisons"]
        low, high = c["interval"]
        expect(report.get_by_test_id("exp-verdict-text")).to_have_text(
            f"{verdict_words} — {c['arm']}: {_signed(c['difference'])} puntos frente al control "
            f"(IC 95% de Newcombe: {_signed(low)} a {_signed(high)} puntos)"
        )
        row = report.locator(f"[data-testid='exp-comparison'][data-arm='{c['arm']}']")
        expect(row.get_by_test_id("exp-difference")).to_have_text(f"{_signed(c['difference'])} pts")
        interval = row.get_by_test_id("exp-difference-interval")
        expect(interval).to_have_text(f"{_signed(low)} a {_signed(high)} pts")
        expect(interval).to_have_attribute("title", _starts("Intervalo de Newcombe al 95%: "))
        expect(interval.locator(".exp-ci__zero")).to_have_count(1)
        expect(row.get_by_test_id("exp-p")).to_have_text(f"{c['p_value']:.4f}")
        holm = row.get_by_test_id("exp-p-holm")
        expect(holm).to_have_text(f"{c['adjusted_p_value']:.4f}")
        expect(holm).to_have_attribute("title", _starts("p ajustada por Holm: "))
        expect(report).to_contain_text("Analizados los expuestos hasta el ")
        expect(report.locator(f"time[datetime='{late['cutoff']}']")).to_have_count(1)
        expect(page.get_by_test_id("error")).to_be_empty()
        page.screenshot(path=str(RESULTS / "console-experiments-verdict.png"), full_page=True)
        page.get_by_test_id("nav-supervision").click()
        expect(page.get_by_test_id("supervision")).to_be_visible()
        expect(page.get_by_test_id("experiments")).to_be_hidden()
        page.get_by_test_id("nav-queue").click()
        expect(page.get_by_test_id("queue")).to_be_visible()
        expect(page.get_by_test_id("experiments")).to_be_hidden()
        page.get_by_test_id("nav-experiments").click()
        expect(report.get_by_test_id("exp-verdict-text")).to_contain_text(verdict_words)
        page.close()

        agent = _log_in(browser, console, ANA)
        expect(agent.get_by_test_id("agent-name")).to_have_text("Ana Ruiz")
        expect(agent.get_by_test_id("queue")).to_be_visible()
        expect(agent.get_by_test_id("nav-experiments")).to_have_count(0)
        expect(agent.get_by_test_id("experiments")).to_have_count(0)
        expect(agent.get_by_text("Experimentos")).to_have_count(0)
        statuses = agent.evaluate(
            """async (name) => {
              const list = await fetch("/api/supervisor/experiments");
              const one = await fetch(`/api/supervisor/experiments/${name}`);
              return [list.status, one.status, (await one.json()).error];
            }""",
            NAME,
        )
        assert statuses == [403, 403, "Tu rol no permite esta acción."]
        agent.screenshot(path=str(RESULTS / "console-experiments-agent.png"))
    assert errors == [], errors
