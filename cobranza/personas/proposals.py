"""A debtor's counter-proposal read off the message, as a :class:`~negotiation.Proposal`.

What debtors write, and what it becomes:

* "puedo dar 500 cada quincena", "3 pagos de 2000", "la quiero en 12 pagos", "en 4 quincenas
  empezando el viernes" → instalments (amount per payment and/or count, frequency, first date);
* "pago la mitad el 15 y el resto a fin de mes" → a part then the rest, each with its date
  (the rest's date is read from the first one: "a fin de mes" after the 15th of December is the
  31st);
* "¿me lo dejan en 10 mil?", "liquido con 7000 el viernes", "te doy 8 mil y quedamos a mano"
  → a settlement for that total;
* "pago la mitad el 15" → a promise (for the fraction of the balance it names).

:func:`read_proposal` returns ``None`` when the message proposes none of these: the caller
then treats it as it always did (a plain promise with an amount and a date, a question).

Pure: no database, no clock; ``today`` is the debtor's local date, amounts are centavos.
"""

from __future__ import annotations

import re
from datetime import date

from cobranza.domain.amounts import extract_amount, fold, parse_amount
from cobranza.domain.dates import extract_date
from cobranza.domain.money import to_centavos
from cobranza.personas.negotiation import Kind, Proposal

__all__ = ["fraction_of_balance", "read_proposal"]

_FRACTIONS = (
    (re.compile(r"\b(?:la\s+)?mitad\b"), 2),
    (re.compile(r"\b(?:un\s+tercio|la\s+tercera\s+parte)\b"), 3),
    (re.compile(r"\b(?:un\s+cuarto|la\s+cuarta\s+parte)\b"), 4),
)
_REST = re.compile(
    r"\b(?:y\s+)?(?:el\s+resto|lo\s+demas|lo\s+que\s+falte|lo\s+que\s+falta|lo\s+restante|"
    r"el\s+restante|la\s+otra\s+mitad|el\s+saldo\s+restante)\b"
)
_FREQUENCY_WORDS = (
    (
        re.compile(
            r"\b(?:cada\s+semana|semanal(?:es|mente)?|por\s+semana|a\s+la\s+semana|"
            r"cada\s+(?:8|ocho|7|siete)\s+dias)\b"
        ),
        "semanal",
    ),
    (
        re.compile(
            r"\b(?:cada\s+quincena|quincenal(?:es|mente)?|por\s+quincena|cada\s+(?:15|quince)\s+dias)\b"
            # "300 a la quincena" is a rate; "a la quincena te pago 2500" is a promise for payday
            r"|(?<=\d)\s+(?:pesos\s+)?a\s+la\s+quincena\b"
        ),
        "quincenal",
    ),
    (
        re.compile(r"\b(?:cada\s+mes|mensual(?:es|mente)?|mensualidades|por\s+mes|al\s+mes)\b"),
        "mensual",
    ),
)
_COUNT = re.compile(
    r"\b(?:en\s+|a\s+)?(\d{1,2}|[a-z]+)\s+"
    r"(pagos|plazos|abonos|parcialidades|exhibiciones|mensualidades|quincenas|semanas|meses)\b"
)
# "dentro de 3 semanas", "de aquí a 2 meses": a day, not a number of payments.
_WITHIN = re.compile(r"\b(?:dentro\s+de|de\s+aqui\s+a|hasta\s+en|en\s+unas?|en\s+unos)\s*$")
_COUNT_UNITS = {
    "quincenas": "quincenal",
    "semanas": "semanal",
    "meses": "mensual",
    "mensualidades": "mensual",
}
_SETTLE = re.compile(
    r"\b(?:l[oa]\s+dej\w*|dej\w*\s+en|"
    r"liquid\w*|salda\w*|finiquit\w*|quedamos\s+a\s+mano|a\s+mano|cerrar\s+la\s+cuenta|"
    r"cerramos|quede\s+pagad\w*|quede\s+saldad\w*|por\s+todo|y\s+ya\s+quedo)\b"
)


def fraction_of_balance(text: str, balance: int) -> int | None:
    """ "la mitad" of a balance of ``balance`` centavos, "un tercio", "la cuarta parte"."""
    folded = fold(text)
    for pattern, divisor in _FRACTIONS:
        if pattern.search(folded):
            return balance // divisor
    return None


def _amount(text: str, balance: int) -> int | None:
    fraction = fraction_of_balance(text, balance)
    if fraction is not None:
        return fraction
    match = extract_amount(text)
    return None if match is None else to_centavos(match.value)


def _frequency(folded: str) -> str | None:
    for pattern, frequency in _FREQUENCY_WORDS:
        if pattern.search(folded):
            return frequency
    return None


def _count(folded: str) -> tuple[int | None, str | None, str]:
    """The number of payments ("en 6 pagos", "doce quincenas"), the frequency its unit
    implies, and the text without it (so "quincenas" is not read as a date)."""
    for match in _COUNT.finditer(folded):
        if _WITHIN.search(folded[: match.start(1)]):
            continue
        value = parse_amount(match.group(1))
        if value is not None and value == value.to_integral_value() and 1 <= value <= 99:
            rest = folded[: match.start()] + " " + folded[match.end() :]
            return int(value), _COUNT_UNITS.get(match.group(2)), rest
    return None, None, folded


def _without_frequency(folded: str) -> str:
    for pattern, _ in _FREQUENCY_WORDS:
        folded = pattern.sub(" ", folded)
    return folded


def _date(text: str, today: date) -> date | None:
    match = extract_date(text, today)
    return None if match is None else match.value


def _partial_then_rest(folded: str, balance: int, today: date) -> Proposal | None:
    rest = _REST.search(folded)
    if rest is None:
        return None
    first_part, rest_part = folded[: rest.start()], folded[rest.end() :]
    first_amount = _amount(first_part, balance)
    first_date = _date(first_part, today)
    if first_amount is None or first_date is None:
        return None
    rest_date = _date(rest_part, first_date)
    if rest_date is None or rest_date <= first_date:
        return None
    return Proposal(
        Kind.PARTIAL_THEN_REST, amounts_and_dates=((first_amount, first_date), (None, rest_date))
    )


def read_proposal(
    text: str, balance: int, today: date, *, settling: bool = False
) -> Proposal | None:
    """The counter-proposal in ``text`` for a debt of ``balance`` centavos, or ``None``.
    ``settling``: the message asks for a discount (the model said so), so an amount below the
    balance is what the debtor offers to settle ("si les doy 20 mil, ¿lo dejan ahí?")."""
    folded = fold(text)
    split = _partial_then_rest(folded, balance, today)
    if split is not None:
        return split
    count, unit_frequency, without_count = _count(folded)
    frequency = _frequency(folded) or unit_frequency
    plain = _without_frequency(without_count)
    amount = _amount(plain, balance)
    first_date = _date(plain, today)
    if count is not None or frequency is not None:
        if count is None and amount is None:
            return None
        return Proposal(
            Kind.INSTALLMENTS,
            amount_per_payment=amount,
            count=count,
            frequency=frequency,
            first_date=first_date,
        )
    if amount is not None and amount < balance and (settling or _SETTLE.search(folded)):
        return Proposal(Kind.SETTLEMENT_AMOUNT, total=amount, first_date=first_date)
    if fraction_of_balance(folded, balance) is not None and amount is not None:
        return Proposal(Kind.PROMISE, total=amount, first_date=first_date)
    return None
