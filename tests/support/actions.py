"""Running an action the way the action server does, and reading what it did."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.engine import make_url

from actions.base import DbAction
from cobranza import bootstrap, db
from cobranza.bootstrap import App
from cobranza.config import load_settings
from cobranza.db import verifications

# domain.yml as the action server hands it to an action.
Domain = dict[str, Any]
# The ``tracker_factory`` fixture: keyword arguments describe the conversation (see
# tests/actions/conftest.py).
TrackerFactory = Callable[..., Tracker]


def verify_on_server(rt: App, sender_id: str, phone: str) -> None:
    """What a correct date of birth leaves behind: the server-side verification record."""
    with db.session_scope(rt.sessions) as session:
        verifications.record(
            session, sender_id, "whatsapp", phone, rt.clock.now(), rt.settings.verification_ttl
        )


def run_action(
    action: Action, tracker: Tracker, domain: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The action's events without the end of its turn, which is checked here for every action
    of ours (actions/base.py: end_of_turn): a follow-up ``action_listen`` last, unless the
    action paused the conversation (then none at all)."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain))
    if isinstance(action, DbAction):
        ended = [e for e in events if e["event"] == "followup"]
        if any(e["event"] == "pause" for e in events):
            assert ended == [], events
        else:
            assert ended == [events[-1]] and ended[0]["name"] == "action_listen", events
            events = events[:-1]
    return events, dispatcher.messages


def app_on_a_copy(
    seeded_sqlite_url: str,
    tmp_path: Path,
    environment: dict[str, str] | None = None,
    **objects: Any,
) -> App:
    """An app on a private copy of the demo database (actions write to it), with the settings
    ``environment`` adds (another campaigns or experiments folder); ``objects``: the clock, the
    profiles."""
    copy = tmp_path / "actions.db"
    shutil.copyfile(make_url(seeded_sqlite_url).database or "", copy)
    settings = load_settings({"DATABASE_URL": f"sqlite:///{copy}", **(environment or {})})
    return bootstrap.build(settings, **objects)


# Refreshed after every action from the compliance engine (actions/base.py: compliance_slots);
# tested on their own in test_compliance_slots.py.
COMPLIANCE_SLOTS = frozenset({"en_horario", "consentimiento", "contacto_bloqueado"})


def slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The slots the action set itself (without the compliance refresh)."""
    return {
        e["name"]: e["value"]
        for e in events
        if e["event"] == "slot" and e["name"] not in COMPLIANCE_SLOTS
    }


def all_slots(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Every slot set, the last value winning."""
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def responses(messages: list[dict[str, Any]]) -> list[str]:
    return [m["response"] for m in messages]


def message(messages: list[dict[str, Any]], response: str) -> dict[str, Any]:
    found = [m for m in messages if m["response"] == response]
    assert found, f"{response} not in {responses(messages)}"
    return found[0]


def entity(name: str, text: str, span: str, value: Any) -> dict[str, Any]:
    start = text.index(span)
    return {"entity": name, "start": start, "end": start + len(span), "value": value}


def run_turn(
    action: Action,
    tracker_factory: TrackerFactory,
    domain: Domain,
    state: dict[str, Any],
    text: str,
    intent: str,
    **conversation: Any,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One message ``text`` (read as ``intent``) to ``action`` with the slots ``state``; the
    slots after it and what it said. ``conversation``: more of the tracker factory's arguments
    (``sender_id``, ``entities``, ``bot_said``)."""
    tracker = tracker_factory(slots=state, text=text, intent=intent, **conversation)
    events, messages = run_action(action, tracker, domain)
    return {**state, **slots(events)}, messages
