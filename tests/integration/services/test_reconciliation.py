"""Payment reconciliation on real databases (SQLite and PostgreSQL): each matching path and its
refusals, idempotency and concurrent imports of the same file, balances, and the settlement of
promises and instalments at exactly due + grace in the debtor's own zone (Tijuana, Cancún)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.config import PROJECT_ROOT, Settings, load_settings
from cobranza.db.models import (
    AgreementInstallment,
    AuditLog,
    Creditor,
    Debt,
    Debtor,
    Payment,
    PaymentAgreement,
    Promise,
    UnmatchedPayment,
)
from cobranza.domain.payment_files import PaymentRow, find_folios, parse_payment_file
from cobranza.personas.profiles import PersonaProfile
from cobranza.services import reconciliation as rec
from cobranza.services import views
from tests.support.clock import NOW

TIJUANA, CANCUN = "America/Tijuana", "America/Cancun"
ANA, BETO, CARLA = "+526641110001", "+529981110002", "+525511110003"
CREATED = datetime(2026, 11, 1, 18, 0, tzinfo=timezone.utc)


@pytest.fixture
def factory(migrated_sessions: sessionmaker) -> sessionmaker:
    with db.session_scope(migrated_sessions) as session:
        _portfolio(session)
    return migrated_sessions


def _portfolio(session: Session) -> None:
    """Ana (Tijuana): one debt, 10,000. Beto (Cancún): two debts of 5,000. Carla (CDMX): a
    debt already paid."""
    creditor = Creditor(
        code="cf",
        name="CF",
        legal_name="CF SA",
        clabe="012180001234567897",
        bank="BBVA",
        convenience_store_reference_prefix="CF",
        customer_service_phone="800",
    )
    session.add(creditor)
    for phone, zone in ((ANA, TIJUANA), (BETO, CANCUN), (CARLA, "America/Mexico_City")):
        session.add(
            Debtor(
                phone=phone,
                full_name="Deudor de prueba",
                date_of_birth=date(1980, 1, 1),
                state="x",
                municipality="y",
                time_zone=zone,
                created_at=CREATED,
                updated_at=CREATED,
            )
        )
    session.flush()
    for contract, phone, balance, status in (
        ("CF-0000101", ANA, "10000.00", "active"),
        ("CF-0000201", BETO, "5000.00", "active"),
        ("CF-0000202", BETO, "5000.00", "active"),
        ("CF-0000301", CARLA, "0.00", "paid"),
    ):
        session.add(
            Debt(
                debtor_phone=phone,
                creditor_id=creditor.id,
                product="Préstamo",
                contract_number=contract,
                opened_on=date(2025, 1, 1),
                original_amount=Decimal("12000.00"),
                current_balance=Decimal(balance),
                days_past_due=30 if status == "active" else 0,
                balance_as_of=date(2026, 11, 1),
                status=status,
            )
        )


def _debt(session: Session, contract: str) -> Debt:
    return session.execute(select(Debt).where(Debt.contract_number == contract)).scalar_one()


def _promise(
    factory: sessionmaker,
    contract: str,
    amount: str,
    due: date,
    folio: str,
    created: datetime = CREATED,
) -> None:
    with db.session_scope(factory) as session:
        debt = _debt(session, contract)
        session.add(
            Promise(
                folio=folio,
                debt_id=debt.id,
                debtor_phone=debt.debtor_phone,
                amount=Decimal(amount),
                due_date=due,
                channel="whatsapp",
                created_at=created,
                updated_at=created,
            )
        )


def _row(tx: str, amount: str, paid_at: datetime, **fields: Any) -> PaymentRow:
    """A row as the parser gives it (folios found in the reference and the concept)."""
    text = " ".join(fields.get(k) or "" for k in ("reference", "concept"))
    return PaymentRow(
        line=2,
        transaction_id=tx,
        method="spei",
        amount=Decimal(amount),
        paid_at=paid_at,
        folios=find_folios(text),
        **fields,
    )


def _settings(grace: int = 2) -> Settings:
    return load_settings({"COBRANZA_PROMISE_GRACE_DAYS": str(grace)})


def _import(
    factory: sessionmaker, rows: list[PaymentRow], at: datetime = NOW, **kwargs: Any
) -> rec.ImportReport:
    with db.session_scope(factory) as session:
        return rec.import_payments(session, rows, "prueba", _settings(), FixedClock(at), **kwargs)


def _settle(
    factory: sessionmaker, at: datetime, grace: int = 2, **kwargs: Any
) -> rec.SettlementReport:
    with db.session_scope(factory) as session:
        return rec.settle_commitments(session, _settings(grace), FixedClock(at), **kwargs)


def _local(day: date, zone: str, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), ZoneInfo(zone))


def _status(factory: sessionmaker, folio: str) -> tuple[str, datetime | None]:
    with db.session_scope(factory) as session:
        p = session.execute(select(Promise).where(Promise.folio == folio)).scalar_one()
        return p.status, p.resolved_at


PAID = datetime(2026, 11, 20, 18, 0, tzinfo=timezone.utc)


# --- matching ---------------------------------------------------------------------------------


def test_reference_contract_and_store_reference(factory: sessionmaker) -> None:
    report = _import(
        factory,
        [
            _row("T1", "1000.00", PAID, reference="CF0000000101"),  # the OXXO reference
            _row("T2", "500.00", PAID + timedelta(hours=1), reference="cf-0000101"),  # contract
        ],
    )
    assert (report.imported, report.unmatched) == (2, 0)
    with db.session_scope(factory) as session:
        debt = _debt(session, "CF-0000101")
        assert debt.current_balance == Decimal("8500.00") and debt.status == "active"
        assert debt.days_past_due == 30, "a partial payment keeps the days past due"
        assert debt.last_payment_on == date(2026, 11, 20) and debt.last_payment_amount == Decimal(
            "500.00"
        )
        payments = session.execute(select(Payment).order_by(Payment.paid_at)).scalars().all()
        assert [p.matched_by for p in payments] == ["reference", "reference"]
        assert {p.source for p in payments} == {"prueba"}
        entries = (
            session.execute(select(AuditLog).where(AuditLog.action == "payment_imported"))
            .scalars()
            .all()
        )
        assert len(entries) == 2 and all(e.debtor_phone == ANA for e in entries)
        assert all(
            ANA not in str(e.details) and "6641110001" not in str(e.details) for e in entries
        )
        assert (
            entries[0].details["matched_by"] == "reference"
            and entries[0].details["method"] == "spei"
        )


def test_two_debts_of_one_contract_family_have_their_own_store_reference(
    factory: sessionmaker,
) -> None:
    with db.session_scope(factory) as session:
        _debt(session, "CF-0000202").contract_number = "CF-0000201-B"  # as the demo's second debt
    report = _import(
        factory,
        [
            _row("T1", "100.00", PAID, reference="CF0000000201"),
            _row("T2", "200.00", PAID, reference="CF0000000201B"),
        ],
    )
    assert (report.imported, report.unmatched) == (2, 0)
    with db.session_scope(factory) as session:
        paid = dict(
            session.execute(select(Debt.contract_number, Payment.amount).join(Payment.debt)).all()
        )
    assert paid == {"CF-0000201": Decimal("100.00"), "CF-0000201-B": Decimal("200.00")}


def test_the_same_store_reference_on_two_debts_is_ambiguous(factory: sessionmaker) -> None:
    with db.session_scope(factory) as session:
        _debt(session, "CF-0000202").contract_number = "CF0000201"  # same digits, no letters
    report = _import(factory, [_row("T1", "100.00", PAID, reference="CF0000000201")])
    assert report.unmatched == 1 and report.unmatched_rows[0]["reason"] == "ambiguous"
    with db.session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 0
        unmatched = session.execute(select(UnmatchedPayment)).scalar_one()
        assert unmatched.reason == "ambiguous" and unmatched.amount == Decimal("100.00")


def test_folio_of_a_promise_or_agreement_in_the_concept(factory: sessionmaker) -> None:
    _promise(factory, "CF-0000201", "700.00", date(2026, 11, 25), "PP-20261101-AAAAAA")
    with db.session_scope(factory) as session:
        debt = _debt(session, "CF-0000202")
        session.add(
            PaymentAgreement(
                folio="CV-20261101-BBBBBB",
                debt_id=debt.id,
                debtor_phone=BETO,
                plan_type="installments",
                balance_at_agreement=Decimal("5000.00"),
                total_amount=Decimal("5000.00"),
                channel="whatsapp",
                created_at=CREATED,
            )
        )
    report = _import(
        factory,
        [
            _row("T1", "700.00", PAID, concept="pago PP 20261101 AAAAAA"),
            _row("T2", "300.00", PAID, reference="CV-20261101-BBBBBB"),
            _row("T3", "300.00", PAID, concept="PP-20261101-AAAAAA CV-20261101-BBBBBB"),
        ],
    )
    assert report.imported == 2 and report.unmatched_rows[0]["reason"] == "ambiguous"
    with db.session_scope(factory) as session:
        assert _debt(session, "CF-0000201").current_balance == Decimal("4300.00")
        assert _debt(session, "CF-0000202").current_balance == Decimal("4700.00")
        assert set(session.execute(select(Payment.matched_by)).scalars()) == {"folio"}


def test_debtor_and_amount_within_the_window(factory: sessionmaker) -> None:
    due = date(2026, 11, 25)
    _promise(factory, "CF-0000201", "750.00", due, "PP-20261101-CCCCCC")
    local = _local(due - timedelta(days=rec.MATCH_WINDOW_DAYS), CANCUN, 0, 0)
    report = _import(
        factory,
        [
            _row("EARLY", "750.00", local - timedelta(seconds=1), payer_phone=BETO),  # 8 days
            _row("OTHER", "751.00", local, payer_phone=BETO),  # another amount
            _row("OK", "750.00", local, payer_phone=BETO),
        ],
        at=_local(due, CANCUN),
    )
    assert report.imported == 1
    assert [
        (u["transaction_id"], u["reason"], u["payer_phone"]) for u in report.unmatched_rows
    ] == [
        ("EARLY", "no_match", "********0002"),
        ("OTHER", "no_match", "********0002"),
    ]
    with db.session_scope(factory) as session:
        payment = session.execute(select(Payment)).scalar_one()
        assert payment.transaction_id == "OK" and payment.matched_by == "debtor_amount"
        assert _debt(session, "CF-0000201").current_balance == Decimal("4250.00")


def test_debtor_and_amount_on_two_debts_is_ambiguous(factory: sessionmaker) -> None:
    _promise(factory, "CF-0000201", "750.00", date(2026, 11, 24), "PP-20261101-DDDDDD")
    _promise(factory, "CF-0000202", "750.00", date(2026, 11, 26), "PP-20261101-EEEEEE")
    report = _import(factory, [_row("T1", "750.00", PAID, payer_phone=BETO)])
    assert report.unmatched_rows[0]["reason"] == "ambiguous" and report.imported == 0


def test_a_closed_debt_and_nothing_at_all(factory: sessionmaker) -> None:
    report = _import(
        factory,
        [
            _row("T1", "100.00", PAID, reference="CF-0000301"),
            _row("T2", "100.00", PAID, reference="XX-999", payer_phone="+525599999999"),
        ],
    )
    assert [u["reason"] for u in report.unmatched_rows] == ["debt_closed", "no_match"]
    with db.session_scope(factory) as session:
        audit = (
            session.execute(select(AuditLog).where(AuditLog.action == "payment_unmatched"))
            .scalars()
            .all()
        )
        assert [a.details["reason"] for a in audit] == ["debt_closed", "no_match"]
        assert all(a.debtor_phone is None and "5599999999" not in str(a.details) for a in audit)


# --- balances ---------------------------------------------------------------------------------


def test_overpayment_pays_off_the_debt(factory: sessionmaker) -> None:
    report = _import(
        factory,
        [
            _row("T1", "4000.00", PAID, reference="CF-0000201"),
            _row("T2", "1500.00", PAID + timedelta(days=1), reference="CF-0000201"),
        ],
    )
    assert report.overpayments == [
        {
            "line": 2,
            "transaction_id": "T2",
            "debt_id": report.overpayments[0]["debt_id"],
            "contract_number": "CF-0000201",
            "amount": "1500.00",
            "overpaid": "500.00",
        }
    ]
    with db.session_scope(factory) as session:
        debt = _debt(session, "CF-0000201")
        assert (debt.current_balance, debt.status, debt.days_past_due) == (
            Decimal("0.00"),
            "paid",
            0,
        )
        assert debt.balance_as_of == date(2026, 11, 21)
    again = _import(
        factory, [_row("T3", "10.00", PAID + timedelta(days=2), reference="CF-0000201")]
    )
    assert again.unmatched_rows[0]["reason"] == "debt_closed"


# --- idempotency and concurrency --------------------------------------------------------------


def _rows() -> list[PaymentRow]:
    return [
        _row(f"T{n}", "100.00", PAID + timedelta(minutes=n), reference="CF-0000101")
        for n in range(10)
    ] + [_row("U1", "5.00", PAID, reference="NADA")]


def test_the_same_file_twice_changes_nothing(factory: sessionmaker) -> None:
    first = _import(factory, _rows())
    second = _import(factory, _rows())
    assert (first.imported, first.unmatched, first.already_imported) == (10, 1, 0)
    assert (second.imported, second.unmatched, second.already_imported) == (0, 0, 11)
    with db.session_scope(factory) as session:
        assert _debt(session, "CF-0000101").current_balance == Decimal("9000.00")
        assert session.scalar(select(func.count()).select_from(UnmatchedPayment)) == 1
        assert (
            session.scalar(
                select(func.count()).select_from(AuditLog).where(AuditLog.action.like("payment_%"))
            )
            == 11
        )


def test_concurrent_imports_of_the_same_file(factory: sessionmaker) -> None:
    contenders = 5
    start = threading.Barrier(contenders)
    reports: list[Any] = []
    lock = threading.Lock()

    def attempt() -> None:
        start.wait()
        try:
            outcome: Any = _import(factory, _rows())
        except Exception as exc:  # noqa: BLE001 - a failure must show in the results
            outcome = exc
        with lock:
            reports.append(outcome)

    threads = [threading.Thread(target=attempt) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(isinstance(r, rec.ImportReport) for r in reports), reports
    assert sum(r.imported for r in reports) == 10 and sum(r.unmatched for r in reports) == 1
    assert sum(r.already_imported for r in reports) == 11 * (contenders - 1)
    with db.session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 10
        assert _debt(session, "CF-0000101").current_balance == Decimal("9000.00")


# --- settlement -------------------------------------------------------------------------------


DUE = date(2026, 11, 20)


@pytest.mark.parametrize("zone_contract", [("CF-0000101", TIJUANA), ("CF-0000201", CANCUN)])
def test_broken_exactly_after_due_plus_grace_in_the_debtors_zone(
    factory: sessionmaker, zone_contract: tuple[str, str]
) -> None:
    contract, zone = zone_contract
    _promise(factory, contract, "1000.00", DUE, "PP-20261101-FFFFFF")
    last_moment = _local(DUE + timedelta(days=2), zone, 23, 59, 59)
    assert _settle(factory, last_moment).promises_broken == 0
    assert _status(factory, "PP-20261101-FFFFFF") == ("pending", None)
    deadline = _local(DUE + timedelta(days=3), zone, 0, 0)
    assert _settle(factory, deadline).promises_broken == 1
    assert _status(factory, "PP-20261101-FFFFFF") == ("broken", deadline.astimezone(timezone.utc))
    assert _settle(factory, deadline + timedelta(days=1)).promises_broken == 0, "recorded once"
    with db.session_scope(factory) as session:
        audit = (
            session.execute(select(AuditLog).where(AuditLog.action == "promise_broken"))
            .scalars()
            .all()
        )
        assert len(audit) == 1 and audit[0].details["folio"] == "PP-20261101-FFFFFF"


def test_a_payment_in_the_last_second_of_grace_keeps_the_promise(factory: sessionmaker) -> None:
    _promise(factory, "CF-0000101", "1000.00", DUE, "PP-20261101-GGGGGG")
    _promise(factory, "CF-0000201", "1000.00", DUE, "PP-20261101-HHHHHH")
    in_time = _local(DUE + timedelta(days=2), TIJUANA, 23, 59, 59)
    too_late = _local(DUE + timedelta(days=3), CANCUN, 0, 0)
    report = _import(
        factory,
        [
            _row("T1", "1000.00", in_time, reference="CF-0000101"),
            _row("T2", "1000.00", too_late, reference="CF-0000201"),
        ],
        at=too_late + timedelta(hours=12),
    )
    assert (report.settlement.promises_kept, report.settlement.promises_broken) == (1, 1)
    assert _status(factory, "PP-20261101-GGGGGG") == ("kept", in_time.astimezone(timezone.utc))
    assert _status(factory, "PP-20261101-HHHHHH")[0] == "broken"


def test_partial_payments_add_up_and_earlier_ones_do_not_count(factory: sessionmaker) -> None:
    created = datetime(2026, 11, 10, 18, 0, tzinfo=timezone.utc)
    _promise(factory, "CF-0000101", "1000.00", DUE, "PP-20261110-JJJJJJ", created)
    rows = [
        _row("BEFORE", "900.00", created - timedelta(minutes=1), reference="CF-0000101"),
        _row("P1", "400.00", created + timedelta(days=1), reference="CF-0000101"),
        _row("P2", "600.00", created + timedelta(days=2), reference="CF-0000101"),
    ]
    report = _import(factory, rows[:2], at=created + timedelta(days=1, hours=1))
    assert report.settlement.promises_kept == 0
    assert _status(factory, "PP-20261110-JJJJJJ")[0] == "pending"
    report = _import(factory, rows[2:], at=created + timedelta(days=3))
    assert report.settlement.promises_kept == 1
    assert _status(factory, "PP-20261110-JJJJJJ") == ("kept", created + timedelta(days=2))
    with db.session_scope(factory) as session:
        due_on = dict(session.execute(select(Payment.transaction_id, Payment.due_on)).all())
        assert due_on == {"BEFORE": None, "P1": DUE, "P2": DUE}


def test_two_promises_on_one_debt_never_share_pesos(factory: sessionmaker) -> None:
    _promise(factory, "CF-0000101", "1000.00", date(2026, 11, 20), "PP-20261101-KKKKKK")
    _promise(factory, "CF-0000101", "1000.00", date(2026, 11, 27), "PP-20261101-MMMMMM")
    first = _import(factory, [_row("T1", "1500.00", PAID, reference="CF-0000101")])
    assert first.settlement.promises_kept == 1
    assert _status(factory, "PP-20261101-KKKKKK")[0] == "kept"
    assert _status(factory, "PP-20261101-MMMMMM")[0] == "pending", "only 500 left for it"
    second = _import(
        factory, [_row("T2", "500.00", PAID + timedelta(days=2), reference="CF-0000101")]
    )
    assert second.settlement.promises_kept == 1
    assert _status(factory, "PP-20261101-MMMMMM") == ("kept", PAID + timedelta(days=2))


def _agreement(factory: sessionmaker, amounts: list[str], dues: list[date]) -> None:
    with db.session_scope(factory) as session:
        debt = _debt(session, "CF-0000101")
        agreement = PaymentAgreement(
            folio="CV-20261101-NNNNNN",
            debt_id=debt.id,
            debtor_phone=ANA,
            plan_type="installments",
            balance_at_agreement=Decimal("10000.00"),
            total_amount=sum(Decimal(a) for a in amounts),
            channel="whatsapp",
            created_at=CREATED,
        )
        session.add(agreement)
        for number, (amount, due) in enumerate(zip(amounts, dues, strict=True), start=1):
            session.add(
                AgreementInstallment(
                    agreement=agreement, number=number, amount=Decimal(amount), due_date=due
                )
            )


def _instalments(factory: sessionmaker) -> tuple[str, list[tuple[str, datetime | None]]]:
    with db.session_scope(factory) as session:
        agreement = session.execute(select(PaymentAgreement)).scalar_one()
        return agreement.status, [(i.status, i.paid_at) for i in agreement.installments]


def test_instalments_paid_missed_and_the_agreement_completed(factory: sessionmaker) -> None:
    dues = [date(2026, 11, 10), date(2026, 11, 17), date(2026, 11, 24)]
    _agreement(factory, ["1000.00", "1000.00", "1000.00"], dues)
    t1 = _local(date(2026, 11, 9), TIJUANA)
    report = _import(factory, [_row("T1", "1000.00", t1, reference="CF-0000101")], at=t1)
    assert report.settlement.installments_paid == 1
    missed_at = _local(date(2026, 11, 20), TIJUANA, 0, 0)  # 17 + 2 days of grace, then midnight
    assert _settle(factory, missed_at - timedelta(seconds=1)).installments_missed == 0
    assert _settle(factory, missed_at).installments_missed == 1
    # a late payment for the second one goes to the third
    t3 = _local(date(2026, 11, 21), TIJUANA)
    report = _import(factory, [_row("T3", "1000.00", t3, reference="CF-0000101")], at=t3)
    assert report.settlement.installments_paid == 1 and report.settlement.agreements_completed == 0
    status, rows = _instalments(factory)
    assert status == "active"
    assert [s for s, _ in rows] == ["paid", "missed", "paid"]
    assert rows[2][1] == t3.astimezone(timezone.utc)


def test_all_instalments_paid_complete_the_agreement(factory: sessionmaker) -> None:
    _agreement(factory, ["600.00", "400.00"], [date(2026, 11, 20), date(2026, 11, 27)])
    report = _import(
        factory,
        [
            _row("T1", "300.00", PAID, reference="CF-0000101"),
            _row("T2", "700.00", PAID + timedelta(hours=2), reference="CF-0000101"),
        ],
    )
    assert report.settlement.installments_paid == 2 and report.settlement.agreements_completed == 1
    status, rows = _instalments(factory)
    assert status == "completed" and [s for s, _ in rows] == ["paid", "paid"]
    with db.session_scope(factory) as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.action == "installment_paid")
            )
            == 2
        )


def test_three_broken_promises_make_a_reincidente(
    factory: sessionmaker, profiles: dict[str, PersonaProfile]
) -> None:
    for n, due in enumerate((date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16))):
        _promise(factory, "CF-0000101", "500.00", due, f"PP-20261101-{'PQRSTV'[n] * 6}")
    at = _local(date(2026, 11, 22), TIJUANA)
    with db.session_scope(factory) as session:
        debtor = session.get(Debtor, ANA)
        assert views.assign(session, debtor, profiles, FixedClock(at)).persona != "reincidente"
    report = _settle(factory, at, profiles=profiles)
    assert report.promises_broken == 3
    with db.session_scope(factory) as session:
        debtor = session.get(Debtor, ANA)
        assert views.debtor_facts(session, debtor, FixedClock(at)).broken_promises_90d == 3
        assert debtor.persona == "reincidente", "settlement stores the persona it feeds"


# --- the sample file --------------------------------------------------------------------------


@pytest.fixture
def demo_copy(seeded_sqlite_url: str, tmp_path: Path) -> Iterator[sessionmaker]:
    """A private copy of the seeded demo database (the shared one is read-only)."""
    copy = tmp_path / "demo.db"
    shutil.copyfile(make_url(seeded_sqlite_url).database or "", copy)
    engine = db.make_engine(f"sqlite:///{copy}")
    yield db.make_session_factory(engine)
    engine.dispose()


SAMPLE = PROJECT_ROOT / "docs" / "samples" / "pagos_ejemplo.csv"


def test_the_sample_file_on_the_demo_portfolio(
    demo_copy: sessionmaker, profiles: dict[str, PersonaProfile]
) -> None:
    parsed = parse_payment_file(SAMPLE.read_bytes(), NOW)
    report = rec.import_in_batches(
        lambda: db.session_scope(demo_copy),
        parsed,
        "archivo:pagos_ejemplo.csv",
        _settings(),
        FixedClock(NOW),
        profiles,
        batch_size=3,
    )
    data = report.as_dict()
    assert {
        k: data[k] for k in ("read", "imported", "already_imported", "unmatched", "errors")
    } == {
        "read": 8,
        "imported": 6,
        "already_imported": 0,
        "unmatched": 1,
        "errors": 1,
    }
    assert data["settlement"] == {
        "promises_kept": 1,
        "promises_broken": 0,
        "installments_paid": 1,
        "installments_missed": 11,
        "agreements_completed": 0,
    }
    assert data["unmatched_rows"] == [
        {
            "line": 8,
            "transaction_id": "OXXO-7741-20261121-000390",
            "method": "oxxo",
            "amount": "1200.00",
            "paid_at": "2026-11-22T01:05:00+00:00",
            "reference": "XX0000000007",
            "payer_phone": None,
            "reason": "no_match",
        }
    ]
    assert data["error_rows"] == [
        {
            "line": 9,
            "column": "amount",
            "reason": "más de dos decimales",
            "transaction_id": "BNET01002611210000000099",
        }
    ]
    assert data["overpayments"] == []
    with db.session_scope(demo_copy) as session:
        matched = dict(
            session.execute(
                select(Debt.contract_number, Payment.matched_by)
                .join(Payment, Payment.debt_id == Debt.id)
                .where(Payment.transaction_id.is_not(None))
            ).all()
        )
        balances = dict(session.execute(select(Debt.contract_number, Debt.current_balance)).all())
    assert matched == {
        "CF-0000001": "reference",
        "TH-0000002": "reference",
        "CF-0000003": "reference",
        "MP-0000004": "folio",
        "CF-0000013": "debtor_amount",
        "TH-0000024": "folio",
    }
    assert balances["CF-0000001"] == Decimal("6950.00")
    assert balances["TH-0000002"] == Decimal("21900.50")
    assert balances["MP-0000004"] == Decimal("10000.00")
    again = rec.import_in_batches(
        lambda: db.session_scope(demo_copy),
        parsed,
        "archivo:pagos_ejemplo.csv",
        _settings(),
        FixedClock(NOW),
        profiles,
    )
    assert (again.imported, again.already_imported, again.unmatched) == (0, 7, 0)
