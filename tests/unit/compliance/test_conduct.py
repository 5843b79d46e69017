"""Conduct check: no text the bot can send threatens, exposes or insults the debtor."""

from __future__ import annotations

from pathlib import Path

import pytest

from cobranza.compliance.conduct import (
    PATTERNS,
    ConductRule,
    Violation,
    check_project,
    collect_texts,
    fold,
    scan_texts,
)
from cobranza.config import PROJECT_ROOT

ROOT = PROJECT_ROOT

# At least one bad sentence per rule code; a rule without examples fails
# test_every_rule_has_examples. Accents and capitals vary on purpose.
BAD_EXAMPLES: dict[str, list[str]] = {
    "carcel": [
        "Si no pagas podrías ir a la CÁRCEL.",
        "Te arriesgas a pisar la prisión por esta deuda.",
        "Te vamos a meter al bote.",
    ],
    "arresto": [
        "Hay una orden de ARRESTO en tu contra.",
        "Podrías ser detenido si no pagas hoy.",
        "Te vamos a detener en tu domicilio.",
    ],
    "policia": [
        "Enviaremos a la Policía a tu domicilio.",
        "Una patrulla pasará por ti.",
    ],
    "delito": [
        "No pagar es un DELITO.",
        "Enfrentarás un proceso penal.",
    ],
    "embargo": [
        "Vamos a embargar tus cuentas.",
        "Procederemos al EMBARGO de tu casa.",
    ],
    "quitar_bienes": [
        "Te vamos a quitar tu casa.",
        "Nos llevaremos tu AUTO si no pagas.",
        "Perderás tu patrimonio.",
        "Retendremos tu sueldo cada quincena.",
    ],
    "remate": [
        "Tus cosas saldrán a REMATE.",
        "Vamos a rematar tu casa.",
    ],
    "demanda": [
        "Te vamos a demandar mañana.",
        "Prepararemos una DEMANDA en tu contra.",
    ],
    "juicio": [
        "Iniciaremos un juicio mercantil.",
        "Tu caso pasará a JUICIO.",
    ],
    "abogados": [
        "Turnaremos tu cuenta a nuestros abogados.",
        "Un ABOGADO te buscará.",
    ],
    "despacho_juridico": [
        "Tu cuenta pasó a un despacho jurídico.",
        "El área JURÍDICA revisará tu caso.",
    ],
    "accion_legal": [
        "Tomaremos acciones legales.",
        "Iniciaremos un PROCESO JUDICIAL.",
        "Procederemos legalmente.",
    ],
    "juzgado": [
        "Te vemos en el juzgado.",
        "Tu caso se presentará ante un Tribunal.",
    ],
    "ministerio_publico": [
        "Te presentaremos ante el Ministerio Público.",
        "Tu caso irá a la FISCALÍA.",
    ],
    "denuncia": [
        "Vamos a presentar una denuncia.",
        "Te DENUNCIAREMOS hoy mismo.",
    ],
    "fraude": [
        "Cometiste FRAUDE al no pagar.",
        "Esto es un delito de fraude.",
        "Serás denunciado por fraude.",
    ],
    "contacto_familia": [
        "Llamaremos a tu familia.",
        "Vamos a contactar a tus FAMILIARES.",
        "Le avisaremos a tu mamá.",
        "Tu familia se va a enterar.",
    ],
    "contacto_trabajo": [
        "Llamaremos a tu jefe.",
        "Iremos mañana mismo a tu TRABAJO.",
        "Hablaremos con Recursos Humanos de tu empresa, con tu patrón.",
        "Tu jefe sabrá que no pagas.",
    ],
    "contacto_referencias": [
        "Vamos a llamar a tus referencias.",
        "Contactaremos a tu AVAL.",
    ],
    "contacto_conocidos": [
        "Visitaremos a tus vecinos.",
        "Les escribiremos a todos tus contactos.",
        "Compartiremos tu información con terceros.",
        "Se van a enterar todos tus amigos.",
    ],
    "boletinar": [
        "Te vamos a boletinar.",
        "Serás BOLETINADO en todo el sistema.",
    ],
    "exhibir": [
        "Te vamos a exhibir.",
        "Exhibiremos tu deuda públicamente.",
    ],
    "publicar": [
        "Publicaremos tu nombre y tu deuda.",
        "Vamos a hacer pública tu deuda.",
    ],
    "redes_sociales": [
        "Publicaremos tu caso en REDES SOCIALES.",
        "Todos lo verán en Facebook.",
    ],
    "lista_morosos": [
        "Aparecerás en la lista de morosos.",
        "Te incluiremos en la LISTA NEGRA.",
        "Estás en una lista de deudores.",
    ],
    "exponer": [
        "Te vamos a exponer.",
        "Expondremos tu situación ante tus vecinos.",
    ],
    "consecuencias": [
        "Atente a las consecuencias.",
        "ATÉNGASE A LAS CONSECUENCIAS.",
        "Habrá graves consecuencias.",
    ],
    "ultima_advertencia": [
        "Esta es tu última advertencia.",
        "ÚLTIMO AVISO antes de proceder.",
    ],
    "sabemos_donde": [
        "Sabemos dónde vives.",
        "Te tenemos ubicado.",
    ],
    "etiqueta_moroso": [
        "Eres un moroso.",
        "Como DEUDOR MOROSO debes pagar ya.",
        "Los malos pagadores no tienen descuento.",
    ],
    "insulto": [
        "Eres un ratero.",
        "No seas TRAMPOSO.",
        "Pagas como ladrón.",
    ],
}

GOOD_SENTENCES = [
    "Entiendo que perdiste tu trabajo.",
    "Entiendo que perdiste tu trabajo; vamos a buscar una opción que te acomode.",
    "No compartimos información con terceros.",
    "Puedes pagar en OXXO.",
    "Tu saldo al 22 de noviembre es de $5,000.00.",
    "Si no eres el titular, no te volveremos a escribir.",
    "Lamentamos lo de tu familia.",
    "No llamaremos a tu familia ni a tu trabajo.",
    "Nunca publicamos tus datos.",
    "Si prefieres, llámanos desde tu trabajo.",
    "Escríbenos cuando salgas del trabajo.",
    "Podemos buscar juntos una forma de pago que te acomode.",
    "Gracias por contarme tu situación.",
    "Te comunico con un asesor.",
    "Paga solo a las cuentas de tu acreedor; nunca te pediremos depositar a cuentas personales.",
    "Para protegerte de fraudes, paga solo a cuentas de tu acreedor.",
    "Por la alta demanda, un asesor te responderá en unos minutos.",
    "Aquí nadie te va a juzgar.",
    "Tienes 45 días de atraso; podemos acordar una fecha que sí puedas cumplir.",
    "Gracias por tu buen historial de pagos.",
    "Es importante acordar hoy una fecha de pago.",
    "Te llamaremos a este número mañana.",
    "Puedes presentar tu comprobante de pago.",
    "Tu último pago registrado fue de $500.00.",
    "Registré tu promesa de pago con folio P-1234.",
    "Tus datos son privados; no los compartimos con terceros.",
    "Nadie de tu familia recibirá mensajes nuestros.",
    "Te exponemos las opciones disponibles.",
    "Consulta el aviso de privacidad publicado en nuestro sitio.",
    "Si pierdes tu empleo, avísanos y buscamos opciones.",
    "Con gusto te informo tu saldo.",
]


def _codes(text: str) -> set[str]:
    return {violation.rule.code for violation in scan_texts([("prueba", text)])}


def test_real_project_has_no_violations() -> None:
    violations = check_project(ROOT)
    assert not violations, "Textos prohibidos:\n" + "\n".join(str(v) for v in violations)


def test_real_project_texts_are_collected() -> None:
    texts = collect_texts(ROOT / "domain.yml", ROOT / "persona_profiles")
    locations = [location for location, _ in texts]
    assert "domain.yml → utter_saludo (variante 1)" in locations
    assert any(location.startswith("persona_profiles/en_apuros.yml → ") for location in locations)


def test_every_rule_has_examples() -> None:
    codes = [rule.code for rule in PATTERNS]
    assert len(codes) == len(set(codes)), "rule codes must be unique"
    missing = set(codes) - {code for code, examples in BAD_EXAMPLES.items() if examples}
    assert not missing, f"rules without a bad example: {sorted(missing)}"
    unknown = set(BAD_EXAMPLES) - set(codes)
    assert not unknown, f"examples for unknown rules: {sorted(unknown)}"


@pytest.mark.parametrize("rule", PATTERNS, ids=lambda rule: rule.code)
def test_rules_are_well_formed(rule: ConductRule) -> None:
    assert rule.code and rule.category and rule.explanation
    # Patterns match folded text, so they must be written folded: no accents or ñ.
    assert rule.pattern.isascii(), f"{rule.code}: write the pattern without accents"
    assert rule.regex.pattern == rule.pattern


@pytest.mark.parametrize(
    ("code", "text"),
    [(code, text) for code, texts in BAD_EXAMPLES.items() for text in texts],
)
def test_bad_sentence_is_caught(code: str, text: str) -> None:
    assert code in _codes(text)


@pytest.mark.parametrize("text", GOOD_SENTENCES)
def test_good_sentence_is_not_flagged(text: str) -> None:
    assert scan_texts([("prueba", text)]) == []


def test_fold() -> None:
    assert fold("ÁTÉNGASE  a las\nCONSECUENCIAS, Señor") == "atengase a las consecuencias, senor"


def test_match_keeps_original_spelling() -> None:
    (violation,) = scan_texts([("aquí", "Habrá EMBARGO de tu casa, señor.")])
    assert violation.rule.code == "embargo"
    assert violation.match == "EMBARGO"
    assert violation.location == "aquí"


def test_violation_str() -> None:
    rule = next(rule for rule in PATTERNS if rule.code == "embargo")
    violation = Violation(
        location="domain.yml → utter_amenaza (variante 2)",
        text="Si no pagas hoy, mañana vamos a embargar tu casa y todo lo que tengas en ella.",
        rule=rule,
        match="embargar",
    )
    assert str(violation) == (
        "domain.yml → utter_amenaza (variante 2): "
        "«…no pagas hoy, mañana vamos a embargar tu casa y todo lo que tengas…» "
        "— amenaza de embargo [embargo]"
    )


def test_locations_in_a_project(tmp_path: Path) -> None:
    (tmp_path / "domain.yml").write_text(
        """\
version: "3.1"
responses:
  utter_bien:
    - text: "Puedes pagar en OXXO."
  utter_amenaza:
    - text: "Gracias por escribir."
    - text: "Si no pagas, vamos a embargar tu casa."
  utter_opciones:
    - text: "¿Qué prefieres?"
      buttons:
        - title: "Pagar hoy"
          payload: "/afirmar"
        - title: "Llamaremos a tu jefe"
          payload: "/negar"
  utter_tarjeta:
    - custom:
        whatsapp:
          header: "Aviso"
          sections:
            - title: "Opciones"
            - title: "Última advertencia"
""",
        encoding="utf-8",
    )
    profiles = tmp_path / "persona_profiles"
    profiles.mkdir()
    (profiles / "duro.yml").write_text(
        """\
name: duro
tone:
  style: firme
  intro: "Te vamos a boletinar."
  ejemplos:
    - "Hola"
    - "Atente a las consecuencias"
plans:
  pay_in_full: true
""",
        encoding="utf-8",
    )

    found = {(v.location, v.rule.code) for v in check_project(tmp_path)}

    assert found == {
        ("domain.yml → utter_amenaza (variante 2)", "embargo"),
        ("domain.yml → utter_opciones (variante 1, botón 2)", "contacto_trabajo"),
        (
            "domain.yml → utter_tarjeta (variante 1, custom.whatsapp.sections[2].title)",
            "ultima_advertencia",
        ),
        ("persona_profiles/duro.yml → tone.intro", "boletinar"),
        ("persona_profiles/duro.yml → tone.ejemplos[2]", "consecuencias"),
    }


def test_whatsapp_templates_are_scanned(tmp_path: Path) -> None:
    """Bodies and button texts of templates/*.yml; files the scan cannot read are left to
    `cobranza campaigns validate`, which reports them."""
    (tmp_path / "domain.yml").write_text("responses: {}\n", encoding="utf-8")
    (tmp_path / "persona_profiles").mkdir()
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "duro.yml").write_text(
        """\
name: duro
body: "Hola {{1}}, evita que te embarguemos."
buttons:
  - text: "Hablar con mi abogado"
    payload: /saludar
  - text: "Hola"
    payload: /saludar
""",
        encoding="utf-8",
    )
    (templates / "alias.yml").write_text(
        'a: &x "te vamos a embargar"\nbody: *x\n', encoding="utf-8"
    )
    (templates / "enorme.yml").write_bytes(b"body: embargo " + b"x" * 70_000)
    (templates / "lista.yml").write_text("- embargo\n", encoding="utf-8")

    found = {(v.location, v.rule.code) for v in check_project(tmp_path)}

    assert found == {
        ("templates/duro.yml → body", "embargo"),
        ("templates/duro.yml → buttons[1].text", "abogados"),
    }
    other = tmp_path / "otras"
    other.mkdir()
    assert check_project(tmp_path, other) == []


def test_real_templates_are_collected() -> None:
    texts = collect_texts(ROOT / "domain.yml", ROOT / "persona_profiles", ROOT / "templates")
    locations = [location for location, _ in texts]
    assert "templates/aviso_cuenta.yml → body" in locations
    assert "templates/aviso_cuenta.yml → buttons[1].text" in locations
