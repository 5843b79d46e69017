"""Amounts of money as Mexican debtors write them: "2 mil", "mil 500", "$1,500.00", "1.500",
"1.5k", "mil quinientos pesitos", "medio millón", "quinientos varos".

Two entry points:

- :func:`parse_amount` reads a span that is already known to be an amount (e.g. a ``monto``
  entity found by DIET) and returns pesos as a ``Decimal`` quantized to the centavo.
- :func:`extract_amount` finds the most plausible amount in a whole message and must not read
  day numbers, years, phone numbers, ordinals, counts of periods or payments, times or
  percentages as amounts.

Number words go through ``text_to_num.alpha2digit`` (one group of words below a thousand at a
time); thousands and millions ("2 mil", "mil 500", "medio millón", "1.5k"), digit separators and
the context rules are ours. Money is never a float: every value is built from ``Decimal``.

Separators: a comma or a dot followed by exactly three digits is a thousands separator
("1,500" and "1.500" are 1500; "1,500,000" and "1.500.000" are a million); a single comma or dot
followed by one or two digits is the decimal mark ("1.5k", "1500,50", "2,000.50"). Anything else
("12,3456") is not an amount.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Generic, TypeVar

from text_to_num import alpha2digit

__all__ = ["MAX_AMOUNT", "Match", "extract_amount", "fold", "parse_amount"]

T = TypeVar("T")

CENT = Decimal("0.01")
#: The largest amount we return: what a NUMERIC(14,2) column holds.
MAX_AMOUNT = Decimal("999999999999.99")
#: Texts longer than this are not scanned (a WhatsApp message is at most 4,096 characters).
MAX_TEXT_LENGTH = 20_000


@dataclass(frozen=True)
class Match(Generic[T]):
    """An expression found in a message: ``text[start:end]`` and what it means."""

    start: int
    end: int
    text: str
    value: T


def fold(text: str) -> str:
    """Lower case without accents, **same length** as ``text`` so offsets carry over.

    "Mañana" → "manana", "MILLÓN" → "millon"; characters that would change length when folded
    (rare ligatures) are kept as they are.
    """
    out: list[str] = []
    for char in text:
        base = "".join(
            c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)
        )
        lowered = base.lower() if base else char
        out.append(lowered if len(lowered) == 1 else char)
    return "".join(out)


# --- vocabulary -------------------------------------------------------------------------------

_UNIT_WORDS = {
    "cero", "un", "uno", "una", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho",
    "nueve", "diez", "once", "doce", "trece", "catorce", "quince", "dieciseis", "diecisiete",
    "dieciocho", "diecinueve", "veinte", "veintiun", "veintiuno", "veintiuna", "veintidos",
    "veintitres", "veinticuatro", "veinticinco", "veintiseis", "veintisiete", "veintiocho",
    "veintinueve", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta", "noventa",
    "cien", "ciento", "doscientos", "doscientas", "trescientos", "trescientas", "cuatrocientos",
    "cuatrocientas", "quinientos", "quinientas", "seiscientos", "seiscientas", "setecientos",
    "setecientas", "ochocientos", "ochocientas", "novecientos", "novecientas",
}  # fmt: skip

# Common misspellings on WhatsApp → the word text2num knows.
_TYPOS = {
    "kinientos": "quinientos", "quinietos": "quinientos", "quinentos": "quinientos",
    "quinientoz": "quinientos", "dosientos": "doscientos", "tresientos": "trescientos",
    "cuatrosientos": "cuatrocientos", "seisientos": "seiscientos", "setesientos": "setecientos",
    "ochosientos": "ochocientos", "novesientos": "novecientos", "sien": "cien", "dies": "diez",
    "onse": "once", "dose": "doce", "trese": "trece", "katorce": "catorce", "kince": "quince",
    "quinse": "quince", "beinte": "veinte", "sinco": "cinco", "sincuenta": "cincuenta",
    "cinquenta": "cincuenta", "nuebe": "nueve", "sesenta": "sesenta", "ochenta": "ochenta",
    "mill": "mil", "miyon": "millon", "miyones": "millones", "millon": "millon",
}  # fmt: skip

# text2num wants the accent on these (it reads "veintidós" but not "veintidos").
_ACCENTED = {
    "veintidos": "veintidós",
    "veintitres": "veintitrés",
    "veintiseis": "veintiséis",
    "veintiun": "veintiuno",
}
# Words text2num leaves alone when they stand by themselves.
_SMALL = {"cero": 0, "un": 1, "uno": 1, "una": 1, "dos": 2}

_THOUSAND_WORDS = {"mil"}
_MILLION_WORDS = {"millon", "millones", "mdp"}

#: Every word that takes part in a number, after typo correction.
NUMBER_WORDS = frozenset(_UNIT_WORDS | _THOUSAND_WORDS | _MILLION_WORDS | {"medio"})

_MONTHS = (
    r"(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre"
    r"|noviembre|diciembre|ene|feb|mar|abr|may|jun|jul|ago|sept|sep|set|oct|nov|dic)"
)

_TOKEN = re.compile(r"\$|\d+(?:[.,]\d+)*|[a-z]+")

_CURRENCY_SUFFIX = re.compile(
    r"\s*(?:de\s+)?(?:pesos?|pesitos?|pesotes|pezos|varos?|varitos|baros?|bolas|morlacos"
    r"|lanas?|mxn|mx|mn\b|m\.\s?n\.?)\b\.?"
)
_CENTAVOS_SUFFIX = re.compile(r"\s*(?:y|con)\s+(\d{1,2})\s*(?:centavos?|ctvs?|cvs?|cts?)\b")
_DOLLAR_PREFIX = re.compile(r"\$\s*$")

# --- context rules (all on folded text) ---------------------------------------------------------

_WORD_BEFORE = r"(?:^|[^a-z0-9])"
# a number that is the day of a date, or a date's month or year
_DATE_AFTER = re.compile(rf"\s*(?:(?:de|del)\s+)?{_MONTHS}\b|\s*[/-]\s*\d")
_DATE_BEFORE = re.compile(rf"(?:{_WORD_BEFORE}{_MONTHS}\s*(?:(?:de|del|,)\s*)?|\d\s*[/-]\s*)$")
_DAY_BEFORE = re.compile(rf"{_WORD_BEFORE}(?:el|al|del|los|dia|dias|hasta\s+el)\s+(?:dia\s+)?$")
_YEAR_BEFORE = re.compile(
    rf"{_WORD_BEFORE}(?:ano|anos|naci|nacio|nacida|nacido|nacimiento|desde|hasta|del|el"
    rf"|en\s+el|de\s+{_MONTHS})\s+$"
)
_YEAR_1900_BEFORE = re.compile(rf"{_WORD_BEFORE}(?:en|de)\s+$")
# times: "a las 5", "5:30", "5 pm", "5 de la tarde"
_TIME_BEFORE = re.compile(
    rf"(?:{_WORD_BEFORE}(?:a\s+las?|las|la|eso\s+de\s+las?|tipo)\s+|\d\s*:\s*)$"
)
_TIME_AFTER = re.compile(
    r"\s*(?::\s*\d|hrs?\b|horas?\b|h\b|am\b|pm\b|a\.\s?m|p\.\s?m|de\s+la\s+(?:manana|tarde|noche)"
    r"|en\s+punto)"
)
# counts of periods, payments and other things that are not money
_COUNT_AFTER = re.compile(
    r"\s*(?:semanas?|dias?|meses|mes|quincenas?|pagos?|abonos?|parcialidades|parcialidad"
    r"|mensualidades|mensualidad|cuotas?|exhibiciones|exhibicion|plazos?|anos|horas?|hrs"
    r"|minutos?|mins?|veces|vez|hijos?|hijas?|personas|gracias|disculpas|perdones|besos"
    r"|saludos|bendiciones|intentos|llamadas|mensajes|grax|grasias|perdon)\b"
)
_PERCENT_AFTER = re.compile(r"\s*(?:%|por\s*ciento|porciento)")
_ORDINAL_AFTER = re.compile(r"(?:ro|ra|er|ero|era|do|da|to|ta|vo|va|no|na|mo|ma|o|a|º|°|ª)\b")
_LABEL_BEFORE = re.compile(
    rf"(?:#|{_WORD_BEFORE}(?:no|num|numero|folio|referencia|ref|clabe|cp|c\.p|codigo\s+postal"
    rf"|cliente|contrato|credito|telefono|tel|cel|celular|whatsapp|ext|calle|casa|depto"
    rf"|departamento|interior|numero\s+de\s+cuenta|cuenta\s+numero))\s*[.:]?\s*$"
)
# "12 03 1985": a date written with spaces
_SPACED_DATE = re.compile(r"(?<![\d.,])\d{1,2}\s\d{1,2}\s(?:19|20)\d{2}(?![\d.,])")
_NEGATION_BEFORE = re.compile(rf"{_WORD_BEFORE}ni\s+$")  # "no tengo ni un peso"
_ARTICLE_BEFORE = re.compile(rf"{_WORD_BEFORE}(?:el|la)\s+$")  # "el 15", "me hacen el 50"
_PHONE = re.compile(
    r"(?<![\d.,])(?:\+?52[\s-]?)?(?:1[\s-]?)?\(?\d{2,3}\)?[\s-]?\d{3,4}[\s-]?\d{4}(?![\d.,])"
)
_PAY_BEFORE = re.compile(
    r"(?:pago|pagar|pagare|pagaria|doy|dar|dare|daria|deposito|depositar|depositare|abono"
    r"|abonar|abonare|transfiero|transferir|mando|mandar|liquido|liquidar|junto|juntar|tengo"
    r"|puedo|ofrezco|dejo|cubro|cubrir|completo|alcanza|envio|enviar)\b[^0-9$]{0,20}$"
)
_DEBT_BEFORE = re.compile(
    r"(?:debo|deuda|adeudo|saldo|total|debia|cobran|cobraron|deben)\b[^0-9$]{0,20}$"
)

_CONTEXT = 80

#: A bare number (no "$"/"pesos", no "mil"/"k") below this is not an amount in a whole message.
MIN_BARE_AMOUNT = Decimal(50)


# --- digits -----------------------------------------------------------------------------------


def _parse_digits(raw: str) -> Decimal | None:
    """Digits with separators ("1,500.00", "1.500", "1.5", "1500,50") → ``Decimal``.

    ``None`` for malformed groupings.
    """
    if raw.isdigit():
        return Decimal(raw)
    seps = [c for c in raw if c in ".,"]
    if "." in seps and "," in seps:
        decimal_mark = seps[-1]
        thousands = "," if decimal_mark == "." else "."
        if seps.count(decimal_mark) != 1:
            return None
        whole, frac = raw.split(decimal_mark)
        if not 1 <= len(frac) <= 2 or not _valid_groups(whole.split(thousands)):
            return None
        return Decimal(whole.replace(thousands, "") + "." + frac)
    sep = seps[0]
    parts = raw.split(sep)
    if _valid_groups(parts):
        return Decimal("".join(parts))
    if len(parts) == 2 and 1 <= len(parts[1]) <= 2:
        return Decimal(parts[0] + "." + parts[1])
    return None


def _valid_groups(parts: list[str]) -> bool:
    return 1 <= len(parts[0]) <= 3 and len(parts) > 1 and all(len(p) == 3 for p in parts[1:])


# --- atoms and the number grammar ------------------------------------------------------------


@dataclass(frozen=True)
class _Atom:
    kind: str  # "N" number (digits or a word group), "M" mil, "K" k, "L" millón, "H" medio, "Y" y
    start: int
    end: int
    value: Decimal = Decimal(0)
    digits: bool = False  # a digit token (not words)
    grouped: bool = False  # had a thousands separator or decimals


def _word_group_values(words: list[str]) -> list[Decimal] | None:
    """The value of a group of number words below a thousand, via text2num; ``None`` when the
    words are several numbers ("cinco cinco")."""
    phrase = " ".join(_ACCENTED.get(w, w) for w in words)
    if len(words) == 1 and words[0] in _SMALL:
        return [Decimal(_SMALL[words[0]])]
    converted = alpha2digit(phrase, "es").split()
    if len(converted) == 1 and converted[0].isdigit():
        return [Decimal(converted[0])]
    return None


def _atoms(folded: str, tokens: list[tuple[int, int, str]]) -> list[list[_Atom]]:
    """Split tokens into runs of adjacent number atoms (only whitespace between them)."""
    runs: list[list[_Atom]] = []
    run: list[_Atom] = []
    words: list[tuple[int, int, str]] = []  # pending number words of the current group

    def flush_words() -> None:
        trailing: list[_Atom] = []
        while words and words[-1][2] == "y":  # a trailing "y" is not part of the group
            trailing.insert(0, _Atom("Y", words[-1][0], words[-1][1]))
            words.pop()
        if words:
            values = _word_group_values([w for _, _, w in words])
            if values is not None:
                run.append(_Atom("N", words[0][0], words[-1][1], values[0]))
            else:  # several numbers ("cinco cinco"): each word on its own
                for s, e, w in words:
                    close_run()
                    single = _word_group_values([w])
                    if single is not None:
                        run.append(_Atom("N", s, e, single[0]))
                close_run()
            words.clear()
        run.extend(trailing)

    def close_run() -> None:
        nonlocal run
        if run:
            runs.append(run)
        run = []

    previous_end: int | None = None
    for start, end, tok in tokens:
        gap_ok = previous_end is None or folded[previous_end:start].strip() == ""
        if not gap_ok:
            flush_words()
            close_run()
        word = _TYPOS.get(tok, tok)
        if tok[0].isdigit():
            flush_words()
            value = _parse_digits(tok)
            if value is None:
                close_run()
            else:
                run.append(_Atom("N", start, end, value, digits=True, grouped=not tok.isdigit()))
        elif word == "k" and run and run[-1].digits and run[-1].end == start and not words:
            run.append(_Atom("K", start, end))
        elif word in _UNIT_WORDS:
            words.append((start, end, word))
        elif word == "y" and (words or run):
            if words:
                words.append((start, end, word))
            else:
                run.append(_Atom("Y", start, end))
        elif word in _THOUSAND_WORDS or word in _MILLION_WORDS or word == "medio":
            flush_words()
            kind = "M" if word in _THOUSAND_WORDS else "L" if word in _MILLION_WORDS else "H"
            run.append(_Atom(kind, start, end))
        else:
            flush_words()
            close_run()
        previous_end = end
    flush_words()
    close_run()
    return runs


@dataclass(frozen=True)
class _Number:
    value: Decimal
    start: int
    end: int
    multiplier: bool  # "mil", "k", "millón"
    words: bool  # written (at least partly) in words
    grouped: bool  # thousands separators or decimals


def _parse_runs(runs: list[list[_Atom]]) -> list[_Number]:
    numbers: list[_Number] = []
    for run in runs:
        i = 0
        while i < len(run):
            parsed = _parse_at(run, i)
            if parsed is None:
                i += 1
                continue
            numbers.append(parsed[0])
            i = parsed[1]
    return numbers


def _parse_at(run: list[_Atom], i: int) -> tuple[_Number, int] | None:
    """Greedy: [[n|medio] millón [y medio]] [[n] mil | n k] [[y] n] starting at ``run[i]``."""
    total = Decimal(0)
    j = i
    multiplier = False
    limit: Decimal | None = None  # units after a multiplier must stay below it

    def kind(k: int) -> str:
        return run[k].kind if k < len(run) else ""

    # millions
    k = j
    base: Decimal | None = None
    if kind(k) == "N" and run[k].value < 1000 and kind(k + 1) == "L":
        base, k = run[k].value, k + 1
    elif kind(k) == "H" and kind(k + 1) == "L":
        base, k = Decimal("0.5"), k + 1
    if kind(k) == "L" and (base is not None or k == j):
        total += (base if base is not None else Decimal(1)) * 1_000_000
        j = k + 1
        multiplier = True
        limit = Decimal(1_000_000)
        if kind(j) == "Y" and kind(j + 1) == "H":
            total += 500_000
            j += 2
            limit = Decimal(1)  # nothing more after "y medio"
    # thousands
    k = j
    base = None
    if kind(k) == "N" and run[k].value < 1000 and kind(k + 1) in ("M", "K"):
        if kind(k + 1) == "M" or run[k].digits:
            base, k = run[k].value, k + 1
    if kind(k) == "M" and (base is not None or k == j) and (limit is None or limit > 1000):
        total += (base if base is not None else Decimal(1)) * 1000
        j = k + 1
        multiplier = True
        limit = Decimal(1000)
    elif kind(k) == "K" and base is not None:
        total += base * 1000
        j = k + 1
        multiplier = True
        limit = Decimal(1000)
    # units
    k = j
    if multiplier and kind(k) == "Y" and kind(k + 1) == "N":
        k += 1
    if kind(k) == "N" and (limit is None or run[k].value < limit):
        total += run[k].value
        j = k + 1
    if j == i or run[j - 1].kind == "Y":
        return None
    atoms = run[i:j]
    number = _Number(
        value=total,
        start=run[i].start,
        end=run[j - 1].end,
        multiplier=multiplier,
        words=any(a.kind == "N" and not a.digits for a in atoms) or atoms[0].kind in "MLH",
        grouped=any(a.grouped for a in atoms),
    )
    return number, j


# --- candidates in context --------------------------------------------------------------------


@dataclass(frozen=True)
class _Candidate:
    number: _Number
    start: int  # including a "$" before it
    end: int  # including "pesos" (and "con 50 centavos") after it
    value: Decimal
    currency: bool
    score: int


def _candidates(text: str, *, strict: bool) -> list[_Candidate]:
    if not text or len(text) > MAX_TEXT_LENGTH:
        return []
    folded = fold(text)
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(folded)]
    numbers = _parse_runs(_atoms(folded, tokens))
    masked = [
        (m.start(), m.end())
        for m in _PHONE.finditer(folded)
        if sum(c.isdigit() for c in m.group()) >= 10
    ]
    masked += [(m.start(), m.end()) for m in _SPACED_DATE.finditer(folded)]
    out: list[_Candidate] = []
    for number in numbers:
        candidate = _in_context(folded, number, masked, strict=strict)
        if candidate is not None:
            out.append(candidate)
    return out


def _in_context(
    folded: str, number: _Number, masked: list[tuple[int, int]], *, strict: bool
) -> _Candidate | None:
    """The number as an amount in its context, or ``None`` when the context says it is a
    date, a time, a year, a phone number, a count or a percentage."""
    start, end, value = number.start, number.end, number.value
    # the context rules look at most this far (and never rescan a long message)
    before, after = folded[max(0, start - _CONTEXT) : start], folded[end : end + _CONTEXT]
    raw = folded[start:end]
    if any(s < end and start < e for s, e in masked):
        return None
    if number.words is False and raw.isdigit() and len(raw) >= 10:
        return None  # a phone number or an account number
    if raw == "ciento" and re.search(r"\bpor\s*$", before):
        return None  # "10 por ciento"
    if _NEGATION_BEFORE.search(before):
        return None
    if _DATE_AFTER.match(after) and not number.multiplier:
        return None
    if _DATE_BEFORE.search(before) and not number.multiplier:
        return None

    prefix = _DOLLAR_PREFIX.search(before)
    suffix = _CURRENCY_SUFFIX.match(after)
    currency = prefix is not None or suffix is not None
    span_start = prefix.start() if prefix else start
    span_end = end + suffix.end() if suffix else end
    if suffix:
        cents = _CENTAVOS_SUFFIX.match(folded, span_end, span_end + _CONTEXT)
        if cents and value == value.to_integral_value():
            value += Decimal(cents.group(1)) / 100
            span_end = cents.end()

    is_int = value == value.to_integral_value()
    if not currency:
        if _PERCENT_AFTER.match(after) or _COUNT_AFTER.match(after):
            return None
        if not number.words and _ORDINAL_AFTER.match(after):
            return None
        if _LABEL_BEFORE.search(before):
            return None
        if not number.multiplier:
            if is_int and value <= 24 and (_TIME_BEFORE.search(before) or _TIME_AFTER.match(after)):
                return None
            if is_int and 1 <= value <= 31 and _DAY_BEFORE.search(before):
                return None
            if value < 100 and _ARTICLE_BEFORE.search(before):
                return None
            if not number.grouped and not number.words and is_int:
                if 1900 <= value <= 2100 and _YEAR_BEFORE.search(before):
                    return None
                if 1900 <= value <= 1999 and _YEAR_1900_BEFORE.search(before):
                    return None
    if value < 0 or not value.is_finite() or value > MAX_AMOUNT:
        return None
    if strict and not currency and not number.multiplier and value < MIN_BARE_AMOUNT:
        return None

    score = 0
    if currency:
        score += 4
    if number.multiplier or number.words:
        score += 2
    if number.grouped:
        score += 1
    if value >= 100:
        score += 1
    if _PAY_BEFORE.search(before):
        score += 2
    if _DEBT_BEFORE.search(before):
        score -= 2
    return _Candidate(number, span_start, span_end, value, currency, score)


def _quantize(value: Decimal) -> Decimal | None:
    try:
        amount = value.quantize(CENT, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        return None
    if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
        return None
    return amount


def _best(candidates: list[_Candidate]) -> _Candidate | None:
    best: _Candidate | None = None
    for candidate in candidates:  # ties: the first one wins
        if best is None or candidate.score > best.score:
            best = candidate
    return best


def parse_amount(text: str) -> Decimal | None:
    """The amount in pesos of a span such as "mil quinientos", "$1,500.00" or "2 mil".

    Returns a non-negative ``Decimal`` quantized to 0.01, or ``None`` when the span holds no
    amount. Small bare numbers count (the caller already knows the span is an amount); day
    numbers of dates, times, years, phone numbers and counts ("3 pagos") still do not.
    """
    best = _best(_candidates(text, strict=False))
    return None if best is None else _quantize(best.value)


def extract_amount(text: str) -> Match[Decimal] | None:
    """The most plausible amount in a whole message, with its span (including "$"/"pesos").

    Plausibility: a currency mark ("$", "pesos", "varos"…) counts most, then "mil"/"k"/words,
    separators, a value of at least 100, and a paying verb before it ("te pago", "puedo dar");
    a debt word before it ("debo", "saldo") counts against. Bare numbers below 50 with neither
    a currency mark nor "mil"/"k" are ignored. Ties go to the first amount in the message.
    """
    best = _best(_candidates(text, strict=True))
    if best is None:
        return None
    amount = _quantize(best.value)
    if amount is None:
        return None
    return Match(best.start, best.end, text[best.start : best.end], amount)
