"""What the debtor tells us: already paid, economic hardship, a dispute."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from rasa_sdk.events import EventType, SlotSet

from actions.base import DbAction, Turn, money, spoken_date
from actions.handoff import hand_off
from actions.negotiation import proposal_in, reply_to
from actions.plans import offer_plans_for
from actions.slots import PAGO_REPORTADO, PERSONA, PROMISE_QUESTIONS, stop_waiting
from cobranza.db.models import Promise
from cobranza.domain.requests import mentions_promise
from cobranza.domain.vocabulary import HandoffReason
from cobranza.services.disputes import open_dispute
from cobranza.services.hardship import declare_hardship
from cobranza.services.payments import record_payment_claim
from cobranza.services.promises import pending_promise

DISPUTE_REVIEW_HOURS = 48
ASKED_PAYMENT_DETAILS = "utter_pedir_datos_pago"  # "¿me dices el monto y la fecha?"


def payment_claim(turn: Turn, read_message: bool = True) -> list[EventType]:
    assert turn.phone is not None
    amount = turn.amount() if read_message else None
    paid_on = turn.date() if read_message else None
    promise = pending_promise(turn.session, turn.phone) if read_message else None
    if amount is None and promise is not None and mentions_promise(turn.text):
        return promise_claim(turn, promise, paid_on)
    record_payment_claim(
        turn.session,
        turn.phone,
        amount,
        paid_on,
        turn.channel,
        turn.app.clock,
        contract=turn.contract,
    )
    turn.say("utter_gracias_pago")
    if amount is None or paid_on is None:
        turn.say(ASKED_PAYMENT_DETAILS)
    return [SlotSet(PAGO_REPORTADO, True), *stop_waiting(turn.tracker, *PROMISE_QUESTIONS)]


def promise_claim(turn: Turn, promise: Promise, paid_on: date | None) -> list[EventType]:
    """ "ya pagué lo que prometí": the claim is for the pending promise's amount."""
    assert turn.phone is not None
    amount = Decimal(promise.amount)
    record_payment_claim(
        turn.session,
        turn.phone,
        amount,
        paid_on or turn.today,
        turn.channel,
        turn.app.clock,
        promise_folio=promise.folio,
    )
    turn.say(
        "utter_gracias_pago_promesa",
        monto=money(amount),
        fecha=spoken_date(promise.due_date),
        folio=promise.folio,
    )
    return [SlotSet(PAGO_REPORTADO, True), *stop_waiting(turn.tracker, *PROMISE_QUESTIONS)]


def hardship(turn: Turn, *, read_message: bool = True) -> list[EventType]:
    """The gentler persona, then the plans under it; when the message also says what the debtor
    can pay ("no me alcanza, puedo dar 300 a la quincena"), those terms are weighed instead.
    ``read_message`` is false when the message is the answer to our question (the date of
    birth), not the debtor's account of their situation."""
    assert turn.phone is not None
    persona = declare_hardship(
        turn.session, turn.phone, turn.text, turn.app.profiles, turn.app.clock
    )
    turn.say("utter_empatia_dificultad")
    proposal = proposal_in(turn) if read_message else None
    if proposal is None:
        return offer_plans_for(turn, persona)
    return [turn.set_slot(PERSONA, persona), *reply_to(turn, proposal)]


def dispute(turn: Turn) -> list[EventType]:
    assert turn.phone is not None
    open_dispute(turn.session, turn.phone, turn.text, turn.app.clock)
    turn.say("utter_disputa_recibida", horas=DISPUTE_REVIEW_HOURS)
    return hand_off(turn, HandoffReason.DISPUTA, announce=False)


class ActionPagoRealizado(DbAction):
    requires_identity = True
    answers_other_requests = True

    def name(self) -> str:
        return "action_pago_realizado"

    def handle(self, turn: Turn) -> list[EventType]:
        return payment_claim(turn)


class ActionDificultad(DbAction):
    requires_identity = True
    answers_other_requests = True

    def name(self) -> str:
        return "action_dificultad"

    def handle(self, turn: Turn) -> list[EventType]:
        return hardship(turn)


class ActionDisputa(DbAction):
    requires_identity = True

    def name(self) -> str:
        return "action_disputa"

    def handle(self, turn: Turn) -> list[EventType]:
        return dispute(turn)
