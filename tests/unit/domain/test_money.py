from decimal import Decimal

import pytest

from cobranza.domain.money import InvalidAmount, format_mxn, percent_of, to_centavos, to_pesos


@pytest.mark.parametrize(
    ("amount", "centavos"),
    [
        (Decimal("8450.00"), 845000),
        (Decimal("23900.50"), 2390050),
        (Decimal("31250.75"), 3125075),
        ("0.01", 1),
        (1500, 150000),
        (Decimal("0"), 0),
    ],
)
def test_to_centavos(amount: object, centavos: int) -> None:
    assert to_centavos(amount) == centavos  # type: ignore[arg-type]
    assert to_pesos(centavos) == Decimal(str(amount)).quantize(Decimal("0.01"))


@pytest.mark.parametrize("bad", ["1.005", "abc", "NaN", "Infinity", ""])
def test_to_centavos_rejects(bad: str) -> None:
    with pytest.raises(InvalidAmount):
        to_centavos(bad)


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("8450"), "$8,450.00"),
        (Decimal("23900.5"), "$23,900.50"),
        (3125075, "$31,250.75"),
        (Decimal("0.5"), "$0.50"),
        (Decimal("1234567.89"), "$1,234,567.89"),
    ],
)
def test_format_mxn(amount: Decimal | int, text: str) -> None:
    assert format_mxn(amount) == text


@pytest.mark.parametrize(
    ("centavos", "pct", "expected"),
    [(845000, 10, 84500), (2390050, 5, 119503), (1, 50, 1), (3, 50, 2), (100, Decimal("12.5"), 13)],
)
def test_percent_of_rounds_half_up(centavos: int, pct: Decimal | int, expected: int) -> None:
    assert percent_of(centavos, pct) == expected
