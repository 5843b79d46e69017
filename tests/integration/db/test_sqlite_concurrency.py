"""Several processes write the same SQLite file, as `make run` does (Rasa with the tracker store
and the WhatsApp inbox, the action server, the console): no write may fail with "database is
locked", whether the others write or hold a long read."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine

from cobranza import db
from cobranza.db.models import AuditLog, WhatsAppInbound

WRITERS, WRITES = 4, 60


def _audit_writer(url: str, number: int, started: Any, errors: Any) -> None:
    """Writes like the action server and the console: one small transaction at a time."""
    engine = db.make_engine(url)
    factory = db.make_session_factory(engine)
    started.wait()
    for n in range(WRITES):
        try:
            with db.session_scope(factory) as session:
                session.add(AuditLog(actor=f"writer-{number}", action="prueba", details={"n": n}))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            errors.put(f"writer {number}: {exc!r}"[:300])
    engine.dispose()


def _conversation_writer(url: str, number: int, started: Any, errors: Any) -> None:
    """Writes like Rasa: tracker events through our tracker store, WhatsApp rows through the
    channel's store (one App per process, their engine shared, as in the server)."""
    import asyncio

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActionExecuted, SessionStarted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from cobranza import bootstrap
    from cobranza.channels.tracker_store import CobranzaTrackerStore
    from cobranza.channels.whatsapp.parse import Inbound
    from cobranza.channels.whatsapp.store import WhatsAppStore
    from cobranza.clock import SystemClock
    from cobranza.config import load_settings

    app = bootstrap.build(load_settings({"DATABASE_URL": url}), clock=SystemClock(), profiles={})
    store = CobranzaTrackerStore(domain=Domain.empty(), app=app)
    inbox = WhatsAppStore.from_app(app)
    sender = f"52155000{number:05d}"
    # As Rasa logs it: the action's SessionStarted, then the action itself (not earlier).
    started_at = time.time()
    tracker = DialogueStateTracker.from_events(
        sender,
        [
            ActionExecuted("action_session_start", timestamp=started_at),
            SessionStarted(timestamp=started_at),
        ],
        [],
    )
    started.wait()

    async def run() -> None:
        for n in range(WRITES):
            try:
                tracker.update(UserUttered(f"mensaje {n}"))
                tracker.update(ActionExecuted("action_listen"))
                await store.save(tracker)
                message = Inbound(
                    f"wamid.{number}.{n}", sender, "text", datetime.now(timezone.utc), "hola"
                )
                assert await inbox.accept(message)
            except Exception as exc:  # noqa: BLE001 - reported to the test
                errors.put(f"conversation {number}: {exc!r}"[:300])

    asyncio.run(run())
    store.engine.dispose()


def _long_reader(url: str, seconds: float, started: Any, reading: Any, errors: Any) -> None:
    """A slow read (a long report, a backup) holding one read transaction for `seconds`."""
    import sqlite3

    path = url.removeprefix("sqlite:///")
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        started.wait()
        connection.execute("BEGIN")
        connection.execute("SELECT count(*) FROM audit_log").fetchone()
        reading.set()
        time.sleep(seconds)
        connection.execute("COMMIT")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        errors.put(f"reader: {exc!r}"[:300])
    finally:
        connection.close()


def _run(processes: Sequence[multiprocessing.process.BaseProcess], started: Any) -> None:
    for process in processes:
        process.start()
    started.set()
    for process in processes:
        process.join(timeout=180)
        assert process.exitcode == 0, f"{process.name} exited with {process.exitcode}"


def _drain(errors: Any) -> list[str]:
    found = []
    while not errors.empty():
        found.append(errors.get())
    return found


def test_concurrent_writers_from_several_processes(migrated_sqlite: Engine, tmp_path: Path) -> None:
    url = str(migrated_sqlite.url)
    migrated_sqlite.dispose()
    ctx = multiprocessing.get_context("spawn")
    started, errors = ctx.Event(), ctx.Queue()
    processes = [
        ctx.Process(target=_audit_writer, args=(url, n, started, errors), name=f"audit-{n}")
        for n in range(WRITERS)
    ] + [
        ctx.Process(target=_conversation_writer, args=(url, n, started, errors), name=f"rasa-{n}")
        for n in range(2)
    ]
    began = time.monotonic()
    _run(processes, started)
    elapsed = time.monotonic() - began
    assert _drain(errors) == []
    engine = db.make_engine(url)
    with engine.connect() as connection:
        audits = connection.execute(select(func.count()).select_from(AuditLog)).scalar_one()
        inbound = connection.execute(select(func.count()).select_from(WhatsAppInbound)).scalar_one()
        events = connection.execute(text("SELECT count(*) FROM events")).scalar_one()
    engine.dispose()
    assert (audits, inbound) == (WRITERS * WRITES, 2 * WRITES)
    assert events == 2 * (2 + 2 * WRITES), "every tracker event stored once"
    print(f"{WRITERS * WRITES + 2 * WRITES * 2} write transactions in {elapsed:.1f} s")


def test_a_long_read_does_not_lock_writers_out(migrated_sqlite: Engine) -> None:
    """A read transaction held longer than the busy timeout (5 s): with a rollback journal
    every writer's commit waits for it and fails with "database is locked"; in WAL mode
    readers and the writer do not block each other."""
    url = str(migrated_sqlite.url)
    migrated_sqlite.dispose()
    ctx = multiprocessing.get_context("spawn")
    started, reading, errors = ctx.Event(), ctx.Event(), ctx.Queue()
    reader = ctx.Process(target=_long_reader, args=(url, 7.0, started, reading, errors))
    reader.start()
    started.set()
    assert reading.wait(30)
    engine = db.make_engine(url)
    factory = db.make_session_factory(engine)
    began = time.monotonic()
    for n in range(5):
        with db.session_scope(factory) as session:
            session.add(AuditLog(actor="escritor", action="prueba", details={"n": n}))
    took = time.monotonic() - began
    engine.dispose()
    reader.join(timeout=30)
    assert reader.exitcode == 0 and _drain(errors) == []
    assert took < 2.0, f"the writes waited {took:.1f} s for the reader"
