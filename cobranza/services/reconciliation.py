"""Payment reconciliation: payments the bank or collector reports become ``payments`` rows on the
right debt, or ``unmatched_payments`` for a person to resolve; then promises and instalments
are settled (docs/payments.md).

Idempotent by transaction id: a row whose id is already in ``payments`` or in
``unmatched_payments`` changes nothing and is counted as already imported. Imports and
settlements are serialised (an advisory lock on PostgreSQL, the write lock taken at once on
SQLite), and every row is inserted in a savepoint, so two imports of the same file at the same
time record each payment once: the second sees what the first committed, and the unique
constraints are the net under that.

Matching, first path that names exactly one debt wins (never a guess):

1. ``reference``: the debt's convenience-store reference (creditor prefix + contract digits,
   ten wide, as cobranza/services/payments.py gives it to the debtor) or its contract number;
2. ``folio``: a promise or agreement folio in the reference or the concept;
3. ``debtor_amount``: the payer's phone is a debtor's, and exactly one of their active debts has
   a pending promise or instalment of exactly this amount due within
   :data:`MATCH_WINDOW_DAYS` days of the payment's local date.

Otherwise the payment is unmatched: ``ambiguous`` when a path named several debts,
``debt_closed`` when it named only a paid or written-off debt, ``no_match`` when none.

Balances: a payment lowers ``current_balance``, never below zero (the excess is reported as an
overpayment); at zero the debt is ``paid`` and its days past due 0. Otherwise days past due are
kept: which instalment of the lender's schedule a payment covers is the lender's calculation,
and its next file of balances (or the seed) is where it comes from.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.config import Settings
from cobranza.db import audit
from cobranza.db import repository as repo
from cobranza.db.models import (
    AgreementInstallment,
    Creditor,
    Debt,
    Debtor,
    Payment,
    PaymentAgreement,
    Promise,
    UnmatchedPayment,
)
from cobranza.domain.payment_files import ParsedPayments, PaymentRow, RowError
from cobranza.domain.phones import mask_phone
from cobranza.domain.vocabulary import (
    AgreementStatus,
    AuditAction,
    DebtStatus,
    InstallmentStatus,
    PaymentMatch,
    PromiseStatus,
)
from cobranza.personas.profiles import PersonaProfile
from cobranza.services import views
from cobranza.services.payments import store_reference

logger = logging.getLogger(__name__)

# (c) debtor + amount: a pending promise or instalment due this many days before or after the
# payment's local date. A week each way: people pay a little early or a few days late, and a
# wider window would start matching a later commitment of the same amount.
MATCH_WINDOW_DAYS = 7
# Unmatched reasons (unmatched_payments.reason).
NO_MATCH = "no_match"
AMBIGUOUS = "ambiguous"
DEBT_CLOSED = "debt_closed"
# Any number, the same in every process: the advisory lock that serialises imports/settlements.
PAYMENTS_LOCK = 5_201_055
CLOSED = (DebtStatus.PAID, DebtStatus.WRITTEN_OFF)
ZERO = Decimal("0.00")
_IN_CHUNK = 500


@dataclass
class SettlementReport:
    promises_kept: int = 0
    promises_broken: int = 0
    installments_paid: int = 0
    installments_missed: int = 0
    agreements_completed: int = 0

    def add(self, other: SettlementReport) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class ImportReport:
    """What an import did, row by row where a person must look (unmatched, errors,
    overpayments; phones masked)."""

    source: str
    read: int = 0
    imported: int = 0
    already_imported: int = 0
    unmatched: int = 0
    errors: int = 0
    unmatched_rows: list[dict[str, Any]] = field(default_factory=list)
    error_rows: list[dict[str, Any]] = field(default_factory=list)
    overpayments: list[dict[str, Any]] = field(default_factory=list)
    settlement: SettlementReport = field(default_factory=SettlementReport)

    def add(self, other: ImportReport) -> None:
        for name in ("read", "imported", "already_imported", "unmatched", "errors"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.unmatched_rows += other.unmatched_rows
        self.error_rows += other.error_rows
        self.overpayments += other.overpayments
        self.settlement.add(other.settlement)

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "read": self.read,
            "imported": self.imported,
            "already_imported": self.already_imported,
            "unmatched": self.unmatched,
            "errors": self.errors,
            "settlement": self.settlement.as_dict(),
            "unmatched_rows": self.unmatched_rows,
            "error_rows": self.error_rows,
            "overpayments": self.overpayments,
        }


@dataclass(frozen=True)
class Match:
    debt: Debt | None
    matched_by: PaymentMatch | None = None
    reason: str | None = None  # when unmatched


# --- locking --------------------------------------------------------------------------------


def _serialise(session: Session) -> None:
    """One import or settlement at a time, for the rest of the transaction. PostgreSQL: a
    transaction-level advisory lock. SQLite: the database's write lock, taken now (a deferred
    transaction would read first and could not write after another import committed)."""
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PAYMENTS_LOCK})
    elif connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


# --- import ---------------------------------------------------------------------------------


def import_payments(
    session: Session,
    rows: Sequence[PaymentRow],
    source: str,
    settings: Settings,
    clock: Clock,
    profiles: dict[str, PersonaProfile] | None = None,
    errors: Sequence[RowError] = (),
    read: int | None = None,
    settle: bool = True,
) -> ImportReport:
    """Record ``rows`` (parsed by cobranza/domain/payment_files.py) and settle commitments.
    ``errors`` are the rows the parser refused, carried into the report; ``read`` the rows the
    file held (default: rows + errors). With ``profiles``, the persona of every debtor whose
    payments or commitments changed is reassigned (broken promises feed reincidente)."""
    _serialise(session)
    now = clock.now()
    source = source[:120]
    report = ImportReport(source=source)
    report.read = read if read is not None else len(rows) + len(errors)
    report.errors = len(errors)
    report.error_rows = [e.as_dict() for e in errors]
    known = _known_transactions(session, [r.transaction_id for r in rows])
    touched: set[str] = set()
    for row in sorted(rows, key=lambda r: (r.paid_at, r.line)):
        if row.transaction_id in known:
            report.already_imported += 1
            continue
        match = match_payment(session, row)
        if match.debt is None:
            if _insert(session, _unmatched(row, match.reason or NO_MATCH, source, now)):
                report.unmatched += 1
                report.unmatched_rows.append(_unmatched_dict(row, match.reason or NO_MATCH))
                audit.record(
                    session,
                    now,
                    AuditAction.PAYMENT_UNMATCHED,
                    None,
                    {
                        "transaction_id": row.transaction_id,
                        "amount": str(row.amount),
                        "method": row.method,
                        "reason": match.reason,
                        "source": source,
                    },
                    actor="system",
                )
            else:
                report.already_imported += 1
            continue
        payment = Payment(
            debt_id=match.debt.id,
            amount=row.amount,
            paid_at=row.paid_at,
            method=row.method,
            reference=row.reference,
            transaction_id=row.transaction_id,
            matched_by=match.matched_by,
            source=source,
            imported_at=now,
        )
        if not _insert(session, payment):
            report.already_imported += 1
            continue
        overpaid = _apply(session, match.debt, row)
        report.imported += 1
        touched.add(match.debt.debtor_phone)
        details: dict[str, Any] = {
            "transaction_id": row.transaction_id,
            "debt_id": match.debt.id,
            "amount": str(row.amount),
            "method": row.method,
            "matched_by": str(match.matched_by),
            "paid_at": row.paid_at.isoformat(),
            "balance": str(match.debt.current_balance),
            "source": source,
        }
        if overpaid:
            details["overpaid"] = str(overpaid)
            report.overpayments.append(
                {
                    "line": row.line,
                    "transaction_id": row.transaction_id,
                    "debt_id": match.debt.id,
                    "contract_number": match.debt.contract_number,
                    "amount": str(row.amount),
                    "overpaid": str(overpaid),
                }
            )
        audit.record(
            session, now, AuditAction.PAYMENT_IMPORTED, match.debt.debtor_phone, details, "system"
        )
    session.flush()
    if settle:
        settlement, settled = _settle(session, settings, clock)
        report.settlement = settlement
        touched |= settled
    if profiles:
        _reassign(session, touched, profiles, clock)
    logger.info(
        "payments batch %s: %s rows, %s imported, %s already, %s unmatched, %s errors",
        source,
        report.read,
        report.imported,
        report.already_imported,
        report.unmatched,
        report.errors,
    )
    return report


def _known_transactions(session: Session, ids: list[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(ids), _IN_CHUNK):
        chunk = ids[start : start + _IN_CHUNK]
        known |= set(
            session.execute(select(Payment.transaction_id).where(Payment.transaction_id.in_(chunk)))
            .scalars()
            .all()
        )
        known |= set(
            session.execute(
                select(UnmatchedPayment.transaction_id).where(
                    UnmatchedPayment.transaction_id.in_(chunk)
                )
            )
            .scalars()
            .all()
        )
    return known


def _insert(session: Session, row: Payment | UnmatchedPayment) -> bool:
    """Insert in a savepoint; False when the transaction id is there already (another import
    won the race), leaving the rest of the transaction intact."""
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return False
    return True


def _unmatched(row: PaymentRow, reason: str, source: str, now: datetime) -> UnmatchedPayment:
    return UnmatchedPayment(
        transaction_id=row.transaction_id,
        method=row.method,
        amount=row.amount,
        paid_at=row.paid_at,
        reference=row.reference,
        reason=reason,
        source=source,
        imported_at=now,
    )


def _unmatched_dict(row: PaymentRow, reason: str) -> dict[str, Any]:
    return {
        "line": row.line,
        "transaction_id": row.transaction_id,
        "method": row.method,
        "amount": str(row.amount),
        "paid_at": row.paid_at.isoformat(),
        "reference": row.reference,
        "payer_phone": mask_phone(row.payer_phone) if row.payer_phone else None,
        "reason": reason,
    }


def _apply(session: Session, debt: Debt, row: PaymentRow) -> Decimal:
    """Lower the balance (never below zero) and keep the newest payment; returns the
    overpayment. The debt row is re-read under lock: another writer may have changed it."""
    session.refresh(debt, with_for_update=True)
    balance = Decimal(debt.current_balance)
    overpaid = max(ZERO, row.amount - balance)
    debt.current_balance = max(ZERO, balance - row.amount)
    paid_on = row.paid_at.astimezone(ZoneInfo(debt.debtor.time_zone)).date()
    if debt.last_payment_on is None or paid_on >= debt.last_payment_on:
        debt.last_payment_on = paid_on
        debt.last_payment_amount = row.amount
    debt.balance_as_of = max(debt.balance_as_of, paid_on)
    if debt.current_balance == ZERO:
        debt.status = DebtStatus.PAID
        debt.days_past_due = 0
    session.flush()
    return overpaid


# --- matching -------------------------------------------------------------------------------


def match_payment(session: Session, row: PaymentRow) -> Match:
    """The debt ``row`` pays, by the first path that names exactly one (module docstring)."""
    reasons: list[str] = []
    for path, finder in (
        (PaymentMatch.REFERENCE, _by_reference),
        (PaymentMatch.FOLIO, _by_folio),
        (PaymentMatch.DEBTOR_AMOUNT, _by_debtor_amount),
    ):
        debts = finder(session, row)
        if not debts:
            continue
        if len(debts) > 1:
            reasons.append(AMBIGUOUS)
            continue
        debt = debts[0]
        if debt.status in CLOSED:
            reasons.append(DEBT_CLOSED)
            continue
        return Match(debt, path)
    reason = AMBIGUOUS if AMBIGUOUS in reasons else DEBT_CLOSED if reasons else NO_MATCH
    return Match(None, reason=reason)


# A store reference (cobranza/services/payments.py): prefix letters, ≥10 digits, letters after.
STORE_REFERENCE = re.compile(r"([A-Z]+)(\d{10,})([A-Z]*)")


def _by_reference(session: Session, row: PaymentRow) -> list[Debt]:
    if not row.reference:
        return []
    wanted = row.reference.strip().upper()
    exact = {row.reference.strip(), wanted}
    found = {
        d.id: d
        for d in session.execute(select(Debt).where(Debt.contract_number.in_(exact))).scalars()
    }
    parts = STORE_REFERENCE.fullmatch(wanted)
    if parts is not None:
        prefix, digits = parts.group(1), parts.group(2)
        significant = digits.lstrip("0") or "0"
        candidates = session.execute(
            select(Debt)
            .join(Creditor, Debt.creditor_id == Creditor.id)
            .where(
                Creditor.convenience_store_reference_prefix == prefix,
                Debt.contract_number.contains(significant),
            )
        ).scalars()
        for debt in candidates:
            if store_reference(prefix, debt.contract_number) == wanted:
                found[debt.id] = debt
    return sorted(found.values(), key=lambda d: d.id)


def _by_folio(session: Session, row: PaymentRow) -> list[Debt]:
    if not row.folios:
        return []
    debt_ids = set(
        session.execute(select(Promise.debt_id).where(Promise.folio.in_(row.folios))).scalars()
    ) | set(
        session.execute(
            select(PaymentAgreement.debt_id).where(PaymentAgreement.folio.in_(row.folios))
        ).scalars()
    )
    if not debt_ids:
        return []
    return list(
        session.execute(select(Debt).where(Debt.id.in_(debt_ids)).order_by(Debt.id)).scalars()
    )


def _by_debtor_amount(session: Session, row: PaymentRow) -> list[Debt]:
    if not row.payer_phone:
        return []
    debtor = session.get(Debtor, row.payer_phone)
    if debtor is None:
        return []
    local = row.paid_at.astimezone(ZoneInfo(debtor.time_zone)).date()
    low, high = local - timedelta(days=MATCH_WINDOW_DAYS), local + timedelta(days=MATCH_WINDOW_DAYS)
    debts = [d for d in repo.active_debts(debtor) if d.status == DebtStatus.ACTIVE]
    ids = [d.id for d in debts]
    if not ids:
        return []
    promised = set(
        session.execute(
            select(Promise.debt_id).where(
                Promise.debt_id.in_(ids),
                Promise.status == PromiseStatus.PENDING,
                Promise.amount == row.amount,
                Promise.due_date.between(low, high),
            )
        ).scalars()
    )
    instalments = set(
        session.execute(
            select(PaymentAgreement.debt_id)
            .join(AgreementInstallment, AgreementInstallment.agreement_id == PaymentAgreement.id)
            .where(
                PaymentAgreement.debt_id.in_(ids),
                PaymentAgreement.status == AgreementStatus.ACTIVE,
                AgreementInstallment.status == InstallmentStatus.PENDING,
                AgreementInstallment.amount == row.amount,
                AgreementInstallment.due_date.between(low, high),
            )
        ).scalars()
    )
    return [d for d in debts if d.id in promised | instalments]


# --- settlement -----------------------------------------------------------------------------


def deadline(due: date, grace_days: int, time_zone: str) -> datetime:
    """The first instant after a commitment's grace: local midnight that starts the day after
    ``due + grace_days``. Payments before it count; from it on, an unmet commitment is
    broken (or missed)."""
    last_day = due + timedelta(days=grace_days)
    return datetime.combine(last_day + timedelta(days=1), time(0), ZoneInfo(time_zone))


def settle_commitments(
    session: Session,
    settings: Settings,
    clock: Clock,
    profiles: dict[str, PersonaProfile] | None = None,
) -> SettlementReport:
    """Settle every pending promise and instalment against the payments recorded (for a daily
    cron or worker; every import runs it too). With ``profiles``, the debtors whose
    commitments changed get their persona reassigned."""
    _serialise(session)
    report, touched = _settle(session, settings, clock)
    if profiles:
        _reassign(session, touched, profiles, clock)
    return report


def _settle(
    session: Session, settings: Settings, clock: Clock
) -> tuple[SettlementReport, set[str]]:
    now = clock.now()
    report = SettlementReport()
    touched: set[str] = set()
    pending = list(
        session.execute(
            select(Promise)
            .where(Promise.status == PromiseStatus.PENDING)
            .order_by(Promise.debt_id, Promise.due_date, Promise.id)
        ).scalars()
    )
    by_debt: dict[int, list[Promise]] = defaultdict(list)
    for promise in pending:
        by_debt[promise.debt_id].append(promise)
    for debt_id, promises in by_debt.items():
        if _settle_promises(session, debt_id, promises, settings.promise_grace_days, now, report):
            touched.add(promises[0].debtor_phone)
    agreements = list(
        session.execute(
            select(PaymentAgreement)
            .where(PaymentAgreement.status == AgreementStatus.ACTIVE)
            .order_by(PaymentAgreement.id)
        ).scalars()
    )
    for agreement in agreements:
        if _settle_agreement(session, agreement, settings.promise_grace_days, now, report):
            touched.add(agreement.debtor_phone)
    session.flush()
    return report, touched


def _payments(session: Session, debt_id: int, since: datetime) -> list[Payment]:
    return list(
        session.execute(
            select(Payment)
            .where(Payment.debt_id == debt_id, Payment.paid_at >= since)
            .order_by(Payment.paid_at, Payment.id)
        ).scalars()
    )


def _settle_promises(
    session: Session,
    debt_id: int,
    pending: list[Promise],
    grace: int,
    now: datetime,
    report: SettlementReport,
) -> bool:
    """Allocate the debt's payments to its promises in due-date order, so the same pesos never
    count twice: kept promises whose window overlaps take their amount first (from payments up
    to the moment they were kept), then each pending promise takes from what is left of the
    payments inside its own window (created → deadline). A promise whose payments reach its
    amount is kept at the instant of the payment that completed it; one still short when its
    deadline passes in the debtor's zone is broken at that deadline."""
    debt = session.get(Debt, debt_id)
    if debt is None:  # pragma: no cover - promises cascade with their debt
        return False
    zone = debt.debtor.time_zone
    start = min(p.created_at for p in pending)
    kept = list(
        session.execute(
            select(Promise)
            .where(
                Promise.debt_id == debt_id,
                Promise.status == PromiseStatus.KEPT,
                Promise.resolved_at >= start,
            )
            .order_by(Promise.due_date, Promise.id)
        ).scalars()
    )
    payments = _payments(session, debt_id, min([start] + [p.created_at for p in kept]))
    left = {p.id: Decimal(p.amount) for p in payments}
    for promise in kept:
        until = promise.resolved_at + timedelta(microseconds=1)  # its completing payment
        _take(payments, left, promise.created_at, until, Decimal(promise.amount))
    changed = False
    for promise in pending:
        end = deadline(promise.due_date, grace, zone)
        paid, completed_at, covering = _take(
            payments, left, promise.created_at, end, Decimal(promise.amount)
        )
        if completed_at is None and debt.status == DebtStatus.PAID and covering:
            completed_at = covering[-1].paid_at  # the debt was paid off: nothing more is owed
        if completed_at is not None:
            if _resolve(session, promise, PromiseStatus.KEPT, completed_at, now):
                for payment in covering:
                    payment.due_on = payment.due_on or promise.due_date
                audit.record(
                    session,
                    now,
                    AuditAction.PROMISE_KEPT,
                    promise.debtor_phone,
                    {
                        "folio": promise.folio,
                        "amount": str(promise.amount),
                        "paid": str(paid),
                        "due_date": promise.due_date.isoformat(),
                    },
                    actor="system",
                )
                report.promises_kept += 1
                changed = True
        elif now >= end:
            if _resolve(session, promise, PromiseStatus.BROKEN, end, now):
                audit.record(
                    session,
                    now,
                    AuditAction.PROMISE_BROKEN,
                    promise.debtor_phone,
                    {
                        "folio": promise.folio,
                        "amount": str(promise.amount),
                        "paid": str(paid),
                        "due_date": promise.due_date.isoformat(),
                        "grace_days": grace,
                    },
                    actor="system",
                )
                report.promises_broken += 1
                changed = True
    return changed


def _take(
    payments: list[Payment],
    left: dict[int, Decimal],
    start: datetime,
    end: datetime | None,
    amount: Decimal,
) -> tuple[Decimal, datetime | None, list[Payment]]:
    """Consume up to ``amount`` from the payments in [start, end) (``end`` None: no end), oldest
    first; returns what was taken, the instant the amount was reached (None if never) and the
    payments used."""
    taken = ZERO
    used: list[Payment] = []
    for payment in payments:
        if payment.paid_at < start or (end is not None and payment.paid_at >= end):
            continue
        if left[payment.id] <= 0:
            continue
        share = min(left[payment.id], amount - taken)
        left[payment.id] -= share
        taken += share
        used.append(payment)
        if taken >= amount:
            return taken, payment.paid_at, used
    return taken, None, used


def _resolve(
    session: Session, promise: Promise, status: PromiseStatus, at: datetime, now: datetime
) -> bool:
    """Move a pending promise to ``status`` once: the UPDATE names the pending state, so a
    second settlement (or a concurrent one) changes nothing and records nothing."""
    result = session.execute(
        update(Promise)
        .where(Promise.id == promise.id, Promise.status == PromiseStatus.PENDING)
        .values(status=status.value, resolved_at=at, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.refresh(promise)
    return True


def _settle_agreement(
    session: Session,
    agreement: PaymentAgreement,
    grace: int,
    now: datetime,
    report: SettlementReport,
) -> bool:
    """Instalments in order: the payments since the agreement was made pay them one after the
    other (paid ones first take their amount back; missed ones take nothing, so a late payment
    goes to the next instalment). A pending instalment is paid when the money reaches it before
    its deadline (due + grace, the debtor's zone), missed when the deadline passes first. All
    paid: the agreement is completed. A paid-off debt completes it too."""
    debt = agreement.debt
    zone = debt.debtor.time_zone
    instalments = [i for i in agreement.installments if i.status != InstallmentStatus.CANCELLED]
    if not instalments:
        return False
    payments = _payments(session, debt.id, agreement.created_at)
    left = {p.id: Decimal(p.amount) for p in payments}
    changed = False
    for instalment in sorted(instalments, key=lambda i: i.number):
        if instalment.status == InstallmentStatus.PAID:
            _take(payments, left, agreement.created_at, None, Decimal(instalment.amount))
            continue
        if instalment.status != InstallmentStatus.PENDING:
            continue
        end = deadline(instalment.due_date, grace, zone)
        paid, completed_at, covering = _take(
            payments, left, agreement.created_at, end, Decimal(instalment.amount)
        )
        if completed_at is None and debt.status == DebtStatus.PAID and payments:
            completed_at = payments[-1].paid_at
        if completed_at is not None:
            instalment.status = InstallmentStatus.PAID
            instalment.paid_at = completed_at
            for payment in covering:
                payment.due_on = payment.due_on or instalment.due_date
            report.installments_paid += 1
            audit.record(
                session,
                now,
                AuditAction.INSTALLMENT_PAID,
                agreement.debtor_phone,
                {
                    "folio": agreement.folio,
                    "number": instalment.number,
                    "amount": str(instalment.amount),
                    "due_date": instalment.due_date.isoformat(),
                },
                actor="system",
            )
            changed = True
        elif now >= end:
            instalment.status = InstallmentStatus.MISSED
            report.installments_missed += 1
            audit.record(
                session,
                now,
                AuditAction.INSTALLMENT_MISSED,
                agreement.debtor_phone,
                {
                    "folio": agreement.folio,
                    "number": instalment.number,
                    "amount": str(instalment.amount),
                    "paid": str(paid),
                    "due_date": instalment.due_date.isoformat(),
                    "grace_days": grace,
                },
                actor="system",
            )
            changed = True
            # money in this window not used by it stays for the next instalment
            _untake(covering, left, paid)
    if all(i.status == InstallmentStatus.PAID for i in instalments):
        agreement.status = AgreementStatus.COMPLETED
        report.agreements_completed += 1
        changed = True
    session.flush()
    return changed


def _untake(covering: list[Payment], left: dict[int, Decimal], amount: Decimal) -> None:
    """Give back what a missed instalment took (newest payment first): a missed instalment
    keeps nothing, the money pays the next one."""
    for payment in reversed(covering):
        if amount <= 0:
            return
        back = min(amount, Decimal(payment.amount) - left[payment.id])
        left[payment.id] += back
        amount -= back


def _reassign(
    session: Session, phones: Iterable[str], profiles: dict[str, PersonaProfile], clock: Clock
) -> None:
    for phone in sorted(set(phones)):
        debtor = repo.get_debtor(session, phone)
        debtor.persona = views.assign(session, debtor, profiles, clock).persona
    session.flush()


BATCH_ROWS = 1000


def import_in_batches(
    unit_of_work: Callable[[], AbstractContextManager[Session]],
    parsed: ParsedPayments,
    source: str,
    settings: Settings,
    clock: Clock,
    profiles: dict[str, PersonaProfile] | None = None,
    batch_size: int = BATCH_ROWS,
) -> ImportReport:
    """A whole file in transactions of ``batch_size`` rows, then one settlement: the lock an
    import holds (SQLite's write lock above all) is held for one batch at a time, so the
    assistant keeps writing meanwhile. A crash half-way keeps the batches committed; importing
    the file again records only the rest (idempotent by transaction id)."""
    report = ImportReport(source=source[:120])
    rows = sorted(parsed.rows, key=lambda r: (r.paid_at, r.line))
    for start in range(0, len(rows), batch_size):
        with unit_of_work() as session:
            part = import_payments(
                session,
                rows[start : start + batch_size],
                source,
                settings,
                clock,
                profiles,
                settle=False,
            )
        report.add(part)
    with unit_of_work() as session:
        report.settlement = settle_commitments(session, settings, clock, profiles)
    report.read = parsed.read
    report.errors = len(parsed.errors)
    report.error_rows = [e.as_dict() for e in parsed.errors]
    return report


# --- unmatched ------------------------------------------------------------------------------


def unmatched_payments(session: Session) -> list[dict[str, Any]]:
    """Unresolved unmatched payments, oldest first (``cobranza payments unmatched``)."""
    rows = session.execute(
        select(UnmatchedPayment)
        .where(UnmatchedPayment.resolved_at.is_(None))
        .order_by(UnmatchedPayment.paid_at, UnmatchedPayment.id)
    ).scalars()
    return [
        {
            "transaction_id": u.transaction_id,
            "method": u.method,
            "amount": str(u.amount),
            "paid_at": u.paid_at.isoformat(),
            "reference": u.reference,
            "reason": u.reason,
            "source": u.source,
            "imported_at": u.imported_at.isoformat(),
        }
        for u in rows
    ]
