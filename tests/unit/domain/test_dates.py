"""es-MX dates: resolve_date on spans, extract_date on whole messages, evaluated against a
fixed ``today`` (never the wall clock)."""

from __future__ import annotations

from datetime import date

import pytest

from cobranza.domain.dates import extract_date, extract_dates, resolve_date

MON = date(2026, 11, 16)
WED = date(2026, 11, 18)
FRI = date(2026, 11, 20)
SAT = date(2026, 11, 21)
SUN = date(2026, 11, 22)
DAY20 = FRI  # the 20th
DAY15 = date(2026, 12, 15)  # a payday (Tuesday)
MONTH_END = date(2026, 11, 30)  # a payday (Monday)
FEB = date(2027, 2, 10)  # Wednesday, not a leap year
FEB_LEAP = date(2028, 2, 10)


def test_reference_days() -> None:
    assert [d.weekday() for d in (MON, WED, FRI, SAT, SUN)] == [0, 2, 4, 5, 6]


SPANS: list[tuple[str, date, date]] = [
    # today, tomorrow, the day after
    ("hoy", FRI, FRI),
    ("HOY", FRI, FRI),
    ("hoy mismo", WED, WED),
    ("mañana", FRI, date(2026, 11, 21)),
    ("manana", FRI, date(2026, 11, 21)),
    ("Mañana 🙏", FRI, date(2026, 11, 21)),
    ("mañana en la mañana", FRI, date(2026, 11, 21)),
    ("pasado mañana", FRI, date(2026, 11, 22)),
    ("pasado manana", FRI, date(2026, 11, 22)),
    ("PASADO MAÑANA", WED, date(2026, 11, 20)),
    ("pasado mañana", MONTH_END, date(2026, 12, 2)),
    ("ayer", FRI, date(2026, 11, 19)),
    ("antier", FRI, date(2026, 11, 18)),
    # weekdays: strictly after today unless "hoy"
    ("el viernes", WED, FRI),
    ("este viernes", WED, FRI),
    ("viernes", WED, FRI),
    ("biernes", WED, FRI),
    ("el biernes", WED, FRI),
    ("el viernes", FRI, date(2026, 11, 27)),
    ("este viernes", FRI, date(2026, 11, 27)),
    ("viernes", FRI, date(2026, 11, 27)),
    ("hoy viernes", FRI, FRI),
    ("para el lunes", FRI, date(2026, 11, 23)),
    ("el lunes", MON, date(2026, 11, 23)),
    ("el miércoles", MON, WED),
    ("el miercoles", MON, WED),
    ("el juebes", MON, date(2026, 11, 19)),
    ("el sábado", FRI, SAT),
    ("el sabado", FRI, SAT),
    ("el domingo", SUN, date(2026, 11, 29)),
    # next calendar week
    ("el próximo lunes", WED, date(2026, 11, 23)),
    ("el proximo lunes", WED, date(2026, 11, 23)),
    ("el lunes que viene", WED, date(2026, 11, 23)),
    ("el otro lunes", WED, date(2026, 11, 23)),
    ("el siguiente lunes", WED, date(2026, 11, 23)),
    ("el lunes entrante", WED, date(2026, 11, 23)),
    ("el próximo lunes", MON, date(2026, 11, 23)),
    # weeks run Sunday to Saturday: on a Sunday, tomorrow is still this week
    ("el próximo lunes", SUN, date(2026, 11, 30)),
    ("el lunes", SUN, date(2026, 11, 23)),
    ("el próximo martes", SUN, date(2026, 12, 1)),
    ("el próximo domingo", SUN, date(2026, 11, 29)),
    ("el próximo domingo", WED, SUN),
    ("el próximo lunes", SAT, date(2026, 11, 23)),
    ("el próximo viernes", WED, date(2026, 11, 27)),
    ("el viernes que viene", WED, date(2026, 11, 27)),
    ("el próximo viernes", SAT, date(2026, 11, 27)),
    ("el proximo biernes", MON, date(2026, 11, 27)),
    # day of the month
    ("el 15", date(2026, 11, 10), date(2026, 11, 15)),
    ("el día 15", date(2026, 11, 10), date(2026, 11, 15)),
    ("el dia 15", date(2026, 11, 10), date(2026, 11, 15)),
    ("el 15", DAY20, date(2026, 12, 15)),
    ("el día 30", DAY20, date(2026, 11, 30)),
    ("el 20", DAY20, DAY20),
    ("el 31", DAY20, date(2026, 11, 30)),
    ("el 31", FEB, date(2027, 2, 28)),
    ("el 30", FEB_LEAP, date(2028, 2, 29)),
    ("el 31", date(2026, 12, 31), date(2026, 12, 31)),
    ("el 5", date(2026, 12, 20), date(2027, 1, 5)),
    ("el quince", date(2026, 11, 10), date(2026, 11, 15)),
    ("el primero", DAY20, date(2026, 12, 1)),
    ("el 1ro", DAY20, date(2026, 12, 1)),
    ("el 15 del mes que viene", date(2026, 11, 10), date(2026, 12, 15)),
    ("el 31 del próximo mes", date(2027, 1, 10), date(2027, 2, 28)),
    # quincena (15th and last day)
    ("la quincena", date(2026, 11, 10), date(2026, 11, 15)),
    ("en la quincena", date(2026, 11, 10), date(2026, 11, 15)),
    ("quincena", DAY20, date(2026, 11, 30)),
    ("la kincena", DAY20, date(2026, 11, 30)),
    ("la quinsena", DAY20, date(2026, 11, 30)),
    ("esta quincena", DAY20, date(2026, 11, 30)),
    ("fin de quincena", DAY20, date(2026, 11, 30)),
    ("la quincena", DAY15, DAY15),
    ("la quincena", MONTH_END, MONTH_END),
    ("la quincena", date(2027, 2, 20), date(2027, 2, 28)),
    ("la próxima quincena", DAY15, date(2026, 12, 31)),
    ("la quincena que viene", DAY15, date(2026, 12, 31)),
    ("la siguiente quincena", date(2026, 11, 10), date(2026, 11, 15)),
    ("la otra quincena", date(2026, 11, 10), date(2026, 11, 30)),
    ("la otra quincena", DAY20, date(2026, 12, 15)),
    ("en 2 quincenas", DAY20, date(2026, 12, 15)),
    # month end, start, year end
    ("fin de mes", DAY20, date(2026, 11, 30)),
    ("a fin de mes", DAY20, date(2026, 11, 30)),
    ("a finales de mes", FEB, date(2027, 2, 28)),
    ("fin de mes", MONTH_END, MONTH_END),
    ("a fin del mes que viene", DAY20, date(2026, 12, 31)),
    ("a principios de mes", DAY20, date(2026, 12, 1)),
    ("a fin de año", DAY20, date(2026, 12, 31)),
    # day and month: next occurrence on or after today
    ("15 de diciembre", DAY20, date(2026, 12, 15)),
    ("15 dic", DAY20, date(2026, 12, 15)),
    ("15 dic.", DAY20, date(2026, 12, 15)),
    ("el 15 de diciembre", DAY20, date(2026, 12, 15)),
    ("el quince de diciembre", DAY20, date(2026, 12, 15)),
    ("diciembre 15", DAY20, date(2026, 12, 15)),
    ("15 de noviembre", DAY20, date(2027, 11, 15)),
    ("20 de noviembre", DAY20, DAY20),
    ("primero de enero", DAY20, date(2027, 1, 1)),
    ("1ro de enero", DAY20, date(2027, 1, 1)),
    ("29 de febrero", DAY20, date(2028, 2, 29)),
    ("15/12", DAY20, date(2026, 12, 15)),
    # relative durations
    ("dentro de 2 semanas", DAY20, date(2026, 12, 4)),
    ("dentro de dos semanas", DAY20, date(2026, 12, 4)),
    ("en 3 días", DAY20, date(2026, 11, 23)),
    ("en 3 dias", DAY20, date(2026, 11, 23)),
    ("en tres días", DAY20, date(2026, 11, 23)),
    ("en una semana", DAY20, date(2026, 11, 27)),
    ("en 8 días", DAY20, date(2026, 11, 28)),
    ("en un par de días", DAY20, date(2026, 11, 22)),
    ("en un mes", date(2027, 1, 31), date(2027, 2, 28)),
    ("la próxima semana", WED, date(2026, 11, 23)),
    ("la proxima semana", WED, date(2026, 11, 23)),
    ("la otra semana", WED, date(2026, 11, 23)),
    ("la semana que viene", SUN, date(2026, 11, 30)),
    ("la próxima semana", SAT, date(2026, 11, 23)),
    ("la próxima semana", MON, date(2026, 11, 23)),
    ("el mes que viene", DAY20, date(2026, 12, 1)),
    ("el próximo mes", date(2026, 12, 20), date(2027, 1, 1)),
    ("este fin de semana", WED, SAT),
    ("el fin de semana", SAT, SAT),
    ("el fin de semana", SUN, SUN),
    # explicit years: kept as they are
    ("el 15 de enero del 2027", DAY20, date(2027, 1, 15)),
    ("15 de enero de 2027", DAY20, date(2027, 1, 15)),
    ("12/03/1985", DAY20, date(1985, 3, 12)),
    ("12-03-85", DAY20, date(1985, 3, 12)),
    ("12.03.1985", DAY20, date(1985, 3, 12)),
    ("12/3/85", DAY20, date(1985, 3, 12)),
    ("12 de marzo del 85", DAY20, date(1985, 3, 12)),
    ("12 de marzo de 1985", DAY20, date(1985, 3, 12)),
    ("12 de Marzo de 1985", DAY20, date(1985, 3, 12)),
    ("1985-03-12", DAY20, date(1985, 3, 12)),
    ("01/01/00", DAY20, date(2000, 1, 1)),
    ("01/01/26", DAY20, date(2026, 1, 1)),
    ("01/01/27", DAY20, date(1927, 1, 1)),
    ("15/11/2026", DAY20, date(2026, 11, 15)),
    ("29/02/2028", DAY20, date(2028, 2, 29)),
    ("12 03 1985", DAY20, date(1985, 3, 12)),
    ("02/11/79", DAY20, date(1979, 11, 2)),
    ("25 julio 92", DAY20, date(1992, 7, 25)),
    ("8 de agosto del 93", DAY20, date(1993, 8, 8)),
    ("el 12 de marzo del 1985", DAY20, date(1985, 3, 12)),
    # dateparser, where our rules do not decide
    ("diciembre", DAY20, date(2026, 12, 1)),
]


@pytest.mark.parametrize(("span", "today", "expected"), SPANS)
def test_resolve_date(span: str, today: date, expected: date) -> None:
    assert resolve_date(span, today) == expected


@pytest.mark.parametrize(
    "span",
    [
        "",
        "hola",
        "a",
        "😀🙏",
        "en la mañana",
        "mil quinientos",
        "1500",
        "2 mil",
        "$1,500.00",
        "31 de febrero",
        "30 de febrero de 2028",
        "32/01/2000",
        "29/02/2027",
        "12/13/1985",
        "el 32",
        "el 0",
        "el 15 mil",
        "no puedo",
        "ahorita",
        "el 30 por ciento",
    ],
)
def test_resolve_date_none(span: str) -> None:
    assert resolve_date(span, DAY20) is None


MESSAGES: list[tuple[str, str, date]] = [
    ("le deposito pasado mañana", "pasado mañana", date(2026, 11, 22)),
    ("le deposito pasado manana", "pasado manana", date(2026, 11, 22)),
    ("te pago 2 mil el viernes", "el viernes", date(2026, 11, 27)),
    ("nací el 12/03/1985", "12/03/1985", date(1985, 3, 12)),
    ("puedo dar mil quinientos la quincena", "la quincena", date(2026, 11, 30)),
    ("le deposito $1,500.00 mañana", "mañana", date(2026, 11, 21)),
    ("hoy no puedo, el viernes sí", "el viernes", date(2026, 11, 27)),
    ("te pago el 15 de diciembre 500 pesos", "el 15 de diciembre", date(2026, 12, 15)),
    ("el 15 de enero del 2027 le liquido", "el 15 de enero del 2027", date(2027, 1, 15)),
    ("te abono 500 en la kincena 🙏", "la kincena", date(2026, 11, 30)),
    ("ya para la quincena", "la quincena", date(2026, 11, 30)),
    ("si le pago, deme hasta el martes", "el martes", date(2026, 11, 24)),
    ("puedo pagar para el viernes?", "el viernes", date(2026, 11, 27)),
    ("hasta el 30", "el 30", date(2026, 11, 30)),
    ("fecha de nac: 14/09/1970", "14/09/1970", date(1970, 9, 14)),
    ("yo naci el 12 de marzo de 1985", "el 12 de marzo de 1985", date(1985, 3, 12)),
    ("mi fecha es 12 03 1985", "12 03 1985", date(1985, 3, 12)),
    ("a fin de mes te pago todo", "fin de mes", date(2026, 11, 30)),
    ("dentro de 2 semanas le deposito", "dentro de 2 semanas", date(2026, 12, 4)),
    ("te pago el proximo lunes sin falta", "el proximo lunes", date(2026, 11, 23)),
    ("TE PAGO EL BIERNES", "EL BIERNES", date(2026, 11, 27)),
    ("le pago el 15", "el 15", date(2026, 12, 15)),
    ("mañana en la mañana le deposito", "mañana", date(2026, 11, 21)),
    ("1500 el 30", "el 30", date(2026, 11, 30)),
]


@pytest.mark.parametrize(("message", "span", "expected"), MESSAGES)
def test_extract_date(message: str, span: str, expected: date) -> None:
    found = extract_date(message, FRI)
    assert found is not None
    assert found.text == span
    assert message[found.start : found.end] == span
    assert found.value == expected


@pytest.mark.parametrize(
    "message",
    [
        "mil quinientos",
        "1500",
        "te pago 2 mil",
        "$1,500.00",
        "hola buenas tardes",
        "en la mañana le marco",
        "mi cel es 55 1234 5678",
        "5512345678",
        "el 15 mil",
        "31 de febrero",
        "",
        "😀" * 100,
        "me quitan el 30 por ciento?",
        "ahorita no tengo lana",
    ],
)
def test_extract_date_none(message: str) -> None:
    assert extract_date(message, FRI) is None


def test_impossible_date_does_not_become_a_day_of_month() -> None:
    # "31 de febrero" must not be read as "el 31"
    assert resolve_date("el 31 de febrero", FRI) is None
    assert extract_date("te pago el 31 de febrero", FRI) is None


def test_long_messages_do_not_fail() -> None:
    text = "bla " * 2500 + "te pago pasado mañana"
    found = extract_date(text, FRI)
    assert found is not None and found.value == date(2026, 11, 22)
    assert resolve_date("x" * 100_000, FRI) is None


def test_every_date_of_a_message_in_the_order_written() -> None:
    today = date(2026, 11, 30)  # a Monday
    found = extract_dates("lo del lunes no voy a poder, puede ser el miercoles?", today)
    assert [(m.text, m.value) for m in found] == [
        ("lunes", date(2026, 12, 7)),
        ("el miercoles", date(2026, 12, 2)),
    ]
    assert extract_dates("cuanto debo", today) == []
