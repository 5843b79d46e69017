"""Opt-out and wrong number: honoured at once, in any state of the conversation."""

from __future__ import annotations

from rasa_sdk.events import EventType, SlotSet

from actions.base import DbAction, Turn
from cobranza.consent import block_number, revoke_consent


class ActionNoContactar(DbAction):
    def name(self) -> str:
        return "action_no_contactar"

    def handle(self, turn: Turn) -> list[EventType]:
        if turn.phone is not None and turn.tracker.get_slot("deudor_encontrado"):
            revoke_consent(
                turn.session,
                turn.phone,
                f"solicitud en conversación ({turn.channel})",
                turn.runtime.clock,
            )
        turn.say("utter_baja_confirmada")
        return [SlotSet("promesa_en_curso", False), SlotSet("verificacion_en_curso", False)]


class ActionNumeroEquivocado(DbAction):
    def name(self) -> str:
        return "action_numero_equivocado"

    def handle(self, turn: Turn) -> list[EventType]:
        if turn.phone is not None:
            debtor = turn.phone if turn.tracker.get_slot("deudor_encontrado") else None
            reason = "wrong_number" if "equivoc" in turn.text.lower() else "third_party"
            block_number(
                turn.session,
                turn.phone,
                debtor,
                reason,
                f"conversación ({turn.channel})",
                turn.runtime.clock,
            )
        turn.say("utter_numero_equivocado")
        return [
            SlotSet("identidad_verificada", False),
            SlotSet("promesa_en_curso", False),
            SlotSet("verificacion_en_curso", False),
        ]
