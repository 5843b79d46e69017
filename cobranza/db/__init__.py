"""Engine, sessions and migrations. Nothing connects until a function here is called."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from cobranza.config import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"


# SQLAlchemy 1.4 opens a new SQLite connection for every unit of work on a file (NullPool): the
# connect, the pragmas below and the close cost 1–5 ms each time, the close often a WAL
# checkpoint too, several times per conversation turn (the tracker store's load and save, the
# action). Kept connections cost none of it (SQLAlchemy 2.0's default for files): five stay
# open, any number more open when needed and close when returned (as before), and a connection
# may serve any thread, one at a time (a session holds it). Pass ``poolclass`` to choose another.
_SQLITE_FILE_POOL: dict[str, Any] = {
    "poolclass": QueuePool,
    "pool_size": 5,
    "max_overflow": -1,
    "connect_args": {"check_same_thread": False},
}


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """An engine for the URL; SQLite files get their folder and foreign keys switched on.

    Statement parameters (phone numbers, dates of birth, names) never appear in an exception's
    text or the engine's log lines (``hide_parameters``): tracebacks end up in logs."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            if "poolclass" not in kwargs:
                kwargs = {**_SQLITE_FILE_POOL, **kwargs}
        engine = create_engine(url, future=True, hide_parameters=True, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # Rasa, the action server and the console write this file at once. WAL lets readers
            # and the writer proceed together (a slow read no longer makes a commit fail with
            # "database is locked"); writers queue for up to the busy timeout. The timeout comes
            # first: switching a file to WAL itself waits for other connections' locks.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=5000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "checkout")
        def _fresh_schema(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
            # A kept connection caches the schema, and SQLite's PRAGMAs (SQLAlchemy's has_table,
            # get_indexes) answer a table another process created since as missing. Reading
            # sqlite_master reloads it when it changed (microseconds), as a new connection would.
            dbapi_connection.execute("SELECT 1 FROM sqlite_master LIMIT 0").close()

        return engine
    return create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker:
    return sessionmaker(bind=engine, future=True, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection_engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema to ``revision``."""
    from alembic import command

    command.upgrade(_alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    from alembic import command

    command.downgrade(_alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()


def table_names(engine: Engine) -> list[str]:
    return sorted(inspect(engine).get_table_names())


def compare_type(
    context: Any,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: Any,
    metadata_type: Any,
) -> bool | None:
    """Alembic type comparison: a Money column is NUMERIC(14, 2) in every migration, even on
    SQLite where it stores integer centavos; everything else uses Alembic's default."""
    from sqlalchemy import Numeric

    from cobranza.db.models import Money

    if isinstance(metadata_type, Money):
        return not (
            isinstance(inspected_type, Numeric)
            and (inspected_type.precision, inspected_type.scale) == (14, 2)
        )
    return None


def masked_url(url: str) -> str:
    """A database URL with any password hidden, for logs and CLI output."""
    return str(make_url(url).render_as_string(hide_password=True))
