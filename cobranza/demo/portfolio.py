"""The demo portfolio: seven documented debtors (README) plus 1,000 synthetic ones.

The data (creditors, places, names, the seven debtors, the scenario mix and its ranges) lives in
``portfolio.yml``, checked by :mod:`cobranza.demo.data`; this module is only the generator.

Deterministic: the same ``today`` gives the same portfolio, row for row. History (payments,
promises, hardship, discount requests) is dated relative to ``today`` so the persona rules see
it as recent. Loading is idempotent: debtors already in the database are left alone.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cobranza.db.models import (
    AgreementInstallment,
    AuditLog,
    Consent,
    ContactAttempt,
    Creditor,
    Debt,
    Debtor,
    Payment,
    PaymentAgreement,
    Promise,
)
from cobranza.demo.data import PortfolioData, SecondDebt, demo_data
from cobranza.domain import phones
from cobranza.domain.folios import AGREEMENT_PREFIX, PROMISE_PREFIX, new_folio
from cobranza.domain.geography import canonical_state, resolve_zone
from cobranza.domain.vocabulary import AuditAction


@dataclass
class DebtorPlan:
    """What to generate for one debtor, before it becomes rows."""

    phone: str
    full_name: str
    date_of_birth: date
    state: str
    municipality: str
    creditor_code: str
    product: str
    original: Decimal
    balance: Decimal
    days_past_due: int
    on_time_payments: int = 0
    late_payments: int = 0
    broken_promises: int = 0
    kept_promises: int = 0
    pending_promise: bool = False
    hardship_reason: str | None = None
    discount_requests: int = 0
    consent: str = "granted"  # granted | revoked | none
    agreement: bool = False
    # a synthetic debtor's second debt is drawn (True); a documented one's is written out
    second_debt: bool | SecondDebt | None = None


def documented_debtors(data: PortfolioData) -> list[DebtorPlan]:
    """The seven debtors the README lists, exactly as ``portfolio.yml`` writes them."""
    return [DebtorPlan(**spec) for spec in data.documented]


def _synthetic_phone(rng: random.Random, lada: str, taken: set[str]) -> str:
    while True:
        rest = str(rng.randint(2, 9)) + "".join(
            str(rng.randint(0, 9)) for _ in range(9 - len(lada))
        )
        phone = phones.normalize_phone(lada + rest)
        if phone not in taken:
            taken.add(phone)
            return phone


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    """A random amount in [low, high) pesos, with centavos half of the time."""
    pesos = rng.randrange(low, high)
    cents = rng.choice((0, 0, 50, rng.randint(1, 99)))
    return Decimal(pesos) + Decimal(cents) / 100


def synthetic_debtors(
    data: PortfolioData, rng: random.Random, taken: set[str]
) -> Iterator[DebtorPlan]:
    scenarios = tuple(s for s in data.scenarios for _ in range(s.weight))
    consents = tuple(data.consent_weights)
    weights = tuple(data.consent_weights.values())
    for index in range(data.synthetic_count):
        place = data.places[index % len(data.places)]
        creditor = data.creditors[rng.randrange(len(data.creditors))]["code"]
        scenario = scenarios[rng.randrange(len(scenarios))]
        original = _money(rng, *data.original_pesos).quantize(Decimal("1"))
        balance = min(original, _money(rng, data.min_balance_pesos, int(original)))
        first, second = (
            (data.women_names, data.women_second)
            if rng.random() < 0.5
            else (data.men_names, data.men_second)
        )
        name = " ".join(
            part
            for part in (
                rng.choice(first),
                rng.choice(second),
                rng.choice(data.surnames),
                rng.choice(data.surnames),
            )
            if part
        )
        plan = DebtorPlan(
            phone=_synthetic_phone(rng, place.lada, taken),
            full_name=name,
            date_of_birth=date(
                rng.randint(*data.birth_years), rng.randint(1, 12), rng.randint(1, 28)
            ),
            state=place.state,
            municipality=place.municipality,
            creditor_code=creditor,
            product=rng.choice(data.products[creditor]),
            original=original,
            balance=balance,
            days_past_due=rng.randint(*data.days_past_due),
            consent=rng.choices(consents, weights=weights)[0],
            second_debt=rng.random() < data.second_debt_probability,
        )
        if scenario.hardship:
            plan.hardship_reason = rng.choice(data.hardship_reasons)
        for fact, low, high in scenario.draws:
            setattr(plan, fact, rng.randint(low, high))
        plan.pending_promise = rng.random() < data.pending_promise_probability
        plan.agreement = rng.random() < data.agreement_probability
        yield plan


def _utc(day: date, hour: int, zone: str) -> datetime:
    return datetime.combine(day, time(hour, 0), ZoneInfo(zone)).astimezone(timezone.utc)


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, min(day.day, 28))


def _rows_for(
    data: PortfolioData,
    plan: DebtorPlan,
    today: date,
    creditors: dict[str, Creditor],
    rng: random.Random,
    serial: int,
) -> list[object]:
    zone = resolve_zone(plan.state, plan.municipality, phones.area_code(plan.phone)).zone
    due_missed = today - timedelta(days=plan.days_past_due)
    debtor = Debtor(
        phone=plan.phone,
        full_name=plan.full_name,
        date_of_birth=plan.date_of_birth,
        state=canonical_state(plan.state) or plan.state,
        municipality=plan.municipality,
        time_zone=zone,
        discount_requests=plan.discount_requests,
        last_discount_request_at=_utc(today - timedelta(days=rng.randint(3, 40)), 12, zone)
        if plan.discount_requests
        else None,
        hardship_declared_at=_utc(today - timedelta(days=rng.randint(5, 30)), 11, zone)
        if plan.hardship_reason
        else None,
        hardship_reason=plan.hardship_reason,
        created_at=_utc(today - timedelta(days=720), 9, zone),
        updated_at=_utc(today, 6, zone),
    )
    creditor = creditors[plan.creditor_code]
    debt = Debt(
        debtor=debtor,
        creditor=creditor,
        product=plan.product,
        contract_number=f"{creditor.convenience_store_reference_prefix}-{serial:07d}",
        opened_on=_months_back(today, 24),
        original_amount=plan.original,
        current_balance=plan.balance,
        days_past_due=plan.days_past_due,
        balance_as_of=today,
        status="active",
    )
    rows: list[object] = [debtor, debt]
    # Monthly instalments before the one that is now overdue, newest first.
    installment = (plan.original / 24).quantize(Decimal("0.01"))
    history = ["on_time"] * plan.on_time_payments + ["late"] * plan.late_payments
    rng.shuffle(history)
    for months, kind in enumerate(history, start=1):
        due_on = _months_back(due_missed, months)
        paid_on = (
            due_on - timedelta(days=rng.randint(0, 3))
            if kind == "on_time"
            else (due_on + timedelta(days=rng.randint(3, 25)))
        )
        rows.append(
            Payment(
                debt=debt,
                amount=installment,
                paid_at=_utc(paid_on, 13, zone),
                due_on=due_on,
                method=rng.choice(("spei", "oxxo", "card", "branch")),
                reference=f"REF{serial:07d}{months:02d}",
            )
        )
        if months == 1 or debt.last_payment_on is None or paid_on > debt.last_payment_on:
            debt.last_payment_on = paid_on
            debt.last_payment_amount = installment
    promise_amount = min(plan.balance, (plan.balance / 3).quantize(Decimal("1")) or Decimal("100"))
    spacing = max(1, 85 // max(1, plan.broken_promises))
    for n in range(plan.broken_promises):
        due = today - timedelta(days=5 + n * spacing)
        rows.append(_promise(debt, debtor, promise_amount, due, "broken", zone, rng))
    for n in range(plan.kept_promises):
        due = today - timedelta(days=20 + n * 30)
        rows.append(_promise(debt, debtor, promise_amount, due, "kept", zone, rng))
    if plan.pending_promise and plan.consent != "none":
        rows.append(
            _promise(
                debt,
                debtor,
                promise_amount,
                today + timedelta(days=rng.randint(1, 7)),
                "pending",
                zone,
                rng,
            )
        )
    if plan.agreement:
        rows.extend(_agreement(debt, debtor, today, zone, rng))
    if plan.consent in ("granted", "revoked"):
        rows.append(
            Consent(
                debtor=debtor,
                channel="whatsapp",
                status="granted",
                source=data.consent_sources["granted"],
                recorded_at=_utc(debt.opened_on, 10, zone),
            )
        )
    if plan.consent == "revoked":
        rows.append(
            Consent(
                debtor=debtor,
                channel="whatsapp",
                status="revoked",
                source=data.consent_sources["revoked"],
                recorded_at=_utc(today - timedelta(days=rng.randint(2, 20)), 18, zone),
            )
        )
    for n in range(rng.randint(0, 3)):
        rows.append(
            ContactAttempt(
                debtor=debtor,
                channel="whatsapp",
                direction="outbound",
                initiated_by="campaign:recordatorio",
                attempted_at=_utc(today - timedelta(days=3 + 7 * n), 10, zone),
                outcome=rng.choice(("delivered", "read", "right_party", "failed")),
            )
        )
    second = _second_debt(data, plan)
    if second is not None:
        other = creditors[second.creditor_code]
        rows.append(
            Debt(
                debtor=debtor,
                creditor=other,
                product=second.product,
                contract_number=f"{other.convenience_store_reference_prefix}-{serial:07d}-B",
                opened_on=_months_back(today, 12),
                original_amount=second.original,
                current_balance=second.balance,
                days_past_due=second.days_past_due,
                balance_as_of=today,
                status="active",
            )
        )
    return rows


def _second_debt(data: PortfolioData, plan: DebtorPlan) -> SecondDebt | None:
    """A documented debtor's second debt as written; a synthetic one's with the next creditor
    in the list, for its first product."""
    if isinstance(plan.second_debt, SecondDebt) or not plan.second_debt:
        return plan.second_debt or None
    next_one = [c["code"] for c in data.creditors].index(plan.creditor_code) + 1
    other = data.creditors[next_one % len(data.creditors)]["code"]
    return SecondDebt(
        creditor_code=other,
        product=data.products[other][0],
        original=data.second_debt_original,
        balance=data.second_debt_balance,
        days_past_due=min(plan.days_past_due, data.second_debt_max_days_past_due),
    )


def _promise(
    debt: Debt,
    debtor: Debtor,
    amount: Decimal,
    due: date,
    status: str,
    zone: str,
    rng: random.Random,
) -> Promise:
    created = due - timedelta(days=rng.randint(1, 6))
    return Promise(
        folio=new_folio(PROMISE_PREFIX, created, rng),
        debt=debt,
        debtor_phone=debtor.phone,
        amount=amount,
        due_date=due,
        channel="whatsapp",
        status=status,
        created_by="bot",
        created_at=_utc(created, 12, zone),
        updated_at=_utc(due, 23, zone),
        resolved_at=None if status == "pending" else _utc(due + timedelta(days=1), 9, zone),
    )


def _agreement(
    debt: Debt, debtor: Debtor, today: date, zone: str, rng: random.Random
) -> list[object]:
    created = today - timedelta(days=rng.randint(1, 10))
    total = Decimal(debt.current_balance)
    half = (total / 2).quantize(Decimal("1"))
    agreement = PaymentAgreement(
        folio=new_folio(AGREEMENT_PREFIX, created, rng),
        debt=debt,
        debtor_phone=debtor.phone,
        plan_type="installments",
        balance_at_agreement=total,
        discount_amount=Decimal("0.00"),
        total_amount=total,
        channel="whatsapp",
        status="active",
        created_by="bot",
        created_at=_utc(created, 12, zone),
    )
    first = AgreementInstallment(
        agreement=agreement,
        number=1,
        amount=half,
        due_date=created + timedelta(days=7),
        status="pending",
    )
    second = AgreementInstallment(
        agreement=agreement,
        number=2,
        amount=total - half,
        due_date=created + timedelta(days=22),
        status="pending",
    )
    return [agreement, first, second]


def portfolio(today: date, data: PortfolioData | None = None) -> list[DebtorPlan]:
    data = data or demo_data()
    rng = random.Random(data.seed)
    documented = documented_debtors(data)
    taken = {p.phone for p in documented}
    return documented + list(synthetic_debtors(data, rng, taken))


def load_demo(session: Session, today: date, data: PortfolioData | None = None) -> dict[str, int]:
    """Insert the demo portfolio's missing debtors; returns what was added. ``data``: another
    version of the packaged data (``cobranza simulate --debtors N`` passes it with fewer
    synthetic debtors: being drawn in sequence, they are the first ones of the full portfolio)."""
    data = data or demo_data()
    creditors = {c.code: c for c in session.execute(select(Creditor)).scalars()}
    for spec in data.creditors:
        if spec["code"] not in creditors:
            creditor = Creditor(**spec)
            session.add(creditor)
            creditors[creditor.code] = creditor
    session.flush()
    # What is taken already: a database seeded earlier (another day, another version of this
    # generator) keeps its rows, and nothing added now may collide with them.
    taken = {
        "phone": set(session.execute(select(Debtor.phone)).scalars()),
        "contract": set(session.execute(select(Debt.contract_number)).scalars()),
        "folio": set(session.execute(select(Promise.folio)).scalars())
        | set(session.execute(select(PaymentAgreement.folio)).scalars()),
    }
    plans = portfolio(today, data)
    rng = random.Random(data.seed + 1)
    added = skipped = 0
    for serial, plan in enumerate(plans, start=1):
        rows = _rows_for(data, plan, today, creditors, rng, serial)  # always, to keep rng in step
        if plan.phone in taken["phone"]:
            continue
        contracts = {r.contract_number for r in rows if isinstance(r, Debt)}
        folios = {r.folio for r in rows if isinstance(r, Promise | PaymentAgreement)}
        if contracts & taken["contract"] or folios & taken["folio"]:
            skipped += 1
            continue
        session.add_all(rows)
        taken["contract"] |= contracts
        taken["folio"] |= folios
        added += 1
    session.flush()
    summary = {
        "debtors_added": added,
        "debtors_in_portfolio": len(plans),
        "debtors_skipped": skipped,
    }
    if added:
        session.add(
            AuditLog(
                actor="cli",
                action=AuditAction.DEMO_PORTFOLIO_LOADED.value,
                details={**summary, "as_of": today.isoformat()},
            )
        )
    return summary
