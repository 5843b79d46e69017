"""SQLite files keep their connections (cobranza/db: make_engine): a unit of work connects no
more, every connection still gets the pragmas, any thread may use one, and a kept connection sees
what another process changed in the schema."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from sqlalchemy import event, inspect, text
from sqlalchemy.pool import NullPool, QueuePool

from cobranza import db


def test_units_of_work_reuse_a_connection_with_the_pragmas(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    assert isinstance(engine.pool, QueuePool)
    connects: list[object] = []
    event.listen(engine, "connect", lambda *_: connects.append(1))
    factory = db.make_session_factory(engine)
    for _ in range(20):
        with db.session_scope(factory) as session:
            assert session.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
            assert session.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    assert len(connects) == 1
    engine.dispose()


def test_threads_share_the_kept_connections(tmp_path: Path) -> None:
    """Rasa and the action server run units of work in worker threads: a connection made in one
    thread serves another (SQLite's same-thread check is off, a session holds one at a time),
    and more units at once than kept connections still all run."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    factory = db.make_session_factory(engine)
    with db.session_scope(factory) as session:
        session.execute(text("CREATE TABLE hits (n INTEGER)"))
    errors: list[BaseException] = []
    start = threading.Barrier(12)

    def work(n: int) -> None:
        try:
            start.wait()
            for _ in range(10):
                with db.session_scope(factory) as session:
                    session.execute(text("INSERT INTO hits VALUES (:n)"), {"n": n})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM hits")).scalar_one() == 120
    engine.dispose()


def test_a_kept_connection_sees_a_table_another_process_created(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    engine = db.make_engine(f"sqlite:///{path}")
    assert inspect(engine).get_indexes("events") == []  # the connection caches the schema now
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, sender_id TEXT)")
    other.execute("CREATE INDEX ix_sender ON events (sender_id)")
    other.commit()
    other.close()
    assert [i["name"] for i in inspect(engine).get_indexes("events")] == ["ix_sender"]
    assert inspect(engine).has_table("events")
    engine.dispose()


def test_a_caller_may_still_choose_the_pool(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'd.db'}", poolclass=NullPool)
    assert isinstance(engine.pool, NullPool)
    engine.dispose()
