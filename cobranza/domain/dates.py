"""Dates as Mexican debtors write them: "pasado mañana", "el viernes", "la quincena",
"fin de mes", "el 15", "15 dic", "dentro de 2 semanas", "12/03/1985".

Every relative expression is evaluated against ``today``, the debtor's local date, which the
caller computes from an injectable clock: this module never reads the wall clock. Our own rules
decide first; ``dateparser`` is asked only about short texts that no rule recognised and that
hold no digits or number words (it reads "1500" as the year 1500).

Choices for ambiguous expressions (tested in ``tests/unit/domain/test_dates.py``):

- **Relative expressions prefer the future.** "15 de diciembre" is the next 15 December on or
  after today; "el 15" / "el día 15" is the next 15th on or after today (if today is the 20th,
  the 15th of next month). A day past the end of the month is clamped to the month's last day
  ("el 31" in February is the 28th or 29th). "el 15 del mes que viene" is next month's 15th.
- **Weekdays.** "viernes", "el viernes", "este viernes" and "para el viernes" are the next
  Friday strictly *after* today: said on a Friday they mean next week's Friday (+7 days). Only
  "hoy" makes it today: "hoy viernes" on a Friday is today.
- **"el próximo lunes", "el lunes que viene", "el siguiente lunes", "el otro lunes", "el lunes
  entrante"** are that weekday *in the next calendar week*, with weeks running Sunday to
  Saturday as on Mexican calendars. From Monday to Saturday "el próximo lunes" is the coming
  Monday (the same day as "el lunes"); on a Sunday it is the Monday eight days later, since
  tomorrow still belongs to this week. On a Wednesday "el próximo viernes" is the Friday nine
  days later, not the one in two days.
- **"la próxima semana", "la otra semana", "la semana que viene", "la siguiente semana"** are
  the Monday of next week, i.e. the same day as "el próximo lunes". "el próximo mes", "el mes
  que viene" are the first day of next month.
- **Quincena** (Mexican payday, the 15th and the last day of the month): "la quincena", "en la
  quincena", "esta quincena", "fin de quincena" are the next payday on or after today;
  "la próxima quincena", "la siguiente quincena", "la quincena que viene" the first payday
  strictly after today; "la otra quincena" the payday after that one. "en 2 quincenas" is the
  second payday strictly after today.
- **Month end.** "fin de mes", "a fin de mes", "finales de mes" are the last day of the current
  month (today if today is that day); "fin del mes que viene" the last day of next month.
  "principios de mes" is the next 1st on or after today. "fin de año" is 31 December.
- **"este fin de semana", "el fin de semana"**: the next Saturday on or after today (on a Sunday:
  today).
- **Durations.** "dentro de 2 semanas", "en 3 días", "en una semana", "en 8 días" add exactly
  that many days/weeks; "en un mes" adds a calendar month (clamped to the month's end).
- "hoy" is today ("ahorita" is not a date: in Mexico it means anything from now to never);
  "mañana" +1, "pasado mañana" +2; "ayer" −1, "antier" −2 (a debtor
  saying when they already paid). "la mañana" ("en la mañana") is a time of day, not a date.
- **Explicit years are kept as they are**, never moved: "12/03/1985" (Mexican order
  DD/MM/YYYY), "12-03-85", "12 03 1985", "12 de marzo del 85", "1985-03-12". Two-digit years
  from 00 to today's two-digit year are 20xx, the others 19xx. Impossible dates ("31 de febrero",
  "32/01/2000") are ``None``.
- Spans follow the annotation convention of ``data/nlu``: the article belongs to the date
  ("el viernes", "la quincena"), a preposition before it does not ("para el viernes" →
  "el viernes", "a fin de mes" → "fin de mes"), except where it carries the meaning
  ("dentro de 2 semanas", "en 3 días").
- In a whole message (:func:`extract_date`) the longest date expression wins ("pasado mañana"
  over "mañana", "el viernes" over "hoy" in "hoy no, el viernes"); ties go to the first.
"""

from __future__ import annotations

import calendar
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cobranza.domain.amounts import NUMBER_WORDS, Match, fold

__all__ = ["Match", "extract_date", "extract_dates", "resolve_date"]

logger = logging.getLogger(__name__)

#: Texts longer than this are not scanned.
MAX_TEXT_LENGTH = 20_000
#: dateparser is only asked about texts up to this length.
MAX_DATEPARSER_LENGTH = 60

_MONTH_NUMBERS = {
    "enero": 1, "ene": 1, "febrero": 2, "feb": 2, "marzo": 3, "mar": 3, "abril": 4, "abr": 4,
    "mayo": 5, "may": 5, "junio": 6, "jun": 6, "julio": 7, "jul": 7, "agosto": 8, "ago": 8,
    "septiembre": 9, "setiembre": 9, "sept": 9, "sep": 9, "set": 9, "octubre": 10, "oct": 10,
    "noviembre": 11, "nov": 11, "diciembre": 12, "dic": 12,
}  # fmt: skip
_MONTH = "(?:" + "|".join(sorted(_MONTH_NUMBERS, key=len, reverse=True)) + r")\.?"

_NUMBER_WORD_VALUES = {
    "un": 1, "uno": 1, "una": 1, "primero": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5,
    "seis": 6, "siete": 7, "ocho": 8, "nueve": 9, "diez": 10, "once": 11, "doce": 12,
    "trece": 13, "catorce": 14, "quince": 15, "dieciseis": 16, "diecisiete": 17,
    "dieciocho": 18, "diecinueve": 19, "veinte": 20, "veintiun": 21, "veintiuno": 21,
    "veintidos": 22, "veintitres": 23, "veinticuatro": 24, "veinticinco": 25, "veintiseis": 26,
    "veintisiete": 27, "veintiocho": 28, "veintinueve": 29, "treinta": 30,
    "treinta y uno": 31, "treintaiuno": 31, "treinta y un": 31,
}  # fmt: skip
_WORD_NUMBER = (
    "(?:" + "|".join(sorted(_NUMBER_WORD_VALUES, key=len, reverse=True)).replace(" ", r"\s+") + ")"
)
_DAY = rf"(?:\d{{1,2}}(?:ro|ero|o|º|°)?|{_WORD_NUMBER})"

_WEEKDAYS = {
    0: ("lunes", "lunez", "lune"),
    1: ("martes", "martez", "marte"),
    2: ("miercoles", "miercolez", "miercole", "mierkoles", "mircoles", "miecoles"),
    3: ("jueves", "juevez", "juebes", "jueve"),
    4: ("viernes", "viernez", "biernes", "vierne", "viermes", "bienres"),
    5: ("sabado", "savado", "sabdo", "sabados"),
    6: ("domingo", "domigo", "dimingo"),
}
_WEEKDAY_NUMBERS = {spelling: day for day, spellings in _WEEKDAYS.items() for spelling in spellings}
_WEEKDAY = "(?:" + "|".join(sorted(_WEEKDAY_NUMBERS, key=len, reverse=True)) + ")"

_MANANA = r"(?:manana|mnana|manna|maniana|mananita|manan|mnn)"
_QUINCENA = r"(?:quincena|kincena|quinsena|kinsena|qincena|quinzena|quinsena)"
_NOT_MONEY = (
    r"(?!\s*(?:mil\b|k\b|pesos|pesitos|varos|%|:|/|\d|de\s+la\b|hrs?\b|horas?\b|am\b|pm\b"
    r"|por\s*ciento|porciento))"
)
_NEXT_MONTH = (
    r"(?:(?:el\s+)?mes\s+(?:que\s+viene|que\s+entra|entrante|proximo|siguiente)"
    r"|(?:proximo|siguiente|otro)\s+mes)"
)


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    resolve: Callable[[re.Match[str], date], date | None]


# --- calendar helpers -------------------------------------------------------------------------


def _last_day(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def _add_months(day: date, months: int, target_day: int | None = None) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    wanted = day.day if target_day is None else target_day
    return date(year, month + 1, min(wanted, _last_day(year, month + 1)))


def _paydays_from(today: date) -> list[date]:
    """Paydays (15th and month end) from the start of this month, a few months ahead."""
    out: list[date] = []
    for offset in range(4):
        first = _add_months(today.replace(day=1), offset)
        out.append(first.replace(day=15))
        out.append(first.replace(day=_last_day(first.year, first.month)))
    return out


def _payday(today: date, *, strictly_after: bool, skip: int = 0) -> date:
    upcoming = [d for d in _paydays_from(today) if d > today or (d == today and not strictly_after)]
    return upcoming[skip]


def _next_week_start(today: date) -> date:
    """The Sunday that starts next week (Mexican calendars start the week on Sunday)."""
    return today + timedelta(days=7 - (today.weekday() + 1) % 7)


def _in_next_week(today: date, weekday: int) -> date:
    """``weekday`` (Monday = 0) in the next Sunday-to-Saturday week."""
    return _next_week_start(today) + timedelta(days=(weekday + 1) % 7)


def _full_year(two_or_four: str, today: date) -> int:
    year = int(two_or_four)
    if len(two_or_four) == 2:
        return 2000 + year if year <= today.year % 100 else 1900 + year
    return year


def _exact(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _next_month_day(month: int, day: int, today: date) -> date | None:
    """The next ``day``/``month`` on or after today (29 February: the next leap year)."""
    for year in range(today.year, today.year + 9):
        candidate = _exact(year, month, day)
        if candidate is not None and candidate >= today:
            return candidate
    return None


def _next_day_of_month(day: int, today: date) -> date | None:
    if not 1 <= day <= 31:
        return None
    this_month = today.replace(day=min(day, _last_day(today.year, today.month)))
    if this_month >= today:
        return this_month
    return _add_months(today.replace(day=1), 1, target_day=day)


def _day_number(token: str) -> int | None:
    token = re.sub(r"\s+", " ", token.strip())
    digits = re.match(r"\d+", token)
    if digits:
        return int(digits.group())
    return _NUMBER_WORD_VALUES.get(token)


# --- rules ------------------------------------------------------------------------------------


def _iso(m: re.Match[str], today: date) -> date | None:
    return _exact(int(m["y"]), int(m["m"]), int(m["d"]))


def _dmy(m: re.Match[str], today: date) -> date | None:
    return _exact(_full_year(m["y"], today), int(m["m"]), int(m["d"]))


def _dm(m: re.Match[str], today: date) -> date | None:
    return _next_month_day(int(m["m"]), int(m["d"]), today)


def _day_month(m: re.Match[str], today: date) -> date | None:
    day = _day_number(m["d"])
    month = _MONTH_NUMBERS[m["mon"].rstrip(".")]
    if day is None:
        return None
    if m["y"]:
        return _exact(_full_year(m["y"], today), month, day)
    return _next_month_day(month, day, today)


def _day_only(m: re.Match[str], today: date) -> date | None:
    day = _day_number(m["d"])
    if day is None or not 1 <= day <= 31:
        return None
    if m["next"]:
        return _add_months(today.replace(day=1), 1, target_day=day)
    return _next_day_of_month(day, today)


def _weekday(m: re.Match[str], today: date) -> date | None:
    wanted = _WEEKDAY_NUMBERS[m["wd"]]
    if m["hoy"] and today.weekday() == wanted:
        return today
    if m["next"] or m["next_after"]:
        return _in_next_week(today, wanted)
    return today + timedelta(days=(wanted - today.weekday() - 1) % 7 + 1)


def _quincena(m: re.Match[str], today: date) -> date | None:
    if m["other"]:
        return _payday(today, strictly_after=True, skip=1)
    if m["next"] or m["next_after"]:
        return _payday(today, strictly_after=True)
    return _payday(today, strictly_after=False)


def _month_end(m: re.Match[str], today: date) -> date | None:
    if m["next"]:
        nxt = _add_months(today.replace(day=1), 1)
        return nxt.replace(day=_last_day(nxt.year, nxt.month))
    return today.replace(day=_last_day(today.year, today.month))


def _month_start(m: re.Match[str], today: date) -> date | None:
    if today.day == 1 and not m["next"]:
        return today
    return _add_months(today.replace(day=1), 1)


def _year_end(m: re.Match[str], today: date) -> date | None:
    return date(today.year, 12, 31)


def _next_week(m: re.Match[str], today: date) -> date | None:
    return _in_next_week(today, 0)


def _next_month(m: re.Match[str], today: date) -> date | None:
    return _add_months(today.replace(day=1), 1)


def _weekend(m: re.Match[str], today: date) -> date | None:
    if today.weekday() == 6:
        return today
    return today + timedelta(days=(5 - today.weekday()) % 7)


def _duration(m: re.Match[str], today: date) -> date | None:
    amount = 2 if m["pair"] else _day_number(m["n"])
    if amount is None or amount > 400:
        return None
    unit = m["unit"]
    if unit.startswith("dia"):
        return today + timedelta(days=amount)
    if unit.startswith("semana"):
        return today + timedelta(weeks=amount)
    if unit.startswith("quincena"):
        if amount < 1 or amount > 6:
            return None
        return _payday(today, strictly_after=True, skip=amount - 1)
    if unit.startswith("mes"):
        return _add_months(today, amount)
    return _add_months(today, 12 * amount)  # años


def _relative_word(m: re.Match[str], today: date) -> date | None:
    offsets = {"pasado": 2, "manana": 1, "hoy": 0, "ayer": -1, "antier": -2}
    return today + timedelta(days=offsets[m.lastgroup or "hoy"])


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.VERBOSE)


_RULES: tuple[_Rule, ...] = (
    _Rule(_compile(r"(?<![\d/.,-])(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})(?![\d/-])"), _iso),
    _Rule(
        _compile(
            r"(?<![\d/.,-])(?P<d>\d{1,2})(?P<sep>[/.-])(?P<m>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2})"
            r"(?![\d/-]|[.,]\d)"
        ),
        _dmy,
    ),
    _Rule(_compile(r"(?<![\d/.,-])(?P<d>\d{1,2})/(?P<m>\d{1,2})(?![\d/]|[.,]\d)"), _dm),
    _Rule(
        _compile(r"(?<![\d/.,-])(?P<d>\d{1,2})\s(?P<m>\d{1,2})\s(?P<y>(?:19|20)\d{2})(?![\d/.,-])"),
        _dmy,
    ),
    _Rule(
        _compile(
            rf"""(?:\b(?:el|al)\s+)?(?:\bdia\s+)?
            \b(?P<d>{_DAY})\s*(?:de\s+|del\s+|-\s*)?(?P<mon>{_MONTH})(?![a-z])
            (?:\s*(?:de|del|,|-)?\s*(?:ano\s+)?(?P<y>\d{{4}}|\d{{2}})
               (?!\d|\s*(?:mil\b|k\b|pesos|pesitos|varos)))?"""
        ),
        _day_month,
    ),
    _Rule(
        _compile(
            rf"""\b(?P<mon>{_MONTH})\s+(?P<d>\d{{1,2}})\b{_NOT_MONEY}
            (?:\s*(?:de|del|,)?\s*(?P<y>\d{{4}})(?!\d))?"""
        ),
        _day_month,
    ),
    _Rule(
        _compile(
            rf"""(?:\b(?:el|al)\s+(?:dia\s+)?|\bdia\s+)
            (?P<d>{_DAY})\b{_NOT_MONEY}
            (?:\s+(?:de|del)\s+(?:(?:este|el)\s+mes\b|(?P<next>{_NEXT_MONTH})\b))?"""
        ),
        _day_only,
    ),
    _Rule(
        _compile(
            rf"""(?:\b(?P<hoy>hoy)\s+|\b(?:este|esta|el|al)\s+)?
            (?:\b(?P<next>proximo|siguiente|otro)\s+)?
            \b(?P<wd>{_WEEKDAY})\b
            (?:\s+(?P<next_after>que\s+viene|que\s+entra|entrante|proximo|siguiente)\b)?"""
        ),
        _weekday,
    ),
    _Rule(
        _compile(
            rf"""(?:\b(?:la|esta|una|mi)\s+)?
            (?:\b(?P<other>otra)\s+|\b(?P<next>proxima|siguiente)\s+)?
            (?:\bfin\s+de\s+(?:la\s+)?)?
            \b{_QUINCENA}\b
            (?:\s+(?P<next_after>que\s+viene|que\s+entra|entrante)\b)?"""
        ),
        _quincena,
    ),
    _Rule(
        _compile(
            rf"""(?:\b(?:el|los|las)\s+)?
            \b(?:fin|fines|finales|final|ultimo\s+dia)\s+(?:de|del)\s+
            (?:(?:este|el)\s+mes\b|mes\b(?!\s+(?:que|entrante|proximo|siguiente))
               |(?P<next>{_NEXT_MONTH})\b)"""
        ),
        _month_end,
    ),
    _Rule(
        _compile(
            rf"""(?:\b(?:el|los)\s+)?
            \b(?:principios?|inicios?|comienzos?|primero)\s+(?:de|del)\s+
            (?:(?:este|el)\s+mes\b|mes\b(?!\s+(?:que|entrante|proximo|siguiente))
               |(?P<next>{_NEXT_MONTH})\b)"""
        ),
        _month_start,
    ),
    _Rule(_compile(r"\b(?:fin|fines|finales)\s+(?:de|del)\s+ano\b"), _year_end),
    _Rule(
        _compile(
            r"""(?:\bla\s+)?
            \b(?:(?:proxima|siguiente|otra)\s+semana
               |semana\s+(?:que\s+viene|que\s+entra|entrante|proxima|siguiente))\b"""
        ),
        _next_week,
    ),
    _Rule(_compile(rf"(?:\bel\s+)?\b{_NEXT_MONTH}\b"), _next_month),
    _Rule(_compile(r"(?:\b(?:este|el)\s+)?\bfin\s+de\s+semana\b"), _weekend),
    _Rule(
        _compile(
            rf"""\b(?:dentro\s+de|en|de\s+aqui\s+a)\s+(?:(?:unos|unas|como)\s+)?
            (?:(?P<pair>un\s+par\s+de)|(?P<n>\d{{1,3}}|{_WORD_NUMBER}))\s+
            (?P<unit>dias?|semanas?|quincenas?|meses|mes|anos?)\b"""
        ),
        _duration,
    ),
    _Rule(
        _compile(
            rf"""\b(?:(?P<pasado>pasado\s*(?:de\s+)?{_MANANA})
               |(?<!\bla\s)(?<!\blas\s)(?P<manana>{_MANANA})
               |(?P<hoy>hoy|hoi)
               |(?P<ayer>ayer)
               |(?P<antier>antier|anteayer|antayer|antes\s+de\s+ayer))\b"""
        ),
        _relative_word,
    ),
)


# --- public API -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Found:
    start: int
    end: int
    value: date | None


def _find(text: str, today: date) -> list[_Found]:
    if not text or len(text) > MAX_TEXT_LENGTH:
        return []
    folded = fold(text)
    found: list[_Found] = []
    for rule in _RULES:
        for m in rule.pattern.finditer(folded):
            if m.end() > m.start():
                found.append(_Found(m.start(), m.end(), rule.resolve(m, today)))
    return found


def _ordered(found: list[_Found]) -> list[_Found]:
    """Longest first, ties to the earliest; an expression hides the shorter ones it overlaps
    (so an impossible "31 de febrero" is not read as "el 31")."""
    kept: list[_Found] = []
    for item in sorted(found, key=lambda f: (-(f.end - f.start), f.start)):
        if not any(item.start < k.end and k.start < item.end for k in kept):
            kept.append(item)
    return kept


def resolve_date(text: str, today: date) -> date | None:
    """The date a span means, evaluated against ``today`` (the debtor's local date).

    See the module docstring for the documented choices. ``None`` when there is no date or the
    date is impossible.
    """
    ordered = _ordered(_find(text, today))
    if ordered:
        return ordered[0].value
    return _dateparser_fallback(text, today)


def extract_date(text: str, today: date) -> Match[date] | None:
    """The date expression in a whole message ("te pago 2 mil el viernes" → "el viernes")."""
    for item in _ordered(_find(text, today)):
        if item.value is not None:
            return Match(item.start, item.end, text[item.start : item.end], item.value)
    return None


def extract_dates(text: str, today: date) -> list[Match[date]]:
    """Every date expression in a message, in the order written ("lo del lunes no voy a
    poder, ¿puede ser el miércoles?" → "el lunes", "el miércoles")."""
    found = [
        Match(item.start, item.end, text[item.start : item.end], item.value)
        for item in _ordered(_find(text, today))
        if item.value is not None
    ]
    return sorted(found, key=lambda m: m.start)


def _may_be_amount(folded: str) -> bool:
    return any(c.isdigit() for c in folded) or any(
        word in NUMBER_WORDS for word in re.findall(r"[a-z]+", folded)
    )


def _dateparser_fallback(text: str, today: date) -> date | None:
    """Ask dateparser about a short text no rule recognised, never about possible amounts."""
    folded = fold(text).strip()
    if (
        not folded
        or len(folded) > MAX_DATEPARSER_LENGTH
        or sum(c.isalpha() for c in folded) < 3
        or _may_be_amount(folded)
    ):
        return None
    import dateparser  # imported on first use: it is slow to import

    try:
        parsed = dateparser.parse(
            text,
            languages=["es"],
            settings={
                "PREFER_DATES_FROM": "future",
                "RELATIVE_BASE": datetime(today.year, today.month, today.day),
                "DATE_ORDER": "DMY",
                "PREFER_DAY_OF_MONTH": "first",
                "RETURN_AS_TIMEZONE_AWARE": False,
            },
        )
    except Exception:
        logger.exception("dateparser failed on a %d-character text", len(text))
        return None
    if parsed is None:
        return None
    result = parsed.date()
    if not today.year - 150 <= result.year <= today.year + 10:
        return None
    return result
