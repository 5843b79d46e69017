from __future__ import annotations

import asyncio
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.session import ActionSessionStart
from cobranza.bootstrap import App
from tests.support.actions import Domain, TrackerFactory


def _run(tracker: Any, domain: dict[str, Any]) -> tuple[list[dict[str, Any]], CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    events = asyncio.run(ActionSessionStart().run(dispatcher, tracker, domain))
    return events, dispatcher


def _slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


@pytest.mark.parametrize(
    ("sender", "found", "persona", "zone", "consent", "in_hours"),
    [
        ("5215512345678", True, "olvidadizo", "America/Mexico_City", "otorgado", True),
        ("5216641234567", True, "en_apuros", "America/Tijuana", "otorgado", True),
        ("5216561234567", True, "olvidadizo", "America/Ciudad_Juarez", "revocado", True),
        ("5215599999999", False, None, "America/Mexico_City", "sin_registro", True),
        ("web-7f3a9c", False, None, "America/Mexico_City", "sin_registro", False),
    ],
)
def test_session_start_loads_the_sender(
    action_app: App,
    tracker_factory: TrackerFactory,
    domain: Domain,
    sender: str,
    found: bool,
    persona: str | None,
    zone: str,
    consent: str,
    in_hours: bool,
) -> None:
    events, dispatcher = _run(tracker_factory(sender_id=sender), domain)
    assert events[0]["event"] == "session_started"
    assert (events[-1]["event"], events[-1]["name"]) == ("action", "action_listen")
    assert _slots(events) == {
        "deudor_encontrado": found,
        "persona": persona,
        "zona_horaria": zone,
        "en_horario": in_hours,  # 18:00 UTC: midday in every Mexican zone
        "consentimiento": consent,
        "contacto_bloqueado": False,
        "aviso_privacidad_url": action_app.settings.privacy_notice_url,
    }
    assert dispatcher.messages == [], "session start says nothing, discloses nothing"


def test_every_slot_the_action_sets_is_in_the_domain(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, _ = _run(tracker_factory(), domain)
    assert set(_slots(events)) <= set(domain["slots"])
    # the categorical slot must know every persona a profile defines
    assert set(domain["slots"]["persona"]["values"]) == set(action_app.profiles)
