"""Counter-proposals: whatever the debtor proposes, the answer (accepted or countered) keeps the
persona's rules to the centavo; typed choices pick the offer the buttons would; terms read back
as the debtor will see them."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from cobranza.domain.delinquency import CURRENT, bucket_for
from cobranza.domain.money import percent_of
from cobranza.personas.negotiation import (
    DISCOUNT_BEYOND_POLICY,
    DOWN_PAYMENT_LOW,
    NO_DISCOUNT,
    NO_PLANS,
    PLAN_TOO_LONG,
    TOO_MANY_PAYMENTS,
    Accepted,
    CounterOffer,
    Kind,
    PromiseTerms,
    Proposal,
    choose_offer,
    evaluate,
    frequency_of,
    proposal_from_token,
    render_lines,
    render_summary,
    schedule_lines,
    schedule_summary,
    terms_token,
)
from cobranza.personas.offers import (
    PLAN_INSTALLMENTS,
    PLAN_PAY_IN_FULL,
    PLAN_SETTLEMENT,
    Installment,
    Offer,
    compute_offers,
    schedule,
)
from cobranza.personas.profiles import PersonaProfile

TODAY = date(2026, 12, 8)
PERSONAS = ["olvidadizo", "en_apuros", "negociador", "reincidente", "estandar"]
SPEED = {"semanal": 0, "quincenal": 1, "mensual": 2}

# The format strings the dialogue keeps in domain.yml.
TEMPLATES = {
    "run": "{pagos} pagos de {monto} {cada} del {desde} al {hasta}",
    "single": "un pago de {monto} el {fecha}",
    "first": "enganche de {monto} el {fecha}",
    "last": "último pago de {monto} el {fecha}",
    "every_semanal": "cada semana",
    "every_quincenal": "cada quincena",
    "every_mensual": "cada mes",
    "summary": "{partes}. Total: {total}.",
    "savings": " Ahorras {ahorro}.",
}


def check_terms(
    terms: Offer | PromiseTerms, balance: int, dpd: int, profile: PersonaProfile, today: date
) -> None:
    """The persona's rules, written out again here from the profile (not from the module)."""
    horizon = today + timedelta(days=profile.promise_max_days_ahead)
    if isinstance(terms, PromiseTerms):
        assert 0 < terms.amount <= balance
        assert today <= terms.due_date <= horizon
        return
    amounts = [i.amount for i in terms.installments]
    dates = [i.due_date for i in terms.installments]
    assert sum(amounts) == terms.total and terms.total + terms.discount == balance == terms.balance
    assert all(a > 0 for a in amounts)
    assert [i.number for i in terms.installments] == list(range(1, len(amounts) + 1))
    assert today <= dates[0] <= horizon
    if terms.plan_type == PLAN_SETTLEMENT:
        bucket = bucket_for(dpd)
        assert bucket != CURRENT
        assert 0 < terms.discount <= percent_of(balance, profile.max_discount_pct[bucket])
        days = min(profile.settlement_pay_within_days, profile.promise_max_days_ahead)
        assert len(amounts) == 1 and dates[0] <= today + timedelta(days=days)
        return
    assert terms.discount == 0
    if terms.plan_type == PLAN_PAY_IN_FULL:
        assert amounts == [balance]
        return
    assert terms.plan_type == PLAN_INSTALLMENTS
    policy = profile.installments
    assert 2 <= len(amounts) <= policy.max_installments
    assert amounts[0] >= percent_of(balance, policy.min_down_payment_pct)
    assert min(amounts[1:]) >= policy.min_installment_centavos
    assert all((b - a).days >= 7 for a, b in pairwise(dates))
    longest = schedule(horizon, policy.max_installments, policy.frequency)
    assert dates[-1] <= longest[-1]
    if terms.frequency is not None:
        assert SPEED[terms.frequency] <= SPEED[policy.frequency]


def check_faithful(outcome: Accepted, proposal: Proposal, balance: int) -> None:
    """An accepted proposal is stored as the debtor said it, not as something else."""
    terms = outcome.terms
    if isinstance(terms, PromiseTerms):
        if proposal.kind is Kind.PROMISE:
            assert (terms.amount, terms.due_date) == (
                proposal.total,
                proposal.first_date or terms.due_date,
            )
        else:  # a single payment named, less than the balance: a promise
            assert proposal.kind is Kind.PARTIAL_THEN_REST
            assert [(terms.amount, terms.due_date)] == list(proposal.amounts_and_dates)
        return
    amounts = [i.amount for i in terms.installments]
    dates = [i.due_date for i in terms.installments]
    if proposal.kind is Kind.SETTLEMENT_AMOUNT:
        assert terms.total == min(proposal.total or 0, balance)
    if proposal.kind is Kind.INSTALLMENTS and len(amounts) > 1:
        if proposal.amount_per_payment is not None:
            assert set(amounts[:-1]) == {proposal.amount_per_payment}
            assert amounts[-1] <= proposal.amount_per_payment
        if proposal.count is not None:
            assert len(amounts) <= proposal.count
        if proposal.frequency is not None:
            assert terms.frequency == proposal.frequency
    if proposal.first_date is not None:
        assert dates[0] == proposal.first_date
    if proposal.kind is Kind.PARTIAL_THEN_REST:
        assert dates == [d for _, d in proposal.amounts_and_dates]
        named = [a for a, _ in proposal.amounts_and_dates if a is not None]
        assert amounts[: len(named)] == named


@st.composite
def proposals(draw: Any, balance: int, today: date) -> Proposal:
    near, wide = st.sampled_from(range(16)), st.integers(min_value=-5, max_value=90)
    day = (near | wide).map(lambda n: today + timedelta(days=n))
    # a share of the balance (where the rules' edges are) or any amount at all
    share = st.sampled_from(range(1, 121)).map(lambda pct: max(balance * pct // 100, 1))
    money = share | st.integers(min_value=1, max_value=balance + balance // 5 + 100)
    # the balance over k payments, so the count lands on and around the persona's limits
    per_count = st.integers(min_value=1, max_value=16).map(lambda k: -(-balance // k))
    kind = draw(st.sampled_from(list(Kind)))
    if kind is Kind.INSTALLMENTS:
        return Proposal(
            kind,
            amount_per_payment=draw(st.none() | per_count | money),
            count=draw(st.none() | st.integers(min_value=1, max_value=30)),
            frequency=draw(st.none() | st.sampled_from(list(SPEED))),
            first_date=draw(st.none() | day),
        )
    if kind is Kind.PARTIAL_THEN_REST:
        first = draw(day)
        gap = st.sampled_from([7, 14, 15, 16, 30, 31]) | st.integers(min_value=0, max_value=60)
        gaps = draw(st.lists(gap, min_size=1, max_size=2))
        dates = [first]
        for gap in gaps:
            dates.append(dates[-1] + timedelta(days=gap))
        amounts: list[int | None] = [draw(share | money) for _ in dates[:-1]]
        amounts.append(draw(st.none() | share | money))
        return Proposal(kind, amounts_and_dates=tuple(zip(amounts, dates, strict=True)))
    return Proposal(kind, total=draw(money), first_date=draw(st.none() | day))


Case = tuple[int, int, date, str, Proposal]


@st.composite
def cases(draw: Any) -> Case:
    # any balance, or one of $3,000 to $200,000 (hypothesis favours small integers)
    typical = st.integers(min_value=3_000, max_value=200_000).map(lambda pesos: pesos * 100)
    balance = draw(st.integers(min_value=1, max_value=20_000_000) | typical)
    today = TODAY + timedelta(days=draw(st.integers(min_value=0, max_value=2 * 365)))
    persona = draw(st.sampled_from(PERSONAS))
    dpd = draw(st.integers(min_value=0, max_value=400))
    return balance, dpd, today, persona, draw(proposals(balance, today))


def per_payment(amount: int, frequency: str | None = None, first: date | None = None) -> Proposal:
    return Proposal(Kind.INSTALLMENTS, amount, frequency=frequency, first_date=first)


# Each rule's edge, always tried: a proposal the rule alone turns down.
@example(case=(2_000_000, 40, TODAY, "en_apuros", per_payment(125000, "semanal")))  # 16 > 12
@example(case=(1_200_000, 95, TODAY, "estandar", per_payment(200000)))  # 1st payment < 20 %
@example(case=(1_200_000, 75, TODAY, "negociador", per_payment(400000, None, date(2026, 12, 31))))
@example(
    case=(
        1_200_000,
        40,
        TODAY,
        "reincidente",
        Proposal(
            Kind.PARTIAL_THEN_REST,
            amounts_and_dates=((600000, date(2026, 12, 10)), (None, date(2027, 1, 31))),
        ),
    )
)
@example(  # accepted as said: "la mitad el 15 y el resto a fin de mes"
    case=(
        1_200_050,
        75,
        TODAY,
        "negociador",
        Proposal(
            Kind.PARTIAL_THEN_REST,
            amounts_and_dates=((600025, date(2026, 12, 15)), (None, date(2026, 12, 31))),
        ),
    )
)
@example(case=(1_200_000, 75, TODAY, "negociador", per_payment(400000, "mensual")))  # slower
@example(  # payments 5 days apart
    case=(
        1_200_000,
        75,
        TODAY,
        "negociador",
        Proposal(
            Kind.PARTIAL_THEN_REST,
            amounts_and_dates=((600000, date(2026, 12, 15)), (None, date(2026, 12, 20))),
        ),
    )
)
@settings(max_examples=1500, deadline=None)
@given(case=cases())
def test_every_answer_keeps_the_persona_rules(profiles: dict, case: Case) -> None:
    balance, dpd, today, persona, proposal = case
    profile = profiles[persona]
    outcome = evaluate(proposal, balance, dpd, profile, today)
    event(f"{proposal.kind.value}: {type(outcome).__name__}")
    check_terms(outcome.terms, balance, dpd, profile, today)
    if isinstance(outcome, Accepted):
        check_faithful(outcome, proposal, balance)
    else:
        assert outcome.reasons, "a counter-offer says which rule the proposal broke"


@settings(max_examples=300, deadline=None)
@given(
    balance=st.integers(min_value=100, max_value=20_000_000),
    dpd=st.integers(min_value=0, max_value=400),
    share=st.integers(min_value=1, max_value=100),
    persona=st.sampled_from(PERSONAS),
)
def test_a_settlement_never_gets_more_than_the_bucket_allows(
    profiles: dict, balance: int, dpd: int, share: int, persona: str
) -> None:
    profile = profiles[persona]
    asked = balance * share // 100 or 1
    outcome = evaluate(Proposal(Kind.SETTLEMENT_AMOUNT, total=asked), balance, dpd, profile, TODAY)
    bucket = bucket_for(dpd)
    allowed = 0 if bucket == CURRENT else percent_of(balance, profile.max_discount_pct[bucket])
    assert isinstance(outcome.terms, Offer)
    assert outcome.terms.discount <= allowed
    if asked >= balance - allowed and asked < balance:
        assert isinstance(outcome, Accepted) and outcome.terms.total == asked
    elif asked < balance - allowed:
        assert isinstance(outcome, CounterOffer)
        if allowed > 0:  # the closest allowed settlement: exactly the bucket's discount
            assert outcome.terms.total == balance - allowed
            assert [r.code for r in outcome.reasons] == [DISCOUNT_BEYOND_POLICY]
        else:
            assert outcome.terms.plan_type == PLAN_PAY_IN_FULL
            assert [r.code for r in outcome.reasons] == [NO_DISCOUNT]


# --- the issue's examples -----------------------------------------------------------------------


def amounts_and_dates(terms: Offer) -> list[tuple[int, str]]:
    return [(i.amount, i.due_date.isoformat()) for i in terms.installments]


def test_500_every_quincena_is_countered_with_the_longest_plan_that_fits(profiles: dict) -> None:
    """ "puedo dar 500 cada quincena" on $12,000: 24 payments, no down payment, past the end."""
    proposal = Proposal(Kind.INSTALLMENTS, amount_per_payment=50000, frequency="quincenal")
    outcome = evaluate(proposal, 1200000, 75, profiles["negociador"], TODAY)
    assert isinstance(outcome, CounterOffer)
    assert [r.code for r in outcome.reasons] == [TOO_MANY_PAYMENTS, DOWN_PAYMENT_LOW]
    assert [r.limit for r in outcome.reasons] == [6, 180000]
    assert isinstance(outcome.terms, Offer)
    assert amounts_and_dates(outcome.terms) == [
        (180000, "2026-12-15"),
        (204000, "2026-12-31"),
        (204000, "2027-01-15"),
        (204000, "2027-01-31"),
        (204000, "2027-02-15"),
        (204000, "2027-02-28"),
    ]


def test_2000_every_quincena_is_accepted_as_said(profiles: dict) -> None:
    proposal = Proposal(Kind.INSTALLMENTS, amount_per_payment=200000, frequency="quincenal")
    outcome = evaluate(proposal, 1150000, 75, profiles["en_apuros"], TODAY)
    assert isinstance(outcome, Accepted) and isinstance(outcome.terms, Offer)
    assert outcome.terms.code == "propuesta_plan_6_quincenal"
    assert amounts_and_dates(outcome.terms) == [
        (200000, "2026-12-15"),
        (200000, "2026-12-31"),
        (200000, "2027-01-15"),
        (200000, "2027-01-31"),
        (200000, "2027-02-15"),
        (150000, "2027-02-28"),
    ]


def test_half_on_the_15th_and_the_rest_at_month_end(profiles: dict) -> None:
    """ "pago la mitad el 15 y el resto a fin de mes": the caller resolved "la mitad"."""
    parts = ((600025, date(2026, 12, 15)), (None, date(2026, 12, 31)))
    outcome = evaluate(
        Proposal(Kind.PARTIAL_THEN_REST, amounts_and_dates=parts),
        1200050,
        75,
        profiles["negociador"],
        TODAY,
    )
    assert isinstance(outcome, Accepted) and isinstance(outcome.terms, Offer)
    assert amounts_and_dates(outcome.terms) == [(600025, "2026-12-15"), (600025, "2026-12-31")]
    assert outcome.terms.plan_type == PLAN_INSTALLMENTS and outcome.terms.total == 1200050


def test_half_now_and_the_rest_too_late_keeps_the_debtors_first_payment(profiles: dict) -> None:
    """reincidente: the first payment within 3 days, the plan over by the 4th weekly payment."""
    parts = ((600000, date(2026, 12, 10)), (None, date(2027, 1, 31)))
    outcome = evaluate(
        Proposal(Kind.PARTIAL_THEN_REST, amounts_and_dates=parts),
        1200000,
        40,
        profiles["reincidente"],
        TODAY,
    )
    assert isinstance(outcome, CounterOffer) and isinstance(outcome.terms, Offer)
    assert [r.code for r in outcome.reasons] == [PLAN_TOO_LONG]
    assert amounts_and_dates(outcome.terms) == [(600000, "2026-12-10"), (600000, "2027-01-01")]


def test_leave_it_at_10_thousand_is_countered_with_the_buckets_settlement(profiles: dict) -> None:
    """ "¿me lo dejan en 10 mil?" on $12,000 at 75 days: negociador allows 10 %, $10,800."""
    outcome = evaluate(
        Proposal(Kind.SETTLEMENT_AMOUNT, total=1000000), 1200000, 75, profiles["negociador"], TODAY
    )
    assert isinstance(outcome, CounterOffer) and isinstance(outcome.terms, Offer)
    assert outcome.terms.plan_type == PLAN_SETTLEMENT
    assert (outcome.terms.total, outcome.terms.discount) == (1080000, 120000)
    assert amounts_and_dates(outcome.terms) == [(1080000, "2026-12-15")]
    assert outcome.reasons[0].code == DISCOUNT_BEYOND_POLICY
    assert outcome.reasons[0].limit == 1080000
    accepted = evaluate(
        Proposal(Kind.SETTLEMENT_AMOUNT, total=1100000), 1200000, 75, profiles["negociador"], TODAY
    )
    assert isinstance(accepted, Accepted) and isinstance(accepted.terms, Offer)
    assert (accepted.terms.total, accepted.terms.discount) == (1100000, 100000)


def test_no_settlement_where_the_bucket_allows_none(profiles: dict) -> None:
    outcome = evaluate(
        Proposal(Kind.SETTLEMENT_AMOUNT, total=1000000), 1200000, 12, profiles["olvidadizo"], TODAY
    )
    assert isinstance(outcome, CounterOffer) and isinstance(outcome.terms, Offer)
    assert outcome.terms.plan_type == PLAN_PAY_IN_FULL and outcome.terms.discount == 0
    assert [r.code for r in outcome.reasons] == [NO_DISCOUNT]


def test_a_promise_beyond_the_horizon_is_moved_to_it(profiles: dict) -> None:
    proposal = Proposal(Kind.PROMISE, total=300000, first_date=date(2027, 1, 15))
    outcome = evaluate(proposal, 1200000, 40, profiles["reincidente"], TODAY)
    assert isinstance(outcome, CounterOffer)
    assert outcome.terms == PromiseTerms(300000, date(2026, 12, 11))
    near = Proposal(Kind.PROMISE, total=300000, first_date=date(2026, 12, 10))
    assert evaluate(near, 1200000, 40, profiles["reincidente"], TODAY) == Accepted(
        PromiseTerms(300000, date(2026, 12, 10))
    )


# --- typed choices --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("el de 6 pagos", "plan_6_quincenal"),
        ("el de seis pagos", "plan_6_quincenal"),
        ("el de 12", "plan_12_quincenal"),
        ("quiero el de doce", "plan_12_quincenal"),
        ("La segunda", "liquidacion_5"),
        ("la primera opción", "pago_total"),
        ("la tercera", "plan_6_quincenal"),
        ("la última", "plan_12_quincenal"),
        ("liquidar con descuento", "liquidacion_5"),
        ("quiero liquidar", "liquidacion_5"),
        ("pago total", "pago_total"),
        ("lo pago todo, sin descuento", "pago_total"),
        ("la segunda, liquidar con descuento", "liquidacion_5"),
        ("el de 7 pagos", None),
        ("la segunda o la tercera", None),
        ("la quinta", None),
        ("hola", None),
    ],
)
def test_choose_offer(profiles: dict, text: str, code: str | None) -> None:
    offers = compute_offers(2390050, 47, profiles["en_apuros"], TODAY)
    assert [o.code for o in offers] == [
        "pago_total",
        "liquidacion_5",
        "plan_6_quincenal",
        "plan_12_quincenal",
    ]
    chosen = choose_offer(text, offers)
    assert (chosen.code if chosen else None) == code


def test_liquidar_without_a_settlement_is_paying_in_full(profiles: dict) -> None:
    offers = compute_offers(845000, 12, profiles["olvidadizo"], TODAY)
    chosen = choose_offer("quiero liquidar", offers)
    assert chosen is not None and chosen.code == "pago_total"
    assert choose_offer("con descuento", offers) is None


# --- clear terms ----------------------------------------------------------------------------------


def issue_plan() -> Offer:
    days = ["2026-12-22", "2026-12-31", "2027-01-15", "2027-01-31", "2027-02-15", "2027-02-28"]
    amounts = [500000, 454109, 454109, 454109, 454109, 454109, 454112]
    days.append("2027-03-15")
    installments = tuple(
        Installment(n + 1, a, date.fromisoformat(d))
        for n, (a, d) in enumerate(zip(amounts, days, strict=True))
    )
    total = sum(amounts)
    return Offer("plan_7_quincenal", PLAN_INSTALLMENTS, total, 0, total, installments, "quincenal")


def test_a_long_schedule_is_summarised_with_its_differing_payments() -> None:
    summary = schedule_summary(issue_plan())
    assert [(r.count, r.amount) for r in summary.runs] == [(1, 500000), (5, 454109), (1, 454112)]
    assert render_summary(summary, TEMPLATES) == (
        "enganche de $5,000.00 el 22 de diciembre, "
        "5 pagos de $4,541.09 cada quincena del 31 de diciembre al 28 de febrero "
        "y último pago de $4,541.12 el 15 de marzo. Total: $32,246.57."
    )


def test_the_calendar_lists_every_payment() -> None:
    lines = render_lines(schedule_lines(issue_plan()), "{numero}. {monto} el {fecha}")
    assert len(lines) == 7
    assert lines[0] == "1. $5,000.00 el 22 de diciembre"
    assert lines[-1] == "7. $4,541.12 el 15 de marzo"


def test_a_settlement_states_its_savings(profiles: dict) -> None:
    settlement = compute_offers(1200000, 75, profiles["negociador"], TODAY)[1]
    assert render_summary(schedule_summary(settlement), TEMPLATES) == (
        "un pago de $10,800.00 el 15 de diciembre. Total: $10,800.00. Ahorras $1,200.00."
    )


def test_two_equal_payments_are_named_one_by_one(profiles: dict) -> None:
    """ "2 pagos del 15 al 31" would hide that there are only two dates."""
    plan = compute_offers(845000, 12, profiles["olvidadizo"], TODAY)[1]
    summary = schedule_summary(plan)
    assert [(r.count, r.amount) for r in summary.runs] == [(2, 422500)]
    assert render_summary(summary, TEMPLATES) == (
        "enganche de $4,225.00 el 15 de diciembre y último pago de $4,225.00 el 31 de diciembre. "
        "Total: $8,450.00."
    )


def test_three_equal_payments_are_one_run() -> None:
    day = date(2026, 12, 15)
    plan = Offer(
        "p", PLAN_INSTALLMENTS, 900, 0, 900,
        tuple(Installment(n + 1, 300, day + timedelta(days=15 * n)) for n in range(3)),
    )  # fmt: skip
    assert render_summary(schedule_summary(plan), TEMPLATES).startswith(
        "3 pagos de $3.00 cada quincena del 15 de diciembre al 14 de enero."
    )


def test_a_persona_without_plans_counters_with_paying_in_full(profiles: dict) -> None:
    base = profiles["estandar"]
    profile = replace(base, installments=replace(base.installments, max_installments=1))
    for proposal in (
        per_payment(50000, "quincenal"),
        Proposal(
            Kind.PARTIAL_THEN_REST,
            amounts_and_dates=((600000, date(2026, 12, 10)), (None, date(2026, 12, 31))),
        ),
    ):
        outcome = evaluate(proposal, 1200000, 40, profile, TODAY)
        assert isinstance(outcome, CounterOffer) and isinstance(outcome.terms, Offer)
        assert [r.code for r in outcome.reasons] == [NO_PLANS]
        assert amounts_and_dates(outcome.terms) == [(1200000, "2026-12-15")]


@settings(max_examples=600, deadline=None)
@given(case=cases())
def test_terms_read_back_are_accepted_as_they_are_on_yes(profiles: dict, case: Case) -> None:
    """Whatever the answer (the debtor's terms or the closest ones), the terms read back and
    kept for the "sí" are accepted, unchanged, when weighed again the same day."""
    balance, dpd, today, persona, proposal = case
    profile = profiles[persona]
    terms = evaluate(proposal, balance, dpd, profile, today).terms
    token = terms_token(terms)
    again = proposal_from_token(token)
    assert again is not None
    outcome = evaluate(again, balance, dpd, profile, today)
    assert isinstance(outcome, Accepted), (terms, outcome)
    assert terms_token(outcome.terms) == token


@pytest.mark.parametrize(
    "token",
    ["", "{}", "[]", '{"pagos": []}', '{"pagos": [["x", "2026-12-01"]]}', '{"promesa": 5}',
     '{"pagos": [[100, "2026-12-01"]], "frecuencia": "diaria"}', "null", '{"pagos": 7}'],
)  # fmt: skip
def test_a_token_not_written_by_terms_token_is_no_proposal(token: str) -> None:
    assert proposal_from_token(token) is None


def test_the_frequency_is_read_from_the_dates() -> None:
    day = date(2026, 12, 15)
    assert frequency_of([day, day + timedelta(15), day + timedelta(30)]) == "quincenal"
    # the first payment may come early (a down payment): the gaps after it decide
    assert frequency_of([day, day + timedelta(3), day + timedelta(10)]) == "semanal"
    assert frequency_of([day, day + timedelta(3), day + timedelta(12)]) is None
    assert frequency_of([day, day + timedelta(20), day + timedelta(27)]) == "semanal"
    assert frequency_of([day, day + timedelta(30), day + timedelta(61)]) == "mensual"
    assert frequency_of([day, day + timedelta(9)]) is None
