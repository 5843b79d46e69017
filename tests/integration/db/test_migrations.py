"""Alembic migrations on an empty SQLite and an empty PostgreSQL database."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, StatementError

from cobranza import db
from cobranza.db.models import (
    ContactAttempt,
    Creditor,
    Debt,
    Debtor,
    OutreachMessage,
    Promise,
    metadata,
)

TABLES = {
    "agreement_installments",
    "audit_log",
    "consents",
    "contact_attempts",
    "contact_blocks",
    "conversation_turns",
    "creditors",
    "debtors",
    "debts",
    "experiment_exposures",
    "handoff_tickets",
    "payment_agreements",
    "payments",
    "promises",
}

ANA: dict[str, Any] = {
    "phone": "+525512345678",
    "full_name": "Ana",
    "date_of_birth": date(1990, 1, 1),
    "state": "Jalisco",
    "municipality": "Guadalajara",
    "time_zone": "America/Mexico_City",
    "discount_requests": 0,
}


def _check_roundtrip(engine: Engine) -> None:
    assert db.current_revision(engine) is None
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    assert TABLES <= set(db.table_names(engine))
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": db.compare_type})
        assert compare_metadata(context, metadata) == [], "models and migrations disagree"
    db.upgrade(engine)  # idempotent
    db.downgrade(engine, "base")
    assert set(db.table_names(engine)) <= {"alembic_version"}
    db.upgrade(engine)
    assert TABLES <= set(db.table_names(engine))


def _check_money_and_time_are_exact(engine: Engine) -> None:
    factory = db.make_session_factory(engine)
    created = datetime(2026, 11, 22, 23, 59, 59, tzinfo=timezone.utc)
    with db.session_scope(factory) as session:
        creditor = Creditor(
            code="x",
            name="X",
            legal_name="X SA",
            clabe="0" * 18,
            bank="B",
            convenience_store_reference_prefix="X",
            customer_service_phone="800",
        )
        debtor = Debtor(**ANA)
        debt = Debt(
            debtor=debtor,
            creditor=creditor,
            product="P",
            contract_number="C-1",
            opened_on=date(2025, 1, 1),
            original_amount=Decimal("99999999999.99"),
            current_balance=Decimal("0.10"),
            days_past_due=3,
            balance_as_of=date(2026, 11, 22),
        )
        session.add_all([creditor, debtor, debt])
        session.flush()
        session.add(
            Promise(
                folio="PP-1",
                debt_id=debt.id,
                debtor_phone=debtor.phone,
                amount=Decimal("1234.56"),
                due_date=date(2026, 11, 30),
                channel="whatsapp",
                created_at=created,
                updated_at=created,
            )
        )
    with db.session_scope(factory) as session:
        debt = session.execute(select(Debt)).scalar_one()
        assert debt.original_amount == Decimal("99999999999.99")
        assert debt.current_balance == Decimal("0.10")
        promise = session.execute(select(Promise)).scalar_one()
        assert promise.amount == Decimal("1234.56") and promise.created_at == created
        assert promise.created_at.tzinfo is not None
    with pytest.raises(IntegrityError), db.session_scope(factory) as session:
        session.add(
            Promise(
                folio="PP-2",
                debt_id=1,
                debtor_phone="+525512345678",
                amount=Decimal("5"),
                due_date=date(2026, 11, 30),
                channel="whatsapp",
                status="olvidada",
            )
        )
    with pytest.raises(StatementError, match="never a float"), db.session_scope(factory) as session:
        session.add(
            Promise(
                folio="PP-3",
                debt_id=1,
                debtor_phone="+525512345678",
                amount=5.5,
                due_date=date(2026, 11, 30),
                channel="whatsapp",
            )
        )


def test_migrations_on_empty_sqlite(empty_sqlite: Engine) -> None:
    _check_roundtrip(empty_sqlite)
    _check_money_and_time_are_exact(empty_sqlite)


@pytest.mark.postgres
def test_migrations_on_empty_postgres(empty_postgres: Engine) -> None:
    _check_roundtrip(empty_postgres)
    _check_money_and_time_are_exact(empty_postgres)


def _check_outreach_attempt_link(engine: Engine) -> None:
    """0011 links each outreach row to its latest outbound attempt, found by the notes text the
    dispatcher used to write; its downgrade writes that text on the attempts linked since."""
    db.upgrade(engine, "0010")
    at = datetime(2026, 11, 23, 16, 0, tzinfo=timezone.utc)
    with engine.begin() as conn:
        conn.execute(insert(Debtor.__table__).values(**ANA))

        def row(step: str, claimed: bool) -> int:
            values = dict(
                debtor_phone=ANA["phone"],
                campaign="temprana",
                step=step,
                planned_on=date(2026, 11, 23),
                template="aviso_cuenta",
                not_before=at,
                expires_at=at + timedelta(days=1),
                created_at=at,
                claimed_at=at if claimed else None,
            )
            key = conn.execute(insert(OutreachMessage.__table__).values(**values))
            return int(key.inserted_primary_key[0])

        def attempt(notes: str | None, direction: str = "outbound", outcome: str = "sent") -> int:
            key = conn.execute(
                insert(ContactAttempt.__table__).values(
                    debtor_phone=ANA["phone"],
                    channel="whatsapp",
                    direction=direction,
                    initiated_by="campaign:temprana",
                    attempted_at=at,
                    outcome=outcome,
                    notes=notes,
                )
            )
            return int(key.inserted_primary_key[0])

        sent, throttled, planned = row("a", True), row("b", True), row("c", False)
        sent_attempt = attempt(f"outreach:{sent}")
        attempt(f"outreach:{sent}", direction="inbound", outcome="reply")  # the debtor answered
        attempt(f"outreach:{throttled}", outcome="not_sent")
        in_flight = attempt(f"outreach:{throttled}", outcome="sending")
        attempt(f"outreach:{planned}0")  # another row's text, not this one's
    db.upgrade(engine)
    link = select(OutreachMessage.id, OutreachMessage.contact_attempt_id)
    with engine.connect() as conn:
        assert dict(conn.execute(link).all()) == {
            sent: sent_attempt,
            throttled: in_flight,
            planned: None,
        }
    with engine.begin() as conn:  # the new dispatcher: no notes, the link only
        new = attempt(None)
        conn.execute(
            update(OutreachMessage.__table__)
            .where(OutreachMessage.id == planned)
            .values(contact_attempt_id=new)
        )
        conn.execute(delete(ContactAttempt.__table__).where(ContactAttempt.id == sent_attempt))
        assert dict(conn.execute(link).all())[sent] is None  # ON DELETE SET NULL
    db.downgrade(engine, "0010")
    with engine.connect() as conn:
        notes = select(ContactAttempt.notes).where(ContactAttempt.id == new)
        assert conn.execute(notes).scalar_one() == f"outreach:{planned}"
        assert conn.execute(select(func.count()).select_from(ContactAttempt)).scalar_one() == 5


def test_outreach_attempt_link_on_sqlite(empty_sqlite: Engine) -> None:
    _check_outreach_attempt_link(empty_sqlite)


@pytest.mark.postgres
def test_outreach_attempt_link_on_postgres(empty_postgres: Engine) -> None:
    _check_outreach_attempt_link(empty_postgres)
