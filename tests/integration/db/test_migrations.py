"""Alembic migrations on an empty SQLite and an empty PostgreSQL database."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, StatementError

from cobranza import db
from cobranza.db.models import Creditor, Debt, Debtor, Promise, metadata

TABLES = {
    "agreement_installments",
    "audit_log",
    "consents",
    "contact_attempts",
    "contact_blocks",
    "creditors",
    "debtors",
    "debts",
    "experiment_exposures",
    "handoff_tickets",
    "payment_agreements",
    "payments",
    "promises",
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
        debtor = Debtor(
            phone="+525512345678",
            full_name="Ana",
            date_of_birth=date(1990, 1, 1),
            state="Jalisco",
            municipality="Guadalajara",
            time_zone="America/Mexico_City",
            discount_requests=0,
        )
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
