"""Rasa's conversations in our database (cobranza/channels/tracker_store.py), on SQLite and on
PostgreSQL: what a restart must find (a paused hand-off, a verified identity), sessions as
domain.yml bounds them, configuration from DATABASE_URL only, and Alembic leaving Rasa's table
alone."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from alembic import command
from rasa.core.tracker_store import TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config
from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine, make_url

from cobranza import bootstrap, db
from cobranza.channels.tracker_store import CobranzaTrackerStore
from cobranza.clock import SystemClock
from cobranza.config import PROJECT_ROOT, ConfigError, load_settings

SENDER = "5216641234567"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(PROJECT_ROOT / "domain.yml"))


def _session(start: float, *events: Event) -> list[Event]:
    return [
        ActionExecuted("action_session_start", timestamp=start),
        SessionStarted(timestamp=start),
        ActionExecuted("action_listen", timestamp=start),
        *events,
    ]


def _handed_off(start: float) -> list[Event]:
    """A verified debtor who asked for a person: the bot paused the conversation."""
    return _session(
        start,
        UserUttered("12/03/1985", timestamp=start + 1),
        SlotSet("identidad_verificada", True, timestamp=start + 2),
        BotUttered("Gracias, identidad confirmada.", timestamp=start + 2),
        ActionExecuted("action_listen", timestamp=start + 2),
        UserUttered(
            "quiero hablar con un asesor",
            metadata={"whatsapp_message_id": "wamid.asesor"},
            timestamp=start + 3,
        ),
        ActionExecuted("action_handoff", timestamp=start + 4),
        ConversationPaused(timestamp=start + 4),
        ActionExecuted("action_listen", timestamp=start + 4),
    )


@pytest.fixture
def process_app() -> Iterator[None]:
    """No process-wide App yet: the store builds it from the environment, as in `rasa run`."""
    bootstrap.install(None)
    yield
    bootstrap.install(None)


def _store(engine: Engine, domain: Domain) -> CobranzaTrackerStore:
    """The store as one server process builds it: its own App (and engine) on the database."""
    settings = load_settings({"DATABASE_URL": engine.url.render_as_string(hide_password=False)})
    app = bootstrap.build(settings, clock=SystemClock(), profiles={})
    return CobranzaTrackerStore(domain=domain, app=app)


def _check_a_restart_keeps_conversations(engine: Engine, domain: Domain) -> None:
    db.upgrade(engine)
    events = _handed_off(1_790_000_000.0)
    before = _store(engine, domain)
    asyncio.run(before.save(DialogueStateTracker.from_events(SENDER, events, domain.slots)))
    before.engine.dispose()

    after = _store(engine, domain)  # a new process on the same database
    tracker = asyncio.run(after.retrieve(SENDER))
    assert tracker is not None
    assert tracker.is_paused() and tracker.get_slot("identidad_verificada") is True
    assert list(tracker.events) == events
    assert tracker.latest_message is not None
    assert tracker.latest_message.metadata == {"whatsapp_message_id": "wamid.asesor"}

    # Saving again stores only the new events.
    tracker.update(UserUttered("sigo esperando", timestamp=1_790_000_010.0))
    asyncio.run(after.save(tracker))
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT count(*) FROM events WHERE sender_id = :s"), {"s": SENDER}
        ).scalar_one()
    assert stored == len(events) + 1
    assert asyncio.run(after.keys()) == [SENDER]
    after.engine.dispose()


def test_a_restart_keeps_conversations_on_sqlite(migrated_sqlite: Engine, domain: Domain) -> None:
    _check_a_restart_keeps_conversations(migrated_sqlite, domain)


@pytest.mark.postgres
def test_a_restart_keeps_conversations_on_postgres(empty_postgres: Engine, domain: Domain) -> None:
    _check_a_restart_keeps_conversations(empty_postgres, domain)


def test_only_the_latest_session_is_the_conversation(
    migrated_sqlite: Engine, domain: Domain
) -> None:
    """A new session (domain.yml: 30 minutes of silence) starts clean: retrieving gives the
    latest session only, with the verification of the old one gone."""
    store = _store(migrated_sqlite, domain)
    old = _handed_off(1_790_000_000.0)
    new = _session(1_790_009_000.0, UserUttered("hola", timestamp=1_790_009_001.0))
    asyncio.run(store.save(DialogueStateTracker.from_events(SENDER, old + new, domain.slots)))
    latest = asyncio.run(store.retrieve(SENDER))
    assert latest is not None and list(latest.events) == new
    assert latest.get_slot("identidad_verificada") is False and not latest.is_paused()
    full = asyncio.run(store.retrieve_full_tracker(SENDER))
    assert full is not None and list(full.events) == old + new
    store.engine.dispose()


def test_the_session_start_lookup_has_an_index(migrated_sqlite: Engine, domain: Domain) -> None:
    """Every turn looks up the conversation's latest session start (twice: retrieve, save). With
    Rasa's index on sender_id alone that reads every event the debtor ever had."""
    store = _store(migrated_sqlite, domain)
    indexes = {i["name"]: i["column_names"] for i in inspect(migrated_sqlite).get_indexes("events")}
    assert indexes["ix_events_sender_type_time"] == ["sender_id", "type_name", "timestamp"]
    with migrated_sqlite.connect() as connection:
        plan = connection.execute(
            text(
                "EXPLAIN QUERY PLAN SELECT max(timestamp) FROM events "
                "WHERE sender_id = :s AND type_name = 'session_started'"
            ),
            {"s": SENDER},
        ).all()
    assert "COVERING INDEX ix_events_sender_type_time" in " ".join(str(r[-1]) for r in plan)
    _store(migrated_sqlite, domain).engine.dispose()  # a second start: the index exists already
    store.engine.dispose()


def test_alembic_leaves_rasas_table_alone(migrated_sqlite: Engine, domain: Domain) -> None:
    """`events` (and our index on it) is Rasa's: autogenerate sees no difference, and a
    downgrade of our schema keeps the conversations."""
    _store(migrated_sqlite, domain).engine.dispose()
    config = db._alembic_config(migrated_sqlite)
    command.check(config)  # raises when autogenerate would generate anything
    db.downgrade(migrated_sqlite, "base")
    assert set(db.table_names(migrated_sqlite)) == {"alembic_version", "events"}


def test_sqlite_engine_is_in_wal_mode_with_a_busy_timeout(
    migrated_sqlite: Engine, domain: Domain
) -> None:
    store = _store(migrated_sqlite, domain)
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert connection.execute(text("PRAGMA busy_timeout")).scalar_one() >= 5000
    store.engine.dispose()


def test_endpoints_yml_builds_our_store_from_database_url(
    tmp_path: Path, domain: Domain, monkeypatch: pytest.MonkeyPatch, process_app: None
) -> None:
    """The tracker_store block of the repository's endpoints.yml, as `rasa run` reads it: the
    database is DATABASE_URL's (one source of truth), not a default file of Rasa's."""
    url = f"sqlite:///{tmp_path / 'desde-env.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    # Rasa expands every ${VAR} of the file, the action endpoint's too (scripts/run.sh sets them).
    monkeypatch.setenv("ACTIONS_PORT", "5055")
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "t" * 32)
    config = read_endpoint_config(str(PROJECT_ROOT / "endpoints.yml"), "tracker_store")
    assert config is not None and config.url is None and config.kwargs == {}
    store = TrackerStore.create(config, domain=domain)
    assert isinstance(store, CobranzaTrackerStore)
    assert str(store.engine.url) == url
    assert "events" in db.table_names(store.engine)
    store.engine.dispose()


@pytest.mark.parametrize(
    "extra",
    [
        {"host": "postgresql://cobranza:s3cr3t-en-yaml@db/cobranza"},
        {"password": "s3cr3t-en-yaml"},
        {"username": "cobranza", "db": "otra.db"},
        {"dialect": "postgresql"},
    ],
)
def test_connection_settings_in_yaml_are_refused(
    extra: dict[str, str],
    domain: Domain,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    process_app: None,
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ConfigError, match="DATABASE_URL") as refused:
        CobranzaTrackerStore(domain=domain, **extra)  # type: ignore[arg-type]
    assert "s3cr3t" not in str(refused.value)


def test_no_password_in_the_logs(
    domain: Domain,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    process_app: None,
) -> None:
    """A PostgreSQL URL with a password, a server that refuses the connection: the error names
    the variable, and neither it nor any log line carries the password."""
    url = "postgresql://cobranza:s3cr3t-de-prueba@127.0.0.1:9/cobranza"
    monkeypatch.setenv("DATABASE_URL", url)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConfigError, match="DATABASE_URL") as failed:
        CobranzaTrackerStore(domain=domain)
    assert "s3cr3t" not in str(failed.value) and "s3cr3t" not in repr(failed.value.__cause__)
    assert "s3cr3t" not in caplog.text
    assert make_url(url).password == "s3cr3t-de-prueba"  # the URL did carry one


def test_the_server_loop_does_not_wait_for_the_database(
    migrated_sqlite: Engine, domain: Domain
) -> None:
    """Another process holds the write lock for a second (a long transaction): our save waits
    for it, and meanwhile the event loop, which serves every webhook, keeps running. Rasa's own
    store would block the loop that whole second."""
    import sqlite3
    import threading
    import time

    store = _store(migrated_sqlite, domain)
    tracker = DialogueStateTracker.from_events(SENDER, _handed_off(1_790_000_000.0), domain.slots)
    locked, release = threading.Event(), threading.Event()

    def hold_the_write_lock() -> None:
        other = sqlite3.connect(
            make_url(str(migrated_sqlite.url)).database or "", isolation_level=None
        )
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(5)
        time.sleep(1.0)
        other.execute("COMMIT")
        other.close()

    holder = threading.Thread(target=hold_the_write_lock)
    holder.start()
    assert locked.wait(5)

    async def go() -> int:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        await asyncio.sleep(0.05)
        release.set()
        await store.save(tracker)
        ticker.cancel()
        return ticks

    ticks = asyncio.run(go())
    holder.join()
    assert ticks >= 40, f"the loop ran {ticks} times in the second the save waited"
    retrieved = asyncio.run(store.retrieve(SENDER))
    assert retrieved is not None and list(retrieved.events) == list(tracker.events)
    store.engine.dispose()


def test_two_processes_creating_the_table_at_once(migrated_sqlite: Engine, domain: Domain) -> None:
    """Between our "is there an events table?" and our CREATE TABLE, another process (a second
    Rasa) creates it: the start must not fail."""
    import sqlite3

    from sqlalchemy import event

    table = CobranzaTrackerStore.SQLEvent.__table__
    path = make_url(str(migrated_sqlite.url)).database or ""
    raced: list[bool] = []

    def other_process_wins(*_args: object, **_kwargs: object) -> None:
        if not raced:
            raced.append(True)
            other = sqlite3.connect(path)
            other.execute(
                "CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id VARCHAR(255) NOT NULL, "
                "type_name VARCHAR(255) NOT NULL, timestamp FLOAT, intent_name VARCHAR(255), "
                "action_name VARCHAR(255), data TEXT)"
            )
            other.commit()
            other.close()

    event.listen(table, "before_create", other_process_wins)
    try:
        store = _store(migrated_sqlite, domain)
    finally:
        event.remove(table, "before_create", other_process_wins)
    assert raced == [True]
    tracker = DialogueStateTracker.from_events(SENDER, _handed_off(1_790_000_000.0), domain.slots)
    asyncio.run(store.save(tracker))
    assert asyncio.run(store.retrieve(SENDER)) is not None
    store.engine.dispose()


def _statements(engine: Engine) -> tuple[list[str], Callable[[], None]]:
    """Every SQL statement the engine runs from now on, and how to stop listening."""
    from sqlalchemy import event

    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(engine, "before_cursor_execute", record)


def _turn(tracker: DialogueStateTracker, at: float, text: str) -> list[Event]:
    """What one turn appends: the message, an action's slot and reply, and listening."""
    new = [
        UserUttered(text, {"name": "informar", "confidence": 0.9}, timestamp=at),
        ActionExecuted("action_procesar_respuesta", timestamp=at + 0.1),
        SlotSet("esperando", "confirmacion_promesa", timestamp=at + 0.1),
        BotUttered("¿Confirmas?", {"utter_action": "utter_confirmar_promesa"}, timestamp=at + 0.1),
        ActionExecuted("action_listen", timestamp=at + 0.2),
    ]
    for event_ in new:
        tracker.update(event_)
    return new


def _rows(engine: Engine) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                text(
                    "SELECT sender_id, type_name, timestamp, intent_name, action_name, data "
                    "FROM events ORDER BY id"
                )
            )
        ]


def _check_a_turn_saves_without_counting_again(engine: Engine, domain: Domain) -> None:
    """A turn (retrieve, then save) asks for the events once: the save appends the turn's
    events, in one batch, without Rasa's second count; a second save of the same tracker counts
    again. The rows are those Rasa's own SQLTrackerStore writes for the same turns."""
    import warnings

    from rasa.core.tracker_store import SQLTrackerStore
    from sqlalchemy.exc import SADeprecationWarning

    db.upgrade(engine)
    store = _store(engine, domain)
    asyncio.run(
        store.save(DialogueStateTracker.from_events(SENDER, _handed_off(1.79e9), domain.slots))
    )
    tracker = asyncio.run(store.retrieve(SENDER))
    assert tracker is not None
    new = _turn(tracker, 1.79e9 + 10, "te pago 500 mañana")
    seen, stop = _statements(store.engine)
    asyncio.run(store.save(tracker))
    stop()
    assert not [s for s in seen if "count(" in s.lower()], seen
    assert len([s for s in seen if s.startswith("INSERT INTO events")]) == 1, seen
    retrieved = asyncio.run(store.retrieve(SENDER))
    assert retrieved is not None and list(retrieved.events) == [*_handed_off(1.79e9), *new]

    more = _turn(tracker, 1.79e9 + 20, "sí")  # the same object saved again: counted, as Rasa
    seen, stop = _statements(store.engine)
    asyncio.run(store.save(tracker))
    stop()
    assert [s for s in seen if "count(" in s.lower()]
    retrieved = asyncio.run(store.retrieve(SENDER))
    assert retrieved is not None and list(retrieved.events) == [*_handed_off(1.79e9), *new, *more]
    full = asyncio.run(store.retrieve_full_tracker(SENDER))
    assert full is not None and not hasattr(full, "_cobranza_stored_events")

    # Rasa's own store, the same turns: the same rows.
    with warnings.catch_warnings():  # Rasa builds its URL with a constructor SQLAlchemy deprecates
        warnings.simplefilter("ignore", SADeprecationWarning)
        reference = SQLTrackerStore(domain, dialect="sqlite", db=":memory:")
    theirs = DialogueStateTracker.from_events(SENDER, _handed_off(1.79e9), domain.slots)
    asyncio.run(reference.save(theirs))
    theirs = asyncio.run(reference.retrieve(SENDER))
    assert theirs is not None
    _turn(theirs, 1.79e9 + 10, "te pago 500 mañana")
    asyncio.run(reference.save(theirs))
    _turn(theirs, 1.79e9 + 20, "sí")
    asyncio.run(reference.save(theirs))
    assert _rows(engine) == _rows(reference.engine)
    store.engine.dispose()


def test_a_turn_saves_without_counting_again_on_sqlite(
    migrated_sqlite: Engine, domain: Domain
) -> None:
    _check_a_turn_saves_without_counting_again(migrated_sqlite, domain)


@pytest.mark.postgres
def test_a_turn_saves_without_counting_again_on_postgres(
    empty_postgres: Engine, domain: Domain
) -> None:
    _check_a_turn_saves_without_counting_again(empty_postgres, domain)
