"""Campaign files: schema errors with their place, cross-file checks, hostile files."""

from __future__ import annotations

import copy
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from cobranza.outreach.campaigns import (
    Audience,
    Step,
    by_priority,
    load_campaigns,
    load_outreach,
)
from cobranza.outreach.files import CampaignError, OutreachFilesError, place
from tests.unit.outreach.conftest import INTENTS, template_data, write_yaml

TEMPLATES = {"aviso", "recordatorio"}
PERSONAS = {"estandar", "olvidadizo"}

BASE: dict[str, Any] = {
    "name": "temprana",
    "description": "Primer aviso y seguimiento semanal.",
    "enabled": True,
    "priority": 70,
    "audience": {
        "buckets": ["1-30"],
        "days_past_due": {"min": 1, "max": 30},
        "personas": ["olvidadizo"],
        "balance": {"min": 500, "max": 50000.5},
    },
    "steps": [
        {
            "name": "primer_aviso",
            "anchor": "delinquency",
            "days_past_due": 1,
            "template": "aviso",
            "send_at": "10:00",
            "valid_for_hours": 48,
        },
        {
            "name": "seguimiento",
            "anchor": "delinquency",
            "days_past_due": 5,
            "every_days": 7,
            "template": "aviso",
            "send_at": "11:30",
            "valid_for_hours": 24,
        },
    ],
    "limits": {"max_per_debtor_per_30_days": 5},
}


def campaign_data(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def step(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "paso",
        "anchor": "delinquency",
        "days_past_due": 1,
        "template": "aviso",
        "send_at": "10:00",
        "valid_for_hours": 24,
    }
    data.update(fields)
    return {k: v for k, v in data.items() if v is not None}


def problems_for(directory: Path, data: dict[str, Any]) -> list[str]:
    write_yaml(directory, "temprana.yml", data)
    with pytest.raises(CampaignError) as caught:
        load_campaigns(directory, templates=TEMPLATES, personas=PERSONAS)
    return caught.value.problems


@pytest.fixture
def campaigns_dir(tmp_path: Path) -> Path:
    return tmp_path / "campaigns"


def test_a_valid_campaign_loads(campaigns_dir: Path) -> None:
    write_yaml(campaigns_dir, "temprana.yml", campaign_data())
    campaign = load_campaigns(campaigns_dir, templates=TEMPLATES, personas=PERSONAS)["temprana"]
    assert campaign.audience == Audience(
        buckets=("1-30",),
        min_days_past_due=1,
        max_days_past_due=30,
        personas=("olvidadizo",),
        min_balance=Decimal("500"),
        max_balance=Decimal("50000.5"),
    )
    assert isinstance(campaign.audience.max_balance, Decimal)
    assert campaign.steps[1] == Step(
        name="seguimiento",
        anchor="delinquency",
        template="aviso",
        send_at=time(11, 30),
        valid_for=timedelta(hours=24),
        days_past_due=5,
        every_days=7,
    )
    assert campaign.max_per_debtor_per_30_days == 5
    assert campaign.source == "campaigns/temprana.yml"


def test_score_bands_select_letters_a_to_e_once_each(campaigns_dir: Path) -> None:
    audience = {**BASE["audience"], "score_bands": ["A", "B"]}
    write_yaml(campaigns_dir, "temprana.yml", campaign_data(audience=audience))
    campaign = load_campaigns(campaigns_dir, templates=TEMPLATES, personas=PERSONAS)["temprana"]
    assert campaign.audience.score_bands == ("A", "B")
    assert "bandas de puntaje: A, B (sin puntaje: fuera)" in campaign.audience.describe()
    every = {**BASE["audience"], "score_bands": ["E", "D", "C", "B", "A"]}
    write_yaml(campaigns_dir, "temprana.yml", campaign_data(audience=every))
    loaded = load_campaigns(campaigns_dir, templates=TEMPLATES, personas=PERSONAS)["temprana"]
    assert loaded.audience.score_bands == ("E", "D", "C", "B", "A")


def test_place_counts_list_items_from_one() -> None:
    assert place(["steps", 1, "send_at"]) == "steps[2].send_at"
    assert place([]) == "(raíz)"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"priority": "alta"}, 'campaigns/temprana.yml: priority: "alta" debe ser de tipo integer'),
        ({"enabled": "sí"}, "campaigns/temprana.yml: enabled: "),
        ({"consent": False}, "campaigns/temprana.yml: (raíz): clave desconocida 'consent'"),
        ({"audience": {"score_bands": ["F"]}}, "campaigns/temprana.yml: audience.score_bands[1]: "),
        ({"audience": {"score_bands": ["a"]}}, "campaigns/temprana.yml: audience.score_bands[1]: "),
        (
            {"audience": {"score_bands": ["A", "A"]}},
            'campaigns/temprana.yml: audience.score_bands: ["A", "A"] repite un valor; cada uno',
        ),
        (
            {"audience": {"score_bands": []}},
            "campaigns/temprana.yml: audience.score_bands: la lista necesita al menos 1",
        ),
        ({"audience": {"score_bands": "A"}}, "campaigns/temprana.yml: audience.score_bands: "),
        ({"audience": {"score_bands": [1]}}, "campaigns/temprana.yml: audience.score_bands[1]: "),
        ({"audience": {"score_bands": [None]}}, "campaigns/temprana.yml: audience.score_bands[1]"),
        (
            {"audience": {"score_bands": ["A" * 10_000]}},
            'campaigns/temprana.yml: audience.score_bands[1]: "' + "A" * 58 + "… no es válido",
        ),
        ({"audience": {"buckets": ["0-30"]}}, "campaigns/temprana.yml: audience.buckets[1]: "),
        ({"audience": {"balance": {"min": -1}}}, "campaigns/temprana.yml: audience.balance.min: "),
        ({"audience": {"balance": {}}}, "campaigns/temprana.yml: audience.balance: "),
        ({"steps": []}, "campaigns/temprana.yml: steps: "),
        ({"limits": {}}, "campaigns/temprana.yml: limits: falta la clave obligatoria"),
        (
            {"steps": [step(send_at=600)]},
            "campaigns/temprana.yml: steps[1].send_at: 600 debe ser de tipo string (escribe",
        ),
        ({"steps": [step(send_at="25:00")]}, "campaigns/temprana.yml: steps[1].send_at: "),
        ({"steps": [step(anchor="pago")]}, "campaigns/temprana.yml: steps[1].anchor: "),
        ({"steps": [step(valid_for_hours=0)]}, "campaigns/temprana.yml: steps[1].valid_for_hours"),
        ({"steps": [step(color="rojo")]}, "campaigns/temprana.yml: steps[1]: clave desconocida"),
    ],
)
def test_schema_errors_name_file_and_place(
    campaigns_dir: Path, changes: dict[str, Any], expected: str
) -> None:
    problems = problems_for(campaigns_dir, campaign_data(**changes))
    assert any(p.startswith(expected) for p in problems), problems


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (
            [step(template="no_existe")],
            "steps[1].template: la plantilla 'no_existe' no existe en templates/",
        ),
        ([step(), step()], "steps[2].name: el paso 'paso' ya existe en esta campaña"),
        ([step(days_past_due=None)], "steps[1]: falta days_past_due (obligatorio con anchor"),
        ([step(offset_days=-1)], "steps[1].offset_days: no aplica con anchor: delinquency"),
        (
            [step(anchor="promise", days_past_due=None)],
            "steps[1]: falta offset_days (obligatorio con anchor: promise)",
        ),
        (
            [step(anchor="installment", days_past_due=3, offset_days=0)],
            "steps[1].days_past_due: no aplica con anchor: installment",
        ),
        (
            [step(anchor="promise", days_past_due=None, offset_days=0, every_days=7)],
            "steps[1].every_days: no aplica con anchor: promise",
        ),
        (
            [step(anchor="broken_promise", days_past_due=None, offset_days=1)],
            "steps[1]: falta offset_business_days",
        ),
        ([step(send_at="06:59")], "steps[1].send_at: 06:59 fuera del horario permitido"),
        ([step(send_at="22:00")], "steps[1].send_at: 22:00 fuera del horario permitido"),
        (
            [step(every_days=1, valid_for_hours=48)],
            "steps[1].valid_for_hours: 48 h es más que la repetición",
        ),
        ([step(days_past_due=31)], "steps[1].days_past_due: 31 nunca cae dentro de la audiencia"),
    ],
)
def test_step_rules(campaigns_dir: Path, steps: list[dict[str, Any]], expected: str) -> None:
    problems = problems_for(campaigns_dir, campaign_data(steps=steps))
    assert f"campaigns/temprana.yml: {expected}" in "\n".join(problems), problems


def test_send_at_edges_are_allowed(campaigns_dir: Path) -> None:
    steps = [step(name="temprano", send_at="07:00"), step(name="tarde", send_at="21:59")]
    write_yaml(campaigns_dir, "temprana.yml", campaign_data(steps=steps))
    loaded = load_campaigns(campaigns_dir, templates=TEMPLATES, personas=PERSONAS)["temprana"]
    assert [s.send_at for s in loaded.steps] == [time(7, 0), time(21, 59)]


def test_a_repeating_step_that_reaches_the_audience_later_is_fine(campaigns_dir: Path) -> None:
    audience = {"days_past_due": {"min": 10, "max": 12}}
    steps = [step(days_past_due=1, every_days=5)]  # 1, 6, 11: reaches 11
    write_yaml(campaigns_dir, "temprana.yml", campaign_data(audience=audience, steps=steps))
    assert load_campaigns(campaigns_dir, templates=TEMPLATES, personas=PERSONAS)
    steps = [step(days_past_due=1, every_days=20)]  # 1, 21: never in 10..12
    assert any(
        "nunca cae dentro de la audiencia" in p
        for p in problems_for(campaigns_dir, campaign_data(audience=audience, steps=steps))
    )


@pytest.mark.parametrize(
    ("audience", "expected"),
    [
        (
            {"days_past_due": {"min": 40, "max": 10}},
            "audience.days_past_due: min (40) mayor que max",
        ),
        ({"balance": {"min": 900, "max": 100}}, "audience.balance: min (900) mayor que max (100)"),
        ({"personas": ["fantasma"]}, "audience.personas[1]: la persona 'fantasma' no existe"),
        (
            {"buckets": ["61-90"], "days_past_due": {"max": 30}},
            "audience: ningún día de atraso cumple a la vez buckets y days_past_due",
        ),
    ],
)
def test_audience_rules(campaigns_dir: Path, audience: dict[str, Any], expected: str) -> None:
    problems = problems_for(campaigns_dir, campaign_data(audience=audience))
    assert f"campaigns/temprana.yml: {expected}" in "\n".join(problems), problems


def test_commitment_steps_ignore_the_bucket_reachability_check(campaigns_dir: Path) -> None:
    steps = [step(anchor="promise", days_past_due=None, offset_days=-1)]
    write_yaml(campaigns_dir, "temprana.yml", campaign_data(steps=steps))
    assert load_campaigns(campaigns_dir, templates=TEMPLATES, personas=PERSONAS)


def test_unique_names_across_files(campaigns_dir: Path) -> None:
    write_yaml(campaigns_dir, "a.yml", campaign_data())
    write_yaml(campaigns_dir, "b.yml", campaign_data())
    with pytest.raises(CampaignError) as caught:
        load_campaigns(campaigns_dir, templates=TEMPLATES, personas=PERSONAS)
    assert caught.value.problems == [
        "campaigns/b.yml: name: la campaña 'temprana' ya está en campaigns/a.yml; "
        "cada nombre una vez"
    ]


def test_by_priority_breaks_ties_by_name(campaigns_dir: Path) -> None:
    for name, priority in (("b", 10), ("a", 10), ("c", 99)):
        write_yaml(campaigns_dir, f"{name}.yml", campaign_data(name=name, priority=priority))
    campaigns = load_campaigns(campaigns_dir, templates=TEMPLATES, personas=PERSONAS)
    assert [c.name for c in by_priority(campaigns)] == ["c", "a", "b"]


def test_load_outreach_reports_templates_and_campaigns_together(tmp_path: Path) -> None:
    templates_dir = tmp_path / "templates"
    write_yaml(templates_dir, "aviso.yml", template_data(body="Tu deuda es de $10, {{1}}."))
    write_yaml(tmp_path / "campaigns", "temprana.yml", campaign_data(priority=-1))
    with pytest.raises(OutreachFilesError) as caught:
        load_outreach(tmp_path / "campaigns", templates_dir, personas=PERSONAS, intents=INTENTS)
    text = "\n".join(caught.value.problems)
    assert "templates/aviso.yml: body: " in text and "campaigns/temprana.yml: priority: " in text
    # The template exists, broken: the campaign is not also told it does not exist.
    assert "no existe en templates/" not in text


def test_load_outreach_cross_checks_template_names(tmp_path: Path) -> None:
    write_yaml(tmp_path / "templates", "aviso.yml", template_data())
    write_yaml(tmp_path / "campaigns", "t.yml", campaign_data(steps=[step(template="otra")]))
    with pytest.raises(OutreachFilesError, match="la plantilla 'otra' no existe"):
        load_outreach(
            tmp_path / "campaigns", tmp_path / "templates", personas=PERSONAS, intents=INTENTS
        )
    write_yaml(tmp_path / "campaigns", "t.yml", campaign_data())
    campaigns, templates = load_outreach(
        tmp_path / "campaigns", tmp_path / "templates", personas=PERSONAS, intents=INTENTS
    )
    assert set(campaigns) == {"temprana"} and set(templates) == {"aviso"}


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"name: temprana\nsteps: [\n", "YAML inválido"),
        (b"a: &x {b: 1}\nc: *x\n", "no se permiten anclas ni alias"),
        (b"# " + b"x" * 70_000, "el archivo pasa de 64 KiB"),
        (b"42\n", "se esperaba un mapa de campos, no int"),
    ],
)
def test_hostile_campaign_files(campaigns_dir: Path, content: bytes, fragment: str) -> None:
    campaigns_dir.mkdir()
    (campaigns_dir / "mal.yml").write_bytes(content)
    write_yaml(campaigns_dir, "temprana.yml", campaign_data())
    with pytest.raises(CampaignError) as caught:
        load_campaigns(campaigns_dir, templates=TEMPLATES, personas=PERSONAS)
    assert len(caught.value.problems) == 1 and fragment in caught.value.problems[0]
    assert caught.value.problems[0].startswith("campaigns/mal.yml: ")
