"""The debtor's own proposal ("puedo dar 500 cada quincena", "la mitad el 15 y el resto a fin
de mes", "¿me lo dejan en 10 mil?"): read off the message, weighed against the persona
(cobranza/personas/negotiation.py), read back with its terms, stored after "sí".

What the debtor sees before "sí" is kept in the slot ``propuesta``; on "sí" it is weighed again
on the server, and stored only when the persona still gives exactly those terms."""

from __future__ import annotations

from decimal import Decimal

from babel.lists import format_list
from rasa_sdk.events import EventType, SlotSet

from actions.base import Turn, money, spoken_date
from actions.slots import ESPERANDO, PERSONA, PROPUESTA, Esperando, ask, promise_state, waiting_for
from cobranza.domain.money import to_centavos, to_pesos
from cobranza.personas.negotiation import (
    Accepted,
    CounterOffer,
    Kind,
    Outcome,
    PromiseTerms,
    Proposal,
    Reason,
    evaluate,
    proposal_from_token,
    render_summary,
    schedule_summary,
    terms_token,
)
from cobranza.personas.offers import Offer
from cobranza.personas.proposals import read_proposal
from cobranza.services.hardship import register_discount_request
from cobranza.services.plans import record_agreement, stored_terms

# render_summary's parts, and the domain.yml response that words each.
TERMS_RESPONSES = {
    "first": "utter_terminos_enganche",
    "single": "utter_terminos_pago",
    "last": "utter_terminos_ultimo",
    "run": "utter_terminos_tramo",
    "summary": "utter_terminos_resumen",
    "savings": "utter_terminos_ahorro",
    "every_semanal": "utter_cada_semanal",
    "every_quincenal": "utter_cada_quincenal",
    "every_mensual": "utter_cada_mensual",
}
FREQUENCY_WORDS = {"semanal": "semanales", "quincenal": "quincenales", "mensual": "mensuales"}
CLEAR = [SlotSet(PROPUESTA, None)]
DONE = [SlotSet(ESPERANDO, None), *CLEAR]


def terms_text(turn: Turn, offer: Offer) -> str:
    """An offer's schedule in words: the down payment, each run of equal payments with its
    dates, the last payment, the total and the savings."""
    templates = {part: turn.template(name) for part, name in TERMS_RESPONSES.items()}
    return render_summary(schedule_summary(offer), templates)


def _limit(reason: Reason) -> str:
    limit = reason.limit
    if isinstance(limit, str):
        return FREQUENCY_WORDS.get(limit, limit)
    if isinstance(limit, int) and reason.code not in ("demasiados_pagos", "pagos_juntos"):
        return money(to_pesos(limit))
    if limit is None or isinstance(limit, int):
        return str(limit or "")
    return spoken_date(limit)


def reasons_text(turn: Turn, reasons: tuple[Reason, ...]) -> str:
    parts = [turn.response_text(f"utter_regla_{r.code}", limite=_limit(r)) for r in reasons]
    return str(format_list(parts, locale="es_MX"))


def proposal_in(
    turn: Turn, text: str | None = None, *, settling: bool | None = None
) -> Proposal | None:
    """The counter-proposal in this message (or in ``text``, kept from an earlier one), if it
    makes one. ``settling``: asked as a discount (by default, when the model says so)."""
    if turn.phone is None:
        return None
    debt = turn.primary_debt()
    balance = to_centavos(Decimal(debt.current_balance))
    if settling is None:
        settling = turn.intent == "solicitar_descuento"
    return read_proposal(
        turn.text if text is None else text, balance, turn.today, settling=settling
    )


def _weigh(turn: Turn, proposal: Proposal) -> Outcome:
    assert turn.phone is not None
    debt = turn.primary_debt()
    balance = to_centavos(Decimal(debt.current_balance))
    return evaluate(proposal, balance, debt.days_past_due, turn.profile, turn.today)


def reply_to(turn: Turn, proposal: Proposal) -> list[EventType]:
    """Weigh the proposal and read back the terms that fit (the debtor's own, or the closest
    ones and why), asking for a "sí"; a promise goes to the promise's own read-back.

    A settlement for less ("¿me lo dejan en 10 mil?"), whatever the model read, is a discount
    request: recorded (it counts for the persona) and weighed under the persona then in force."""
    assert turn.phone is not None
    events: list[EventType] = []
    if proposal.kind is Kind.SETTLEMENT_AMOUNT or turn.intent == "solicitar_descuento":
        persona = register_discount_request(
            turn.session, turn.phone, turn.app.profiles, turn.app.clock
        )
        events.append(turn.set_slot(PERSONA, persona))
    return [*events, *_read_back(turn, _weigh(turn, proposal))]


def _read_back(turn: Turn, outcome: Outcome) -> list[EventType]:
    terms = outcome.terms
    if isinstance(terms, PromiseTerms):
        if isinstance(outcome, CounterOffer):
            turn.say("utter_propuesta_promesa_no_cabe", razones=reasons_text(turn, outcome.reasons))
        amount, due = to_pesos(terms.amount), terms.due_date
        turn.say("utter_confirmar_promesa", monto=money(amount), fecha=spoken_date(due))
        return [*CLEAR, *promise_state(amount, due, True)]
    if isinstance(outcome, Accepted):
        turn.say("utter_propuesta_aceptable", terminos=terms_text(turn, terms))
    else:
        turn.say(
            "utter_propuesta_no_cabe",
            razones=reasons_text(turn, outcome.reasons),
            terminos=terms_text(turn, terms),
        )
    turn.say("utter_confirmar_propuesta")
    return [ask(Esperando.PROPUESTA), turn.set_slot(PROPUESTA, terms_token(terms))]


def pending_terms(turn: Turn) -> Offer | None:
    """The plan read back and waiting for "sí", as the persona gives it today."""
    if waiting_for(turn.tracker) is not Esperando.PROPUESTA:
        return None
    proposal = proposal_from_token(str(turn.slot(PROPUESTA) or ""))
    if proposal is None:
        return None
    terms = _weigh(turn, proposal).terms
    return terms if isinstance(terms, Offer) else None


def accept_proposal(turn: Turn) -> list[EventType]:
    """ "sí" to the terms read back: weighed again, stored when they are still exactly the
    terms the debtor saw, else the new terms are read back."""
    assert turn.phone is not None
    token = str(turn.slot(PROPUESTA) or "")
    proposal = proposal_from_token(token)
    if proposal is None:
        turn.say("utter_propuesta_rechazada")
        return DONE
    outcome = _weigh(turn, proposal)
    if not isinstance(outcome, Accepted) or terms_token(outcome.terms) != token:
        return _read_back(turn, outcome)  # the balance or the day changed meanwhile
    assert isinstance(outcome.terms, Offer)
    agreement = record_agreement(
        turn.session,
        turn.phone,
        outcome.terms,
        turn.app.clock,
        turn.channel,
        contract=turn.contract,
    )
    turn.say(
        "utter_plan_confirmado",
        folio=agreement.folio,
        terminos=terms_text(turn, stored_terms(agreement)),
        total=money(Decimal(agreement.total_amount)),
    )
    return DONE


def decline_proposal(turn: Turn) -> list[EventType]:
    turn.say("utter_propuesta_rechazada")
    return DONE
