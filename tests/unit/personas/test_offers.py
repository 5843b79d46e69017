"""Offers: exact sums, dates inside the persona's rules, Mexican pay days."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cobranza.domain.delinquency import CURRENT, bucket_for
from cobranza.domain.money import percent_of
from cobranza.personas.offers import (
    PLAN_INSTALLMENTS,
    PLAN_PAY_IN_FULL,
    PLAN_SETTLEMENT,
    Offer,
    compute_offers,
    next_quincena,
    schedule,
    split_installments,
)
from cobranza.personas.profiles import PersonaProfile

TODAY = date(2026, 11, 22)


def check_offer_rules(
    offer: Offer, balance: int, dpd: int, profile: PersonaProfile, today: date
) -> None:
    amounts = [i.amount for i in offer.installments]
    assert sum(amounts) == offer.total, offer
    assert offer.total + offer.discount == balance == offer.balance
    assert all(a > 0 for a in amounts)
    dates = [i.due_date for i in offer.installments]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)
    assert all((b - a).days >= 7 for a, b in pairwise(dates))
    assert today < dates[0] <= today + timedelta(days=profile.promise_max_days_ahead)
    assert [i.number for i in offer.installments] == list(range(1, len(amounts) + 1))
    if offer.plan_type == PLAN_SETTLEMENT:
        bucket = bucket_for(dpd)
        assert bucket != CURRENT
        assert offer.discount == percent_of(balance, profile.max_discount_pct[bucket]) > 0
    else:
        assert offer.discount == 0
    if offer.plan_type == PLAN_INSTALLMENTS:
        policy = profile.installments
        assert 2 <= len(amounts) <= policy.max_installments
        assert amounts[0] >= percent_of(balance, policy.min_down_payment_pct)
        assert min(amounts[1:]) >= policy.min_installment_centavos


@pytest.mark.parametrize(
    ("persona", "balance", "dpd", "codes"),
    [
        ("olvidadizo", 845000, 12, ["pago_total", "plan_2_quincenal"]),
        (
            "en_apuros",
            2390050,
            47,
            ["pago_total", "liquidacion_5", "plan_6_quincenal", "plan_12_quincenal"],
        ),
        (
            "negociador",
            1200000,
            75,
            ["pago_total", "liquidacion_10", "plan_3_quincenal", "plan_6_quincenal"],
        ),
        ("reincidente", 1500000, 40, ["pago_total", "plan_2_semanal", "plan_4_semanal"]),
        (
            "estandar",
            3125075,
            95,
            ["pago_total", "liquidacion_10", "plan_3_mensual", "plan_6_mensual"],
        ),
    ],
)
def test_offers_for_the_documented_debtors(
    profiles: dict, persona: str, balance: int, dpd: int, codes: list[str]
) -> None:
    profile = profiles[persona]
    offers = compute_offers(balance, dpd, profile, TODAY)
    assert [o.code for o in offers] == codes
    for offer in offers:
        check_offer_rules(offer, balance, dpd, profile, TODAY)


def test_concrete_plan_for_maria(profiles: dict) -> None:
    plan = compute_offers(845000, 12, profiles["olvidadizo"], TODAY)[1]
    assert [(i.amount, i.due_date.isoformat()) for i in plan.installments] == [
        (422500, "2026-11-29"),
        (422500, "2026-12-15"),
    ]


def test_settlement_for_juan_carlos_is_exact(profiles: dict) -> None:
    settlement = compute_offers(2390050, 47, profiles["en_apuros"], TODAY)[1]
    assert settlement.plan_type == PLAN_SETTLEMENT
    assert settlement.discount == 119503 and settlement.total == 2270547
    assert settlement.discount_pct == Decimal(5)


def test_small_balances_get_no_instalment_plan(profiles: dict) -> None:
    offers = compute_offers(60000, 20, profiles["olvidadizo"], TODAY)
    assert [o.plan_type for o in offers] == [PLAN_PAY_IN_FULL]
    assert compute_offers(0, 20, profiles["olvidadizo"], TODAY) == []


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2026-11-01", "2026-11-15"),
        ("2026-11-14", "2026-11-15"),
        ("2026-11-15", "2026-11-30"),
        ("2026-11-29", "2026-11-30"),
        ("2026-11-30", "2026-12-15"),
        ("2027-02-10", "2027-02-15"),
        ("2027-02-15", "2027-02-28"),
        ("2028-02-20", "2028-02-29"),
        ("2026-12-31", "2027-01-15"),
    ],
)
def test_next_quincena(after: str, expected: str) -> None:
    assert next_quincena(date.fromisoformat(after)).isoformat() == expected


def test_monthly_schedule_keeps_the_day_and_clamps_short_months() -> None:
    days = schedule(date(2027, 1, 31), 4, "mensual")
    assert [d.isoformat() for d in days] == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]
    assert schedule(date(2026, 11, 25), 3, "semanal")[-1] == date(2026, 12, 9)
    with pytest.raises(ValueError):
        schedule(TODAY, 2, "diario")


@given(
    total=st.integers(min_value=1, max_value=10**10),
    count=st.integers(min_value=1, max_value=36),
    pct=st.decimals(min_value=0, max_value=100, places=2),
)
def test_split_always_adds_up(total: int, count: int, pct: Decimal) -> None:
    amounts = split_installments(total, count, pct)
    assert sum(amounts) == total and len(amounts) == count
    assert all(a >= 0 for a in amounts)


@settings(max_examples=300, deadline=None)
@given(
    balance=st.integers(min_value=1, max_value=50_000_000),
    dpd=st.integers(min_value=0, max_value=720),
    offset=st.integers(min_value=0, max_value=3 * 365),
    persona=st.sampled_from(["olvidadizo", "en_apuros", "negociador", "reincidente", "estandar"]),
)
def test_every_offer_respects_the_rules(
    profiles: dict, balance: int, dpd: int, offset: int, persona: str
) -> None:
    today = TODAY + timedelta(days=offset)
    offers = compute_offers(balance, dpd, profiles[persona], today)
    assert offers, "pay in full is always offered by these profiles"
    for offer in offers:
        check_offer_rules(offer, balance, dpd, profiles[persona], today)
