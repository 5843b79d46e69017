"""WhatsApp message templates: the only texts we may send first (docs/outreach.md).

A business-initiated WhatsApp message must use a template approved at Meta. One file per
template in ``templates/``, written exactly as registered there (name, language ``es_MX``,
category Utility, the body with numbered parameters ``{{1}}``…), checked by
:func:`load_templates` against ``templates.schema.json`` and the rules below.

**No debt detail, ever.** A template reaches a phone number before anyone has verified who
holds it: it may be a relative, a colleague, or the number's new owner. Telling a third party
that someone owes money is what Mexican collection rules forbid (CONDUSEF's rules for
collection agencies; LFPDPPP for personal data), so a template says who writes and invites a
reply; the conversation verifies identity and only then talks about the debt. Hence:

* parameters come from a fixed vocabulary, :data:`PARAMETER_VOCABULARY`, which today holds only
  ``nombre`` (the debtor's first name): no amount, balance, contract, product, date or days
  past due can be placed in a template, whatever a designer writes;
* the body may not mention money (:data:`MONEY_PATTERNS`) nor words that reveal a debt or its
  details (:data:`DEBT_DETAIL_PATTERNS`);
* the body and the button texts pass the conduct scan (:mod:`cobranza.compliance.conduct`).

Meta's own rules are checked too, so a template fails here rather than at Meta's review: body at
most 1,024 characters; parameters numbered from 1 with no gap, each used once; no parameter at
the start or the end of the body; no two parameters side by side; at most 3 quick-reply buttons
of 25 characters. Parameter *values* follow Meta's rules at send time (:func:`render_parameters`):
no newline or tab, no four spaces in a row, not empty.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from cobranza.compliance.conduct import fold, scan_texts
from cobranza.errors import Rejected
from cobranza.outreach.files import TemplateError, read_files, schema_problems, unique_names
from cobranza.responses import DOMAIN

__all__ = [
    "DEBT_DETAIL_PATTERNS",
    "MONEY_PATTERNS",
    "PARAMETER_VOCABULARY",
    "SAMPLE_VALUES",
    "Button",
    "MissingParameter",
    "Template",
    "TemplateError",
    "body_problems",
    "domain_intents",
    "load_templates",
    "preview",
    "render_parameters",
]

SCHEMA_PATH = Path(__file__).with_name("templates.schema.json")

MAX_BODY_CHARS = 1024  # Meta's limit for a template body
MAX_BUTTONS = 3  # quick-reply buttons we allow (Meta allows more; a phone shows 3)
MAX_BUTTON_CHARS = 25  # Meta's limit for a quick-reply button's text
MAX_PARAMETER_CHARS = 60  # a parameter value, after cleaning (a first name fits easily)

# What may fill a parameter, and what it is. Adding a name here is a compliance decision: it
# must be something a third party may read (docs/outreach.md, "Por qué sin datos de la deuda").
PARAMETER_VOCABULARY: dict[str, str] = {
    "nombre": "el primer nombre del deudor (p. ej. «María»), nunca el nombre completo",
}
# The sample value Meta asks for when the template is registered, and `campaigns show` uses.
SAMPLE_VALUES: dict[str, str] = {"nombre": "María"}

_PARAMETER = re.compile(r"\{\{(\d+)\}\}")
_BRACES = re.compile(r"\{\{|\}\}|\{|\}")

# Money in any form: the sign, the currency's names, numbers that look like amounts. Matched
# against folded text (no accents, lower case) with the parameters removed.
MONEY_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\$", "el signo $"),
    (r"\b(?:pesos?|mxn|mxp|centavos?|dolares?|usd)\b", "una moneda"),
    (r"\d[\d,.]*[.,]\d", "un número con decimales o separador de miles"),
    (r"\d{3,}", "un número de tres o más cifras"),
    (r"\d+\s*(?:mil|k)\b", "una cantidad en miles"),
)

# Words that tell a reader there is a debt, or give one of its details. Folded text, whole
# words. "Cobranza" alone is not here: it is the sender's name in the demo ("Cobranza Demo");
# a lender whose brand does not say so should add it.
DEBT_DETAIL_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"\b(?:a?deud\w*|debes|nos\s+debe)\b", "la deuda"),
    (r"\bsaldos?\b", "el saldo"),
    (
        r"\b(?:vencid[oa]s?|vencimientos?|venc(?:e|en|io|era|eran)|atrasos?|atrasad[oa]s?)\b",
        "el atraso o el vencimiento",
    ),
    (r"\b(?:moros\w*|mora|impag\w*|incumpl\w*)\b", "el incumplimiento"),
    (r"\b(?:cobr(?:o|os|ar|amos|aremos|arle|arte)|cobrador\w*|requerimiento\w*)\b", "el cobro"),
    (r"\b(?:pag(?:o|os|ar|ara|aras|ue|ues|amos|ado|ada)|liquid(?:ar|a|es|acion))\b", "un pago"),
    (
        r"\b(?:contratos?|folios?|creditos?|prestamos?|tarjetas?|financiamientos?|intereses?)\b",
        "el contrato o el producto",
    ),
    (
        r"\b(?:mensualidad\w*|parcialidad\w*|cuotas?|abonos?|convenios?|promesas?)\b",
        "un plan o compromiso de pago",
    ),
    (r"\bdias?\s+de\s+atraso\b", "los días de atraso"),
)

_MONEY = tuple((re.compile(p), why) for p, why in MONEY_PATTERNS)
_DEBT = tuple((re.compile(p), why) for p, why in DEBT_DETAIL_PATTERNS)


class MissingParameter(Rejected):
    """A template parameter has no usable value (missing, empty, only spaces)."""


@dataclass(frozen=True)
class Button:
    """A quick-reply button: ``text`` is shown; ``payload`` (``/intent``) comes back to Rasa
    when the debtor taps it, as if typed."""

    text: str
    payload: str


@dataclass(frozen=True)
class Template:
    name: str
    language: str
    category: str
    body: str
    parameters: tuple[str, ...]
    buttons: tuple[Button, ...] = ()
    source: str = ""


def domain_intents(domain_path: Path = DOMAIN) -> frozenset[str]:
    """The intents declared in ``domain.yml`` (a button's payload must name one)."""
    domain = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    names: set[str] = set()
    for item in domain.get("intents") or []:
        if isinstance(item, str):
            names.add(item)
        elif isinstance(item, dict):
            names.update(str(key) for key in item)
    return frozenset(names)


def body_problems(body: str, parameters: Collection[str]) -> list[str]:
    """What is wrong with ``body`` for a template with ``parameters`` (empty when nothing)."""
    problems: list[str] = []
    if len(body) > MAX_BODY_CHARS:
        problems.append(f"tiene {len(body)} caracteres; Meta acepta hasta {MAX_BODY_CHARS}")
    numbers = [int(n) for n in _PARAMETER.findall(body)]
    stray = _BRACES.findall(_PARAMETER.sub("", body))
    if stray:
        problems.append(
            "llaves sueltas: los parámetros se escriben {{1}}, {{2}}… sin espacios; "
            "no uses { ni } en otro lugar"
        )
    expected = list(range(1, len(parameters) + 1))
    if sorted(numbers) != expected:
        problems.append(
            f"usa los parámetros {_listed(numbers)} pero declara {len(parameters)} en parameters; "
            f"deben ser exactamente {_listed(expected)}, cada uno una vez"
        )
    elif numbers != expected:
        problems.append(f"los parámetros deben aparecer en orden ({_listed(expected)})")
    stripped = body.strip()
    if stripped.startswith("{{"):
        problems.append("empieza con un parámetro; Meta rechaza un cuerpo que empieza así")
    if stripped.endswith("}}"):
        problems.append(
            "termina con un parámetro; Meta lo rechaza: agrega texto después (aunque sea un punto)"
        )
    if re.search(r"\}\}\s*\{\{", body):
        problems.append("tiene dos parámetros juntos; Meta pide texto entre ellos")
    folded = fold(_PARAMETER.sub(" ", body))
    for regex, why in _MONEY:
        found = regex.search(folded)
        if found:
            problems.append(
                f"menciona dinero ({why}: «{found.group(0)}»); un aviso no lleva montos"
            )
    problems.extend(_debt_words(folded))
    return problems


def _debt_words(folded: str) -> list[str]:
    return [
        f"revela {why} («{found.group(0)}») a quien pueda leer el aviso, que quizá no es el deudor"
        for regex, why in _DEBT
        if (found := regex.search(folded))
    ]


def _listed(numbers: Collection[int]) -> str:
    return ", ".join("{{" + str(n) + "}}" for n in numbers) or "ninguno"


def _check_one(
    label: str, data: dict[str, Any], intents: Collection[str]
) -> tuple[Template | None, list[str]]:
    problems = schema_problems(data, SCHEMA_PATH, label)
    if problems:
        return None, problems
    body: str = data["body"]
    parameters = tuple(data["parameters"])
    problems.extend(f"{label}: body: {p}" for p in body_problems(body, parameters))
    buttons = tuple(Button(b["text"], b["payload"]) for b in data.get("buttons") or [])
    texts = [b.text for b in buttons]
    if len(set(texts)) != len(texts):
        problems.append(f"{label}: buttons: dos botones con el mismo texto")
    for number, button in enumerate(buttons, start=1):
        where = f"{label}: buttons[{number}]"
        intent = button.payload[1:]
        if intent not in intents:
            problems.append(
                f"{where}.payload: el intent '{intent}' no existe en domain.yml "
                f"(intents: {', '.join(sorted(intents))})"
            )
        problems.extend(f"{where}.text: {p}" for p in _debt_words(fold(button.text)))
    texts_to_scan = [(f"{label}: body", body)] + [
        (f"{label}: buttons[{n}].text", b.text) for n, b in enumerate(buttons, start=1)
    ]
    problems.extend(
        f"{v.location}: lenguaje prohibido «{v.match}» — {v.rule.explanation} [{v.rule.code}]"
        for v in scan_texts(texts_to_scan)
    )
    if problems:
        return None, problems
    template = Template(
        name=data["name"],
        language=data["language"],
        category=data["category"],
        body=body,
        parameters=parameters,
        buttons=buttons,
        source=label,
    )
    return template, []


def read_templates(
    directory: Path, intents: Collection[str]
) -> tuple[dict[str, Template], set[str], list[str]]:
    """The valid templates, the names of every template file that declares one (valid or not,
    so a campaign naming a broken template is not also told it does not exist), and the
    problems. :func:`load_templates` raises instead; the campaigns loader reports both."""
    found, problems = read_files(directory, "plantillas")
    unique, declared, repeated = unique_names(found, "la plantilla")
    problems.extend(repeated)
    templates: dict[str, Template] = {}
    for _path, label, data in unique:
        template, errors = _check_one(label, data, intents)
        problems.extend(errors)
        if template is not None:
            templates[template.name] = template
    return templates, declared, problems


def load_templates(
    directory: Path, *, intents: Collection[str] | None = None, domain_path: Path = DOMAIN
) -> dict[str, Template]:
    """Every template in ``directory/*.yml`` by name; raises :class:`TemplateError` listing
    every problem of every file. Button payloads are checked against ``intents`` (by default the
    intents of ``domain_path``)."""
    known = domain_intents(domain_path) if intents is None else intents
    templates, _declared, problems = read_templates(directory, known)
    if problems:
        raise TemplateError(problems)
    return templates


def _clean(value: str) -> str:
    """Meta's rules for a parameter's text: no newline or tab, no four spaces in a row. Every
    run of white space becomes one space; at most :data:`MAX_PARAMETER_CHARS` characters, cut
    at a word. Other control and format
    characters (NUL, escape, zero-width, direction overrides) are dropped: nobody's name has
    them, and a direction override could make the text read differently."""
    text = "".join(
        " " if ch.isspace() else ch
        for ch in value
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf")
    )
    text = " ".join(text.split())
    if len(text) > MAX_PARAMETER_CHARS:
        cut = text[:MAX_PARAMETER_CHARS]
        if " " in cut and text[MAX_PARAMETER_CHARS] != " ":
            cut = cut[: cut.rindex(" ")]
        text = cut.rstrip()
    return text


def render_parameters(template: Template, values: Mapping[str, str]) -> list[str]:
    """The texts for ``{{1}}``… in order, cleaned; a missing or empty one raises
    :class:`MissingParameter` (Meta would reject the message, or send "Hola ,")."""
    texts: list[str] = []
    for number, name in enumerate(template.parameters, start=1):
        raw = values.get(name)
        text = _clean(raw) if isinstance(raw, str) else ""
        if not text:
            raise MissingParameter(
                f"la plantilla {template.name} necesita '{name}' para {{{{{number}}}}} "
                "y no tiene valor"
            )
        texts.append(text)
    return texts


def preview(template: Template, values: Mapping[str, str]) -> str:
    """The body as the debtor will read it, with its parameters filled."""
    texts = render_parameters(template, values)
    return _PARAMETER.sub(lambda m: texts[int(m.group(1)) - 1], template.body)
