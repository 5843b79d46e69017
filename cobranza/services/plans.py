"""Payment plans: the offers the persona allows now, and the agreement a debtor accepts."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.orm import Session

from cobranza.clock import Clock, local_today
from cobranza.db import audit
from cobranza.db import repository as repo
from cobranza.db.models import AgreementInstallment, PaymentAgreement
from cobranza.domain.folios import AGREEMENT_PREFIX, new_folio
from cobranza.domain.money import to_centavos, to_pesos
from cobranza.domain.vocabulary import AgreementStatus, AuditAction
from cobranza.errors import NotFound
from cobranza.personas.offers import Offer, compute_offers
from cobranza.personas.profiles import PersonaProfile
from cobranza.services.promises import primary_debt


class UnknownOffer(NotFound):
    """The chosen offer is not among the ones allowed now."""


def current_offers(
    session: Session, phone: str, profile: PersonaProfile, clock: Clock
) -> list[Offer]:
    debtor = repo.get_debtor(session, phone)
    debt = primary_debt(session, phone)
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
) -> tuple[PaymentAgreement, Offer]:
    """Store the agreement for the offer ``code``, recomputed here (never taken from the chat)."""
    offers = {o.code: o for o in current_offers(session, phone, profile, clock)}
    if code not in offers:
        raise UnknownOffer(code)
    offer = offers[code]
    debt = primary_debt(session, phone)
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
        {"folio": agreement.folio, "offer": code, "total": str(to_pesos(offer.total))},
        actor=created_by,
    )
    session.flush()
    return agreement, offer
