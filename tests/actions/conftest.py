"""Action tests: the real domain.yml, a tracker factory, and the app pointed at a real
database with the demo portfolio and a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker

from cobranza import bootstrap
from cobranza.bootstrap import App
from cobranza.clock import FixedClock
from cobranza.config import PROJECT_ROOT
from cobranza.domain.phones import normalize_phone
from cobranza.personas.profiles import PersonaProfile
from tests.support.actions import Domain, TrackerFactory, app_on_a_copy, verify_on_server


@pytest.fixture(scope="session")
def domain() -> Domain:
    data: Domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return data


@pytest.fixture
def tracker_factory(domain: Domain, request: pytest.FixtureRequest) -> TrackerFactory:
    """A tracker as Rasa sends it. By default a WhatsApp conversation (the channel that proves
    the number). A tracker whose slots say ``identidad_verificada`` stands for a conversation
    verified on the server too, unless ``server_verified=False`` (a forged tracker).
    ``previous_texts`` are the texts of the earlier messages of ``previous_intents``;
    ``bot_said`` is the response the assistant sent just before this message."""

    def make(
        sender_id: str = "5215512345678",
        slots: dict[str, Any] | None = None,
        text: str = "hola",
        intent: str = "saludar",
        entities: list[dict[str, Any]] | None = None,
        previous_intents: list[str] | None = None,
        previous_texts: list[str] | None = None,
        channel: str = "whatsapp",
        server_verified: bool | None = None,
        bot_said: str | None = None,
    ) -> Tracker:
        values = {name: spec.get("initial_value") for name, spec in domain["slots"].items()}
        unknown = set(slots or {}) - set(values)
        assert not unknown, f"slots not in domain.yml: {unknown}"
        values.update(slots or {})
        if server_verified is None:
            server_verified = bool(values.get("identidad_verificada"))
        if server_verified:
            phone = values.get("telefono") or normalize_phone(sender_id)
            verify_on_server(request.getfixturevalue("action_app"), sender_id, phone)
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": 1.0},
            "entities": entities or [],
        }
        events = [
            {
                "event": "user",
                "text": (previous_texts or [])[n]
                if n < len(previous_texts or [])
                else f"mensaje {n}",
                "parse_data": {"intent": {"name": name}},
                "input_channel": channel,
            }
            for n, name in enumerate(previous_intents or [])
        ]
        if bot_said is not None:  # the response the assistant sent last, as Rasa records it
            events.append({"event": "bot", "text": "…", "metadata": {"utter_action": bot_said}})
        events.append(
            {"event": "user", "text": text, "parse_data": latest, "input_channel": channel}
        )
        return Tracker(sender_id, values, latest, events, False, None, {}, "action_listen")

    return make


@pytest.fixture
def app_environment() -> dict[str, str]:
    """Settings the actions' app takes besides its database (a module overrides it to read
    other campaigns or experiments)."""
    return {}


@pytest.fixture
def action_app(
    seeded_sqlite_url: str,
    profiles: dict[str, PersonaProfile],
    clock: FixedClock,
    tmp_path: Path,
    app_environment: dict[str, str],
) -> Iterator[App]:
    """The app on a private copy of the demo database (actions write to it)."""
    rt = app_on_a_copy(seeded_sqlite_url, tmp_path, app_environment, clock=clock, profiles=profiles)
    bootstrap.install(rt)
    yield rt
    bootstrap.install(None)
    rt.engine.dispose()
