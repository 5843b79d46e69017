"""Balance, debt detail and payment methods (only after identity is verified)."""

from __future__ import annotations

from decimal import Decimal

from rasa_sdk.events import EventType

from actions.base import DbAction, Turn, money, spoken_date
from cobranza.db.models import Debt
from cobranza.services.payments import payment_methods
from cobranza.services.promises import open_debts


def tell_balance(turn: Turn) -> list[EventType]:
    """Each open debt's balance; with several, the total too."""
    assert turn.phone is not None
    debts = open_debts(turn.session, turn.phone)
    if not debts:
        turn.say("utter_sin_adeudos")
        return []
    if len(debts) > 1:
        turn.say("utter_saldo_varios", creditos=len(debts))
    for debt in debts:
        _tell_debt(turn, debt)
    if len(debts) > 1:
        total = sum(Decimal(d.current_balance) for d in debts)
        turn.say("utter_saldo_total", total=money(total))
    return []


def _tell_debt(turn: Turn, debt: Debt) -> None:
    turn.say(
        "utter_saldo",
        acreedor=debt.creditor.name,
        producto=debt.product.lower(),
        contrato=debt.contract_number,
        saldo=money(Decimal(debt.current_balance)),
        dias_atraso=debt.days_past_due,
        fecha_calculo=spoken_date(debt.balance_as_of),
    )
    if debt.last_payment_on and debt.last_payment_amount:
        turn.say(
            "utter_saldo_ultimo_pago",
            monto=money(Decimal(debt.last_payment_amount)),
            fecha=spoken_date(debt.last_payment_on),
        )


def tell_payment_methods(turn: Turn) -> list[EventType]:
    assert turn.phone is not None
    methods = payment_methods(turn.session, turn.phone, turn.contract)
    turn.say(
        "utter_metodos_pago",
        acreedor=methods.creditor,
        clabe=methods.clabe,
        banco=methods.bank,
        referencia=methods.convenience_store_reference,
    )
    if methods.card_payment_url:
        turn.say("utter_metodos_pago_tarjeta", liga=methods.card_payment_url)
    turn.say("utter_pagos_solo_acreedor")
    return []


class ActionInformarSaldo(DbAction):
    requires_identity = True
    answers_other_requests = True

    def name(self) -> str:
        return "action_informar_saldo"

    def handle(self, turn: Turn) -> list[EventType]:
        return tell_balance(turn)


class ActionMetodosPago(DbAction):
    requires_identity = True
    answers_other_requests = True

    def name(self) -> str:
        return "action_metodos_pago"

    def handle(self, turn: Turn) -> list[EventType]:
        return tell_payment_methods(turn)
