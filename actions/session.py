"""Session start: load who the sender is (found or not, persona, time zone) and what the
compliance engine says about the number (contact window, consent, flagged) into slots."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions import slots
from actions.base import ACTION_LISTEN, channel_name
from cobranza import bootstrap
from cobranza.bootstrap import App
from cobranza.compliance import decisions
from cobranza.db import verifications
from cobranza.domain.phones import InvalidPhone, mask_phone, normalize_phone
from cobranza.services import views
from cobranza.services.identity import PROVEN_CHANNELS

logger = logging.getLogger(__name__)


def _sender_phone(sender_id: str, input_channel: str | None) -> str | None:
    """The sender id as a number, only where the channel proves it. A brand-new conversation
    has no input channel yet; the channels that do not prove a number give ids that never
    read as one (``rest:…``, ``web-…``), so reading it then is safe."""
    if input_channel is not None and channel_name(input_channel) not in PROVEN_CHANNELS:
        return None
    try:
        return normalize_phone(sender_id)  # unknown numbers too: zone by area code
    except InvalidPhone:
        return None


def _context(app: App, sender_id: str, input_channel: str | None) -> dict[str, Any]:
    """A new session: who the sender is, what the compliance engine says, and the end of any
    identity verification of the previous session (it lasts one session only)."""
    with app.unit_of_work() as session:
        return _context_in(session, sender_id, input_channel, app)


def _context_in(
    session: Session, sender_id: str, input_channel: str | None, app: App
) -> dict[str, Any]:
    settings = app.settings
    verifications.end(session, sender_id, app.clock.now())
    phone = _sender_phone(sender_id, input_channel)
    context = views.session_context(session, phone or "", settings.default_time_zone)
    flags = decisions.conversation_flags(
        session, phone, settings, app.clock, decisions.PROACTIVE_CHANNEL
    )
    return {**context, **flags.as_slots()}


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        app = await asyncio.to_thread(bootstrap.app)
        try:
            context = await asyncio.to_thread(
                _context, app, tracker.sender_id, tracker.get_latest_input_channel()
            )
        except Exception:
            logger.exception("session start failed for %s", mask_phone(tracker.sender_id))
            context = {
                "found": False,
                slots.PERSONA: None,
                slots.ZONA_HORARIA: app.settings.default_time_zone,
                slots.EN_HORARIO: False,
                slots.CONSENTIMIENTO: decisions.NONE,
                slots.CONTACTO_BLOQUEADO: False,
            }
        return [
            SessionStarted(),
            SlotSet(slots.DEUDOR_ENCONTRADO, context["found"]),
            SlotSet(slots.PERSONA, context[slots.PERSONA]),
            SlotSet(slots.ZONA_HORARIA, context[slots.ZONA_HORARIA]),
            SlotSet(slots.EN_HORARIO, context[slots.EN_HORARIO]),
            SlotSet(slots.CONSENTIMIENTO, context[slots.CONSENTIMIENTO]),
            SlotSet(slots.CONTACTO_BLOQUEADO, context[slots.CONTACTO_BLOQUEADO]),
            SlotSet(slots.AVISO_PRIVACIDAD_URL, app.settings.privacy_notice_url),
            ActionExecuted(ACTION_LISTEN),
        ]
