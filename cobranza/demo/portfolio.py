"""The demo portfolio: six documented debtors (README) plus 1,000 synthetic ones.

Deterministic: the same ``today`` gives the same portfolio, row for row. History (payments,
promises, hardship, discount requests) is dated relative to ``today`` so the persona rules see
it as recent. Loading is idempotent: debtors already in the database are left alone.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
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
from cobranza.domain import phones
from cobranza.domain.folios import AGREEMENT_PREFIX, PROMISE_PREFIX, new_folio
from cobranza.domain.geography import canonical_state, resolve_zone
from cobranza.domain.vocabulary import AuditAction

SYNTHETIC_COUNT = 1000
RANDOM_SEED = 5215512345678

CREDITORS: tuple[dict[str, Any], ...] = (
    {
        "code": "credifacil",
        "name": "CrediFácil Demo",
        "legal_name": "CrediFácil Demo, S.A. de C.V., SOFOM, E.N.R.",
        "clabe": "012180001234567897",
        "bank": "BBVA México",
        "convenience_store_reference_prefix": "CF",
        "card_payment_url": "https://pagos.credifacil.example/tarjeta",
        "customer_service_phone": "800 111 2233",
    },
    {
        "code": "tiendahogar",
        "name": "Tienda Hogar Demo",
        "legal_name": "Tienda Hogar Demo, S.A. de C.V.",
        "clabe": "002180009876543215",
        "bank": "Citibanamex",
        "convenience_store_reference_prefix": "TH",
        "card_payment_url": "https://pagos.tiendahogar.example/tarjeta",
        "customer_service_phone": "800 222 3344",
    },
    {
        "code": "motopresta",
        "name": "MotoPresta Demo",
        "legal_name": "MotoPresta Demo, S.A.P.I. de C.V., SOFOM, E.N.R.",
        "clabe": "014180005555666671",
        "bank": "Santander",
        "convenience_store_reference_prefix": "MP",
        "card_payment_url": None,
        "customer_service_phone": "800 333 4455",
    },
)

PRODUCTS = {
    "credifacil": ("Préstamo personal", "Crédito de nómina", "Tarjeta de crédito"),
    "tiendahogar": ("Crédito departamental", "Crédito para muebles"),
    "motopresta": ("Crédito para motocicleta",),
}

# (state, municipality, lada): every Mexican time zone appears at least once.
PLACES = (
    ("Ciudad de México", "Coyoacán", "55"),
    ("Ciudad de México", "Iztapalapa", "55"),
    ("Estado de México", "Ecatepec de Morelos", "55"),
    ("Jalisco", "Guadalajara", "33"),
    ("Jalisco", "Puerto Vallarta", "322"),
    ("Puebla", "Puebla", "222"),
    ("Guanajuato", "León", "477"),
    ("Veracruz", "Veracruz", "229"),
    ("Oaxaca", "Oaxaca de Juárez", "951"),
    ("Michoacán", "Morelia", "443"),
    ("Querétaro", "Querétaro", "442"),
    ("Chiapas", "Tuxtla Gutiérrez", "961"),
    ("Tabasco", "Centro", "993"),
    ("Guerrero", "Acapulco de Juárez", "744"),
    ("Quintana Roo", "Benito Juárez", "998"),
    ("Quintana Roo", "Othón P. Blanco", "983"),
    ("Yucatán", "Mérida", "999"),
    ("Campeche", "Campeche", "981"),
    ("Nuevo León", "Monterrey", "81"),
    ("Coahuila", "Saltillo", "844"),
    ("Coahuila", "Torreón", "871"),
    ("Durango", "Durango", "618"),
    ("Tamaulipas", "Tampico", "833"),
    ("Tamaulipas", "Matamoros", "868"),
    ("Tamaulipas", "Reynosa", "899"),
    ("Tamaulipas", "Nuevo Laredo", "867"),
    ("Coahuila", "Piedras Negras", "878"),
    ("Chihuahua", "Chihuahua", "614"),
    ("Chihuahua", "Cuauhtémoc", "625"),
    ("Chihuahua", "Juárez", "656"),
    ("Chihuahua", "Ojinaga", "626"),
    ("Sonora", "Hermosillo", "662"),
    ("Sonora", "Cajeme", "644"),
    ("Sinaloa", "Mazatlán", "669"),
    ("Sinaloa", "Culiacán", "667"),
    ("Baja California Sur", "La Paz", "612"),
    ("Nayarit", "Tepic", "311"),
    ("Nayarit", "Bahía de Banderas", "329"),
    ("Baja California", "Tijuana", "664"),
    ("Baja California", "Mexicali", "686"),
    ("Baja California", "Ensenada", "646"),
)

WOMEN_NAMES = (
    "María",
    "Guadalupe",
    "Juana",
    "Margarita",
    "Verónica",
    "Leticia",
    "Rosa",
    "Alejandra",
    "Gabriela",
    "Daniela",
    "Fernanda",
    "Adriana",
    "Claudia",
    "Mónica",
    "Sofía",
    "Valeria",
    "Ximena",
    "Itzel",
    "Karla",
    "Brenda",
)
MEN_NAMES = (
    "José",
    "Juan",
    "Miguel",
    "Luis",
    "Jorge",
    "Francisco",
    "Alejandro",
    "Eduardo",
    "Ricardo",
    "Fernando",
    "Roberto",
    "Héctor",
    "Arturo",
    "Sergio",
    "Javier",
    "Diego",
    "Emiliano",
    "Santiago",
    "Óscar",
    "Raúl",
)
WOMEN_SECOND = ("", "", "", "Elena", "del Carmen", "Isabel", "Fernanda", "José")
MEN_SECOND = ("", "", "", "José", "Luis", "Antonio", "Ángel", "Alberto")
SURNAMES = (
    "Hernández",
    "García",
    "Martínez",
    "López",
    "González",
    "Pérez",
    "Rodríguez",
    "Sánchez",
    "Ramírez",
    "Cruz",
    "Flores",
    "Gómez",
    "Morales",
    "Vázquez",
    "Reyes",
    "Jiménez",
    "Torres",
    "Díaz",
    "Gutiérrez",
    "Ruiz",
    "Mendoza",
    "Aguilar",
    "Ortiz",
    "Moreno",
    "Castillo",
    "Romero",
    "Álvarez",
    "Méndez",
    "Chávez",
    "Rivera",
    "Juárez",
    "Domínguez",
    "Herrera",
    "Medina",
    "Castro",
)
HARDSHIP_REASONS = (
    "perdió su empleo",
    "enfermedad en la familia",
    "le redujeron el sueldo",
    "gastos médicos",
    "cerró su negocio",
)


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
    second_debt: bool = False
    extra: dict[str, object] = field(default_factory=dict)


def documented_debtors() -> list[DebtorPlan]:
    """The six debtors the README lists, exactly."""
    return [
        DebtorPlan(
            "+525512345678",
            "María Fernanda López Hernández",
            date(1985, 3, 12),
            "Ciudad de México",
            "Coyoacán",
            "credifacil",
            "Préstamo personal",
            Decimal("15000.00"),
            Decimal("8450.00"),
            12,
            on_time_payments=18,
        ),
        DebtorPlan(
            "+526641234567",
            "Juan Carlos Pérez Ramírez",
            date(1979, 11, 2),
            "Baja California",
            "Tijuana",
            "tiendahogar",
            "Crédito departamental",
            Decimal("30000.00"),
            Decimal("23900.50"),
            47,
            on_time_payments=6,
            hardship_reason="perdió su empleo",
        ),
        DebtorPlan(
            "+529981234567",
            "Ana Sofía Torres Gómez",
            date(1992, 7, 25),
            "Quintana Roo",
            "Benito Juárez (Cancún)",
            "credifacil",
            "Tarjeta de crédito",
            Decimal("18000.00"),
            Decimal("12000.00"),
            75,
            on_time_payments=3,
            late_payments=3,
            discount_requests=2,
        ),
        DebtorPlan(
            "+528112345678",
            "Carlos Alberto Méndez Ruiz",
            date(1988, 1, 30),
            "Nuevo León",
            "Monterrey",
            "motopresta",
            "Crédito para motocicleta",
            Decimal("25000.00"),
            Decimal("15000.00"),
            40,
            on_time_payments=4,
            late_payments=2,
            broken_promises=3,
        ),
        DebtorPlan(
            "+526561234567",
            "Luis Ortega Díaz",
            date(1990, 5, 5),
            "Chihuahua",
            "Juárez",
            "credifacil",
            "Crédito de nómina",
            Decimal("9000.00"),
            Decimal("5600.00"),
            20,
            on_time_payments=8,
            consent="revoked",
        ),
        DebtorPlan(
            "+523312345678",
            "Patricia Ruiz Salazar",
            date(1970, 9, 14),
            "Jalisco",
            "Guadalajara",
            "tiendahogar",
            "Crédito para muebles",
            Decimal("40000.00"),
            Decimal("31250.75"),
            95,
            late_payments=2,
            consent="none",
        ),
    ]


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


def synthetic_debtors(rng: random.Random, taken: set[str]) -> Iterator[DebtorPlan]:
    scenarios = (
        ("olvidadizo",) * 30
        + ("en_apuros",) * 15
        + ("negociador",) * 15
        + ("reincidente",) * 15
        + ("general",) * 25
    )
    for index in range(SYNTHETIC_COUNT):
        state, municipality, lada = PLACES[index % len(PLACES)]
        creditor = CREDITORS[rng.randrange(len(CREDITORS))]["code"]
        scenario = scenarios[rng.randrange(len(scenarios))]
        original = _money(rng, 3000, 90000).quantize(Decimal("1"))
        balance = min(original, _money(rng, 800, int(original)))
        first, second = (
            (WOMEN_NAMES, WOMEN_SECOND) if rng.random() < 0.5 else (MEN_NAMES, MEN_SECOND)
        )
        name = " ".join(
            part
            for part in (
                rng.choice(first),
                rng.choice(second),
                rng.choice(SURNAMES),
                rng.choice(SURNAMES),
            )
            if part
        )
        plan = DebtorPlan(
            phone=_synthetic_phone(rng, lada, taken),
            full_name=name,
            date_of_birth=date(rng.randint(1955, 2003), rng.randint(1, 12), rng.randint(1, 28)),
            state=state,
            municipality=municipality,
            creditor_code=creditor,
            product=rng.choice(PRODUCTS[creditor]),
            original=original,
            balance=balance,
            days_past_due=rng.randint(1, 180),
            consent=rng.choices(("granted", "revoked", "none"), weights=(88, 5, 7))[0],
            second_debt=rng.random() < 0.08,
        )
        if scenario == "olvidadizo":
            plan.days_past_due = rng.randint(1, 30)
            plan.on_time_payments = rng.randint(4, 18)
            plan.late_payments = rng.randint(0, 1)
            plan.kept_promises = rng.randint(0, 2)
        elif scenario == "en_apuros":
            plan.hardship_reason = rng.choice(HARDSHIP_REASONS)
            plan.on_time_payments = rng.randint(2, 10)
            plan.late_payments = rng.randint(0, 3)
            plan.broken_promises = rng.randint(0, 1)
        elif scenario == "negociador":
            plan.discount_requests = rng.randint(2, 5)
            plan.on_time_payments = rng.randint(0, 6)
            plan.late_payments = rng.randint(1, 5)
            plan.days_past_due = rng.randint(31, 180)
        elif scenario == "reincidente":
            plan.broken_promises = rng.randint(2, 5)
            plan.late_payments = rng.randint(2, 6)
            plan.on_time_payments = rng.randint(0, 4)
        else:
            plan.on_time_payments = rng.randint(0, 5)
            plan.late_payments = rng.randint(0, 6)
            plan.kept_promises = rng.randint(0, 1)
            plan.discount_requests = rng.randint(0, 1)
        plan.pending_promise = rng.random() < 0.15
        plan.agreement = rng.random() < 0.05
        yield plan


def _utc(day: date, hour: int, zone: str) -> datetime:
    return datetime.combine(day, time(hour, 0), ZoneInfo(zone)).astimezone(timezone.utc)


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, min(day.day, 28))


def _rows_for(
    plan: DebtorPlan, today: date, creditors: dict[str, Creditor], rng: random.Random, serial: int
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
                source="contrato de crédito (cláusula de medios de contacto)",
                recorded_at=_utc(debt.opened_on, 10, zone),
            )
        )
    if plan.consent == "revoked":
        rows.append(
            Consent(
                debtor=debtor,
                channel="whatsapp",
                status="revoked",
                source="mensaje BAJA por WhatsApp",
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
    if plan.second_debt:
        other = CREDITORS[(list(creditors).index(plan.creditor_code) + 1) % len(CREDITORS)]["code"]
        rows.append(
            Debt(
                debtor=debtor,
                creditor=creditors[other],
                product=PRODUCTS[other][0],
                contract_number=f"{creditors[other].convenience_store_reference_prefix}-{serial:07d}-B",
                opened_on=_months_back(today, 12),
                original_amount=Decimal("6000.00"),
                current_balance=Decimal("2150.00"),
                days_past_due=min(plan.days_past_due, 15),
                balance_as_of=today,
                status="active",
            )
        )
    return rows


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


def portfolio(today: date) -> list[DebtorPlan]:
    rng = random.Random(RANDOM_SEED)
    documented = documented_debtors()
    taken = {p.phone for p in documented}
    return documented + list(synthetic_debtors(rng, taken))


def load_demo(session: Session, today: date) -> dict[str, int]:
    """Insert the demo portfolio's missing debtors; returns what was added."""
    creditors = {c.code: c for c in session.execute(select(Creditor)).scalars()}
    for spec in CREDITORS:
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
    plans = portfolio(today)
    rng = random.Random(RANDOM_SEED + 1)
    added = skipped = 0
    for serial, plan in enumerate(plans, start=1):
        rows = _rows_for(plan, today, creditors, rng, serial)  # always, to keep rng in step
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
