"""A failing statement must not put its parameters (a phone number, a date of birth, a name) into
the exception text or a log record: tracebacks end up in logs, and SQLAlchemy's engine logging
prints the parameters of every statement. Every engine comes from ``db.make_engine``."""

from __future__ import annotations

import logging
import traceback
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from cobranza import db
from cobranza.db.models import Debtor

PHONE, BIRTH, NAME = "+525598765432", date(1983, 4, 17), "Rosa Elena Prueba Quintero"
SECRETS = (PHONE, "5598765432", BIRTH.isoformat(), "1983", NAME)


def leaked(*texts: str) -> list[str]:
    return [secret for secret in SECRETS for t in texts if secret in t]


def engine_log(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the engine's loggers wrote, as a log handler would format it."""
    formatter = logging.Formatter()
    return "\n".join(
        formatter.format(record)
        for record in caplog.records
        if record.name.startswith("sqlalchemy")
    )


def failing_insert(engine: Engine) -> DBAPIError:
    """A statement the database rejects without quoting the values itself (no such column)."""
    with engine.begin() as connection, pytest.raises(DBAPIError) as raised:
        connection.execute(
            text(
                "INSERT INTO debtors (phone, full_name, date_of_birth, no_such_column) "
                "VALUES (:phone, :name, :birth, 1)"
            ),
            {"phone": PHONE, "name": NAME, "birth": BIRTH},
        )
    return raised.value


def check_hidden(engine: Engine, caplog: pytest.LogCaptureFixture) -> None:
    db.upgrade(engine)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    error = failing_insert(engine)
    message = "".join(traceback.format_exception(type(error), error, error.__traceback__))
    assert "INSERT INTO debtors" in message  # the statement is still there to debug with
    assert "parameters hidden" in message
    assert "INSERT INTO debtors" in engine_log(caplog)  # and so is the engine's log
    assert leaked(message, engine_log(caplog)) == []


def test_sqlite_hides_parameters(migrated_sqlite: Engine, caplog: pytest.LogCaptureFixture) -> None:
    check_hidden(migrated_sqlite, caplog)


@pytest.mark.postgres
def test_postgresql_hides_parameters(
    empty_postgres: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    check_hidden(empty_postgres, caplog)


def test_a_duplicate_debtor_through_the_orm(
    migrated_sqlite: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    factory = db.make_session_factory(migrated_sqlite)

    def debtor() -> Debtor:
        return Debtor(
            phone=PHONE,
            full_name=NAME,
            date_of_birth=BIRTH,
            state="Jalisco",
            municipality="Guadalajara",
            time_zone="America/Mexico_City",
        )

    with db.session_scope(factory) as session:
        session.add(debtor())
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    with pytest.raises(IntegrityError) as raised, db.session_scope(factory) as session:
        session.add(debtor())
    assert "UNIQUE constraint failed: debtors.phone" in str(raised.value)
    assert leaked(str(raised.value), repr(raised.value), engine_log(caplog)) == []


def test_every_engine_factory_hides_parameters() -> None:
    """``make_engine`` is the only engine factory (the CLI, the actions, the console, the
    WhatsApp channel and the migrations all call it); both of its branches hide parameters."""
    for url in ("sqlite://", "postgresql://user:password@127.0.0.1:1/none"):
        assert db.make_engine(url).hide_parameters, url
