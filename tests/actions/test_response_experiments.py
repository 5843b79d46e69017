"""Experiments on conversation responses (docs/experiments.md): a response our actions say
through ``turn.say`` becomes the debtor's arm's variant under an enabled experiment, the
exposure is recorded with the turn, a variant reads back as the response it stands for, and
whoever is not a known debtor hears the response itself."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path

import pytest
import yaml
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.base import Turn
from actions.experiments import response_experiments
from actions.plans import ActionOfrecerPlanes
from cobranza.bootstrap import App
from cobranza.clock import FixedClock
from cobranza.config import PROJECT_ROOT
from cobranza.db.models import ExperimentExposure
from cobranza.domain.experiments import build_experiment
from cobranza.personas.profiles import PersonaProfile
from cobranza.services.experiments import ResponseExperiments, response_variant
from tests.support.actions import Domain, TrackerFactory, app_on_a_copy, responses, run_action

SHIPPED = PROJECT_ROOT / "experiments" / "opciones_intro_directo.yml"
MARIA, ANA = "+525512345678", "+529981234567"  # documented demo debtors
VERIFIED = {
    "deudor_encontrado": True,
    "identidad_verificada": True,
    "persona": "olvidadizo",
    "zona_horaria": "America/Mexico_City",
}


def enabled_definition() -> dict[str, object]:
    """The shipped experiment, switched on, under a name that puts María in the variant and
    Ana in the control (the name is the assignment's salt; the first such name is taken)."""
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["enabled"] = True
    for n in itertools.count():
        data["name"] = f"opciones_intro_prueba_{n}"
        experiment = build_experiment(data)
        if (experiment.assign(MARIA).name, experiment.assign(ANA).name) == ("directo", "control"):
            return data
    raise AssertionError("unreachable")


DEFINITION = enabled_definition()
EXPERIMENT = build_experiment(DEFINITION)


def app_with(
    experiments_dir: Path, seeded_sqlite_url: str, tmp_path: Path, **objects: object
) -> App:
    environment = {"EXPERIMENTS_DIR": str(experiments_dir)}
    return app_on_a_copy(seeded_sqlite_url, tmp_path, environment, **objects)


@pytest.fixture
def app_environment(tmp_path: Path) -> dict[str, str]:
    """The actions' app (tests/actions/conftest.py) with the experiment switched on."""
    directory = tmp_path / "experiments"
    directory.mkdir()
    (directory / "opciones.yml").write_text(
        yaml.safe_dump(DEFINITION, allow_unicode=True), encoding="utf-8"
    )
    return {"EXPERIMENTS_DIR": str(directory)}


def exposures(app: App) -> list[tuple[str, str, str | None, int | None]]:
    with app.unit_of_work() as session:
        return [
            (e.debtor_phone, e.arm, e.conversation_id, e.outreach_message_id)
            for e in session.execute(select(ExperimentExposure)).scalars()
        ]


def test_a_verified_debtor_hears_their_arms_variant_and_is_exposed_once(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    for _ in range(2):  # the same arm the second time, and still one exposure
        _, messages = run_action(ActionOfrecerPlanes(), tracker_factory(slots=VERIFIED), domain)
        assert responses(messages)[0] == "utter_opciones_intro_directo"
    assert exposures(action_app) == [(MARIA, "directo", "5215512345678", None)]
    with action_app.unit_of_work() as session:
        exposure = session.execute(select(ExperimentExposure)).scalar_one()
        assert exposure.exposed_at == action_app.clock.now()
        assert exposure.experiment == EXPERIMENT.name


def test_the_control_arm_hears_the_response_as_written(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    ana = {**VERIFIED, "persona": "negociador", "zona_horaria": "America/Cancun"}
    _, messages = run_action(
        ActionOfrecerPlanes(), tracker_factory(sender_id="5219981234567", slots=ana), domain
    )
    assert responses(messages)[0] == "utter_opciones_intro"
    assert exposures(action_app) == [(ANA, "control", "5219981234567", None)]


def test_a_variant_reads_back_as_the_response_it_stands_for(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    tracker = tracker_factory(slots=VERIFIED, bot_said="utter_opciones_intro_directo")
    with action_app.unit_of_work() as session:
        turn = Turn(tracker, CollectingDispatcher(), domain, session, action_app)
        assert turn.last_response == "utter_opciones_intro"
    tracker = tracker_factory(slots=VERIFIED, bot_said="utter_elige_opcion")
    with action_app.unit_of_work() as session:
        assert Turn(tracker, CollectingDispatcher(), domain, session, action_app).last_response == (
            "utter_elige_opcion"
        )


def variant_for(app: App, conversation: str, phone: str | None, proven: bool) -> str:
    chosen = ResponseExperiments.of([EXPERIMENT])
    with app.unit_of_work() as session:
        return response_variant(
            session,
            chosen,
            "utter_opciones_intro",
            conversation_id=conversation,
            phone=phone,
            number_proven=proven,
            now=app.clock.now(),
        )


def test_who_is_exposed(action_app: App) -> None:
    """A typed number on the web chat proves nothing: no exposure, the response as written. A
    number that is nobody's: the same. WhatsApp proves the number: its debtor is exposed."""
    assert variant_for(action_app, "webchat-1", MARIA, proven=False) == "utter_opciones_intro"
    assert variant_for(action_app, "5215500000000", "+525500000000", proven=True) == (
        "utter_opciones_intro"
    )
    assert exposures(action_app) == []
    assert variant_for(action_app, "5215512345678", MARIA, proven=True) == (
        "utter_opciones_intro_directo"
    )
    assert exposures(action_app) == [(MARIA, "directo", "5215512345678", None)]


def test_a_web_chat_verified_on_the_server_exposes_the_verified_debtor(
    action_app: App,
) -> None:
    from tests.support.actions import verify_on_server

    verify_on_server(action_app, "webchat-2", ANA)
    assert variant_for(action_app, "webchat-2", None, proven=False) == "utter_opciones_intro"
    assert exposures(action_app) == [(ANA, "control", "webchat-2", None)]


def test_other_responses_and_switched_off_experiments_are_left_alone(
    action_app: App,
) -> None:
    chosen = ResponseExperiments.of([EXPERIMENT, build_experiment({**DEFINITION, "name": "b"})])
    assert chosen.canonical("utter_saldo") == "utter_saldo"
    off = ResponseExperiments.of([build_experiment({**DEFINITION, "enabled": False})])
    assert off.by_target == {}
    assert off.canonical("utter_opciones_intro_directo") == "utter_opciones_intro"
    with action_app.unit_of_work() as session:
        said = response_variant(
            session,
            off,
            "utter_opciones_intro",
            conversation_id="5215512345678",
            phone=MARIA,
            number_proven=True,
            now=action_app.clock.now(),
        )
    assert said == "utter_opciones_intro" and exposures(action_app) == []


def test_broken_experiment_files_leave_every_response_as_written(
    seeded_sqlite_url: str,
    profiles: dict[str, PersonaProfile],
    clock: FixedClock,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    directory = tmp_path / "rotos"
    directory.mkdir()
    (directory / "roto.yml").write_text("name: [\n", encoding="utf-8")
    app = app_with(directory, seeded_sqlite_url, tmp_path, clock=clock, profiles=profiles)
    try:
        with caplog.at_level(logging.ERROR, logger="actions.outreach_files"):
            assert response_experiments(app) == ResponseExperiments()
            assert response_experiments(app) == ResponseExperiments()  # loaded once
        [record] = caplog.records
        assert "1 problem(s)" in record.getMessage()
    finally:
        app.engine.dispose()


def test_the_shipped_experiment_is_switched_off(
    seeded_sqlite_url: str, profiles: dict[str, PersonaProfile], tmp_path: Path
) -> None:
    app = app_with(PROJECT_ROOT / "experiments", seeded_sqlite_url, tmp_path, profiles=profiles)
    try:
        shipped = response_experiments(app)
        assert shipped.by_target == {}
        assert shipped.canonical("utter_opciones_intro_directo") == "utter_opciones_intro"
    finally:
        app.engine.dispose()
