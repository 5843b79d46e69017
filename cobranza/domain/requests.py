"""The requests a debtor's message makes besides the one the model recognised.

Rasa's classifier gives one intent per message, but debtors ask two things at once: "¿cuánto
debo y me hacen descuento?", "ya pagué 500 pero quiero un plan para el resto", "te pago el
viernes, ¿a qué cuenta deposito?". :func:`requests_in` finds the requests a message makes by
their wording (a second pass after the model), named by the intent that answers each, in the
order the message makes them. Only requests that can be answered without a question back are
listed: the balance, a discount, the plans, where to pay.

Pure: folded text in, intent names out.
"""

from __future__ import annotations

import re

from cobranza.domain.amounts import fold

__all__ = ["CUES", "choose_named", "is_question", "mentions_promise", "requests_in"]

CUES: dict[str, re.Pattern[str]] = {
    "consultar_saldo": re.compile(
        r"\b(?:cuanto\s+(?:le\s+|te\s+|les\s+)?(?:debo|adeudo|es\s+lo\s+que\s+debo|tengo\s+que\s+pagar|"
        r"seria\s+el\s+total)|(?:mi|el)\s+saldo|cuanto\s+es\s+en\s+total|a\s+cuanto\s+asciende|"
        r"(?:mi|la)\s+deuda\s+total)\b"
    ),
    "solicitar_descuento": re.compile(
        r"\b(?:descuentos?|desc|rebaja|quita|condon\w*|me\s+(?:lo|la)\s+(?:dejan|bajan|rebajan)|"
        r"me\s+bajan)\b"
    ),
    "solicitar_opciones_pago": re.compile(
        r"\b(?:un\s+plan|planes|plan\s+de\s+pagos?|opciones\s+de\s+pago|mas\s+plazo|mas\s+tiempo|"
        r"parcialidades|en\s+pagos|a\s+meses|en\s+abonos|convenio)\b"
    ),
    "consultar_metodos_pago": re.compile(
        r"\b(?:donde\s+(?:le\s+|te\s+)?(?:pago|deposito|transfiero)|como\s+(?:le\s+|te\s+)?"
        r"(?:pago|deposito|transfiero)|(?:a\s+)?que\s+cuenta|la\s+clabe|clabe|"
        r"numero\s+de\s+cuenta|referencia\s+de\s+pago|en\s+el\s+oxxo|en\s+oxxo)\b"
    ),
}


def requests_in(text: str) -> list[str]:
    """The intents whose request ``text`` makes, in the order it makes them."""
    folded = fold(text)
    found = [
        (match.start(), intent) for intent, cue in CUES.items() if (match := cue.search(folded))
    ]
    return [intent for _, intent in sorted(found)]


_QUESTION = re.compile(
    r"\?|^\s*(?:y\s+)?(?:hay|tienen|tiene|manejan|existe|puedo|se\s+puede|me\s+(?:dan|pueden|hacen)|"
    r"cual|cuales|que|como|cuanto|cuantos|donde|cuando)\b"
)


def is_question(text: str) -> bool:
    """Does the message ask rather than choose ("¿hay descuento?" is no choice of the discount)?"""
    return bool(_QUESTION.search(fold(text)))


_PROMISE = re.compile(
    r"\b(?:lo\s+que\s+(?:prometi|quede|acordamos|quedamos|dije)|lo\s+prometido|lo\s+acordado|"
    r"(?:la|mi)\s+promesa|lo\s+de\s+(?:la\s+promesa|lo\s+prometido))\b"
)


def mentions_promise(text: str) -> bool:
    """ "ya pagué lo que prometí": the message is about the debtor's own promise."""
    return bool(_PROMISE.search(fold(text)))


_ORDINAL_WORDS = {
    "primero": 0, "primera": 0, "primer": 0, "1": 0,
    "segundo": 1, "segunda": 1, "2": 1,
    "tercero": 2, "tercera": 2, "tercer": 2, "3": 2,
}  # fmt: skip
_FILLER = frozenset({"credito", "de", "del", "para", "la", "el", "los", "las", "mi", "personal"})


def _same_word(name_word: str, typed: str) -> bool:
    """ "moto" names "motocicleta", "tarjetas" names "tarjeta"."""
    if name_word == typed:
        return True
    short, long = sorted((name_word, typed), key=len)
    return len(short) >= 4 and long.startswith(short)


def choose_named(text: str, names: list[str]) -> int | None:
    """Which of ``names`` (shown in this order) a typed answer picks: by a word of its name
    ("la tarjeta", "el prestamo", "lo de la moto") or by its place ("el segundo"). ``None``
    when it picks none or several."""
    words = set(re.findall(r"[a-z0-9]+", fold(text)))
    picked = {i for w, i in _ORDINAL_WORDS.items() if w in words and i < len(names)}
    for index, name in enumerate(names):
        own = {w for w in re.findall(r"[a-z0-9]+", fold(name)) if w not in _FILLER}
        if any(_same_word(w, x) for w in own for x in words):
            picked.add(index)
    return picked.pop() if len(picked) == 1 else None
