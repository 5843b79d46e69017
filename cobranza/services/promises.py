"""Promises to pay: validation against the balance and the persona's horizon, and recording
once with a folio."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cobranza.clock import Clock, local_today
from cobranza.db import audit
from cobranza.db import repository as repo
from cobranza.db.models import Debt, Debtor, Promise
from cobranza.domain.folios import PROMISE_PREFIX, new_folio
from cobranza.domain.vocabulary import AuditAction, DebtStatus, PromiseStatus
from cobranza.errors import Rejected
from cobranza.personas.profiles import PersonaProfile

# Reasons a promise is refused; each has a response in domain.yml (utter_promesa_<reason>).
AMOUNT_NOT_POSITIVE = "monto_invalido"
AMOUNT_ABOVE_BALANCE = "monto_excede"
DATE_IN_PAST = "fecha_pasada"
DATE_BEYOND_HORIZON = "fecha_lejana"


class PromiseRejected(Rejected):
    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def open_debts(session: Session, phone: str) -> list[Debt]:
    """The debtor's active debts, the most overdue first (then the largest)."""
    return open_debts_of(repo.get_debtor(session, phone))


def open_debts_of(debtor: Debtor) -> list[Debt]:
    """:func:`open_debts` of a debtor already loaded with its debts."""
    debts = [d for d in repo.active_debts(debtor) if d.status == DebtStatus.ACTIVE]
    return sorted(debts, key=lambda d: (d.days_past_due, d.current_balance), reverse=True)


def primary_debt(session: Session, phone: str, contract: str | None = None) -> Debt:
    """The active debt a conversation is about: the one the debtor chose (``contract``, when it
    is one of theirs), else the most overdue, then the largest."""
    return primary_of(open_debts(session, phone), phone, contract)


def primary_of(debts: list[Debt], phone: str, contract: str | None = None) -> Debt:
    """:func:`primary_debt` among ``debts``, the debtor's :func:`open_debts`."""
    if not debts:
        raise repo.DebtorNotFound(phone)
    return next((d for d in debts if d.contract_number == contract), debts[0])


def check_promise(
    amount: Decimal, due: date, balance: Decimal, today: date, horizon_days: int
) -> str | None:
    """None when acceptable, else the reason it is not."""
    if amount <= 0:
        return AMOUNT_NOT_POSITIVE
    if amount > balance:
        return AMOUNT_ABOVE_BALANCE
    if due < today:
        return DATE_IN_PAST
    if due > today + timedelta(days=horizon_days):
        return DATE_BEYOND_HORIZON
    return None


def record_promise(
    session: Session,
    phone: str,
    amount: Decimal,
    due: date,
    profile: PersonaProfile,
    clock: Clock,
    channel: str,
    created_by: str = "bot",
    replaces: str | None = None,
    contract: str | None = None,
) -> Promise:
    """Validate and store a promise; the same pending promise (debt, amount, date) is returned
    instead of being stored twice, and a new amount for the same day supersedes the earlier
    one (one pending promise per debt and day). ``replaces`` is the folio of the pending
    promise the debtor said they cannot keep: it counts as broken, and this one renews it."""
    debtor = repo.get_debtor(session, phone)
    debt = primary_debt(session, phone, contract)
    today = local_today(clock, debtor.time_zone)
    reason = check_promise(
        amount, due, Decimal(debt.current_balance), today, profile.promise_max_days_ahead
    )
    if reason:
        raise PromiseRejected(reason)
    existing = _pending_for(session, debt.id, due)
    if existing is not None and Decimal(existing.amount) == amount:
        return existing  # the same promise again (a repeated "sí", a retried delivery)
    now = clock.now()
    if existing is not None:  # a new amount for the same day replaces the earlier promise
        existing.status = PromiseStatus.CANCELLED
        existing.resolved_at = now
        audit.record(
            session,
            now,
            AuditAction.PROMISE_SUPERSEDED,
            phone,
            {"folio": existing.folio},
            actor=created_by,
        )
        session.flush()
    if replaces is not None:
        _break_for_renewal(session, phone, replaces, due, now, created_by)
    promise = Promise(
        folio=new_folio(PROMISE_PREFIX, today),
        debt_id=debt.id,
        debtor_phone=phone,
        amount=amount,
        due_date=due,
        channel=channel,
        status=PromiseStatus.PENDING,
        created_by=created_by,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # the unique index settles a race between two requests
            session.add(promise)
    except IntegrityError:
        raced = _pending_for(session, debt.id, due)
        if raced is None or Decimal(raced.amount) != amount:
            raise
        return raced
    audit.record(
        session,
        now,
        AuditAction.PROMISE_RECORDED,
        phone,
        {"folio": promise.folio, "amount": str(amount), "due_date": due.isoformat()},
        actor=created_by,
    )
    session.flush()
    return promise


def _pending_for(session: Session, debt_id: int, due: date) -> Promise | None:
    """The pending promise for this debt and day (at most one: a unique index says so)."""
    return session.execute(
        select(Promise).where(
            Promise.debt_id == debt_id,
            Promise.status == PromiseStatus.PENDING,
            Promise.due_date == due,
        )
    ).scalar_one_or_none()


def pending_promise(session: Session, phone: str) -> Promise | None:
    """The debtor's pending promise (the soonest due, whichever debt it is for)."""
    return session.execute(
        select(Promise)
        .where(Promise.debtor_phone == phone, Promise.status == PromiseStatus.PENDING)
        .order_by(Promise.due_date, Promise.id)
        .limit(1)
    ).scalar_one_or_none()


def _break_for_renewal(
    session: Session, phone: str, folio: str, due: date, now: datetime, actor: str
) -> None:
    """The promise the debtor cannot keep: broken (it counts in the history), renewed by the
    one being stored. Anything but the debtor's own pending promise is left alone."""
    old = session.execute(
        select(Promise).where(
            Promise.folio == folio,
            Promise.debtor_phone == phone,
            Promise.status == PromiseStatus.PENDING,
        )
    ).scalar_one_or_none()
    if old is None or old.due_date == due:
        return
    old.status = PromiseStatus.BROKEN
    old.resolved_at = now
    old.updated_at = now
    audit.record(
        session,
        now,
        AuditAction.PROMISE_RESCHEDULED,
        phone,
        {"folio": old.folio, "due_date": old.due_date.isoformat(), "new_due_date": due.isoformat()},
        actor=actor,
    )
    session.flush()
