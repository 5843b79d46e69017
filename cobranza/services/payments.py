"""Payments the debtor reports, and where the debtor can pay (the creditor's own accounts)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.db import audit
from cobranza.domain.vocabulary import AuditAction
from cobranza.services.promises import primary_debt


@dataclass(frozen=True)
class PaymentMethods:
    creditor: str
    bank: str
    clabe: str
    convenience_store_reference: str
    card_payment_url: str | None


def store_reference(prefix: str, contract_number: str) -> str:
    """The reference a debtor pays with at a convenience store: the creditor's prefix, the
    contract's digits padded to 10, and any letters after them (``CF-0000007-B`` →
    ``CF0000000007B``), so two debts of one contract family never share a reference."""
    digits = "".join(c for c in contract_number if c.isdigit())
    start = next((i for i, c in enumerate(contract_number) if c.isdigit()), len(contract_number))
    suffix = "".join(c for c in contract_number[start:] if c.isalpha()).upper()
    return f"{prefix}{digits.zfill(10)}{suffix}"


def payment_methods(session: Session, phone: str, contract: str | None = None) -> PaymentMethods:
    debt = primary_debt(session, phone, contract)
    creditor = debt.creditor
    return PaymentMethods(
        creditor=creditor.legal_name,
        bank=creditor.bank,
        clabe=creditor.clabe,
        convenience_store_reference=store_reference(
            creditor.convenience_store_reference_prefix, debt.contract_number
        ),
        card_payment_url=creditor.card_payment_url,
    )


def record_payment_claim(
    session: Session,
    phone: str,
    amount: Decimal | None,
    paid_on: date | None,
    channel: str,
    clock: Clock,
    promise_folio: str | None = None,
    contract: str | None = None,
) -> None:
    """Keep the debtor's word that they paid (for ``promise_folio``, when they said it was what
    they promised), for reconciliation against the bank's records."""
    debt = primary_debt(session, phone, contract)
    audit.record(
        session,
        clock.now(),
        AuditAction.PAYMENT_CLAIMED,
        phone,
        {
            "debt_id": debt.id,
            "channel": channel,
            "amount": None if amount is None else str(amount),
            "paid_on": None if paid_on is None else paid_on.isoformat(),
            "promise": promise_folio,
        },
    )
    session.flush()
