"""The simulated debtors of a WhatsApp load and the conversation each has: demo-portfolio
debtors a promise for tomorrow suits, each writing from its own number (its WhatsApp id is its
phone) a greeting, its date of birth, "how much do I owe", a payment promise for tomorrow, "yes"
to confirm it, goodbye (:data:`SCRIPT`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from cobranza import responses
from cobranza.db.models import Consent, ContactBlock, Debt, Debtor, PaymentAgreement, Promise
from cobranza.domain.phones import whatsapp_id
from cobranza.domain.vocabulary import ConsentStatus, DebtStatus, PromiseStatus

PROMISE_AMOUNT = Decimal("500")
# The conversation every simulated debtor has ({dob}: its date of birth, {amount}: the promise).
SCRIPT: tuple[str, ...] = (
    "hola",
    "{dob}",
    "cuanto debo",
    "te pago {amount} mañana",
    "si",
    "gracias, adios",
)
CONFIRM_TURN = 4  # the turn whose answer confirms the promise
# What the assistant says once a promise is stored: the fixed start of utter_promesa_registrada.
PROMISE_CONFIRMED = responses.text("utter_promesa_registrada").split("{")[0].strip()


@dataclass(frozen=True)
class SimulatedDebtor:
    phone: str  # E.164
    date_of_birth: date

    @property
    def wa_id(self) -> str:
        return whatsapp_id(self.phone)

    def turns(self, script: Sequence[str] = SCRIPT) -> list[str]:
        dob = self.date_of_birth.strftime("%d/%m/%Y")
        return [t.format(dob=dob, amount=int(PROMISE_AMOUNT)) for t in script]


def pick_debtors(engine: Engine, count: int) -> list[SimulatedDebtor]:
    """``count`` demo debtors a promise for tomorrow suits: one debt, active, with a balance
    above the promise; no promise pending, no agreement, no blocked number, no consent record
    other than a grant (the demo's revoked ones would be told they opted out). In phone order:
    the same database gives the same debtors."""
    with engine.connect() as connection:
        single = (
            select(Debt.debtor_phone)
            .group_by(Debt.debtor_phone)
            .having(func.count(Debt.id) == 1)
            .scalar_subquery()
        )
        query = (
            select(Debtor.phone, Debtor.date_of_birth)
            .join(Debt, Debt.debtor_phone == Debtor.phone)
            .where(
                Debtor.phone.in_(single),
                Debt.status == DebtStatus.ACTIVE.value,
                Debt.current_balance >= 2 * PROMISE_AMOUNT,
                Debtor.hardship_declared_at.is_(None),
                ~select(Promise.id)
                .where(
                    Promise.debtor_phone == Debtor.phone,
                    Promise.status == PromiseStatus.PENDING.value,
                )
                .exists(),
                ~select(PaymentAgreement.id)
                .where(PaymentAgreement.debtor_phone == Debtor.phone)
                .exists(),
                ~select(ContactBlock.id).where(ContactBlock.phone == Debtor.phone).exists(),
                ~select(Consent.id)
                .where(
                    Consent.debtor_phone == Debtor.phone,
                    Consent.status != ConsentStatus.GRANTED.value,
                )
                .exists(),
            )
            .order_by(Debtor.phone)
            .limit(count)
        )
        found = [SimulatedDebtor(phone, born) for phone, born in connection.execute(query)]
    if len(found) < count:
        raise ValueError(f"only {len(found)} demo debtors suit the conversation, {count} asked")
    return found
