"""Hand-off to a person: a ticket with reason and context, then the bot pauses."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.base import DbAction, Turn, disclosure_allowed, spoken_date
from actions.slots import MENSAJE_ASESOR, PERSONA
from cobranza.domain.vocabulary import HandoffReason
from cobranza.services.handoff import next_attention, open_ticket

LAST_MESSAGES = 10


def _context(turn: Turn, reason: HandoffReason, verified: bool) -> dict[str, Any]:
    """What the agent reads first. The persona is part of the debtor's file: only for a
    verified conversation."""
    messages = [
        {"from": "deudor" if e.get("event") == "user" else "bot", "text": e.get("text")}
        for e in turn.tracker.events
        if e.get("event") in ("user", "bot") and e.get("text")
    ][-LAST_MESSAGES:]
    return {
        "reason": reason.value,
        "persona": turn.slot(PERSONA) if verified else None,
        "last_intent": turn.intent,
        "messages": messages,
    }


def hand_off(turn: Turn, reason: HandoffReason, announce: bool = True) -> list[EventType]:
    verified = disclosure_allowed(turn)  # the server's record, not the slot
    open_ticket(
        turn.session,
        turn.tracker.sender_id,
        turn.phone,
        turn.channel,
        reason,
        _context(turn, reason, verified),
        turn.app.clock,
        verified=verified,
    )
    if announce:
        opening, closing = turn.app.settings.agent_hours
        now_local = turn.app.clock.now().astimezone(ZoneInfo(turn.time_zone))
        day = next_attention(now_local, opening, closing)
        if day is None:
            turn.say("utter_handoff_ahora")
        else:
            turn.say(
                "utter_handoff_despues",
                apertura=opening.strftime("%H:%M"),
                cierre=closing.strftime("%H:%M"),
                dia=spoken_date(day),
            )
    return [ConversationPaused()]


def _user_intents(turn: Turn) -> list[str]:
    return [
        str((e.get("parse_data") or {}).get("intent", {}).get("name"))
        for e in turn.tracker.events
        if e.get("event") == "user"
    ]


class ActionHandoff(DbAction):
    def name(self) -> str:
        return "action_handoff"

    def handle(self, turn: Turn) -> list[EventType]:
        return hand_off(turn, HandoffReason.SOLICITUD_AGENTE)


def misunderstood(turn: Turn) -> list[EventType]:
    """First misunderstanding: ask again. Several in a row (per persona): a person takes over."""
    limit = int(turn.profile.escalation.get("failed_understandings", 2))
    recent = _user_intents(turn)[-limit:]
    if len(recent) >= limit and all(i == "nlu_fallback" for i in recent):
        return hand_off(turn, HandoffReason.NO_ENTENDIDO)
    turn.say("utter_no_entendi")
    return []


class ActionInsulto(DbAction):
    """A calm answer, never a threat; repeated insults in the session go to a person."""

    def name(self) -> str:
        return "action_insulto"

    def handle(self, turn: Turn) -> list[EventType]:
        limit = int(turn.profile.escalation.get("insults", 2))
        if _user_intents(turn).count("insulto") >= limit:
            return hand_off(turn, HandoffReason.INSULTOS)
        turn.say("utter_calma_insulto")
        return []


class ActionMensajeAsesor(Action):
    """Delivers an agent's reply on the debtor's own channel. The console sets the slot
    ``mensaje_asesor`` and runs this action through Rasa's token-protected HTTP API with
    ``output_channel=latest``; the reply stays in the transcript like any other message."""

    def name(self) -> str:
        return "action_mensaje_asesor"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = str(tracker.get_slot(MENSAJE_ASESOR) or "").strip()
        if text:
            dispatcher.utter_message(response="utter_mensaje_asesor", texto=text)
        return [SlotSet(MENSAJE_ASESOR, None)]
