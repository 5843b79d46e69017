"""Unique indexes, not check-then-insert (issue #10): one pending promise per debt and day, one
active hand-off ticket per conversation, one reminder per folio and moment — also when two
requests arrive at the same instant (threads released together, separate connections, on
SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.db.models import HandoffTicket, Promise
from cobranza.demo import portfolio
from cobranza.services import handoff
from cobranza.services.promises import record_promise
from tests.support.clock import DEMO_TODAY, NOW

PHONE = "+525512345678"  # María, olvidadizo
DUE = date(2026, 11, 27)


def _seeded(engine: Engine) -> sessionmaker:
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    with db.session_scope(factory) as session:
        portfolio.load_demo(session, DEMO_TODAY)
    return factory


def _together(factory: sessionmaker, work: Callable[[Any], Any], contenders: int = 6) -> list[Any]:
    """Run ``work(session)`` in ``contenders`` threads released at once; each its own commit."""
    start = threading.Barrier(contenders)
    results: list[Any] = []
    lock = threading.Lock()

    def attempt() -> None:
        start.wait()
        try:
            with db.session_scope(factory) as session:
                outcome = work(session)
        except Exception as exc:  # noqa: BLE001 - a lost race must be visible in the results
            outcome = exc
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _pending(factory: sessionmaker) -> list[tuple[Decimal, str]]:
    with db.session_scope(factory) as session:
        rows = session.execute(
            select(Promise.amount, Promise.folio).where(
                Promise.debtor_phone == PHONE, Promise.status == "pending", Promise.due_date == DUE
            )
        ).all()
    return [(Decimal(a), f) for a, f in rows]


def test_a_new_amount_for_the_same_day_supersedes_the_earlier_promise(
    migrated_sqlite: Engine, profiles: dict[str, Any]
) -> None:
    factory = _seeded(migrated_sqlite)
    clock = FixedClock(NOW)
    profile = profiles["olvidadizo"]
    with db.session_scope(factory) as session:
        first = record_promise(
            session, PHONE, Decimal("2000"), DUE, profile, clock, "whatsapp"
        ).folio
    with db.session_scope(factory) as session:
        second = record_promise(session, PHONE, Decimal("3000"), DUE, profile, clock, "whatsapp")
        again = record_promise(session, PHONE, Decimal("3000"), DUE, profile, clock, "whatsapp")
        assert again.folio == second.folio != first
    assert _pending(factory) == [(Decimal("3000.00"), second.folio)]
    with db.session_scope(factory) as session:
        status = session.scalar(select(Promise.status).where(Promise.folio == first))
    assert status == "cancelled"


def _promise_race(factory: sessionmaker, profiles: dict[str, Any]) -> None:
    profile = profiles["olvidadizo"]
    results = _together(
        factory,
        lambda s: (
            record_promise(
                s, PHONE, Decimal("1500"), DUE, profile, FixedClock(NOW), "whatsapp"
            ).folio
        ),
    )
    folios = {r for r in results if isinstance(r, str)}
    stored = _pending(factory)
    assert len(stored) == 1, stored
    assert folios == {stored[0][1]}, results


def _ticket_race(factory: sessionmaker) -> None:
    results = _together(
        factory,
        lambda s: (
            handoff.open_ticket(
                s, "5215512345678", PHONE, "whatsapp", "solicitud_agente", {}, FixedClock(NOW)
            ).id
        ),
    )
    with db.session_scope(factory) as session:
        active = session.scalar(
            select(func.count())
            .select_from(HandoffTicket)
            .where(HandoffTicket.sender_id == "5215512345678", HandoffTicket.status == "open")
        )
    assert active == 1
    assert len({r for r in results if isinstance(r, int)}) == 1, results


def test_simultaneous_promises_and_tickets_on_postgresql(
    empty_postgres: Engine, profiles: dict[str, Any]
) -> None:
    factory = _seeded(empty_postgres)
    _promise_race(factory, profiles)
    _ticket_race(factory)


def test_simultaneous_promises_and_tickets_on_sqlite(
    migrated_sqlite: Engine, profiles: dict[str, Any]
) -> None:
    factory = _seeded(migrated_sqlite)
    _promise_race(factory, profiles)
    _ticket_race(factory)


@pytest.mark.parametrize("status", ["open", "claimed"])
def test_the_database_itself_refuses_a_second_active_ticket(
    migrated_sqlite: Engine, status: str
) -> None:
    from sqlalchemy.exc import IntegrityError

    factory = db.make_session_factory(migrated_sqlite)
    with pytest.raises(IntegrityError), db.session_scope(factory) as session:
        for _ in range(2):
            session.add(
                HandoffTicket(
                    sender_id="web-x",
                    channel="webchat",
                    reason="solicitud_agente",
                    status=status,
                    context={},
                    created_at=NOW,
                )
            )
            session.flush()
