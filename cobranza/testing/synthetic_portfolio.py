"""The benches' synthetic portfolio (scripts/bench_outreach.py, scripts/bench_score.py): one
creditor, then debtors inserted in bulk, each with one debt and a granted WhatsApp consent. The
bench says where each debtor lives and what their debt looks like, and may add rows of its own
to each chunk. Development tooling: nothing in the assistant imports it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection, Engine

from cobranza import db
from cobranza.db.models import Consent, Creditor, Debt, Debtor

CHUNK = 5000
# When every synthetic debtor, and their consent, was recorded.
SINCE = datetime(2025, 1, 1, tzinfo=timezone.utc)

# n → (state, time zone) of the n-th debtor.
Place = Callable[[int], tuple[str, str]]
# n → the columns of the n-th debtor's debt that differ from the defaults (see `_debt`).
DebtColumns = Callable[[int], dict[str, Any]]
# (connection, the chunk's debtor numbers, their phones) → more rows for that chunk.
ChunkRows = Callable[[Connection, Sequence[int], Sequence[str]], None]


def phone(n: int) -> str:
    """The n-th synthetic debtor's phone."""
    return f"+5255{n:08d}"


def add_creditor(engine: Engine) -> int:
    """Store the synthetic creditor; its id."""
    with db.session_scope(db.make_session_factory(engine)) as session:
        creditor = Creditor(
            code="bench",
            name="Bench",
            legal_name="Bench Financiera S.A. de C.V.",
            clabe="012180001234567891",
            bank="BBVA",
            convenience_store_reference_prefix="77",
            customer_service_phone="800 000 0000",
        )
        session.add(creditor)
        session.flush()
        return int(creditor.id)


def load(
    engine: Engine,
    debtors: int,
    *,
    balance_as_of: date,
    place: Place,
    debt: DebtColumns,
    more: ChunkRows | None = None,
) -> None:
    """Store the creditor and ``debtors`` debtors, ``CHUNK`` at a time."""
    creditor_id = add_creditor(engine)
    with engine.begin() as conn:
        for start in range(0, debtors, CHUNK):
            numbers = range(start, min(start + CHUNK, debtors))
            phones = [phone(n) for n in numbers]
            conn.execute(insert(Debtor.__table__), [_debtor(n, place) for n in numbers])
            conn.execute(
                insert(Debt.__table__),
                [_debt(n, creditor_id, balance_as_of) | debt(n) for n in numbers],
            )
            conn.execute(insert(Consent.__table__), [_consent(p) for p in phones])
            if more is not None:
                more(conn, numbers, phones)


def _debtor(n: int, place: Place) -> dict[str, Any]:
    state, zone = place(n)
    return {
        "phone": phone(n),
        "full_name": "Laura Gómez Ruiz",
        "date_of_birth": date(1990, 1, 1),
        "state": state,
        "municipality": "",
        "time_zone": zone,
        "persona": "estandar",
        "discount_requests": 0,
        "created_at": SINCE,
        "updated_at": SINCE,
    }


def _debt(n: int, creditor_id: int, balance_as_of: date) -> dict[str, Any]:
    return {
        "debtor_phone": phone(n),
        "creditor_id": creditor_id,
        "product": "Préstamo personal",
        "contract_number": f"B-{n:08d}",
        "opened_on": date(2024, 1, 15),
        "original_amount": Decimal("10000.00"),
        "current_balance": Decimal("5000.00"),
        "days_past_due": 30,
        "balance_as_of": balance_as_of,
        "status": "active",
    }


def _consent(debtor_phone: str) -> dict[str, Any]:
    return {
        "debtor_phone": debtor_phone,
        "channel": "whatsapp",
        "status": "granted",
        "source": "contrato",
        "recorded_at": SINCE,
    }
