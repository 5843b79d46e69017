"""Rasa's event classes found by type name without walking every Event subclass each time
(cobranza/channels/event_types.py): the same class as Rasa's own lookup for every name, a class
defined later still found, the walk once per name, and in place wherever our tracker store is
built."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import pytest
import rasa.shared.utils.common
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import ActionExecuted, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from cobranza.channels import event_types

RASAS_OWN = Event.resolve_by_type  # as Rasa ships it, before anything installs ours
RASAS_RAW = inspect.getattr_static(Event, "resolve_by_type")  # its staticmethod
NAMES = sorted({cls.type_name for cls in rasa.shared.utils.common.all_subclasses(Event)})

EVENTS: list[dict[str, Any]] = [
    {"event": "action", "name": "action_session_start", "timestamp": 1.0},
    {"event": "session_started", "timestamp": 2.0},
    {"event": "action", "name": "action_listen", "timestamp": 3.0},
    {
        "event": "user",
        "text": "cuanto debo",
        "parse_data": {"intent": {"name": "consultar_saldo", "confidence": 0.9}, "entities": []},
        "timestamp": 4.0,
    },
    {"event": "slot", "name": "esperando", "value": "telefono", "timestamp": 5.0},
    {"event": "bot", "text": "¿Me das tu número?", "data": {}, "timestamp": 6.0},
    {"event": "action", "name": "action_listen", "timestamp": 7.0},
]


@pytest.fixture
def ours() -> Iterator[None]:
    """Our lookup in place for the test, Rasa's back afterwards."""
    assert event_types.install()
    yield
    Event.resolve_by_type = RASAS_RAW
    del Event.__init_subclass__


def _walks(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Count Rasa's walks over the Event subclasses."""
    walks: list[object] = []
    original = rasa.shared.utils.common.all_subclasses

    def counted(cls: Any) -> list[Any]:
        if cls is Event:
            walks.append(cls)
        return original(cls)

    monkeypatch.setattr(rasa.shared.utils.common, "all_subclasses", counted)
    return walks


def test_rasa_alone_walks_every_subclass_per_event(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the lookup is for: a tracker of n events costs Rasa n walks."""
    monkeypatch.setattr(Event, "resolve_by_type", RASAS_RAW)  # an earlier test may install ours
    walks = _walks(monkeypatch)
    DialogueStateTracker.from_dict("+525512345678", EVENTS, [])
    assert len(walks) >= len(EVENTS)


def test_a_tracker_is_read_without_walking_again(
    ours: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    DialogueStateTracker.from_dict("+525512345678", EVENTS, [])  # the names seen once
    walks = _walks(monkeypatch)
    tracker = DialogueStateTracker.from_dict("+525512345678", EVENTS, [])
    assert walks == []
    assert [e.as_dict()["event"] for e in tracker.events] == [e["event"] for e in EVENTS]


@pytest.mark.parametrize("name", NAMES)
def test_the_same_class_as_rasas_own(name: str, ours: None) -> None:
    assert Event.resolve_by_type(name) is RASAS_OWN(name)
    assert Event.resolve_by_type(name) is RASAS_OWN(name)  # cached


def test_unknown_names_as_in_rasa(ours: None) -> None:
    assert Event.resolve_by_type("topic") is None
    assert Event.resolve_by_type("no_such_event", default=UserUttered) is UserUttered
    with pytest.raises(ValueError, match="Unknown event name 'no_such_event'"):
        Event.resolve_by_type("no_such_event")


def test_a_class_defined_later_is_found(ours: None) -> None:
    assert Event.resolve_by_type("action") is ActionExecuted  # the cache is warm

    class LaterEvent(ActionExecuted):
        type_name = "cobranza_test_later_event"

    assert Event.resolve_by_type("cobranza_test_later_event") is LaterEvent
    assert Event.resolve_by_type("action") is RASAS_OWN("action")


def test_our_tracker_store_puts_it_in_place(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.shared.core.domain import Domain

    from cobranza import bootstrap
    from cobranza.channels.tracker_store import CobranzaTrackerStore
    from cobranza.config import load_settings

    monkeypatch.setattr(Event, "resolve_by_type", RASAS_RAW)
    monkeypatch.setattr(RemoteAction, "run", RemoteAction.run)
    monkeypatch.setattr(
        RemoteAction, "_validate_action_result", RemoteAction._validate_action_result
    )
    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"})
    try:
        store = CobranzaTrackerStore(Domain.empty(), app=bootstrap.build(settings, profiles={}))
        assert Event.resolve_by_type is event_types.resolve_by_type
        store.engine.dispose()
    finally:
        if "__init_subclass__" in Event.__dict__:
            del Event.__init_subclass__
