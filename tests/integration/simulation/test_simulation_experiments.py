"""``cobranza simulate`` honours the message experiments (docs/experiments.md): the dispatcher
sends each debtor their arm's template, the exposures are recorded, and the report ends with
each experiment's results — computed from the run's tables and marked simulated — which a
recount from the rows agrees with. The experiment here is on the weekly follow-up (a step
most early debtors get), planned small so that a two-week run reaches its plan."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from cobranza import db
from cobranza.cli import commands, render
from cobranza.config import Settings, load_settings
from cobranza.db.models import ExperimentExposure, OutreachMessage
from cobranza.domain.experiments import build_experiment
from cobranza.simulation.run import SimulationReport, simulate

START = datetime(2026, 12, 7, 5, 0, tzinfo=ZoneInfo("America/Mexico_City"))
DEFINITION: dict[str, Any] = {
    "name": "seguimiento_asistente",
    "description": "¿Responden más al seguimiento con el aviso del asistente?",
    "enabled": True,
    "target": {"campaign": "temprana_1_30", "step": "seguimiento_semanal"},
    "arms": [
        {"name": "control", "variant": "seguimiento_cuenta", "weight": 50},
        {"name": "asistente", "variant": "aviso_cuenta_asistente", "weight": 50},
    ],
    "metric": "reply_rate",
    "window_days": 3,
    "baseline_rate": 0.5,
    "minimum_effect": 0.45,  # 15 debtors an arm
}
EXPERIMENT = build_experiment(DEFINITION)


DAYS, DEBTORS, SEED = 14, 160, 7


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    directory = tmp_path_factory.mktemp("run") / "experiments"
    directory.mkdir()
    (directory / "seguimiento.yml").write_text(
        yaml.safe_dump(DEFINITION, allow_unicode=True), encoding="utf-8"
    )
    base = load_settings({})
    return replace(base, outreach=replace(base.outreach, experiments_dir=directory))


@pytest.fixture(scope="module")
def run(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> tuple[SimulationReport, str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('simulation') / 'run.db'}"
    return simulate(DAYS, DEBTORS, SEED, start=START, database_url=url, settings=settings), url


def rows(url: str) -> tuple[list[ExperimentExposure], dict[int, OutreachMessage], list[Any]]:
    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            exposures = list(session.execute(select(ExperimentExposure)).scalars())
            messages = {m.id: m for m in session.execute(select(OutreachMessage)).scalars()}
            replies = [(m.debtor_phone, m.replied_at) for m in messages.values() if m.replied_at]
            session.expunge_all()
    finally:
        engine.dispose()
    return exposures, messages, replies


def test_each_debtor_gets_their_arms_template_and_one_exposure(
    run: tuple[SimulationReport, str],
) -> None:
    report, url = run
    assert report.violations == []
    exposures, messages, _ = rows(url)
    assert {e.arm for e in exposures} == {"control", "asistente"}
    assert len({e.debtor_phone for e in exposures}) == len(exposures)
    for exposure in exposures:
        arm = EXPERIMENT.assign(exposure.debtor_phone)
        message = messages[exposure.outreach_message_id]
        assert exposure.arm == arm.name and message.template == arm.variant
        assert exposure.exposed_at == message.sent_at and message.step == "seguimiento_semanal"
    for message in messages.values():
        if message.step == "seguimiento_semanal" and message.wamid is not None:
            assert message.template == EXPERIMENT.assign(message.debtor_phone).variant
        if message.step != "seguimiento_semanal":
            assert message.template != "aviso_cuenta_asistente"


def test_the_report_holds_the_results_a_recount_agrees_with(
    run: tuple[SimulationReport, str],
) -> None:
    report, url = run
    [data] = report.as_dict()["experiments"]
    assert data["experiment"] == EXPERIMENT.name and data["simulated"] is True
    exposures, _, replies = rows(url)
    window = timedelta(days=3)
    end = datetime.fromisoformat(data["as_of"])
    cutoff = datetime.fromisoformat(data["cutoff"]) if data["cutoff"] else end
    for arm in data["arms"]:
        mine = [e for e in exposures if e.arm == arm["name"]]
        analysed = [e for e in mine if e.exposed_at + window <= end and e.exposed_at <= cutoff]
        replied = [
            e
            for e in analysed
            if any(
                p == e.debtor_phone and e.exposed_at <= at < e.exposed_at + window
                for p, at in replies
            )
        ]
        assert (arm["exposed"], arm["analysed"], arm["successes"]) == (
            len(mine),
            len(analysed),
            len(replied),
        )
    assert sum(arm["successes"] for arm in data["arms"]) > 0
    # Two weeks reach the small plan: a verdict, read on simulated debtors, on the debtors
    # exposed until the last arm reached it (the larger arm has more than its plan, and
    # later debtors are left out).
    assert data["outcome"] != "running" and len(data["comparisons"]) == 1
    assert min(a["analysed"] for a in data["arms"]) == EXPERIMENT.planned_per_arm
    assert any(a["analysed"] < a["exposed"] for a in data["arms"])
    text = render.simulation({**report.as_dict(), "wall_seconds": 1.0})
    assert "SIMULADO: números calculados de una corrida de `cobranza simulate`" in text
    assert f"Veredicto (plan alcanzado): {data['verdict']}." in text


def test_experiments_report_on_the_kept_database_says_simulated(
    run: tuple[SimulationReport, str],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report, url = run
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("EXPERIMENTS_DIR", str(settings.outreach.experiments_dir))
    at = report.as_dict()["experiments"][0]["as_of"]
    assert commands.main(["experiments", "report", EXPERIMENT.name, "--at", at, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == report.as_dict()["experiments"][0]
    assert commands.main(["experiments", "report", EXPERIMENT.name, "--at", at]) == 0
    assert capsys.readouterr().out.startswith("SIMULADO: números calculados de una corrida")


def test_the_same_seed_gives_the_same_experiment_results(
    run: tuple[SimulationReport, str], settings: Settings
) -> None:
    report, _ = run
    again = simulate(DAYS, DEBTORS, SEED, start=START, settings=settings)
    assert again.as_dict() == report.as_dict()
