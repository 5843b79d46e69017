"""WhatsApp templates: Meta's rules, no debt detail, the conduct scan, parameter values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cobranza.config import PROJECT_ROOT
from cobranza.errors import Rejected
from cobranza.outreach.files import TemplateError
from cobranza.outreach.templates import (
    MAX_PARAMETER_CHARS,
    PARAMETER_VOCABULARY,
    SAMPLE_VALUES,
    Button,
    MissingParameter,
    Template,
    body_problems,
    domain_intents,
    load_templates,
    preview,
    render_parameters,
)
from tests.unit.outreach.conftest import INTENTS, template_data, write_yaml


def problems_for(directory: Path, **changes: Any) -> list[str]:
    write_yaml(directory, "aviso.yml", template_data(**changes))
    with pytest.raises(TemplateError) as caught:
        load_templates(directory, intents=INTENTS)
    return caught.value.problems


def test_a_valid_template_loads(templates_dir: Path) -> None:
    write_yaml(templates_dir, "aviso.yml", template_data())
    template = load_templates(templates_dir, intents=INTENTS)["aviso"]
    assert template == Template(
        name="aviso",
        language="es_MX",
        category="utility",
        body="Hola {{1}}, te escribimos de Cobranza Demo. Responde a este mensaje.",
        parameters=("nombre",),
        buttons=(Button("Revisar", "/saludar"),),
        source="templates/aviso.yml",
    )


def test_the_vocabulary_holds_only_the_first_name() -> None:
    assert set(PARAMETER_VOCABULARY) == {"nombre"} == set(SAMPLE_VALUES)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"name": "Aviso-Cuenta"}, "templates/aviso.yml: name: 'Aviso-Cuenta' does not match"),
        ({"name": "a" * 61}, "templates/aviso.yml: name: "),
        ({"language": "es"}, 'templates/aviso.yml: language: "es" no es válido'),
        ({"category": "marketing"}, 'templates/aviso.yml: category: "marketing" no es válido'),
        ({"parameters": ["saldo"]}, 'templates/aviso.yml: parameters[1]: "saldo" no es válido'),
        ({"parameters": ["monto"]}, "templates/aviso.yml: parameters[1]:"),
        ({"extra": 1}, "templates/aviso.yml: (raíz): clave desconocida 'extra'"),
        ({"body": "x" * 1025}, "templates/aviso.yml: body: "),
        (
            {"buttons": [{"text": "x", "payload": "/saludar", "url": "https://x"}]},
            "templates/aviso.yml: buttons[1]: clave desconocida 'url'",
        ),
        (
            {"buttons": [{"text": "Un texto demasiado largo aquí", "payload": "/saludar"}]},
            "templates/aviso.yml: buttons[1].text: ",
        ),
        (
            {"buttons": [{"text": "Hola", "payload": "saludar"}]},
            "templates/aviso.yml: buttons[1].payload: ",
        ),
        (
            {"buttons": [{"text": f"b{n}", "payload": "/saludar"} for n in range(4)]},
            "templates/aviso.yml: buttons: ",
        ),
    ],
)
def test_schema_errors_name_file_and_place(
    templates_dir: Path, changes: dict[str, Any], expected: str
) -> None:
    problems = problems_for(templates_dir, **changes)
    assert any(p.startswith(expected) for p in problems), problems


def test_missing_keys_are_named(templates_dir: Path) -> None:
    data = template_data()
    del data["body"]
    write_yaml(templates_dir, "aviso.yml", data)
    with pytest.raises(TemplateError) as caught:
        load_templates(templates_dir, intents=INTENTS)
    assert caught.value.problems == [
        "templates/aviso.yml: (raíz): falta la clave obligatoria: 'body'"
    ]


@pytest.mark.parametrize(
    ("body", "parameters", "fragment"),
    [
        ("Hola {{1}} y {{3}}, responde.", ["nombre", "nombre"], "deben ser exactamente"),
        ("Hola {{2}} y {{1}}, responde.", ["nombre", "nombre"], "en orden"),
        ("Hola {{1}} y {{1}}, responde.", ["nombre", "nombre"], "cada uno una vez"),
        ("Hola, responde.", ["nombre"], "declara 1"),
        ("Hola {{1}}, responde.", [], "declara 0"),
        ("{{1}}, responde a este mensaje.", ["nombre"], "empieza con un parámetro"),
        ("Responde a este mensaje, {{1}}", ["nombre"], "termina con un parámetro"),
        ("Hola {{1}} {{2}}, responde.", ["nombre", "nombre"], "dos parámetros juntos"),
        ("Hola {{ 1 }}, responde.", ["nombre"], "llaves sueltas"),
        ("Hola {nombre}, responde.", [], "llaves sueltas"),
        ("Hola {{1}}, tienes $500 por cubrir.", ["nombre"], "el signo $"),
        ("Hola {{1}}, son 500 pesos.", ["nombre"], "una moneda"),
        ("Hola {{1}}, son 1,250.50 MXN.", ["nombre"], "menciona dinero"),
        ("Hola {{1}}, te faltan 3 mil.", ["nombre"], "una cantidad en miles"),
        ("Hola {{1}}, referencia 12345.", ["nombre"], "tres o más cifras"),
        ("Hola {{1}}, tienes un ADEUDO con nosotros.", ["nombre"], "la deuda"),
        ("Hola {{1}}, sobre tu deuda.", ["nombre"], "la deuda"),
        ("Hola {{1}}, revisa tu saldo.", ["nombre"], "el saldo"),
        ("Hola {{1}}, tu cuenta está vencida.", ["nombre"], "el atraso o el vencimiento"),
        ("Hola {{1}}, llevas 10 días de atraso.", ["nombre"], "el atraso"),
        ("Hola {{1}}, tu cuenta está morosa.", ["nombre"], "el incumplimiento"),
        ("Hola {{1}}, realiza tu pago hoy.", ["nombre"], "un pago"),
        ("Hola {{1}}, sobre tu crédito personal.", ["nombre"], "el contrato o el producto"),
        ("Hola {{1}}, sobre tu contrato.", ["nombre"], "el contrato o el producto"),
        ("Hola {{1}}, tu promesa es mañana.", ["nombre"], "un plan o compromiso de pago"),
        ("Hola {{1}}, tu parcialidad es mañana.", ["nombre"], "un plan o compromiso de pago"),
    ],
)
def test_body_rules(body: str, parameters: list[str], fragment: str) -> None:
    problems = body_problems(body, parameters)
    assert any(fragment in p for p in problems), problems


def test_a_clean_body_has_no_problem() -> None:
    assert body_problems("Hola {{1}}, te escribimos de Cobranza Demo. Responde.", ["nombre"]) == []
    # Small numbers that are not amounts are allowed ("en 2 pasos"), and "atrás" is no "atraso".
    assert body_problems("Hola {{1}}, son 2 pasos; vuelve atrás si quieres.", ["nombre"]) == []


def test_the_body_limit_is_1024(templates_dir: Path) -> None:
    body = "Hola {{1}}, " + "a" * (1024 - len("Hola {{1}}, ") - 1) + "."
    assert len(body) == 1024
    write_yaml(templates_dir, "aviso.yml", template_data(body=body))
    assert load_templates(templates_dir, intents=INTENTS)["aviso"].body == body


def test_conduct_scan_applies_to_body_and_buttons(templates_dir: Path) -> None:
    problems = problems_for(
        templates_dir,
        body="Hola {{1}}, es tu última advertencia antes de ir al buró.",
        buttons=[{"text": "Evitar la demanda", "payload": "/saludar"}],
    )
    assert any(
        p.startswith("templates/aviso.yml: body: lenguaje prohibido «última advertencia»")
        for p in problems
    ), problems
    assert any(
        p.startswith("templates/aviso.yml: buttons[1].text: lenguaje prohibido «demanda»")
        for p in problems
    ), problems


def test_button_payload_must_be_a_domain_intent(templates_dir: Path) -> None:
    problems = problems_for(templates_dir, buttons=[{"text": "Pagar ya", "payload": "/pagar"}])
    assert any(
        p.startswith("templates/aviso.yml: buttons[1].payload: el intent 'pagar' no existe")
        for p in problems
    )
    assert any(
        p.startswith("templates/aviso.yml: buttons[1].text: revela un pago") for p in problems
    )


def test_buttons_must_differ(templates_dir: Path) -> None:
    buttons = [{"text": "Sí", "payload": "/saludar"}, {"text": "Sí", "payload": "/saludar"}]
    assert "templates/aviso.yml: buttons: dos botones con el mismo texto" in problems_for(
        templates_dir, buttons=buttons
    )


def test_domain_intents_are_read_from_domain_yml() -> None:
    intents = domain_intents(PROJECT_ROOT / "domain.yml")
    assert {"saludar", "numero_equivocado", "no_contactar"} <= intents


def test_duplicate_names_across_files(templates_dir: Path) -> None:
    write_yaml(templates_dir, "a.yml", template_data())
    write_yaml(templates_dir, "b.yml", template_data())
    with pytest.raises(TemplateError) as caught:
        load_templates(templates_dir, intents=INTENTS)
    assert caught.value.problems == [
        "templates/b.yml: name: la plantilla 'aviso' ya está en templates/a.yml; cada nombre una vez"
    ]


def test_every_problem_of_every_file_is_listed(templates_dir: Path) -> None:
    write_yaml(templates_dir, "a.yml", template_data(name="a", body="Tu saldo es $10."))
    write_yaml(templates_dir, "b.yml", template_data(name="b", category="marketing"))
    with pytest.raises(TemplateError) as caught:
        load_templates(templates_dir, intents=INTENTS)
    files = {p.split(":")[0] for p in caught.value.problems}
    assert files == {"templates/a.yml", "templates/b.yml"}
    assert len(caught.value.problems) >= 4


# --- hostile files ---------------------------------------------------------------------------


def test_missing_and_empty_folders(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="no existe la carpeta de plantillas"):
        load_templates(tmp_path / "nada", intents=INTENTS)
    (tmp_path / "vacia").mkdir()
    with pytest.raises(TemplateError, match=r"no hay plantillas \(\*\.yml\)"):
        load_templates(tmp_path / "vacia", intents=INTENTS)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"name: [unclosed\n", "YAML inválido"),
        (b"- just\n- a list\n", "(raíz): se esperaba un mapa de campos, no list"),
        (b"", "(raíz): se esperaba un mapa de campos, no NoneType"),
        (b"name: a\n---\nname: b\n", "más de un documento"),
        (b"\xff\xfe\x00name", "no está en UTF-8"),
        (b"a: &x [1, 2]\nb: *x\n", "no se permiten anclas ni alias"),
        (b"body: !!python/object/apply:os.system ['true']\n", "YAML inválido"),
    ],
)
def test_malformed_files_are_reported(templates_dir: Path, content: bytes, fragment: str) -> None:
    templates_dir.mkdir()
    (templates_dir / "mal.yml").write_bytes(content)
    with pytest.raises(TemplateError) as caught:
        load_templates(templates_dir, intents=INTENTS)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("templates/mal.yml: ")
    assert fragment in caught.value.problems[0]


def test_a_billion_laughs_file_is_refused_without_expanding(templates_dir: Path) -> None:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    templates_dir.mkdir()
    (templates_dir / "bomba.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="no se permiten anclas ni alias"):
        load_templates(templates_dir, intents=INTENTS)


def test_a_huge_file_is_refused_unread(templates_dir: Path) -> None:
    templates_dir.mkdir()
    (templates_dir / "enorme.yml").write_bytes(b"# " + b"x" * (5 * 1024 * 1024))
    with pytest.raises(TemplateError, match="el archivo pasa de 64 KiB"):
        load_templates(templates_dir, intents=INTENTS)


def test_too_many_files_are_refused(templates_dir: Path) -> None:
    templates_dir.mkdir()
    for n in range(201):
        (templates_dir / f"t{n}.yml").write_text("name: x\n", encoding="utf-8")
    with pytest.raises(TemplateError, match="201 archivos; el máximo es 200"):
        load_templates(templates_dir, intents=INTENTS)


# --- parameter values --------------------------------------------------------------------------

TEMPLATE = Template(
    name="aviso",
    language="es_MX",
    category="utility",
    body="Hola {{1}}, te escribimos de Cobranza Demo. Responde a este mensaje.",
    parameters=("nombre",),
)


def test_render_and_preview() -> None:
    assert render_parameters(TEMPLATE, {"nombre": "María"}) == ["María"]
    assert preview(TEMPLATE, {"nombre": "María"}) == (
        "Hola María, te escribimos de Cobranza Demo. Responde a este mensaje."
    )


@pytest.mark.parametrize("values", [{}, {"nombre": ""}, {"nombre": "   \n\t "}, {"otro": "x"}])
def test_a_missing_or_empty_value_raises(values: dict[str, str]) -> None:
    with pytest.raises(MissingParameter, match=r"necesita 'nombre' para \{\{1\}\}"):
        render_parameters(TEMPLATE, values)
    assert issubclass(MissingParameter, Rejected)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("María\nFernanda", "María Fernanda"),
        ("María\tFernanda", "María Fernanda"),
        ("María     Fernanda", "María Fernanda"),
        ("  María  ", "María"),
        ("Ma\x00ría\x1b", "María"),
        ("Ma\u200bría\u202e", "María"),
        ("María\r\n\r\nFernanda", "María Fernanda"),
    ],
)
def test_values_are_cleaned_as_meta_requires(raw: str, clean: str) -> None:
    assert render_parameters(TEMPLATE, {"nombre": raw}) == [clean]


def test_a_long_value_is_cut_at_a_word() -> None:
    raw = "Maximiliano " * 20
    (text,) = render_parameters(TEMPLATE, {"nombre": raw})
    assert len(text) <= MAX_PARAMETER_CHARS and text.endswith("Maximiliano")
    (unbroken,) = render_parameters(TEMPLATE, {"nombre": "x" * 5000})
    assert unbroken == "x" * MAX_PARAMETER_CHARS
