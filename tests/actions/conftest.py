"""Action tests: the real domain.yml, a tracker factory, and the runtime pointed at a real
database with the demo portfolio and a fixed clock."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from sqlalchemy.engine import make_url

from actions import runtime
from cobranza.adapters import db
from cobranza.config import PROJECT_ROOT, load_settings


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    return data


@pytest.fixture
def tracker_factory(domain: dict[str, Any]) -> Callable[..., Tracker]:
    def make(
        sender_id: str = "5215512345678",
        slots: dict[str, Any] | None = None,
        text: str = "hola",
        intent: str = "saludar",
        entities: list[dict[str, Any]] | None = None,
        previous_intents: list[str] | None = None,
        channel: str = "rest",
    ) -> Tracker:
        values = {name: spec.get("initial_value") for name, spec in domain["slots"].items()}
        unknown = set(slots or {}) - set(values)
        assert not unknown, f"slots not in domain.yml: {unknown}"
        values.update(slots or {})
        latest = {
            "text": text,
            "intent": {"name": intent, "confidence": 1.0},
            "entities": entities or [],
        }
        events = [
            {
                "event": "user",
                "text": f"mensaje {n}",
                "parse_data": {"intent": {"name": name}},
                "input_channel": channel,
            }
            for n, name in enumerate(previous_intents or [])
        ]
        events.append(
            {"event": "user", "text": text, "parse_data": latest, "input_channel": channel}
        )
        return Tracker(sender_id, values, latest, events, False, None, {}, "action_listen")

    return make


@pytest.fixture
def action_runtime(seeded_sqlite_url: str, profiles, clock, tmp_path) -> Iterator[runtime.Runtime]:  # type: ignore[no-untyped-def]
    """The runtime on a private copy of the demo database (actions write to it)."""
    source = Path(make_url(seeded_sqlite_url).database or "")
    copy = tmp_path / "actions.db"
    shutil.copyfile(source, copy)
    url = f"sqlite:///{copy}"
    settings = load_settings({"DATABASE_URL": url})
    engine = db.make_engine(url)
    rt = runtime.Runtime(settings, db.make_session_factory(engine), profiles, clock)
    runtime.set_runtime(rt)
    yield rt
    runtime.set_runtime(None)
    engine.dispose()
