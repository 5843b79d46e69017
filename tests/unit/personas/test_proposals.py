"""Counter-proposals as debtors write them, read into the proposal the negotiation weighs."""

from __future__ import annotations

from datetime import date

import pytest

from cobranza.personas.negotiation import Kind, Proposal
from cobranza.personas.proposals import fraction_of_balance, read_proposal

TODAY = date(2026, 11, 30)  # a Monday
BALANCE = 1_200_000  # $12,000.00


def plan(
    per: int | None = None,
    count: int | None = None,
    frequency: str | None = None,
    first: date | None = None,
) -> Proposal:
    return Proposal(
        Kind.INSTALLMENTS,
        amount_per_payment=per,
        count=count,
        frequency=frequency,
        first_date=first,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("puedo dar 500 cada quincena", plan(per=50_000, frequency="quincenal")),
        ("puedo dar 300 a la quincena", plan(per=30_000, frequency="quincenal")),
        ("y si doy 500 a la quincena?", plan(per=50_000, frequency="quincenal")),
        ("abono 700 cada quince dias", plan(per=70_000, frequency="quincenal")),
        ("te pago 400 cada ocho dias", plan(per=40_000, frequency="semanal")),
        ("3 pagos de 2000", plan(per=200_000, count=3)),
        ("la quiero en 12 pagos", plan(count=12)),
        ("y si lo pago en doce quincenas?", plan(count=12, frequency="quincenal")),
        (
            "en 4 quincenas empezando el viernes",
            plan(count=4, frequency="quincenal", first=date(2026, 12, 4)),
        ),
        ("pago 1500 semanales", plan(per=150_000, frequency="semanal")),
        ("puedo pagar 1000 al mes", plan(per=100_000, frequency="mensual")),
        (
            "k onda puedo dar mil quinientos cada semana empezando el lunes",
            plan(per=150_000, frequency="semanal", first=date(2026, 12, 7)),
        ),
        (
            "pago la mitad el 15 y el resto a fin de mes",
            Proposal(
                Kind.PARTIAL_THEN_REST,
                amounts_and_dates=((600_000, date(2026, 12, 15)), (None, date(2026, 12, 31))),
            ),
        ),
        (
            "te doy 4 mil el viernes y lo demas el 20",
            Proposal(
                Kind.PARTIAL_THEN_REST,
                amounts_and_dates=((400_000, date(2026, 12, 4)), (None, date(2026, 12, 20))),
            ),
        ),
        ("me lo dejan en 10 mil?", Proposal(Kind.SETTLEMENT_AMOUNT, total=1_000_000)),
        (
            "liquido con 7000 el viernes",
            Proposal(Kind.SETTLEMENT_AMOUNT, total=700_000, first_date=date(2026, 12, 4)),
        ),
        ("te doy 8 mil y quedamos a mano", Proposal(Kind.SETTLEMENT_AMOUNT, total=800_000)),
        (
            "y si pago la mitad el 15?",
            Proposal(Kind.PROMISE, total=600_000, first_date=date(2026, 12, 15)),
        ),
        ("pago la mitad", Proposal(Kind.PROMISE, total=600_000)),  # the date is asked next
        (
            "pago 3000 el 20 y el resto el 10",  # the 10th after the 20th: next month's
            Proposal(
                Kind.PARTIAL_THEN_REST,
                amounts_and_dates=((300_000, date(2026, 12, 20)), (None, date(2027, 1, 10))),
            ),
        ),
    ],
)
def test_a_proposal_is_read_as_the_debtor_meant_it(text: str, expected: Proposal) -> None:
    assert read_proposal(text, BALANCE, TODAY) == expected


@pytest.mark.parametrize(
    "text",
    [
        "te pago 2000 el viernes",  # a plain promise: the promise flow reads it
        "ahorita no tengo, pero a la quincena te pago 2500",  # payday, not a rate
        "te pago 4 mil dentro de 3 semanas",  # a day three weeks away, not 3 payments
        "de aqui a 2 meses te liquido todo",
        "ya pague 500 pero quiero un plan para el resto",  # the rest has no date
        "no voy a poder pagar el viernes",
        "cuanto debo",
        "me lo dejan en 15 mil?",  # more than the balance: no discount asked
        "el resto a fin de mes",  # no first part
        "pago 3000 y el resto el 10",  # the first part has no date
        "",
    ],
)
def test_anything_else_is_no_proposal(text: str) -> None:
    assert read_proposal(text, BALANCE, TODAY) is None


def test_fractions_of_the_balance() -> None:
    assert fraction_of_balance("la mitad", 845_001) == 422_500
    assert fraction_of_balance("un tercio", 900_000) == 300_000
    assert fraction_of_balance("la cuarta parte", 900_000) == 225_000
    assert fraction_of_balance("todo", 900_000) is None


def test_an_amount_in_a_discount_request_is_what_the_debtor_offers_to_settle() -> None:
    """ "si les doy 8 mil, ¿lo dejan ahí?" read as a discount request by the model."""
    assert read_proposal("si les doy 8 mil", BALANCE, TODAY, settling=True) == Proposal(
        Kind.SETTLEMENT_AMOUNT, total=800_000
    )
    assert read_proposal("si les doy 8 mil", BALANCE, TODAY) is None
    assert read_proposal("si les doy 8 mil lo dejan ahi?", BALANCE, TODAY) == Proposal(
        Kind.SETTLEMENT_AMOUNT, total=800_000
    )
