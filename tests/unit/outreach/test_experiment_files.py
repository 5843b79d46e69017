"""Experiment files (``experiments/*.yml``): schema errors with their place, the checks across
files and against the campaigns, templates and responses, hostile files."""

from __future__ import annotations

import copy
import json
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest

from cobranza.domain.experiments import CampaignStepTarget, Metric, ResponseUse
from cobranza.outreach.campaigns import Audience, Campaign, Step
from cobranza.outreach.experiments import (
    SCHEMA_PATH,
    ExperimentError,
    campaign_steps,
    load_experiments,
    read_experiments,
)
from cobranza.outreach.files import OutreachFilesError
from tests.unit.outreach.conftest import write_yaml

CAMPAIGNS = {
    "temprana": Campaign(
        name="temprana",
        description="",
        enabled=True,
        priority=70,
        audience=Audience(buckets=("1-30",)),
        steps=(
            Step("primer_aviso", "delinquency", "aviso", time(10), timedelta(hours=48), 1),
            Step("seguimiento", "delinquency", "seguimiento", time(11), timedelta(hours=24), 5, 7),
        ),
        max_per_debtor_per_30_days=5,
    )
}
TEMPLATES = dict.fromkeys(["aviso", "aviso_b", "seguimiento", "seguimiento_b"], ("nombre",))
RESPONSES = {"utter_saldo": {"saldo"}, "utter_saldo_breve": {"saldo"}, "utter_saldo_b": set()}
USE = ResponseUse(by_actions=frozenset({"utter_saldo"}))

BASE: dict[str, Any] = {
    "name": "primer_aviso_b",
    "description": "¿Responden más al aviso b?",
    "enabled": True,
    "target": {"campaign": "temprana", "step": "primer_aviso"},
    "arms": [
        {"name": "control", "variant": "aviso", "weight": 50},
        {"name": "b", "variant": "aviso_b", "weight": 50},
    ],
    "metric": "reply_rate",
    "window_days": 3,
    "baseline_rate": 0.15,
    "minimum_effect": 0.03,
}


def experiment_data(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


@pytest.fixture
def experiments_dir(tmp_path: Path) -> Path:
    return tmp_path / "experiments"


def load(directory: Path) -> dict[str, Any]:
    return dict(
        load_experiments(
            directory,
            campaigns=CAMPAIGNS,
            templates=TEMPLATES,
            responses=RESPONSES,
            response_use=USE,
        )
    )


def problems_of(directory: Path) -> list[str]:
    with pytest.raises(ExperimentError) as caught:
        load(directory)
    assert isinstance(caught.value, OutreachFilesError)
    return caught.value.problems


def test_a_valid_experiment_loads(experiments_dir: Path) -> None:
    write_yaml(experiments_dir, "primer_aviso_b.yml", experiment_data())
    (experiment,) = load(experiments_dir).values()
    assert experiment.name == "primer_aviso_b"
    assert experiment.target == CampaignStepTarget("temprana", "primer_aviso")
    assert experiment.metric is Metric.REPLY_RATE
    assert experiment.source == "experiments/primer_aviso_b.yml"
    assert (experiment.alpha, experiment.power) == (0.05, 0.8)  # the defaults


def test_an_experiment_on_a_response(experiments_dir: Path) -> None:
    write_yaml(
        experiments_dir,
        "saldo.yml",
        experiment_data(
            name="saldo_breve",
            target={"response": "utter_saldo"},
            arms=[
                {"name": "control", "variant": "utter_saldo", "weight": 70},
                {"name": "breve", "variant": "utter_saldo_breve", "weight": 30},
            ],
            metric="promise_rate",
        ),
    )
    assert list(load(experiments_dir)) == ["saldo_breve"]


def test_no_folder_or_an_empty_one_is_no_experiment(tmp_path: Path) -> None:
    assert load(tmp_path / "experiments") == {}
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "LEEME.txt").write_text("nada", encoding="utf-8")
    assert load(tmp_path / "experiments") == {}


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"consent": True},
            "experiments/e.yml: (raíz): clave desconocida 'consent'; se permiten: alpha, arms, "
            "baseline_rate, description, enabled, metric, minimum_effect, name, power, target, "
            "window_days",
        ),
        (
            {"metric": "tasa_respuesta"},
            'experiments/e.yml: metric: "tasa_respuesta" no es válido; opciones: "reply_rate", '
            '"promise_rate", "promise_kept_rate", "payment_rate"',
        ),
        (
            {"arms": [{"name": "control", "variant": "aviso", "weight": 50}]},
            "experiments/e.yml: arms: la lista necesita al menos 2 elemento(s)",
        ),
        (
            {"arms": [{"name": f"b{i}", "variant": f"aviso_{i}", "weight": 10} for i in range(6)]},
            "experiments/e.yml: arms: la lista admite a lo más 5 elemento(s)",
        ),
        (
            {
                "arms": [
                    {"name": "control", "variant": "aviso", "weight": "50%"},
                    {"name": "b", "variant": "aviso_b", "weight": 50},
                ]
            },
            'experiments/e.yml: arms[1].weight: "50%" debe ser de tipo integer',
        ),
        (
            {
                "arms": [
                    {"name": "control", "variant": "aviso", "weight": 0},
                    {"name": "b", "variant": "aviso_b", "weight": 50},
                ]
            },
            "experiments/e.yml: arms[1].weight: 0 es menor que el mínimo, 1",
        ),
        (
            {"baseline_rate": 1},
            "experiments/e.yml: baseline_rate: 1 debe ser menor que 1",
        ),
        (
            {"minimum_effect": 0.7},
            "experiments/e.yml: minimum_effect: 0.7 es mayor que el máximo, 0.5",
        ),
        ({"target": {}}, "experiments/e.yml: target: no puede estar vacío"),
        (
            {"target": {"response": "saldo"}},
            "experiments/e.yml: target.response: 'saldo' does not match '^utter_[a-z0-9_]+$'",
        ),
    ],
)
def test_schema_errors_name_file_and_place(
    experiments_dir: Path, changes: dict[str, Any], expected: str
) -> None:
    write_yaml(experiments_dir, "e.yml", experiment_data(**changes))
    assert problems_of(experiments_dir) == [expected]


def test_missing_keys_are_named(experiments_dir: Path) -> None:
    data = experiment_data()
    del data["minimum_effect"], data["metric"]
    write_yaml(experiments_dir, "e.yml", data)
    assert problems_of(experiments_dir) == [
        "experiments/e.yml: (raíz): falta la clave obligatoria: 'metric'",
        "experiments/e.yml: (raíz): falta la clave obligatoria: 'minimum_effect'",
    ]


def test_the_schema_lists_the_metrics_the_code_knows() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert tuple(schema["properties"]["metric"]["enum"]) == Metric.values()


def test_definition_and_reference_problems_name_the_file(experiments_dir: Path) -> None:
    write_yaml(
        experiments_dir,
        "pesos.yml",
        experiment_data(
            name="pesos",
            arms=[
                {"name": "control", "variant": "aviso", "weight": 60},
                {"name": "b", "variant": "aviso_b", "weight": 60},
            ],
        ),
    )
    write_yaml(
        experiments_dir,
        "seguimiento.yml",
        experiment_data(
            name="seguimiento_b",
            target={"campaign": "temprana", "step": "seguimiento"},
            arms=[
                {"name": "control", "variant": "aviso", "weight": 50},
                {"name": "b", "variant": "seguimiento_c", "weight": 50},
            ],
        ),
    )
    assert problems_of(experiments_dir) == [
        "experiments/pesos.yml: arms: los pesos suman 120 (60 + 60); deben sumar 100",
        "experiments/seguimiento.yml: arms[1].variant: el primer brazo es el control y debe ser "
        "lo que hoy se usa en paso temprana.seguimiento: 'seguimiento', no 'aviso'",
        "experiments/seguimiento.yml: arms[2].variant: la plantilla 'seguimiento_c' no existe en "
        "templates/",
    ]


def test_names_are_unique_across_files(experiments_dir: Path) -> None:
    write_yaml(experiments_dir, "a.yml", experiment_data())
    write_yaml(experiments_dir, "b.yml", experiment_data(enabled=False))
    assert problems_of(experiments_dir) == [
        "experiments/b.yml: name: el experimento 'primer_aviso_b' ya está en experiments/a.yml; "
        "cada nombre una vez"
    ]


def test_one_enabled_experiment_per_target(experiments_dir: Path) -> None:
    write_yaml(experiments_dir, "a.yml", experiment_data())
    write_yaml(experiments_dir, "b.yml", experiment_data(name="otro"))
    write_yaml(experiments_dir, "c.yml", experiment_data(name="apagado", enabled=False))
    assert problems_of(experiments_dir) == [
        "experiments/b.yml: target: paso temprana.primer_aviso ya está en un experimento activo "
        "(experiments/a.yml); un deudor no puede estar en dos a la vez"
    ]


def response_experiment(name: str, variant: str, enabled: bool = True) -> dict[str, Any]:
    return experiment_data(
        name=name,
        enabled=enabled,
        target={"response": "utter_saldo"},
        arms=[
            {"name": "control", "variant": "utter_saldo", "weight": 50},
            {"name": "b", "variant": variant, "weight": 50},
        ],
        metric="payment_rate",
        window_days=14,
    )


def test_a_response_variant_belongs_to_one_enabled_experiment(experiments_dir: Path) -> None:
    write_yaml(experiments_dir, "a.yml", response_experiment("a", "utter_saldo_breve"))
    write_yaml(experiments_dir, "b.yml", response_experiment("b", "utter_saldo_breve", False))
    assert list(load(experiments_dir)) == ["a", "b"]  # one of them is switched off
    write_yaml(
        experiments_dir,
        "c.yml",
        experiment_data(
            name="c",
            target={"response": "utter_saldo_b"},
            arms=[
                {"name": "control", "variant": "utter_saldo_b", "weight": 50},
                {"name": "b", "variant": "utter_saldo_breve", "weight": 50},
            ],
            metric="payment_rate",
        ),
    )
    problems = problems_of(experiments_dir)
    assert (
        "experiments/c.yml: arms[2].variant: la respuesta 'utter_saldo_breve' ya es variante de "
        "otro experimento activo (experiments/a.yml)"
    ) in problems


def test_every_problem_of_every_file_at_once(experiments_dir: Path) -> None:
    write_yaml(experiments_dir, "a.yml", experiment_data(metric="otra", window_days=0))
    write_yaml(experiments_dir, "b.yml", experiment_data(target={"campaign": "tardia"}))
    write_yaml(
        experiments_dir,
        "c.yml",
        experiment_data(target={"campaign": "tardia", "step": "x"}, name="c"),
    )
    write_yaml(experiments_dir, "d.yml", experiment_data(name="d"))  # valid, still refused
    problems = problems_of(experiments_dir)
    assert [p.split(": ")[0] for p in problems] == [
        "experiments/a.yml",
        "experiments/a.yml",
        "experiments/b.yml",
        "experiments/c.yml",
    ]
    found, also = read_experiments(
        experiments_dir,
        campaigns=CAMPAIGNS,
        templates=TEMPLATES,
        responses=RESPONSES,
        response_use=USE,
    )
    assert also == problems and list(found) == ["d"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"name: e\narms: [\n", "YAML inválido"),
        (b"a: &x {b: 1}\nc: *x\n", "no se permiten anclas ni alias"),
        (b"# " + b"x" * 70_000, "el archivo pasa de 64 KiB"),
        (b"\xff\xfe n\x00", "no está en UTF-8"),
        (b"- 1\n- 2\n", "se esperaba un mapa de campos, no list"),
        (b"name: a\n---\nname: b\n", "más de un documento"),
    ],
)
def test_hostile_files(experiments_dir: Path, content: bytes, fragment: str) -> None:
    experiments_dir.mkdir()
    (experiments_dir / "mal.yml").write_bytes(content)
    write_yaml(experiments_dir, "bien.yml", experiment_data())
    (problem,) = problems_of(experiments_dir)
    assert problem.startswith("experiments/mal.yml: ") and fragment in problem


def test_a_billion_laughs_file_is_refused_without_expanding(experiments_dir: Path) -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    experiments_dir.mkdir()
    (experiments_dir / "risa.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (problem,) = problems_of(experiments_dir)
    assert "no se permiten anclas ni alias" in problem


def test_campaign_steps_maps_each_step_to_its_template() -> None:
    assert campaign_steps(CAMPAIGNS) == {
        "temprana": {"primer_aviso": "aviso", "seguimiento": "seguimiento"}
    }
