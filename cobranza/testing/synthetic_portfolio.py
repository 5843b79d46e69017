"""The synthetic portfolios' rows. The benches' portfolios, written in bulk
(scripts/bench_outreach.py, scripts/bench_score.py, scripts/bench_kpis.py), and the tests'
hand-built ones (tests/support) are made of the same creditors, debtors, debts, consents and
outreach rows, whose columns are here once; each caller says only what differs.

`load` writes the simple portfolio: one creditor, then debtors in bulk, each with one debt and a
granted WhatsApp consent; the bench says where each debtor lives and what their debt looks like,
and may add rows of its own to each chunk. `load_each` writes a portfolio the caller generates
debtor by debtor (scripts/bench_kpis.py: a history of events for each). Development tooling:
nothing in the assistant imports it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, timezone
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
# n → the columns of the n-th debtor's debt that differ from the defaults (see `debt_row`).
DebtColumns = Callable[[int], dict[str, Any]]
# (connection, the chunk's debtor numbers, their phones) → more rows for that chunk.
ChunkRows = Callable[[Connection, Sequence[int], Sequence[str]], None]


class Rows:
    """Rows to insert, by table, in the order their tables were first given."""

    def __init__(self) -> None:
        self.rows: dict[Any, list[dict[str, Any]]] = {}

    def add(self, model: Any, **row: Any) -> None:
        self.rows.setdefault(model.__table__, []).append(row)

    def write(self, conn: Connection) -> int:
        """Insert them, ``CHUNK`` rows a statement, and forget them; how many were written."""
        written = 0
        for table, rows in self.rows.items():
            for start in range(0, len(rows), CHUNK):
                conn.execute(insert(table), rows[start : start + CHUNK])
            written += len(rows)
        self.rows = {}
        return written


def phone(n: int) -> str:
    """The n-th synthetic debtor's phone."""
    return f"+5255{n:08d}"


def creditor_row(code: str, name: str, legal_name: str) -> dict[str, Any]:
    """A creditor's columns; they all bank alike."""
    return {
        "code": code,
        "name": name,
        "legal_name": legal_name,
        "clabe": "012180001234567891",
        "bank": "BBVA",
        "convenience_store_reference_prefix": "77",
        "customer_service_phone": "800 000 0000",
    }


def debtor_row(
    debtor_phone: str,
    state: str,
    zone: str,
    *,
    municipality: str = "",
    persona: str | None = "estandar",
    since: datetime = SINCE,
) -> dict[str, Any]:
    """A debtor's columns, recorded at ``since``."""
    return {
        "phone": debtor_phone,
        "full_name": "Laura Gómez Ruiz",
        "date_of_birth": date(1990, 1, 1),
        "state": state,
        "municipality": municipality,
        "time_zone": zone,
        "persona": persona,
        "discount_requests": 0,
        "created_at": since,
        "updated_at": since,
    }


def debt_row(
    debtor_phone: str, creditor_id: int, contract: str, balance_as_of: date, **columns: Any
) -> dict[str, Any]:
    """An active personal loan's columns: 10,000 lent, 5,000 owed, 30 days past due, unless
    ``columns`` say otherwise."""
    return {
        "debtor_phone": debtor_phone,
        "creditor_id": creditor_id,
        "product": "Préstamo personal",
        "contract_number": contract,
        "opened_on": date(2024, 1, 15),
        "original_amount": Decimal("10000.00"),
        "current_balance": Decimal("5000.00"),
        "days_past_due": 30,
        "balance_as_of": balance_as_of,
        "status": "active",
        **columns,
    }


def consent_row(
    debtor_phone: str,
    status: str = "granted",
    *,
    source: str = "contrato",
    recorded_at: datetime = SINCE,
) -> dict[str, Any]:
    """A WhatsApp consent's columns (granted in the contract, unless told otherwise)."""
    return {
        "debtor_phone": debtor_phone,
        "channel": "whatsapp",
        "status": status,
        "source": source,
        "recorded_at": recorded_at,
    }


def message_row(
    debtor_phone: str, campaign: str, step: str, not_before: datetime, status: str, **columns: Any
) -> dict[str, Any]:
    """A campaign message's columns: the template aviso_cuenta for Laura, planned an hour before
    ``not_before`` and valid for two days from it, unless ``columns`` say otherwise."""
    return {
        "debtor_phone": debtor_phone,
        "campaign": campaign,
        "step": step,
        "planned_on": not_before.date(),
        "template": "aviso_cuenta",
        "parameters": ["Laura"],
        "priority": 0,
        "not_before": not_before,
        "expires_at": not_before + timedelta(days=2),
        "status": status,
        "attempts": 0,
        "created_at": not_before - timedelta(hours=1),
        **columns,
    }


def add_creditor(
    engine: Engine,
    code: str = "bench",
    name: str = "Bench",
    legal_name: str = "Bench Financiera S.A. de C.V.",
) -> int:
    """Store a synthetic creditor; its id."""
    with db.session_scope(db.make_session_factory(engine)) as session:
        creditor = Creditor(**creditor_row(code, name, legal_name))
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
            rows = Rows()
            for n in numbers:
                debtor_phone = phone(n)
                rows.add(Debtor, **debtor_row(debtor_phone, *place(n)))
                contract = f"B-{n:08d}"
                debt_columns = debt_row(debtor_phone, creditor_id, contract, balance_as_of)
                rows.add(Debt, **(debt_columns | debt(n)))
                rows.add(Consent, **consent_row(debtor_phone))
            rows.write(conn)
            if more is not None:
                more(conn, numbers, [phone(n) for n in numbers])


def load_each(engine: Engine, debtors: int, add: Callable[[int, Rows], None], chunk: int) -> int:
    """Store what ``add`` gives for each debtor number below ``debtors``, ``chunk`` debtors to a
    transaction; how many rows were written."""
    written = 0
    for start in range(0, debtors, chunk):
        rows = Rows()
        for n in range(start, min(start + chunk, debtors)):
            add(n, rows)
        with engine.begin() as conn:
            written += rows.write(conn)
    return written
