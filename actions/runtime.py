"""The action server's shared resources, built on first use (no work at import time)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.clock import Clock, SystemClock
from cobranza.config import Settings, load_settings
from cobranza.personas.profiles import PersonaProfile, load_profiles


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    sessions: sessionmaker
    profiles: dict[str, PersonaProfile]
    clock: Clock


_lock = threading.Lock()
_runtime: Runtime | None = None


def get_runtime() -> Runtime:
    global _runtime
    with _lock:
        if _runtime is None:
            settings = load_settings()
            engine = db.make_engine(settings.database_url)
            _runtime = Runtime(
                settings=settings,
                sessions=db.make_session_factory(engine),
                profiles=load_profiles(settings.persona_profiles_dir),
                clock=SystemClock(),
            )
        return _runtime


def set_runtime(runtime: Runtime | None) -> None:
    """For tests: run the actions against another database, clock or profiles."""
    global _runtime
    with _lock:
        _runtime = runtime


def run_in_session(func: Any, *args: Any) -> Any:
    """Call ``func(session, *args)`` in a unit of work (use from a worker thread)."""
    with db.session_scope(get_runtime().sessions) as session:
        return func(session, *args)
