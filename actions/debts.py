"""Debtors with several debts: the balance lists each; a plan, a discount or a promise first asks
which debt it is for (a button, or typed: "la tarjeta", "el préstamo", "el segundo"), then
continues with what was asked. The choice is kept in the slot ``credito`` for the session."""

from __future__ import annotations

from decimal import Decimal

from babel.lists import format_list
from rasa_sdk.events import EventType, SlotSet

from actions.base import Turn, money
from actions.slots import CREDITO, INTENCION_PENDIENTE
from cobranza.db.models import Debt
from cobranza.domain.requests import choose_named
from cobranza.domain.text import shorten

CHOOSE_DEBT = "utter_elige_credito"  # "¿De cuál crédito?" with a button per debt


def _debts(turn: Turn) -> list[Debt]:
    return turn.open_debts()


def debt_choice_needed(turn: Turn) -> bool:
    """Several debts and none chosen yet (a contract that is not theirs counts as none)."""
    debts = _debts(turn)
    return len(debts) > 1 and turn.contract not in {d.contract_number for d in debts}


def ask_which_debt(turn: Turn, intent: str) -> list[EventType]:
    """Ask which debt, remembering what was asked (``intent``) to answer it once chosen."""
    debts = _debts(turn)
    buttons = [
        {
            "title": shorten(d.product, 20),
            "payload": f'/informar{{"credito": "{d.contract_number}"}}',
        }
        for d in debts
    ]
    listed = [f"{d.product}: {money(Decimal(d.current_balance))}" for d in debts]
    turn.say(CHOOSE_DEBT, buttons=buttons, creditos=format_list(listed, locale="es_MX"))
    return [turn.set_slot(INTENCION_PENDIENTE, intent)]


def may_choose_debt(turn: Turn) -> bool:
    """Can this message choose a debt (a ``credito`` button, or an answer to the question)?
    Cheap: read before anything is asked of the database."""
    entities = turn.tracker.latest_message.get("entities") or []
    return turn.last_response == CHOOSE_DEBT or any(e.get("entity") == "credito" for e in entities)


def debt_just_chosen(turn: Turn) -> str | None:
    """The contract this message chose: a button's ``credito`` entity, or a typed answer to
    "¿De cuál crédito?"."""
    debts = _debts(turn)
    contracts = [d.contract_number for d in debts]
    for entity in turn.tracker.latest_message.get("entities") or []:
        if entity.get("entity") == "credito" and entity.get("value") in contracts:
            return str(entity["value"])
    asked = turn.last_response == CHOOSE_DEBT
    index = choose_named(turn.text, [d.product for d in debts]) if asked else None
    return None if index is None else contracts[index]


def focus_on(turn: Turn, contract: str) -> list[EventType]:
    """Remember the chosen debt; the caller then answers what was pending."""
    return [turn.set_slot(CREDITO, contract), SlotSet(INTENCION_PENDIENTE, None)]
