"""Which dates of a message can be a date of birth (identity counts a failure only for one)."""

from __future__ import annotations

from datetime import date

import pytest

from cobranza.domain.birth_dates import extract_birth_date, is_birth_date

TODAY = date(2026, 11, 22)
BORN = date(1985, 3, 12)


@pytest.mark.parametrize(
    "text",
    [
        "12/03/1985",
        "12-03-85",
        "12.03.1985",
        "12 03 1985",
        "1985-03-12",
        "12 de marzo de 1985",
        "marzo 12, 1985",
        "soy Juan, nací el 12 de marzo del 85",
        "nací el doce de marzo del 85",
        "doce de marzo de mil novecientos ochenta y cinco",
        "Doce de Marzo del año mil novecientos ochenta y cinco",
        "te pago el viernes, naci el 12/03/1985",
        "el 12 de marzo de 1985, y te pago dos mil la quincena",
    ],
)
def test_a_birth_date_in_any_common_format_and_inside_a_sentence(text: str) -> None:
    assert extract_birth_date(text, TODAY) == BORN


@pytest.mark.parametrize(
    ("text", "born"),
    [
        ("1 de enero del 2000", date(2000, 1, 1)),
        ("dos de febrero de dos mil cinco", date(2005, 2, 2)),
        ("primero de mayo de mil novecientos noventa", date(1990, 5, 1)),
        ("30/01/88", date(1988, 1, 30)),
    ],
)
def test_years_in_words_and_two_digit_years(text: str, born: date) -> None:
    assert extract_birth_date(text, TODAY) == born


@pytest.mark.parametrize(
    "text",
    [
        "te pago 2000 el viernes",
        "te pago dos mil el 15",
        "sí",
        "no sé",
        "¿para qué quieres mi fecha?",
        "12 de marzo",  # no year: the next 12 March
        "12/03",
        "ayer",  # a payment day, not a birth
        "pagué el 20/11/2026",
        "12/03/2015",  # a child's
        "12/03/1900",  # older than anyone
        "31/02/1985",  # impossible
        "",
    ],
)
def test_relative_partial_and_implausible_dates_are_not_birth_dates(text: str) -> None:
    assert extract_birth_date(text, TODAY) is None


def test_age_bounds() -> None:
    assert is_birth_date(date(2008, 11, 22), TODAY)  # 18 today
    assert not is_birth_date(date(2008, 11, 23), TODAY)  # 18 tomorrow
    assert is_birth_date(date(1916, 11, 23), TODAY)  # 109
    assert not is_birth_date(date(1915, 11, 22), TODAY)  # 111
    assert not is_birth_date(TODAY, TODAY)
