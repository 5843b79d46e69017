"""Short answers — a bare amount or date, a button, "sí", "no", or something the model did not
understand — mean different things depending on what the assistant asked last. One action reads
the conversation state (slots) and routes the answer."""

from __future__ import annotations

from rasa_sdk.events import EventType

from actions.base import DbAction, Turn, disclosure_allowed
from actions.capabilities import answer_pending, first_pending
from actions.consent import answer_consent
from actions.debts import debt_just_chosen, focus_on, may_choose_debt
from actions.handoff import misunderstood
from actions.identity import (
    ask_for_identity,
    birth_date,
    capture_phone,
    keep_waiting,
    typed_phone,
    verify_identity,
)
from actions.negotiation import accept_proposal, decline_proposal, proposal_in, reply_to
from actions.plans import (
    plans_just_offered,
    register_offer,
    register_plan,
    settlement_taken,
    typed_choice,
)
from actions.promises import process_promise
from actions.situations import ASKED_PAYMENT_DETAILS, payment_claim
from actions.slots import (
    IDENTIDAD_VERIFICADA,
    INTENCION_PENDIENTE,
    PLAN_ELEGIDO,
    PROMISE_QUESTIONS,
    Esperando,
    waiting_for,
)


def route_answer(turn: Turn) -> list[EventType]:
    pending = waiting_for(turn.tracker)
    has_value = turn.amount() is not None or turn.date() is not None
    if pending is Esperando.TELEFONO:
        return capture_phone(turn)
    if pending is Esperando.FECHA_NACIMIENTO:
        if birth_date(turn) is not None:
            return verify_identity(turn)
        if turn.intent == "nlu_fallback" and not has_value:
            return misunderstood(turn)
        return keep_waiting(turn)  # never a failed attempt
    # Web chat, REST: the number before it was asked for, before a date of birth in the same
    # message is seen. Without a number the engine never allows, so a turn run again after a
    # crash is judged the same as the first time (no slot check needed, as verified_here has).
    if pending is None and typed_phone(turn) and not disclosure_allowed(turn):
        return capture_phone(turn)
    if pending is None and birth_date(turn) is not None and not verified_here(turn):
        return ask_for_identity(turn)  # the date of birth before it was asked for
    if pending is Esperando.CONSENTIMIENTO and turn.intent in ("afirmar", "negar"):
        return answer_consent(turn)
    if pending is Esperando.PROPUESTA and turn.intent in ("afirmar", "negar"):
        if not disclosure_allowed(turn):
            return ask_for_identity(turn)
        return accept_proposal(turn) if turn.intent == "afirmar" else decline_proposal(turn)
    if turn.slot(PLAN_ELEGIDO):
        return register_plan(turn) if disclosure_allowed(turn) else ask_for_identity(turn)
    if pending in PROMISE_QUESTIONS and (turn.intent != "nlu_fallback" or has_value):
        return process_promise(turn) if disclosure_allowed(turn) else ask_for_identity(turn)
    taken = settlement_taken(turn) if pending is None and disclosure_allowed(turn) else None
    if taken is not None:  # "va" to the discount offer
        return register_offer(turn, taken)
    answering = pending is None and plans_just_offered(turn) and disclosure_allowed(turn)
    chosen = typed_choice(turn) if answering else None
    if chosen is not None:  # "la segunda", "el de 12" right after "¿Cuál opción prefieres?"
        return register_offer(turn, chosen)
    proposal = proposal_in(turn) if has_value and disclosure_allowed(turn) else None
    if proposal is not None:  # "500 cada quincena" read as a bare amount
        return reply_to(turn, proposal)
    if turn.intent == "nlu_fallback":
        return misunderstood(turn)
    if turn.intent == "informar" and has_value:
        return process_promise(turn) if disclosure_allowed(turn) else ask_for_identity(turn)
    turn.say("utter_entendido")
    return []


def verified_here(turn: Turn) -> bool:
    """Verified in this conversation as it reads: the slot set by a verification it saw, and
    the engine still allowing. The engine alone is not enough: a turn run again after a crash
    (the replica died after the verification was stored, before Rasa saved the turn) finds it
    stored while the conversation has not seen it; its date of birth is then still the answer
    to the identity question, not a promise's day."""
    return bool(turn.slot(IDENTIDAD_VERIFICADA)) and disclosure_allowed(turn)


def answer_to_our_question(turn: Turn) -> list[EventType] | None:
    """Before any action's own answer, whatever intent the model read: the debt chosen after
    "¿De cuál de tus créditos?" (a button, or "la tarjeta", which may read as paying by card),
    then what was asked before; the amount and day of a payment after "¿me dices el monto y la
    fecha en que pagaste?" ("fueron 8450 ayer" may read as a promise)."""
    if turn.phone is None:
        return None
    if may_choose_debt(turn) and disclosure_allowed(turn):
        chosen = debt_just_chosen(turn)
        return None if chosen is None else continue_with_debt(turn, chosen)
    if turn.last_response != ASKED_PAYMENT_DETAILS:  # cheap: most messages stop here
        return None
    details = turn.amount() is not None or turn.date() is not None
    return payment_claim(turn) if details and disclosure_allowed(turn) else None


def continue_with_debt(turn: Turn, contract: str) -> list[EventType]:
    """The debt is chosen: answer what was asked before the question (plans, a discount, a
    promise), now about that debt."""
    pending = turn.slot(INTENCION_PENDIENTE)
    events = focus_on(turn, contract)
    if first_pending(pending) is None:
        turn.say("utter_credito_elegido")
        return events
    return [*events, *answer_pending(turn, pending)]


class ActionProcesarRespuesta(DbAction):
    answers_consent_question = True

    def name(self) -> str:
        return "action_procesar_respuesta"

    def handle(self, turn: Turn) -> list[EventType]:
        return route_answer(turn)
