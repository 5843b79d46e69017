"""Money as integer centavos in logic, ``Decimal`` at the edges, never float."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from babel.numbers import format_currency

from cobranza.errors import Rejected

CENT = Decimal("0.01")


class InvalidAmount(Rejected):
    """An amount that is not a finite number of pesos with at most two decimals."""


def to_centavos(amount: Decimal | int | str) -> int:
    """Pesos (Decimal, int or decimal string) to integer centavos, rejecting sub-centavo values."""
    if isinstance(amount, float):  # pragma: no cover - guarded by the type hints
        raise InvalidAmount("money is never a float")
    try:
        value = Decimal(amount)
    except (InvalidOperation, ValueError) as exc:
        raise InvalidAmount(f"not an amount: {amount!r}") from exc
    if not value.is_finite():
        raise InvalidAmount(f"not a finite amount: {amount!r}")
    if value != value.quantize(CENT):
        raise InvalidAmount(f"more than two decimals: {amount!r}")
    return int(value * 100)


def to_pesos(centavos: int) -> Decimal:
    return (Decimal(centavos) / 100).quantize(CENT)


def percent_of(centavos: int, percent: Decimal | int) -> int:
    """``percent``% of an amount in centavos, rounded half up to the centavo."""
    exact = Decimal(centavos) * Decimal(percent) / Decimal(100)
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def format_mxn(amount: Decimal | int) -> str:
    """``$8,450.00``: pesos as Decimal, or centavos as int."""
    pesos = to_pesos(amount) if isinstance(amount, int) else Decimal(amount).quantize(CENT)
    return str(format_currency(pesos, "MXN", locale="es_MX"))
