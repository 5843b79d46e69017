"""The one composition root: every process (action server, Rasa's channels and tracker store,
the console, the CLI) builds its parts here and nowhere else.

``build()`` reads the settings (the only reader of the environment is :mod:`cobranza.config`),
opens the engine and picks the clock; the persona profiles load on first use. ``app()`` is the
process-wide instance the entry points share, built on first use so that importing a module does
no work; tests build their own with another database, clock or profiles and hand it to the
entry point.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from cobranza import db
from cobranza.clock import Clock, SystemClock
from cobranza.config import Settings, load_settings
from cobranza.db import repository
from cobranza.personas.profiles import PersonaProfile, load_profiles


@dataclass(frozen=True)
class App:
    """What a use case needs from the outside world, built once per process."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker
    clock: Clock
    given_profiles: dict[str, PersonaProfile] | None = None

    @cached_property
    def profiles(self) -> dict[str, PersonaProfile]:
        """The persona profiles, loaded (and validated) on first use: a command that needs none
        (``cobranza db upgrade``) still runs while a designer's profile is broken."""
        if self.given_profiles is not None:
            return self.given_profiles
        return load_profiles(self.settings.persona_profiles_dir)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        with db.session_scope(self.sessions) as session:
            yield session

    @contextmanager
    def action_run(self) -> Iterator[Session]:
        """The unit of work of one custom action run: short, and every read and write of a
        debtor in it goes through the same objects, so a debtor (with its debts and their
        creditors) is read once however many services ask for it
        (:func:`cobranza.db.repository.remember_debtors`)."""
        with self.unit_of_work() as session:
            repository.remember_debtors(session)
            yield session


def build(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    profiles: dict[str, PersonaProfile] | None = None,
    engine: Engine | None = None,
) -> App:
    """An :class:`App` from the environment, or from what the caller passes (tests, tools)."""
    settings = settings or load_settings()
    engine = engine or db.make_engine(settings.database_url)
    return App(
        settings=settings,
        engine=engine,
        sessions=db.make_session_factory(engine),
        clock=clock or SystemClock(),
        given_profiles=profiles,
    )


_lock = threading.Lock()
_app: App | None = None


def app() -> App:
    """The process-wide :class:`App`, built on first use."""
    global _app
    with _lock:
        if _app is None:
            _app = build()
        return _app


def install(instance: App | None) -> None:
    """Make ``instance`` the process-wide app (tests; ``None`` rebuilds on next use)."""
    global _app
    with _lock:
        _app = instance
