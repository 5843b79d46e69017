"""Session start: load who the sender is (found or not, persona, time zone) into slots."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.runtime import get_runtime, run_in_session
from cobranza import services
from cobranza.domain.phones import mask_phone

logger = logging.getLogger(__name__)


class ActionSessionStart(Action):
    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        runtime = await asyncio.to_thread(get_runtime)
        try:
            context = await asyncio.to_thread(
                run_in_session,
                services.session_context,
                tracker.sender_id,
                runtime.settings.default_time_zone,
            )
        except Exception:
            logger.exception("session start failed for %s", mask_phone(tracker.sender_id))
            context = {
                "found": False,
                "persona": None,
                "time_zone": runtime.settings.default_time_zone,
            }
        return [
            SessionStarted(),
            SlotSet("deudor_encontrado", context["found"]),
            SlotSet("persona", context["persona"]),
            SlotSet("zona_horaria", context["time_zone"]),
            ActionExecuted("action_listen"),
        ]
