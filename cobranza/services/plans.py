"""Payment plans: the offers the persona allows now, and the agreement a debtor accepts."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from cobranza.clock import Clock, local_today
from cobranza.db import audit
from cobranza.db import repository as repo
from cobranza.db.models import AgreementInstallment, PaymentAgreement
from cobranza.domain.folios import AGREEMENT_PREFIX, new_folio
from cobranza.domain.money import to_centavos, to_pesos
from cobranza.domain.vocabulary import AgreementStatus, AuditAction
from cobranza.errors import NotFound
from cobranza.personas.offers import Installment, Offer, compute_offers
from cobranza.personas.profiles import PersonaProfile
from cobranza.services.promises import primary_debt


class UnknownOffer(NotFound):
    """The chosen offer is not among the ones allowed now."""


def current_offers(
    session: Session,
    phone: str,
    profile: PersonaProfile,
    clock: Clock,
    contract: str | None = None,
) -> list[Offer]:
    """The offers for the debt in question (``contract``: the one the debtor chose)."""
    debtor = repo.get_debtor(session, phone)
    debt = primary_debt(session, phone, contract)
    today = local_today(clock, debtor.time_zone)
    return compute_offers(
        to_centavos(Decimal(debt.current_balance)), debt.days_past_due, profile, today
    )


def accept_offer(
    session: Session,
    phone: str,
    code: str,
    profile: PersonaProfile,
    clock: Clock,
    channel: str,
    created_by: str = "bot",
    contract: str | None = None,
) -> tuple[PaymentAgreement, Offer]:
    """Store the agreement for the offer ``code``, recomputed here (never taken from the chat)."""
    offers = {o.code: o for o in current_offers(session, phone, profile, clock, contract)}
    if code not in offers:
        raise UnknownOffer(code)
    agreement = record_agreement(
        session, phone, offers[code], clock, channel, created_by, contract=contract
    )
    return agreement, offers[code]


def record_agreement(
    session: Session,
    phone: str,
    offer: Offer,
    clock: Clock,
    channel: str,
    created_by: str = "bot",
    contract: str | None = None,
) -> PaymentAgreement:
    """Store ``offer`` as the debtor's agreement on the debt the conversation is about. The
    caller computed the offer on the server (an offer shown, or terms the persona accepted)."""
    debt = primary_debt(session, phone, contract)
    debtor = repo.get_debtor(session, phone)
    now = clock.now()
    agreement = PaymentAgreement(
        folio=new_folio(AGREEMENT_PREFIX, local_today(clock, debtor.time_zone)),
        debt_id=debt.id,
        debtor_phone=phone,
        plan_type=offer.plan_type,
        balance_at_agreement=to_pesos(offer.balance),
        discount_amount=to_pesos(offer.discount),
        total_amount=to_pesos(offer.total),
        channel=channel,
        status=AgreementStatus.ACTIVE,
        created_by=created_by,
        created_at=now,
    )
    session.add(agreement)
    for inst in offer.installments:
        session.add(
            AgreementInstallment(
                agreement=agreement,
                number=inst.number,
                amount=to_pesos(inst.amount),
                due_date=inst.due_date,
            )
        )
    audit.record(
        session,
        now,
        AuditAction.AGREEMENT_RECORDED,
        phone,
        {"folio": agreement.folio, "offer": offer.code, "total": str(to_pesos(offer.total))},
        actor=created_by,
    )
    session.flush()
    return agreement


def latest_agreement(session: Session, phone: str) -> PaymentAgreement | None:
    """The debtor's newest active agreement, if any."""
    return session.execute(
        select(PaymentAgreement)
        .where(
            PaymentAgreement.debtor_phone == phone,
            PaymentAgreement.status == AgreementStatus.ACTIVE,
        )
        .order_by(PaymentAgreement.created_at.desc(), PaymentAgreement.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def stored_terms(agreement: PaymentAgreement) -> Offer:
    """An agreement's terms exactly as stored, to read back to the debtor."""
    return Offer(
        agreement.folio,
        agreement.plan_type,
        to_centavos(Decimal(agreement.balance_at_agreement)),
        to_centavos(Decimal(agreement.discount_amount)),
        to_centavos(Decimal(agreement.total_amount)),
        tuple(
            Installment(i.number, to_centavos(Decimal(i.amount)), i.due_date)
            for i in sorted(agreement.installments, key=lambda i: i.number)
        ),
    )
