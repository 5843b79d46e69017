"""Short answers — a bare amount or date, a button, "sí", "no", or something the model did not
understand — mean different things depending on what the assistant asked last. One action reads
the conversation state (slots) and routes the answer."""

from __future__ import annotations

from rasa_sdk.events import EventType

from actions.base import DbAction, Turn, disclosure_allowed
from actions.consent import answer_consent
from actions.handoff import misunderstood
from actions.identity import ask_for_identity, capture_phone, verify_identity
from actions.plans import register_plan
from actions.promises import process_promise


def route_answer(turn: Turn) -> list[EventType]:
    slots = turn.tracker.slots
    has_value = turn.amount() is not None or turn.date() is not None
    if slots.get("telefono_en_curso"):
        return capture_phone(turn)
    if slots.get("verificacion_en_curso"):
        if turn.intent == "nlu_fallback" and turn.date() is None:
            return misunderstood(turn)
        return verify_identity(turn)
    if slots.get("consentimiento_en_curso") and turn.intent in ("afirmar", "negar"):
        return answer_consent(turn)
    if slots.get("plan_elegido"):
        return register_plan(turn) if disclosure_allowed(turn) else ask_for_identity(turn)
    if slots.get("promesa_en_curso") and (turn.intent != "nlu_fallback" or has_value):
        return process_promise(turn) if disclosure_allowed(turn) else ask_for_identity(turn)
    if turn.intent == "nlu_fallback":
        return misunderstood(turn)
    if turn.intent == "informar" and has_value:
        return process_promise(turn) if disclosure_allowed(turn) else ask_for_identity(turn)
    turn.say("utter_entendido")
    return []


class ActionProcesarRespuesta(DbAction):
    answers_consent_question = True

    def name(self) -> str:
        return "action_procesar_respuesta"

    def handle(self, turn: Turn) -> list[EventType]:
        return route_answer(turn)
