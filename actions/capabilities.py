"""What the assistant can answer about a debt, by the intent that asks for it; and the second
pass that answers every request a message makes, not only the one the model recognised.

Used after verification (and after "¿De cuál de tus créditos?"), to answer what the debtor asked
before it, and after every debt action that sets ``answers_other_requests``, to answer the other
request of a message such as "¿cuánto debo y me hacen descuento?" (cobranza/domain/requests.py
finds it)."""

from __future__ import annotations

from collections.abc import Callable

from rasa_sdk.events import EventType, SlotSet

from actions.balance import tell_balance, tell_payment_methods
from actions.base import Turn
from actions.consent import reminder_or_consent
from actions.negotiation import proposal_in, reply_to
from actions.plans import handle_discount, offer_plans
from actions.promises import process_promise, reschedule
from actions.situations import dispute, hardship, payment_claim
from actions.slots import INTENCION_PENDIENTE, PROMESA_MONTO, PROPUESTA_PENDIENTE
from cobranza.domain.money import to_pesos
from cobranza.domain.requests import requests_in
from cobranza.personas.negotiation import Kind
from cobranza.personas.proposals import read_proposal

Capability = Callable[[Turn], list[EventType]]

# What to do once verified, by the intent that triggered the verification (the message then is
# the date of birth: nothing is read off it).
AFTER_VERIFICATION: dict[str, Capability] = {
    "consultar_saldo": tell_balance,
    "consultar_detalle_deuda": tell_balance,
    "consultar_metodos_pago": tell_payment_methods,
    "solicitar_opciones_pago": offer_plans,
    "solicitar_descuento": handle_discount,
    "prometer_pago": lambda turn: process_promise(turn, read_message=False),
    "reprogramar_promesa": lambda turn: reschedule(turn, read_message=False),
    "informar_pago_realizado": lambda turn: payment_claim(turn, read_message=False),
    "dificultad_economica": lambda turn: hardship(turn, read_message=False),
    "disputar_deuda": dispute,
    "pedir_recordatorio": reminder_or_consent,
}

# The requests a second pass answers (they ask nothing back), in the order they are answered:
# what the debtor owes before what to do about it, and where to pay last.
ALSO_ANSWERED: dict[str, Capability] = {
    "consultar_saldo": tell_balance,
    "solicitar_descuento": handle_discount,
    "solicitar_opciones_pago": offer_plans,
    "consultar_metodos_pago": tell_payment_methods,
}
ORDER = ["informar_pago_realizado", "dificultad_economica", "consultar_saldo"]
ORDER += ["consultar_detalle_deuda", *ALSO_ANSWERED]

# A topic whose answer already covers a request: the balance detail is the balance, the plans
# include the settlement, and hardship offers the plans.
COVERED = {
    "consultar_detalle_deuda": {"consultar_saldo"},
    "solicitar_opciones_pago": {"solicitar_descuento"},
    "dificultad_economica": {"solicitar_opciones_pago", "solicitar_descuento"},
}


def _rank(intent: str) -> int:
    return ORDER.index(intent) if intent in ORDER else -1


def _other_request(turn: Turn, topic: str) -> str | None:
    covered = {topic, *COVERED.get(topic, ())}
    return next(
        (i for i in requests_in(turn.text) if i in ALSO_ANSWERED and i not in covered), None
    )


def answer_requests(turn: Turn, topic: str, answer: Capability) -> list[EventType]:
    """Answer the topic, and the message's other request (at most one) in a sensible order."""
    other = _other_request(turn, topic)
    if other is None:
        return answer(turn)
    first, second = (answer, ALSO_ANSWERED[other])
    if _rank(other) < _rank(topic):
        first, second = second, first
    return [*first(turn), *second(turn)]


# --- what was asked before a question of ours (the date of birth, which debt) ----------------


def pending_requests(turn: Turn, intent: str) -> str:
    """What to keep in ``intencion_pendiente`` for a message asked before a question of ours:
    its intent, and its other request when it makes one ("¿cuánto debo y me hacen
    descuento?" before the date of birth: both are answered after it)."""
    other = _other_request(turn, intent)
    return intent if other is None else f"{intent} {other}"


def with_requests_in_message(turn: Turn, pending: object) -> str:
    """What was kept, and what the message that verifies asks too ("nací el 30 de enero del
    88, ¿cuánto debo?")."""
    kept = str(pending or "").split()
    asked = [i for i in requests_in(turn.text) if i in ALSO_ANSWERED and i not in kept]
    return " ".join([*kept, *asked])


def first_pending(pending: object) -> str | None:
    """The intent a kept ``intencion_pendiente`` starts with."""
    intents = str(pending or "").split()
    return intents[0] if intents else None


def answer_pending(turn: Turn, pending: object) -> list[EventType]:
    """Answer what was kept, in a sensible order (the message then is an answer to our
    question: nothing is read off it); a proposal kept as written is weighed now."""
    intents = [i for i in str(pending or "").split() if i in AFTER_VERIFICATION]
    kept = turn.slot(PROPUESTA_PENDIENTE)
    events: list[EventType] = [SlotSet(PROPUESTA_PENDIENTE, None)] if kept else []
    for intent in sorted(intents, key=_rank):
        if kept and intent in PROPOSING:
            events += _weigh_kept(turn, str(kept), intent)
            kept = None
        else:
            events += AFTER_VERIFICATION[intent](turn)
    return events


# The intents a counter-proposal comes with.
PROPOSING = ("prometer_pago", "solicitar_opciones_pago", "solicitar_descuento")
# Any amount fits a balance this large: the shape of a proposal is read before the balance may
# be (a settlement is an amount below the balance).
_ANY_BALANCE = 10**15


def keep_proposal(turn: Turn) -> list[EventType]:
    """Before verification: a message that makes a proposal is kept as written, with its
    intent (and its other request), to be weighed once verified."""
    intent = "prometer_pago" if turn.intent == "informar" else turn.intent
    settling = intent == "solicitar_descuento"
    if intent not in PROPOSING or (
        read_proposal(turn.text, _ANY_BALANCE, turn.today, settling=settling) is None
    ):
        return []
    return [
        turn.set_slot(INTENCION_PENDIENTE, pending_requests(turn, intent)),
        turn.set_slot(PROPUESTA_PENDIENTE, turn.text),
    ]


def _weigh_kept(turn: Turn, text: str, intent: str) -> list[EventType]:
    """The proposal kept before verification, weighed now; "la mitad" alone is a promise
    whose day is asked."""
    proposal = proposal_in(turn, text, settling=intent == "solicitar_descuento")
    if proposal is None:
        return AFTER_VERIFICATION[intent](turn)
    if proposal.kind is Kind.PROMISE and proposal.first_date is None:
        amount = to_pesos(proposal.total or 0)
        return [
            turn.set_slot(PROMESA_MONTO, str(amount)),
            *process_promise(turn, read_message=False),
        ]
    return reply_to(turn, proposal)
