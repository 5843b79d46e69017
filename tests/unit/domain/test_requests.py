"""The requests a message makes besides the one the model recognised (the second pass)."""

from __future__ import annotations

import pytest

from cobranza.domain.requests import is_question, requests_in


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("cuánto debo y me hacen descuento?", ["consultar_saldo", "solicitar_descuento"]),
        ("me hacen descuento? y cuanto debo", ["solicitar_descuento", "consultar_saldo"]),
        ("ya pagué 500 pero quiero un plan para el resto", ["solicitar_opciones_pago"]),
        ("no tengo trabajo, ¿me dan más plazo?", ["solicitar_opciones_pago"]),
        ("te pago 2000 el viernes, a que cuenta deposito?", ["consultar_metodos_pago"]),
        ("pasame la clabe y dime mi saldo", ["consultar_metodos_pago", "consultar_saldo"]),
        ("CUANTO LE DEBO???", ["consultar_saldo"]),
        ("hola", []),
        ("quiero pagar", []),
        ("te pago el viernes", []),
        ("", []),
    ],
)
def test_the_requests_a_message_makes_in_order(text: str, expected: list[str]) -> None:
    assert requests_in(text) == expected


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("que planes tienen, hay descuento?", True),
        ("hay descuento", True),
        ("se puede en 6 pagos", True),
        ("cual me conviene", True),
        ("quiero el de 6 pagos", False),
        ("liquidar con descuento", False),
        ("la segunda", False),
    ],
)
def test_a_question_is_no_choice(text: str, asks: bool) -> None:
    assert is_question(text) is asks
