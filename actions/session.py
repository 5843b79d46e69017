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

from actions.runtime import Runtime, get_runtime, run_in_session
from cobranza import compliance, services
from cobranza.domain.phones import InvalidPhone, mask_phone, normalize_phone

logger = logging.getLogger(__name__)


def _context(session: Session, sender_id: str, runtime: Runtime) -> dict[str, Any]:
    settings = runtime.settings
    context = services.session_context(session, sender_id, settings.default_time_zone)
    try:
        phone: str | None = normalize_phone(sender_id)  # unknown numbers too: zone by area code
    except InvalidPhone:
        phone = None
    flags = compliance.conversation_flags(
        session, phone, settings, runtime.clock, compliance.PROACTIVE_CHANNEL
    )
    return {**context, **flags.as_slots()}


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        runtime = await asyncio.to_thread(get_runtime)
        try:
            context = await asyncio.to_thread(run_in_session, _context, tracker.sender_id, runtime)
        except Exception:
            logger.exception("session start failed for %s", mask_phone(tracker.sender_id))
            context = {
                "found": False,
                "persona": None,
                "zona_horaria": runtime.settings.default_time_zone,
                "en_horario": False,
                "consentimiento": compliance.NONE,
                "contacto_bloqueado": False,
            }
        return [
            SessionStarted(),
            SlotSet("deudor_encontrado", context["found"]),
            SlotSet("persona", context["persona"]),
            SlotSet("zona_horaria", context["zona_horaria"]),
            SlotSet("en_horario", context["en_horario"]),
            SlotSet("consentimiento", context["consentimiento"]),
            SlotSet("contacto_bloqueado", context["contacto_bloqueado"]),
            SlotSet("aviso_privacidad_url", runtime.settings.privacy_notice_url),
            ActionExecuted("action_listen"),
        ]
