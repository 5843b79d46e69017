"""es-MX amounts: parse_amount on spans, extract_amount on whole messages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from cobranza.domain.amounts import MAX_AMOUNT, Match, extract_amount, fold, parse_amount

SPANS: list[tuple[str, str]] = [
    # words (text2num) and our rules for thousands and millions
    ("mil quinientos", "1500"),
    ("Mil Quinientos", "1500"),
    ("MIL QUINIENTOS", "1500"),
    ("mil", "1000"),
    ("cien", "100"),
    ("ciento veinte", "120"),
    ("ochocientos", "800"),
    ("dos mil quinientos cincuenta", "2550"),
    ("veinte mil trescientos", "20300"),
    ("treinta y cinco mil", "35000"),
    ("mil y quinientos", "1500"),
    ("quinientos mil", "500000"),
    ("doscientos cincuenta mil quinientos", "250500"),
    ("medio millón", "500000"),
    ("medio millon", "500000"),
    ("un millón", "1000000"),
    ("un millon", "1000000"),
    ("millón y medio", "1500000"),
    ("dos millones quinientos mil", "2500000"),
    ("veintidós mil", "22000"),
    ("veintidos mil", "22000"),
    ("veintiún mil", "21000"),
    ("veintiun mil", "21000"),
    ("dieciséis mil", "16000"),
    ("dieciseis mil", "16000"),
    ("novecientos noventa y nueve", "999"),
    ("quinientos varos", "500"),
    ("mil quinientos pesitos", "1500"),
    ("mil pesos con 50 centavos", "1000.50"),
    # typos
    ("kinientos", "500"),
    ("ochosientos pesos", "800"),
    ("dos mill", "2000"),
    ("sien pesos", "100"),
    # digits and separators
    ("1500", "1500"),
    ("1,500", "1500"),
    ("1.500", "1500"),
    ("$1.500", "1500"),
    ("$1,500.00", "1500"),
    ("$1500", "1500"),
    ("$ 800", "800"),
    ("2,000.50", "2000.50"),
    ("1.500,50", "1500.50"),
    ("1500,50", "1500.50"),
    ("1500.5", "1500.50"),
    ("1.50", "1.50"),
    ("1,500,000", "1500000"),
    ("1.500.000", "1500000"),
    ("1500 pesos", "1500"),
    ("1500pesos", "1500"),
    ("1,500 MXN", "1500"),
    ("800 m.n.", "800"),
    ("0", "0"),
    # digits with our multipliers
    ("2 mil", "2000"),
    ("2mil", "2000"),
    ("10 mil", "10000"),
    ("mil 500", "1500"),
    ("2 mil 500", "2500"),
    ("2 mil quinientos", "2500"),
    ("1.5k", "1500"),
    ("1,5k", "1500"),
    ("15k", "15000"),
    ("2.5 millones", "2500000"),
    ("1.5 mil", "1500"),
    # noise around the number
    ("💵 2 mil 🙏", "2000"),
    ("😀😀 mil quinientos 😀", "1500"),
    ("  $1,500.00!!  ", "1500"),
    ("como 2 mil", "2000"),
    ("unos 800 pesos", "800"),
    ("2 mil de lana", "2000"),
    ("treinta y cinco", "35"),
    ("dos", "2"),
]


@pytest.mark.parametrize(("span", "expected"), SPANS)
def test_parse_amount(span: str, expected: str) -> None:
    amount = parse_amount(span)
    assert amount == Decimal(expected)
    assert amount is not None and amount.as_tuple().exponent == -2


@pytest.mark.parametrize(
    "span",
    [
        "",
        "   ",
        "hola",
        "lana",
        "😀🙏💵",
        "no tengo",
        "12,3456",
        "12/03/1985",
        "el 15",
        "15 de diciembre",
        "a las 5",
        "2 semanas",
        "5512345678",
        "55 1234 5678",
        "+52 55 1234 5678",
        "50%",
        "el 1ro",
        "medio",
        "99999999999999999",
        "1,000,000,000,000,000",
    ],
)
def test_parse_amount_none(span: str) -> None:
    assert parse_amount(span) is None


def test_parse_amount_never_negative() -> None:
    assert parse_amount("-500") == Decimal("500.00")
    assert parse_amount("menos 500 pesos") == Decimal("500.00")


def test_parse_amount_upper_bound() -> None:
    assert parse_amount("999,999,999,999.99") == MAX_AMOUNT
    assert parse_amount("1,000,000,000,000") is None


MESSAGES: list[tuple[str, str, str]] = [
    # (message, span, value)
    ("te pago 2 mil el viernes", "2 mil", "2000"),
    ("puedo dar mil quinientos la quincena", "mil quinientos", "1500"),
    ("le deposito $1,500.00 mañana", "$1,500.00", "1500"),
    ("le deposito $1,500.00 manana", "$1,500.00", "1500"),
    ("te pago 2000", "2000", "2000"),
    ("te doy 500 pesos el 15", "500 pesos", "500"),
    ("le pago 500 el 15 de diciembre", "500", "500"),
    ("6 pagos de 500", "500", "500"),
    ("3 pagos de mil", "mil", "1000"),
    ("en dos semanas te doy 3 mil", "3 mil", "3000"),
    ("debo 8,450 pero puedo dar 2 mil", "2 mil", "2000"),
    ("mi saldo es 8450 y te pago 1500", "1500", "1500"),
    ("TE PAGO MIL QUINIENTOS EL VIERNES 🙏", "MIL QUINIENTOS", "1500"),
    ("ahorita solo tengo 800 varos", "800 varos", "800"),
    ("te mando 1.5k", "1.5k", "1500"),
    ("abono 15k el 30", "15k", "15000"),
    ("le puedo dar 1.500 el dia 15", "1.500", "1500"),
    ("me comprometo a pagar $ 2,000.50 el 15 de enero del 2027", "$ 2,000.50", "2000.50"),
    ("mil 500 a la semana", "mil 500", "1500"),
    ("pago 500 a las 5", "500", "500"),
    ("el 15 te pago dos mil", "dos mil", "2000"),
    ("el 15 te pago 2 mil pesos", "2 mil pesos", "2000"),
    ("nací el 12/03/1985 y puedo pagar 700", "700", "700"),
    ("mi numero es 5512345678 te pago 900", "900", "900"),
    ("llámame al 55 1234 5678, te deposito 1200", "1200", "1200"),
    ("quinientos pesitos nomas 😅", "quinientos pesitos", "500"),
    ("como 3 mil en 3 meses", "3 mil", "3000"),
    ("te pago la mitad, 4,225", "4,225", "4225"),
    ("medio millón no lo tengo", "medio millón", "500000"),
    ("$300", "$300", "300"),
    ("100 pesos", "100 pesos", "100"),
    ("puedo 250", "250", "250"),
    ("unos 2 mil pesos", "2 mil pesos", "2000"),
    ("unos 3 mil 500", "3 mil 500", "3500"),
    ("ok mañana temprano le pago 2k", "2k", "2000"),
    ("el viernes te pago los 2 mil", "2 mil", "2000"),
    ("sale pues el sabado le deposito dos mil quinientos", "dos mil quinientos", "2500"),
    ("ya les hice la transferencia de 1,500", "1,500", "1500"),
    ("me comprometo a dar 4 mil el 30", "4 mil", "4000"),
]


@pytest.mark.parametrize(("message", "span", "value"), MESSAGES)
def test_extract_amount(message: str, span: str, value: str) -> None:
    found = extract_amount(message)
    assert found is not None
    assert found.text == span
    assert message[found.start : found.end] == span
    assert found.value == Decimal(value)


@pytest.mark.parametrize(
    "message",
    [
        "el 15",
        "el día 30",
        "el dia 30",
        "15 de diciembre",
        "te pago el 15 de diciembre",
        "12/03/1985",
        "nací el 12/03/1985",
        "el 15 de enero del 2027",
        "12 de marzo del 85",
        "nací en 1985",
        "en el 2027",
        "mi cel es 5512345678",
        "55 1234 5678",
        "+52 1 55 1234 5678",
        "el 1ro",
        "el 2do pago",
        "2 semanas",
        "3 días",
        "3 dias",
        "6 meses",
        "6 pagos",
        "tres semanas",
        "dos semanas",
        "en 15 días",
        "a las 5",
        "a las 5:30",
        "como a las 10 de la mañana",
        "5 pm",
        "50%",
        "un 10 por ciento de descuento",
        "folio 12345",
        "mil gracias",
        "tengo 2 hijos",
        "hola",
        "",
        "😀🙏",
        "pasado mañana",
        "la quincena",
        "te pago 5",
        "el 31",
        "calle 5 de mayo 123",
        "no tengo ni un peso",
        "la neta no tengo ni un varo",
        "me hacen el 50 y le pago",
        "mil grax",
        "12 03 1985",
        "mi fecha es 12 03 1985",
    ],
)
def test_extract_amount_ignores_non_amounts(message: str) -> None:
    assert extract_amount(message) is None


def test_extract_amount_match_is_frozen() -> None:
    found = extract_amount("te pago 2 mil")
    assert found == Match(8, 13, "2 mil", Decimal("2000.00"))
    with pytest.raises(AttributeError):
        found.value = Decimal(1)  # type: ignore[misc]


def test_extract_amount_on_long_and_odd_text() -> None:
    long_text = "bla " * 2500 + "te pago 2 mil"
    found = extract_amount(long_text)
    assert found is not None and found.value == Decimal("2000.00")
    assert extract_amount("💵" * 5000) is None
    assert extract_amount("9" * 5000) is None


@pytest.mark.parametrize(
    ("text", "folded"),
    [("Mañana", "manana"), ("MILLÓN", "millon"), ("Día 😀", "dia 😀"), ("ﬁ", "ﬁ")],
)
def test_fold_keeps_length(text: str, folded: str) -> None:
    assert fold(text) == folded
    assert len(fold(text)) == len(text)
