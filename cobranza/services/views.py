"""Service layer: what the CLI, the actions and the console ask of the domain.

Each function takes a Session (the caller owns the transaction), the persona profiles and a
clock, so tests run them against a real database at a fixed instant.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from cobranza.clock import Clock, local_today
from cobranza.db import repository as repo
from cobranza.db.models import Debt, Debtor
from cobranza.domain.delinquency import bucket_for
from cobranza.domain.money import format_mxn, to_centavos
from cobranza.domain.phones import InvalidPhone, normalize_phone
from cobranza.domain.scores import effect_label
from cobranza.domain.vocabulary import DebtStatus
from cobranza.personas.engine import Assignment, DebtorFacts, assign_persona
from cobranza.personas.offers import compute_offers
from cobranza.personas.profiles import PersonaProfile
from cobranza.services.scores import latest_scores

PROMISE_WINDOW_DAYS = 90
PAYMENT_WINDOW_DAYS = 365


def debtor_facts(session: Session, debtor: Debtor, clock: Clock) -> DebtorFacts:
    now = clock.now()
    debts = repo.active_debts(debtor)
    promises = repo.promise_counts_since(
        session, debtor.phone, repo.window_start(now, PROMISE_WINDOW_DAYS)
    )
    on_time, late = repo.payment_punctuality_since(
        session, debtor.phone, repo.window_start(now, PAYMENT_WINDOW_DAYS)
    )
    return DebtorFacts(
        days_past_due=max((d.days_past_due for d in debts), default=0),
        balance=sum((Decimal(d.current_balance) for d in debts), Decimal("0.00")),
        broken_promises_90d=promises.get("broken", 0),
        kept_promises_90d=promises.get("kept", 0),
        discount_requests=debtor.discount_requests or 0,
        on_time_payments_12m=on_time,
        late_payments_12m=late,
        hardship_declared=debtor.hardship_declared_at is not None,
    )


def assign(
    session: Session, debtor: Debtor, profiles: dict[str, PersonaProfile], clock: Clock
) -> Assignment:
    return assign_persona(debtor_facts(session, debtor, clock), profiles)


def reassign_personas(
    session: Session, profiles: dict[str, PersonaProfile], clock: Clock
) -> dict[str, int]:
    """Store the persona the engine assigns now for every debtor; returns counts per persona."""
    counts: dict[str, int] = {}
    for phone in repo.all_debtor_phones(session):
        debtor = repo.get_debtor(session, phone)
        persona = assign(session, debtor, profiles, clock).persona
        debtor.persona = persona
        counts[persona] = counts.get(persona, 0) + 1
    return dict(sorted(counts.items()))


def _debt_dict(debt: Debt) -> dict[str, Any]:
    return {
        "id": debt.id,
        "creditor": debt.creditor.name,
        "product": debt.product,
        "contract_number": debt.contract_number,
        "original_amount": str(debt.original_amount),
        "current_balance": str(debt.current_balance),
        "current_balance_text": format_mxn(Decimal(debt.current_balance)),
        "days_past_due": debt.days_past_due,
        "bucket": bucket_for(debt.days_past_due),
        "balance_as_of": debt.balance_as_of.isoformat(),
        "last_payment_on": debt.last_payment_on.isoformat() if debt.last_payment_on else None,
        "last_payment_amount": str(debt.last_payment_amount) if debt.last_payment_amount else None,
        "status": debt.status,
    }


def score_report(session: Session, phone: str, clock: Clock) -> dict[str, Any] | None:
    """The debtor's current propensity-to-pay score for operators (``cobranza debtor``), with
    its reasons labelled in Spanish; ``None`` when not scored yet. Never for the debtor: no
    action or response reads it (tests/integration/test_score_guardrails.py)."""
    found = latest_scores(session, [phone], on=clock.now().date()).get(phone)
    if found is None:
        return None
    return {
        "probability": found.probability,
        "percent": round(found.probability * 100, 1),
        "band": found.band,
        "as_of": found.as_of.isoformat(),
        "model_id": found.model_id,
        "expected_recovery": str(found.expected_recovery),
        "expected_recovery_text": format_mxn(found.expected_recovery),
        "reasons": [
            {
                **reason,
                "effect_label": effect_label(reason["effect"]),
            }
            for reason in found.reasons
        ],
    }


def debtor_report(
    session: Session, phone: str, profiles: dict[str, PersonaProfile], clock: Clock
) -> dict[str, Any]:
    """Everything ``cobranza debtor`` shows: profile, persona and why, debts, zone, consent,
    and the current score with its reasons."""
    debtor = repo.get_debtor(session, phone)
    facts = debtor_facts(session, debtor, clock)
    assignment = assign_persona(facts, profiles)
    consents = repo.latest_consents(session, phone)
    local_now = clock.now().astimezone(ZoneInfo(debtor.time_zone))
    return {
        "phone": debtor.phone,
        "full_name": debtor.full_name,
        "date_of_birth": debtor.date_of_birth.isoformat(),
        "state": debtor.state,
        "municipality": debtor.municipality,
        "time_zone": debtor.time_zone,
        "local_time": local_now.isoformat(timespec="minutes"),
        "persona": assignment.persona,
        "persona_stored": debtor.persona,
        "persona_explanation": assignment.explain(),
        "persona_assignment": assignment.as_dict(),
        "facts": facts.as_dict(),
        "balance": str(facts.balance),
        "balance_text": format_mxn(facts.balance),
        "days_past_due": facts.days_past_due,
        "bucket": bucket_for(facts.days_past_due),
        "hardship_reason": debtor.hardship_reason,
        "debts": [_debt_dict(d) for d in repo.active_debts(debtor)],
        "consent": {
            channel: {
                "status": record.status,
                "source": record.source,
                "recorded_at": record.recorded_at.isoformat(timespec="seconds"),
            }
            for channel, record in sorted(consents.items())
        },
        "score": score_report(session, debtor.phone, clock),
    }


def debtor_offers(
    session: Session, phone: str, profiles: dict[str, PersonaProfile], clock: Clock
) -> dict[str, Any]:
    """The offers the assistant would make now, per active debt, for the assigned persona."""
    debtor = repo.get_debtor(session, phone)
    assignment = assign(session, debtor, profiles, clock)
    profile = profiles[assignment.persona]
    today = local_today(clock, debtor.time_zone)
    return {
        "phone": debtor.phone,
        "persona": profile.name,
        "today": today.isoformat(),
        "debts": [
            {
                "debt_id": debt.id,
                "contract_number": debt.contract_number,
                "balance": str(debt.current_balance),
                "days_past_due": debt.days_past_due,
                "offers": [
                    o.as_dict()
                    for o in compute_offers(
                        to_centavos(Decimal(debt.current_balance)),
                        debt.days_past_due,
                        profile,
                        today,
                    )
                ],
            }
            for debt in repo.active_debts(debtor)
            if debt.status == DebtStatus.ACTIVE
        ],
    }


def debtor_promises(session: Session, phone: str) -> list[dict[str, Any]]:
    repo.get_debtor(session, phone)  # raises DebtorNotFound
    return [
        {
            "folio": p.folio,
            "debt_id": p.debt_id,
            "amount": str(p.amount),
            "amount_text": format_mxn(Decimal(p.amount)),
            "due_date": p.due_date.isoformat(),
            "channel": p.channel,
            "status": p.status,
            "created_by": p.created_by,
            "created_at": p.created_at.isoformat(timespec="seconds"),
            "resolved_at": p.resolved_at.isoformat(timespec="seconds") if p.resolved_at else None,
        }
        for p in repo.promises_of(session, phone)
    ]


def session_context(session: Session, sender_id: str, default_time_zone: str) -> dict[str, Any]:
    """What a new conversation needs to know about the sender, without disclosing anything:
    whether a debtor has this number, the persona on record and the time zone."""
    try:
        phone = normalize_phone(sender_id)
        debtor = repo.get_debtor(session, phone)
    except (InvalidPhone, repo.DebtorNotFound):
        return {"found": False, "phone": None, "persona": None, "time_zone": default_time_zone}
    return {"found": True, "phone": phone, "persona": debtor.persona, "time_zone": debtor.time_zone}
