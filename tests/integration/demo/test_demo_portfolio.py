"""The demo portfolio: the seven documented debtors exactly, 1,000+ synthetic ones spread over
personas, buckets and every time zone, deterministic and idempotent, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.db import repository as repo
from cobranza.db.models import Consent, Debt, Debtor, Payment, Promise
from cobranza.demo import portfolio
from cobranza.domain.delinquency import BUCKETS, bucket_for
from cobranza.domain.geography import MEXICAN_TIME_ZONES
from cobranza.domain.money import to_centavos
from cobranza.personas.engine import DebtorFacts
from cobranza.personas.offers import compute_offers
from cobranza.personas.profiles import PersonaProfile
from cobranza.services import views
from tests.support.clock import DEMO_TODAY

# WhatsApp id, name, birth date, zone, balance, days past due, persona (None: any), WhatsApp consent
DOCUMENTED = [
    (
        "5215512345678",
        "María Fernanda López Hernández",
        "1985-03-12",
        "America/Mexico_City",
        "8450.00",
        12,
        "olvidadizo",
        "granted",
    ),
    (
        "5216641234567",
        "Juan Carlos Pérez Ramírez",
        "1979-11-02",
        "America/Tijuana",
        "23900.50",
        47,
        "en_apuros",
        "granted",
    ),
    (
        "5219981234567",
        "Ana Sofía Torres Gómez",
        "1992-07-25",
        "America/Cancun",
        "12000.00",
        75,
        "negociador",
        "granted",
    ),
    (
        "5218112345678",
        "Carlos Alberto Méndez Ruiz",
        "1988-01-30",
        "America/Monterrey",
        "15000.00",
        40,
        "reincidente",
        "granted",
    ),
    (
        "5216561234567",
        "Luis Ortega Díaz",
        "1990-05-05",
        "America/Ciudad_Juarez",
        "5600.00",
        20,
        "olvidadizo",
        "revoked",
    ),
    (
        "5213312345678",
        "Patricia Ruiz Salazar",
        "1970-09-14",
        "America/Mexico_City",
        "31250.75",
        95,
        None,
        None,
    ),
]


@pytest.mark.parametrize(
    ("wa_id", "name", "dob", "zone", "balance", "dpd", "persona", "consent"), DOCUMENTED
)
def test_documented_debtor(
    seeded_sessions: sessionmaker,
    profiles: dict[str, PersonaProfile],
    clock: FixedClock,
    wa_id: str,
    name: str,
    dob: str,
    zone: str,
    balance: str,
    dpd: int,
    persona: str | None,
    consent: str | None,
) -> None:
    phone = "+52" + wa_id[3:]
    with db.session_scope(seeded_sessions) as session:
        report = views.debtor_report(session, phone, profiles, clock)
        offers = views.debtor_offers(session, phone, profiles, clock)
    assert report["full_name"] == name
    assert report["date_of_birth"] == dob
    assert report["time_zone"] == zone
    assert report["balance"] == balance and report["days_past_due"] == dpd
    assert len(report["debts"]) == 1 and report["debts"][0]["current_balance"] == balance
    assert report["debts"][0]["balance_as_of"] == DEMO_TODAY.isoformat()
    if persona is not None:
        assert report["persona"] == persona, report["persona_explanation"]
    assert report["persona"] in profiles and report["persona_stored"] == report["persona"]
    assert report["consent"].get("whatsapp", {}).get("status") == consent
    [debt] = offers["debts"]
    assert debt["offers"], "every debtor gets at least one offer"
    for offer in debt["offers"]:
        assert sum(Decimal(i["amount"]) for i in offer["installments"]) == Decimal(offer["total"])
        assert Decimal(offer["total"]) + Decimal(offer["discount"]) == Decimal(balance)


def test_documented_histories(seeded_sessions: sessionmaker, clock: FixedClock) -> None:
    with db.session_scope(seeded_sessions) as session:

        def facts(phone: str) -> DebtorFacts:
            return views.debtor_facts(session, repo.get_debtor(session, phone), clock)

        maria = session.execute(
            select(func.count())
            .select_from(Payment)
            .join(Debt)
            .where(Debt.debtor_phone == "+525512345678")
        ).scalar_one()
        assert maria == 18 and facts("+525512345678").late_payments_12m == 0
        juan = repo.get_debtor(session, "+526641234567")
        assert juan.hardship_reason == "perdió su empleo" and juan.hardship_declared_at is not None
        assert repo.get_debtor(session, "+529981234567").discount_requests == 2
        assert facts("+528112345678").broken_promises_90d == 3
        luis = (
            session.execute(
                select(Consent.status)
                .where(Consent.debtor_phone == "+526561234567")
                .order_by(Consent.recorded_at)
            )
            .scalars()
            .all()
        )
        assert luis == ["granted", "revoked"]
        assert (
            session.execute(
                select(func.count())
                .select_from(Consent)
                .where(Consent.debtor_phone == "+523312345678")
            ).scalar_one()
            == 0
        )


def test_portfolio_spread(
    seeded_sessions: sessionmaker, profiles: dict[str, PersonaProfile]
) -> None:
    with db.session_scope(seeded_sessions) as session:
        debtors = session.execute(select(Debtor)).scalars().all()
        debts = session.execute(select(Debt)).scalars().all()
        promises = Counter(session.execute(select(Promise.status)).scalars())
        payments = session.execute(select(func.count()).select_from(Payment)).scalar_one()
    assert len(debtors) >= 1007
    personas = Counter(d.persona for d in debtors)
    assert set(personas) == set(profiles) and min(personas.values()) >= 50, personas
    assert set(Counter(bucket_for(d.days_past_due) for d in debts)) >= set(BUCKETS)
    zones = Counter(d.time_zone for d in debtors)
    assert set(zones) == set(MEXICAN_TIME_ZONES), zones
    assert {"pending", "kept", "broken"} <= set(promises) and payments > 5000


def test_every_debtor_gets_offers_that_add_up(
    seeded_sessions: sessionmaker, profiles: dict[str, PersonaProfile]
) -> None:
    with db.session_scope(seeded_sessions) as session:
        rows = session.execute(select(Debt, Debtor.persona).join(Debtor)).all()
    assert len(rows) > 1007
    for debt, persona in rows:
        balance = to_centavos(debt.current_balance)
        offers = compute_offers(balance, debt.days_past_due, profiles[persona], DEMO_TODAY)
        assert offers
        for offer in offers:
            assert sum(i.amount for i in offer.installments) == offer.total
            assert offer.total + offer.discount == balance


def _dump(engine: Engine) -> list[tuple]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for table in ("debtors", "debts", "payments", "promises", "consents")
            for row in conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1")
        ]


def test_load_is_deterministic_and_idempotent(tmp_path: Path) -> None:
    engines = []
    for name in ("a", "b"):
        engine = db.make_engine(f"sqlite:///{tmp_path / name}.db")
        db.upgrade(engine)
        with db.session_scope(db.make_session_factory(engine)) as session:
            assert portfolio.load_demo(session, DEMO_TODAY)["debtors_added"] == 1007
        engines.append(engine)
    with db.session_scope(db.make_session_factory(engines[0])) as session:
        assert portfolio.load_demo(session, DEMO_TODAY)["debtors_added"] == 0
    assert _dump(engines[0]) == _dump(engines[1])


@pytest.mark.postgres
def test_portfolio_on_postgres(
    empty_postgres: Engine, profiles: dict[str, PersonaProfile], clock: FixedClock
) -> None:
    db.upgrade(empty_postgres)
    factory = db.make_session_factory(empty_postgres)
    with db.session_scope(factory) as session:
        assert portfolio.load_demo(session, DEMO_TODAY)["debtors_added"] == 1007
        views.reassign_personas(session, profiles, clock)
    with db.session_scope(factory) as session:
        report = views.debtor_report(session, "+526641234567", profiles, clock)
        total = session.execute(select(func.sum(Debt.current_balance))).scalar_one()
    assert report["balance"] == "23900.50" and report["persona"] == "en_apuros"
    assert isinstance(total, Decimal) and total == total.quantize(Decimal("0.01"))
    assert date.fromisoformat(report["debts"][0]["balance_as_of"]) == DEMO_TODAY


def test_load_over_a_portfolio_from_another_version_does_not_collide(tmp_path: Path) -> None:
    """A database seeded by an older generator (same contract numbers and folios under other
    phones) gets only what fits, never an integrity error."""
    engine = db.make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    with db.session_scope(factory) as session:
        portfolio.load_demo(session, DEMO_TODAY)
    old, new = "+525512345678", "+525599990000"
    with db.session_scope(factory) as session:  # María's contract now belongs to another phone
        maria = repo.get_debtor(session, old)
        session.add(
            Debtor(
                phone=new,
                full_name="Otra Versión",
                date_of_birth=maria.date_of_birth,
                state=maria.state,
                municipality=maria.municipality,
                time_zone=maria.time_zone,
                discount_requests=0,
            )
        )
        session.flush()
        for table in (Debt.__table__, Promise.__table__):
            session.execute(
                table.update().where(table.c.debtor_phone == old).values(debtor_phone=new)
            )
        session.execute(Consent.__table__.delete().where(Consent.debtor_phone == old))
        session.execute(Debtor.__table__.delete().where(Debtor.phone == old))
    with db.session_scope(factory) as session:
        summary = portfolio.load_demo(session, DEMO_TODAY)
    assert summary["debtors_added"] == 0 and summary["debtors_skipped"] == 1
