"""Conduct check: nothing the assistant can send may threaten, expose or insult the debtor.

Mexican collection rules (CONDUSEF's rules for collection agencies, Ley para la Transparencia y
Ordenamiento de los Servicios Financieros) forbid threats of jail, seizure or legal action that
is not underway, contacting family, employer or references, publishing the debt, and
intimidating or insulting language. This module scans every text the bot can send — the
responses in ``domain.yml`` (text, button titles, ``custom`` payloads) and every string in the
persona profiles, and the body and button texts of the WhatsApp templates in ``templates/`` —
against :data:`PATTERNS`.

Patterns are regular expressions over *folded* text (see :func:`fold`): NFKD, combining marks
dropped, lower case, whitespace collapsed to single spaces — so write them without accents or
capitals (``prision``, ``juridico``, ``ultima advertencia``). Every rule needs at least one bad
example sentence in ``tests/unit/compliance/test_conduct.py``.

Locations name the file and the place inside it so that a conversation designer knows what to
fix: ``domain.yml → utter_x (variante 2, botón 1)`` or ``persona_profiles/en_apuros.yml →
tone.notes``. Variants, buttons and list items are counted from 1.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from cobranza.domain.yaml_text import MAX_DESIGNER_FILE_BYTES, YamlRefused, parse_yaml
from cobranza.responses import responses

__all__ = [
    "PATTERNS",
    "ConductRule",
    "Violation",
    "check_project",
    "collect_texts",
    "fold",
    "scan_texts",
]


@dataclass(frozen=True)
class ConductRule:
    """One forbidden kind of wording; ``pattern`` is matched against :func:`fold`-ed text."""

    code: str
    category: str
    pattern: str
    explanation: str
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once, when the rule is built.
        object.__setattr__(self, "regex", re.compile(self.pattern))


@dataclass(frozen=True)
class Violation:
    """A text the bot can send that matches a :class:`ConductRule`."""

    location: str
    text: str
    rule: ConductRule
    match: str  # the offending words, as written in ``text``

    def __str__(self) -> str:
        return (
            f"{self.location}: «{_excerpt(self.text, self.match)}» — "
            f"{self.rule.explanation} [{self.rule.code}]"
        )


# --- folding -------------------------------------------------------------------------------


def _fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """Fold ``text`` and, for every folded character, the index of its source character."""
    chars: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(text):
        for base in unicodedata.normalize("NFKD", char):
            if unicodedata.combining(base):
                continue
            for lower in base.lower():
                if unicodedata.combining(lower):
                    continue
                if lower.isspace():
                    if chars and chars[-1] == " ":
                        continue
                    lower = " "
                chars.append(lower)
                offsets.append(index)
    return "".join(chars), offsets


def fold(text: str) -> str:
    """Accent- and case-insensitive form: NFKD, no combining marks, lower case, single spaces."""
    return _fold_with_offsets(text)[0]


def _excerpt(text: str, match: str, context: int = 30) -> str:
    """The match with a few words either side, with ``…`` where the text was cut."""
    start = text.find(match)
    if start < 0:
        return match
    end = start + len(match)
    left = max(0, start - context)
    if left > 0:
        space = text.find(" ", left, start)
        left = space + 1 if space >= 0 else start
    right = min(len(text), end + context)
    if right < len(text):
        space = text.rfind(" ", end, right)
        right = space if space >= 0 else end
    prefix = "…" if left > 0 else ""
    suffix = "…" if right < len(text) else ""
    return f"{prefix}{text[left:right].strip()}{suffix}"


# --- rules ---------------------------------------------------------------------------------

# Not preceded by a negation: "no los compartimos con terceros" is a promise, not a threat.
# One fixed-width look-behind per negation and pronoun, as Python's ``re`` requires.
_NOT = "".join(
    rf"(?<!\b{negation} {pronoun})"
    for negation in ("no", "ni", "nunca", "jamas")
    for pronoun in ("", "te ", "le ", "les ", "lo ", "la ", "los ", "las ", "se ", "nos ")
)


def _unless_denied(pattern: str) -> str:
    """``pattern`` (all its alternatives) unless it comes right after a negation."""
    return f"{_NOT}(?:{pattern})"


# Up to five words in between, without crossing the end of a sentence.
_GAP = r"(?:\s+[^\s.;:!?]+){0,5}?"

# Ways of saying "we will reach / tell someone": llamaremos, contactar, avisarle, iremos…
_CONTACT_VERB = (
    _NOT + r"\b(?:llam|marc|contact|busc|avis|inform|notific|escrib|visit|acud|habl|comunic"
    r"|enter|mand|envi|compart|present|cont(?:ar|aremos|ara|aran|arle|arles)\b"
    r"|dec(?:ir|irle|irles)\b|dir(?:emos|e|a|an)\b|ir\b|iremos\b|ira\b|iran\b|pasar)\w*"
    r"(?<!cion)(?<!ciones)"  # a noun ("información"), not a verb
)

# "a tu", "con tus", "a todos tus", "al" (trabajo); "con terceros", "a recursos humanos"
_TO_THEIR = (
    r"\s+(?:(?:a|con|en|para|por)\s+(?:tod[oa]s\s+)?(?:tu|tus|su|sus)\s+"
    r"(?:propi[oa]s?\s+|querid[oa]s?\s+)?|al\s+"
    r"|(?:a|con|en|para)\s+(?=(?:recursos\s+humanos|terceros)\b))"
)

_FAMILY = (
    r"(?:familia|familias|familiares|parientes|esposa|esposo|pareja|padres|papas|papa|mama"
    r"|hij[oa]s?|herman[oa]s?|suegr[oa]s?|abuel[oa]s?|ti[oa]s)"
)
_WORK = (
    r"(?:trabajo|empleo|lugar\s+de\s+trabajo|centro\s+de\s+trabajo|jef[ea]s?|patron\w*"
    r"|empleador\w*|oficina|empresa|companer[oa]s(?:\s+de\s+trabajo)?|recursos\s+humanos)"
)
_REFERENCES = r"(?:referencias?(?:\s+personales)?|aval(?:es)?|obligad[oa]s?\s+solidari[oa]s?)"
_ACQUAINTANCES = r"(?:vecin[oa]s|amig[oa]s|conocid[oa]s|contactos|terceros)"


def _contact(targets: str) -> str:
    """A contact verb followed by one of ``targets`` — or ``targets`` who "se van a enterar"."""
    return (
        # "llamaremos a tu familia", "vamos a ir a tu trabajo", "les escribiremos a tus contactos"
        rf"{_CONTACT_VERB}{_GAP}{_TO_THEIR}{targets}\b"
        # "tu jefe se va a enterar", "tus vecinos sabrán"
        r"|(?<!\bnadie de )(?<!\bninguno de )(?<!\bninguna de )"
        rf"\b(?:tu|tus|su|sus)\s+{targets}\s+(?:se\s+(?:va|van)\s+a\s+(?:enterar|saber)"
        r"|van?\s+a\s+saber|se\s+enterar\w*|sabr(?:a|an)\b"
        r"|recibir\w*\s+(?:una\s+|nuestras?\s+)?(?:llamada|visita|mensaje)\w*)"
        # "se van a enterar tus referencias"
        rf"|\bse\s+(?:(?:va|van)\s+a\s+enterar|enter\w+)(?:\s+[^\s.;:!?]+){{0,3}}?\s+(?:tu|tus|su|sus)"
        rf"\s+{targets}\b"
    )


_ASSETS = (
    r"(?:bienes|casa|vivienda|hogar|patrimonio|autos?|coches?|carros?|camionetas?|motos?"
    r"|vehiculos?|propiedad(?:es)?|pertenencias|cosas|muebles|terrenos?|departamento|negocio"
    r"|sueldo|salario|nomina|quincena|aguinaldo|cuentas\s+bancarias)"
)

_PENAL = "amenaza penal"
_SEIZURE = "embargo"
_LEGAL = "acción legal"
_THIRD = "contacto con terceros"
_PUBLIC = "exhibición pública"
_INTIMIDATION = "intimidación"

PATTERNS: tuple[ConductRule, ...] = (
    # --- jail, arrest, police ---------------------------------------------------------------
    ConductRule(
        "carcel",
        _PENAL,
        r"\bcarcel(?:es)?\b|\bprision\b|\bencarcel\w*|\breclusorio\w*|\btras\s+las\s+rejas\b"
        r"|\bal\s+bote\b",
        "amenaza de cárcel o prisión",
    ),
    ConductRule(
        "arresto",
        _PENAL,
        r"\barrest\w*|\baprehen\w*|\bdetenid[oa]s?\b|\bdetencion\b|\bdetener(?:te|le|lo|la)\b"
        r"|\bte\s+(?:van?|vamos)\s+a\s+detener\b|\bte\s+detendr\w*",
        "amenaza de arresto o detención",
    ),
    ConductRule(
        "policia",
        _PENAL,
        r"\bpolic(?:ia|ias|iaco|iacos|iaca|ial|iales)\b|\bpatrullas?\b|\bguardia\s+nacional\b",
        "amenaza con la policía",
    ),
    ConductRule(
        "delito",
        _PENAL,
        r"\bdelitos?\b|\bdelictiv\w*|\bdelincuentes?\b|\bpenal(?:es|mente)?\b|\bcriminal\w*",
        "acusación de delito o amenaza penal",
    ),
    # --- seizure -----------------------------------------------------------------------------
    ConductRule(
        "embargo",
        _SEIZURE,
        r"\bembarg\w*",
        "amenaza de embargo",
    ),
    ConductRule(
        "quitar_bienes",
        _SEIZURE,
        _unless_denied(
            r"\b(?:quit|recog|llevar|llevaremos|llevara|retir|reten|congel|perderas|perdera"
            r"|perderan|vas\s+a\s+perder|van\s+a\s+perder)\w*(?:\s+[^\s.;:!?]+){0,3}?\s+"
            rf"(?:tu|tus|su|sus)\s+(?:propi[oa]s?\s+)?{_ASSETS}\b"
            r"|\b(?:tus|sus)\s+bienes\b|\b(?:confisc|decomis|incaut)\w*"
        ),
        "amenaza de quitar bienes, casa, auto o sueldo",
    ),
    ConductRule(
        "remate",
        _SEIZURE,
        r"\bremat(?:e|es|ar|arte|arle|aremos|ara|aran|ado|ados|ada|adas)\b|\bsubast\w*",
        "amenaza de remate o subasta de bienes",
    ),
    # --- legal action that is not underway ----------------------------------------------------
    ConductRule(
        "demanda",
        _LEGAL,
        r"(?<!\balta )(?<!\bgran )(?<!\bmucha )(?<!\bbaja )\bdemand(?:a|as|ar|arte|arle|arlo"
        r"|arla|aremos|ara|aran|ariamos|ado|ada|ados|adas|amos)\b",
        "amenaza de demanda",
    ),
    ConductRule(
        "juicio",
        _LEGAL,
        r"(?<!\bmi )(?<!\btu )(?<!\bsu )(?<!\bbuen )\bjuicios?\b|\benjuici\w*|\blitigi\w*"
        r"|\blitig(?:ar|aremos|ara|aran)\b",
        "amenaza de juicio",
    ),
    ConductRule(
        "abogados",
        _LEGAL,
        r"\babogad[oa]s?\b|\bbufetes?\b",
        "menciona abogados para presionar",
    ),
    ConductRule(
        "despacho_juridico",
        _LEGAL,
        r"\bjuridic[oa]s?\b|\bdespachos?\s+(?:legal(?:es)?|de\s+abogados)\b"
        r"|\b(?:area|departamento)\s+legal\b",
        "menciona un despacho o área jurídica",
    ),
    ConductRule(
        "accion_legal",
        _LEGAL,
        r"\b(?:accion(?:es)?|procesos?|procedimientos?|medidas|instancias|vias?|tramites?"
        r"|cobranza|cobro|etapa)\s+(?:legal(?:es)?|judicial(?:es)?)\b"
        r"|\bproceder\w*\s+(?:legal|judicial)mente\b",
        "amenaza de acción o proceso legal",
    ),
    ConductRule(
        "juzgado",
        _LEGAL,
        r"\b(?:el|un|al|del|los|ante|en)\s+juzgados?\b"
        r"|\bjuzgados?\s+(?:civil(?:es)?|penal(?:es)?|de\s+lo\s+\w+)\b"
        r"|\btribunal(?:es)?\b|\bjuez(?:a)?\b|\bjueces\b|\bemplazamiento\w*",
        "menciona juzgados, tribunales o jueces",
    ),
    ConductRule(
        "ministerio_publico",
        _LEGAL,
        r"\bministerio\s+publico\b|\bfiscalias?\b|\bagente\s+del\s+mp\b",
        "amenaza con el Ministerio Público o la fiscalía",
    ),
    ConductRule(
        "denuncia",
        _LEGAL,
        r"\bdenuncia(?:s|r|rte|rle|rlo|rla|remos|ra|ran|ria|riamos|do|da|mos)?\b|\bquerella\w*",
        "amenaza de denuncia",
    ),
    ConductRule(
        "fraude",
        _LEGAL,
        r"\b(?:cometi\w*|cometer\w*|cometes|incurri\w*|incurr\w*|acus\w*|culpable|delito"
        r"|tu|su)\s+(?:en\s+|de\s+|un\s+|una\s+)?fraudes?\b"
        r"|\b(?:denunci|demand|report|proces)\w*\s+por\s+fraude\b"
        r"|\bdefraud(?:aste|aron|o|ando|ar)\b",
        "acusación de fraude",
    ),
    # --- family, employer, references ---------------------------------------------------------
    ConductRule(
        "contacto_familia",
        _THIRD,
        _contact(_FAMILY),
        "amenaza de contactar a la familia",
    ),
    ConductRule(
        "contacto_trabajo",
        _THIRD,
        _contact(_WORK),
        "amenaza de contactar al trabajo o al jefe",
    ),
    ConductRule(
        "contacto_referencias",
        _THIRD,
        _contact(_REFERENCES),
        "amenaza de contactar a referencias o avales",
    ),
    ConductRule(
        "contacto_conocidos",
        _THIRD,
        _contact(_ACQUAINTANCES),
        "amenaza de contactar a vecinos, amigos, contactos o terceros",
    ),
    # --- public exposure ---------------------------------------------------------------------
    ConductRule(
        "boletinar",
        _PUBLIC,
        _unless_denied(r"\bboletina\w*"),
        "amenaza de boletinar",
    ),
    ConductRule(
        "exhibir",
        _PUBLIC,
        _unless_denied(
            r"\bexhibir(?:te|le|los|las)\b|\bte\s+(?:vamos\s+a\s+|van\s+a\s+)?exhib\w*"
            r"|\bexhib\w*\s+(?:tu|su|tus|sus)\s+(?:deudas?|adeudos?|nombre|caso|fotos?"
            r"|fotografias?|datos|situacion)\b|\bexhib\w*\s+(?:publicamente|en\s+publico)\b"
            r"|\bexhibicion\s+publica\b|\bevidenciar(?:te|le)\b|\bte\s+(?:vamos\s+a\s+)?evidenci\w*"
        ),
        "amenaza de exhibir al deudor",
    ),
    ConductRule(
        "publicar",
        _PUBLIC,
        _unless_denied(
            r"\bpublic(?:ar|are|ara|aran|aremos|ariamos|amos|ado|ada|ados|adas)?"
            r"(?:te|le|lo|la|los|las)?(?:\s+[^\s.;:!?]+){0,2}?\s+(?:tu|su|tus|sus)\s+(?:nombre"
            r"|deudas?|adeudos?|datos|fotos?|fotografias?|caso|informacion|situacion|numero"
            r"|telefono)\b|\bhac\w*\s+public[oa]s?\b|\bpublicamente\b"
        ),
        "amenaza de publicar la deuda o los datos",
    ),
    ConductRule(
        "redes_sociales",
        _PUBLIC,
        r"\bredes\s+sociales\b|\b(?:facebook|instagram|tiktok|twitter)\b",
        "menciona redes sociales (exhibición pública)",
    ),
    ConductRule(
        "lista_morosos",
        _PUBLIC,
        r"\blistas?\s+(?:negras?|de\s+(?:morosos|deudores|incumplidos|malos\s+pagadores))\b",
        "amenaza de lista de morosos o lista negra",
    ),
    ConductRule(
        "exponer",
        _PUBLIC,
        _unless_denied(
            r"\bexponer(?:te|le|los|las)\b|\bte\s+(?:vamos|van)\s+a\s+exponer\b"
            r"|\bte\s+expondr\w*|\bexpon\w*\s+(?:tu|su|tus|sus)\s+(?:deudas?|adeudos?|nombre|caso"
            r"|fotos?|datos|situacion)\b|\bexpon\w*\s+(?:publicamente|en\s+publico|ante\b"
            r"|frente\s+a\b)|\bexpuest[oa]s?\s+(?:publicamente|en\s+publico|ante\b)"
        ),
        "amenaza de exponer al deudor",
    ),
    # --- intimidation and insults --------------------------------------------------------------
    ConductRule(
        "consecuencias",
        _INTIMIDATION,
        r"\baten(?:te|gase|ganse|erse|gas|ga)\s+a\s+(?:las\s+)?consecuencias\b"
        r"|\b(?:graves|serias|fuertes|peores)\s+consecuencias\b"
        r"|\bconsecuencias\s+(?:muy\s+)?(?:graves|serias|legales|judiciales|penales)\b"
        r"|\b(?:habra|tendra|tendras|sufriras|sufrir|enfrentaras|enfrentar)"
        r"(?:\s+[^\s.;:!?]+)?\s+(?:las\s+)?consecuencias\b"
        r"|\bpor\s+las\s+malas\b|\bte\s+vas\s+a\s+arrepentir\b|\bte\s+arrepentiras\b",
        "intimidación con consecuencias",
    ),
    ConductRule(
        "ultima_advertencia",
        _INTIMIDATION,
        r"\bultim[oa]\s+(?:advertencia|aviso|llamado|requerimiento)\b"
        r"|\b(?:advertencia|aviso)\s+final\b",
        "intimidación: última advertencia",
    ),
    ConductRule(
        "sabemos_donde",
        _INTIMIDATION,
        r"\bsabemos\s+donde\s+(?:vives|trabajas|vive|trabaja|estas|esta|viven|estudian)\b"
        r"|\bte\s+(?:tenemos\s+)?(?:ubicad[oa]|vigilad[oa])\b"
        r"|\bte\s+estamos\s+(?:vigilando|observando|siguiendo)\b",
        "intimidación: insinúa vigilancia",
    ),
    ConductRule(
        "etiqueta_moroso",
        _INTIMIDATION,
        r"\bdeudor(?:es|as?)?\s+moros\w*|(?<!\bde )\bmoros[oa]s?\b"
        r"|\bmal(?:os|as|a)?\s+pagador(?:es|as?)?\b",
        "etiqueta denigrante (moroso, mal pagador)",
    ),
    ConductRule(
        "insulto",
        _INTIMIDATION,
        r"\b(?:rater[oa]s?|ladron(?:a|as|es)?|estafador(?:a|as|es)?|trampos[oa]s?"
        r"|sinverguenzas?|vividor(?:a|as|es)?|mentiros[oa]s?|irresponsables?|aprovechad[oa]s?"
        r"|gorron(?:a|as|es)?|transas?)\b",
        "insulto o descalificación",
    ),
)


# --- scanning ------------------------------------------------------------------------------


def scan_texts(texts: Iterable[tuple[str, str]]) -> list[Violation]:
    """Every match of every rule in ``(location, text)`` pairs, in the order given."""
    violations: list[Violation] = []
    for location, text in texts:
        folded, offsets = _fold_with_offsets(text)
        for rule in PATTERNS:
            for found in rule.regex.finditer(folded):
                if found.end() == found.start():
                    continue
                start = offsets[found.start()]
                end = offsets[found.end() - 1] + 1
                violations.append(Violation(location, text, rule, text[start:end]))
    return violations


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every string inside a YAML value, with a dotted path (list items ``[n]`` from 1)."""
    if isinstance(value, str):
        return [(path, value)]
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.extend(_strings(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(value, list):
        for number, item in enumerate(value, start=1):
            found.extend(_strings(item, f"{path}[{number}]"))
    return found


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def _domain_texts(domain_path: Path) -> list[tuple[str, str]]:
    texts: list[tuple[str, str]] = []
    for name, variants in responses(domain_path).items():
        for number, variant in enumerate(variants or [], start=1):
            where = f"{domain_path.name} → {name} (variante {number}"
            if isinstance(variant, str):
                texts.append((f"{where})", variant))
                continue
            if not isinstance(variant, dict):
                continue
            if isinstance(variant.get("text"), str):
                texts.append((f"{where})", variant["text"]))
            for button_number, button in enumerate(variant.get("buttons") or [], start=1):
                if isinstance(button, dict) and isinstance(button.get("title"), str):
                    texts.append((f"{where}, botón {button_number})", button["title"]))
            if "custom" in variant:
                for path, text in _strings(variant["custom"], "custom"):
                    texts.append((f"{where}, {path})", text))
    return texts


def _profile_texts(profiles_dir: Path) -> list[tuple[str, str]]:
    files = sorted([*profiles_dir.glob("*.yml"), *profiles_dir.glob("*.yaml")])
    texts: list[tuple[str, str]] = []
    for path in files:
        where = f"{profiles_dir.name}/{path.name} →"
        texts.extend(
            (f"{where} {key or '(raíz)'}", text) for key, text in _strings(_load_yaml(path), "")
        )
    return texts


def _template_texts(templates_dir: Path) -> list[tuple[str, str]]:
    """The body and every button text of each WhatsApp template (``templates/*.yml``).

    A file too big, not UTF-8 or not YAML we accept is skipped here: ``cobranza campaigns
    validate`` (cobranza/outreach/templates.py) reports it, and also runs this scan on every
    template it loads."""
    texts: list[tuple[str, str]] = []
    for path in sorted(templates_dir.glob("*.yml")) if templates_dir.is_dir() else []:
        with path.open("rb") as handle:
            raw = handle.read(MAX_DESIGNER_FILE_BYTES + 1)
        if len(raw) > MAX_DESIGNER_FILE_BYTES:
            continue
        try:
            data = parse_yaml(raw.decode("utf-8"))
        except (UnicodeDecodeError, YamlRefused):
            continue
        if not isinstance(data, dict):
            continue
        where = f"{templates_dir.name}/{path.name} →"
        if isinstance(data.get("body"), str):
            texts.append((f"{where} body", data["body"]))
        buttons = data.get("buttons")
        for number, button in enumerate(buttons if isinstance(buttons, list) else [], start=1):
            if isinstance(button, dict) and isinstance(button.get("text"), str):
                texts.append((f"{where} buttons[{number}].text", button["text"]))
    return texts


def collect_texts(
    domain_path: Path, profiles_dir: Path, templates_dir: Path | None = None
) -> list[tuple[str, str]]:
    """Every text the bot can send, as ``(location, text)``.

    From ``domain.yml``: each response variant's ``text``, its buttons' ``title`` and every
    string inside its ``custom`` payload. From ``profiles_dir/*.yml``: every string value at
    any depth. From ``templates_dir/*.yml`` (when given): each template's body and button texts.
    """
    texts = _domain_texts(domain_path) + _profile_texts(profiles_dir)
    if templates_dir is not None:
        texts += _template_texts(templates_dir)
    return texts


def check_project(root: Path, templates_dir: Path | None = None) -> list[Violation]:
    """Violations in ``root/domain.yml``, ``root/persona_profiles`` and the WhatsApp templates
    (``templates_dir``, by default ``root/templates``)."""
    return scan_texts(
        collect_texts(
            root / "domain.yml", root / "persona_profiles", templates_dir or root / "templates"
        )
    )
