"""`cobranza campaigns validate|show` and `cobranza conduct` over templates, as an operator
runs them: a real process, the real files or broken copies of them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cobranza.config import PROJECT_ROOT

COBRANZA = str(Path(sys.executable).with_name("cobranza"))


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COBRANZA, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """The shipped files copied, so a test can break them; no database is needed."""
    shutil.copytree(PROJECT_ROOT / "campaigns", tmp_path / "campaigns")
    shutil.copytree(PROJECT_ROOT / "templates", tmp_path / "templates")
    shutil.copytree(PROJECT_ROOT / "experiments", tmp_path / "experiments")
    environ = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "CAMPAIGNS_DIR": str(tmp_path / "campaigns"),
        "TEMPLATES_DIR": str(tmp_path / "templates"),
        "EXPERIMENTS_DIR": str(tmp_path / "experiments"),
        "PYTHONPATH": str(PROJECT_ROOT),
    }
    environ.pop("PERSONA_PROFILES_DIR", None)
    return environ


def test_validate_summarises_every_campaign(env: dict[str, str]) -> None:
    result = run(env, "campaigns", "validate")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("7 campañas válidas en ") and "8 plantillas válidas" in out
    assert out.index("recordatorio_promesa (prioridad 100") < out.index("mas_de_90 (prioridad 40")
    assert (
        "  - primer_aviso → aviso_cuenta: al llegar a 1 día de atraso, a las 10:00, vigente 48 h"
        in out
    )
    assert "1 día hábil después de incumplir una promesa" in out


def test_validate_lists_every_error_and_exits_1(env: dict[str, str]) -> None:
    campaigns = Path(env["CAMPAIGNS_DIR"])
    templates = Path(env["TEMPLATES_DIR"])
    text = (campaigns / "temprana_1_30.yml").read_text(encoding="utf-8")
    (campaigns / "temprana_1_30.yml").write_text(
        text.replace('send_at: "10:00"', 'send_at: "23:00"').replace(
            "template: seguimiento_cuenta", "template: no_existe"
        ),
        encoding="utf-8",
    )
    (campaigns / "copia.yml").write_text(
        (campaigns / "mas_de_90.yml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    body = (templates / "aviso_cuenta.yml").read_text(encoding="utf-8")
    (templates / "aviso_cuenta.yml").write_text(
        body.replace("con un aviso sobre tu cuenta", "por tu adeudo de $1,500"), encoding="utf-8"
    )
    (templates / "roto.yml").write_text("name: [\n", encoding="utf-8")

    result = run(env, "campaigns", "validate")

    assert result.returncode == 1 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "error: campañas, plantillas o experimentos inválidos:"
    problems = "\n".join(lines[1:])
    for expected in (
        "templates/aviso_cuenta.yml: body: menciona dinero (el signo $",
        "templates/aviso_cuenta.yml: body: revela la deuda («adeudo»)",
        "templates/roto.yml: YAML inválido",
        "campaigns/temprana_1_30.yml: steps[1].send_at: 23:00 fuera del horario permitido",
        "campaigns/temprana_1_30.yml: steps[2].template: la plantilla 'no_existe' no existe",
        "campaigns/mas_de_90.yml: name: la campaña 'mas_de_90' ya está en campaigns/copia.yml",
    ):
        assert expected in problems, (expected, problems)
    # aviso_cuenta exists (broken): the campaign that uses it is not told it is missing
    assert "'aviso_cuenta' no existe" not in problems


def test_validate_checks_the_experiments_too(env: dict[str, str]) -> None:
    result = run(env, "campaigns", "validate")
    assert result.returncode == 0, result.stderr
    assert "ninguna campaña ni experimento usa" not in result.stdout  # the variant is used
    assert "2 experimentos válidos en " in result.stdout
    assert (
        "  primer_aviso_asistente (activo): paso temprana_1_30.primer_aviso; reply_rate en 3 "
        "días; control → aviso_cuenta (50%), asistente → aviso_cuenta_asistente (50%); plan "
        "2,402 por brazo"
    ) in result.stdout
    experiments = Path(env["EXPERIMENTS_DIR"])
    text = (experiments / "opciones_intro_directo.yml").read_text(encoding="utf-8")
    (experiments / "opciones_intro_directo.yml").write_text(
        text.replace("response: utter_opciones_intro", "response: utter_saludo").replace(
            "variant: utter_opciones_intro\n", "variant: utter_saludo\n"
        ),
        encoding="utf-8",
    )
    (experiments / "roto.yml").write_text("name: [\n", encoding="utf-8")
    for command in (("campaigns", "validate"), ("experiments", "validate")):
        broken = run(env, *command)
        assert broken.returncode == 1 and broken.stdout == ""
        assert broken.stderr.splitlines()[0] == (
            "error: campañas, plantillas o experimentos inválidos:"
        )
        assert "experiments/roto.yml: YAML inválido" in broken.stderr
        assert (
            "experiments/opciones_intro_directo.yml: target.response: Rasa dice 'utter_saludo' "
            "por su cuenta (data/rules/conversacion.yml); solo se puede experimentar con "
            "respuestas que dice una acción (turn.say)"
        ) in broken.stderr


def test_validate_without_folders(env: dict[str, str], tmp_path: Path) -> None:
    env = {**env, "CAMPAIGNS_DIR": str(tmp_path / "nada")}
    result = run(env, "campaigns", "validate")
    assert result.returncode == 1
    assert f"{tmp_path / 'nada'}: no existe la carpeta de campañas" in result.stderr


def test_show_a_campaign_with_its_messages(env: dict[str, str]) -> None:
    result = run(env, "campaigns", "show", "recordatorio_parcialidad")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(
        "Campaña recordatorio_parcialidad (campaigns/recordatorio_parcialidad.yml)"
    )
    assert "Cuándo: 3 días antes de que venza la parcialidad, a las 10:00, vigente 24 h" in out
    assert (
        "Vista previa: Hola María, te recordamos que se acerca la fecha que acordaste con "
        "Cobranza Demo." in out
    )
    assert "Botones: Ver detalles (/saludar) | No soy esa persona (/numero_equivocado)" in out
    assert "los revisa el motor de cumplimiento" in out


def test_show_with_another_sample_name_cleans_it(env: dict[str, str]) -> None:
    result = run(env, "campaigns", "show", "mas_de_90", "--nombre", "José\n\tLuis")
    assert result.returncode == 0, result.stderr
    assert "Vista previa: Hola José Luis, te saluda Cobranza Demo." in result.stdout
    empty = run(env, "campaigns", "show", "mas_de_90", "--nombre", "  ")
    assert empty.returncode == 1
    assert "necesita 'nombre' para {{1}}" in empty.stderr


def test_show_an_unknown_campaign(env: dict[str, str]) -> None:
    result = run(env, "campaigns", "show", "no_existe")
    assert result.returncode == 1
    assert result.stderr.startswith("error: no hay campaña 'no_existe'; hay: avanzada_61_90,")
    usage = run(env, "campaigns", "show")
    assert usage.returncode == 2


def test_conduct_scans_the_templates(env: dict[str, str]) -> None:
    ok = run(env, "conduct")
    assert ok.returncode == 0, ok.stderr
    assert "ni templates/ usa lenguaje prohibido" in ok.stdout
    templates = Path(env["TEMPLATES_DIR"])
    body = (templates / "atencion_cuenta.yml").read_text(encoding="utf-8")
    (templates / "atencion_cuenta.yml").write_text(
        body.replace("Quiero platicar", "Evitar el embargo"), encoding="utf-8"
    )
    bad = run(env, "conduct")
    assert bad.returncode == 1
    assert "templates/atencion_cuenta.yml → buttons[1].text: «Evitar el embargo»" in bad.stderr
