"""A debtor's own proposal, weighed against the persona's rules, and the terms read back.

Debtors rarely pick a button: they write "puedo dar 500 cada quincena", "pago la mitad el 15 y
el resto a fin de mes" or "¿me lo dejan en 10 mil?". :func:`evaluate` answers such a
:class:`Proposal` with either :class:`Accepted` (the plan or promise exactly as it would be
stored, every amount in centavos, adding up to the total) or :class:`CounterOffer` (the closest
terms the persona allows, and the rules the proposal broke). It never invents a discount: a
settlement below what the delinquency bucket allows is answered with the bucket's settlement.

The rules a plan must meet (:func:`plan_violations`), all from the persona profile:

* 2 to ``max_installments`` payments, adding up to the balance, no discount;
* a first payment (down payment) of at least ``min_down_payment_pct`` of the balance;
* every later payment of at least ``min_installment_amount``;
* the first payment dated from today to today + ``promise.max_days_ahead``;
* payments at least :data:`~cobranza.personas.offers.MIN_GAP_DAYS` apart;
* the last payment no later than the last one of the longest plan the persona itself offers
  (``max_installments`` payments at the persona's frequency from the promise horizon);
* a stated frequency as frequent as the persona's or more (weekly beats fortnightly beats
  monthly): paying more often is always acceptable, less often is not.

Also here: :func:`choose_offer` reads a typed choice ("el de 6 pagos", "la segunda") as the
button it stands for, and :func:`schedule_summary` / :func:`schedule_lines` give the terms of
an offer as data, which :func:`render_summary` / :func:`render_lines` put into the caller's
format strings (the text a person reads lives in ``domain.yml``).

Pure: no database, no clock; ``today`` is the debtor's local date.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import Enum
from itertools import pairwise

from babel.dates import format_date
from babel.lists import format_list

from cobranza.domain.amounts import NUMBER_WORDS, fold, parse_amount
from cobranza.domain.delinquency import CURRENT, bucket_for
from cobranza.domain.money import format_mxn, percent_of
from cobranza.personas.offers import (
    MIN_GAP_DAYS,
    PLAN_INSTALLMENTS,
    PLAN_PAY_IN_FULL,
    PLAN_SETTLEMENT,
    Installment,
    Offer,
    add_months,
    compute_offers,
    next_quincena,
    schedule,
    settlement_deadline,
)
from cobranza.personas.profiles import PersonaProfile

__all__ = [
    "Accepted",
    "CounterOffer",
    "Kind",
    "PromiseTerms",
    "Proposal",
    "Reason",
    "Run",
    "ScheduleSummary",
    "choose_offer",
    "evaluate",
    "plan_violations",
    "proposal_from_token",
    "render_lines",
    "render_summary",
    "schedule_lines",
    "schedule_summary",
    "terms_token",
]

#: Frequencies from the most frequent to the least.
FREQUENCIES = ("semanal", "quincenal", "mensual")

# Rule codes; the promise ones are the reasons ``services.promises`` already answers with.
AMOUNT_NOT_POSITIVE = "monto_invalido"
AMOUNT_ABOVE_BALANCE = "monto_excede"
DATE_IN_PAST = "fecha_pasada"
DATE_BEYOND_HORIZON = "fecha_lejana"
DOWN_PAYMENT_LOW = "enganche_bajo"
INSTALLMENT_LOW = "pago_bajo"
TOO_MANY_PAYMENTS = "demasiados_pagos"
PLAN_TOO_LONG = "plazo_largo"
PAYMENTS_TOO_CLOSE = "pagos_juntos"
FREQUENCY_TOO_SLOW = "frecuencia"
DOES_NOT_COVER = "no_cubre_saldo"
DISCOUNT_BEYOND_POLICY = "descuento_excede"
NO_DISCOUNT = "sin_descuento"
NO_PLANS = "sin_planes"
INCOMPLETE = "incompleta"


class Kind(str, Enum):
    """What the debtor proposed."""

    INSTALLMENTS = "instalments"  # "500 cada quincena", "en 6 pagos"
    PARTIAL_THEN_REST = "partial_then_rest"  # "la mitad el 15 y el resto a fin de mes"
    SETTLEMENT_AMOUNT = "settlement_amount"  # "¿me lo dejan en 10 mil?"
    PROMISE = "promise"  # "pago 2 mil el viernes"


@dataclass(frozen=True)
class Proposal:
    """A counter-proposal as the dialogue understood it; amounts in centavos.

    * INSTALLMENTS: ``amount_per_payment`` and/or ``count``, optional ``frequency`` and
      ``first_date``.
    * PARTIAL_THEN_REST: ``amounts_and_dates``, each ``(centavos, date)``; ``None`` as the last
      amount means "el resto". The caller turns "la mitad" into centavos.
    * SETTLEMENT_AMOUNT: ``total``, optional ``first_date``.
    * PROMISE: ``total`` and ``first_date``.
    """

    kind: Kind
    amount_per_payment: int | None = None
    count: int | None = None
    frequency: str | None = None
    first_date: date | None = None
    amounts_and_dates: tuple[tuple[int | None, date], ...] = ()
    total: int | None = None


@dataclass(frozen=True)
class PromiseTerms:
    """A promise to pay ``amount`` centavos by ``due_date``, as ``Promise`` stores it."""

    amount: int
    due_date: date


Terms = Offer | PromiseTerms


@dataclass(frozen=True)
class Reason:
    """A rule the proposal broke: its code and the limit that applies (centavos, a date, a
    count or a frequency), for the caller's format string."""

    code: str
    limit: int | date | str | None = None


@dataclass(frozen=True)
class Accepted:
    terms: Terms


@dataclass(frozen=True)
class CounterOffer:
    terms: Terms
    reasons: tuple[Reason, ...] = field(default_factory=tuple)


Outcome = Accepted | CounterOffer


# --- the persona's limits ---------------------------------------------------------------------


def _ceil_peso(centavos: int) -> int:
    return -(-centavos // 100) * 100


def horizon(profile: PersonaProfile, today: date) -> date:
    """The latest first payment (and promise) date."""
    return today + timedelta(days=profile.promise_max_days_ahead)


def latest_payment(profile: PersonaProfile, today: date) -> date:
    """The last date of the longest plan the persona offers: no plan may end later."""
    count = max(profile.installments.max_installments, 1)
    return schedule(horizon(profile, today), count, profile.installments.frequency)[-1]


def minimum_down_payment(balance: int, profile: PersonaProfile) -> int:
    return percent_of(balance, profile.installments.min_down_payment_pct)


def allowed_discount(balance: int, days_past_due: int, profile: PersonaProfile) -> int:
    """The largest discount the bucket allows, in centavos (0 for debts not past due)."""
    bucket = bucket_for(days_past_due)
    if bucket == CURRENT:
        return 0
    return percent_of(balance, profile.max_discount_pct[bucket])


def _slower(frequency: str, than: str) -> bool:
    return FREQUENCIES.index(frequency) > FREQUENCIES.index(than)


def plan_violations(
    amounts: Sequence[int],
    dates: Sequence[date],
    balance: int,
    profile: PersonaProfile,
    today: date,
    frequency: str | None = None,
) -> list[Reason]:
    """Every rule an instalment plan breaks (empty: the persona accepts it)."""
    policy = profile.installments
    reasons: list[Reason] = []
    if policy.max_installments < 2:
        return [Reason(NO_PLANS)]
    if len(amounts) > policy.max_installments:
        reasons.append(Reason(TOO_MANY_PAYMENTS, policy.max_installments))
    if sum(amounts) < balance:
        reasons.append(Reason(DOES_NOT_COVER, balance))
    if sum(amounts) > balance:
        reasons.append(Reason(AMOUNT_ABOVE_BALANCE, balance))
    if any(a <= 0 for a in amounts):
        reasons.append(Reason(AMOUNT_NOT_POSITIVE))
    down = minimum_down_payment(balance, profile)
    if amounts and amounts[0] < down:
        reasons.append(Reason(DOWN_PAYMENT_LOW, down))
    if len(amounts) > 1 and min(amounts[1:]) < max(policy.min_installment_centavos, 1):
        reasons.append(Reason(INSTALLMENT_LOW, policy.min_installment_centavos))
    if dates and dates[0] < today:
        reasons.append(Reason(DATE_IN_PAST, today))
    if dates and dates[0] > horizon(profile, today):
        reasons.append(Reason(DATE_BEYOND_HORIZON, horizon(profile, today)))
    if any((b - a).days < MIN_GAP_DAYS for a, b in pairwise(dates)):
        reasons.append(Reason(PAYMENTS_TOO_CLOSE, MIN_GAP_DAYS))
    if dates and dates[-1] > latest_payment(profile, today):
        reasons.append(Reason(PLAN_TOO_LONG, latest_payment(profile, today)))
    if frequency is not None and _slower(frequency, policy.frequency):
        reasons.append(Reason(FREQUENCY_TOO_SLOW, policy.frequency))
    return reasons


# --- building terms ---------------------------------------------------------------------------


def _plan(
    code: str, balance: int, amounts: Sequence[int], dates: Sequence[date], frequency: str | None
) -> Offer:
    return Offer(
        code,
        PLAN_INSTALLMENTS,
        balance,
        0,
        balance,
        tuple(
            Installment(n + 1, a, d) for n, (a, d) in enumerate(zip(amounts, dates, strict=True))
        ),
        frequency=frequency,
    )


def _pay_in_full(balance: int, due: date) -> Offer:
    return Offer(
        "pago_total", PLAN_PAY_IN_FULL, balance, 0, balance, (Installment(1, balance, due),)
    )


def _settlement(balance: int, total: int, due: date) -> Offer:
    discount = balance - total
    pct = (Decimal(discount) * 100 / Decimal(balance)).quantize(Decimal("0.01"), ROUND_DOWN)
    return Offer(
        "propuesta_liquidacion",
        PLAN_SETTLEMENT,
        balance,
        discount,
        total,
        (Installment(1, total, due),),
        discount_pct=pct,
    )


def _clamp(day: date | None, low: date, high: date) -> date:
    if day is None:
        return high
    return min(max(day, low), high)


def _natural_first(frequency: str, today: date) -> date:
    """The first payment when the debtor did not say: the next pay day of that frequency."""
    if frequency == "semanal":
        return today + timedelta(days=7)
    if frequency == "quincenal":
        return next_quincena(today)
    return add_months(today, 1, today.day)


def _first_date(proposal: Proposal, frequency: str, profile: PersonaProfile, today: date) -> date:
    """The debtor's first date, else the natural one, moved inside today..horizon."""
    wanted = proposal.first_date or _natural_first(frequency, today)
    return _clamp(wanted, today, horizon(profile, today))


def _closest_plan(
    balance: int,
    profile: PersonaProfile,
    today: date,
    *,
    per_payment: int | None,
    first_amount: int | None,
    count: int | None,
    frequency: str,
    first: date,
) -> Offer | None:
    """The plan within the persona's rules nearest to what the debtor asked: the count they
    named, then a regular payment nearest the one they named; ties go to more payments
    (smaller ones). ``None`` when no plan fits from ``first`` at ``frequency``."""
    policy = profile.installments
    floor = max(policy.min_installment_centavos, 1)
    low_first = max(_ceil_peso(minimum_down_payment(balance, profile)), 1)
    best: tuple[tuple[int, int, int], Offer] | None = None
    for k in range(2, policy.max_installments + 1):
        wanted = first_amount or per_payment or low_first
        down = max(low_first, min(wanted, balance - (k - 1) * floor))
        rest = balance - down
        if rest < (k - 1) * floor:
            continue
        regular = (rest // (k - 1)) // 100 * 100
        amounts = [down] + [regular] * (k - 2) + [rest - regular * (k - 2)]
        dates = schedule(first, k, frequency)
        if plan_violations(amounts, dates, balance, profile, today, frequency):
            continue
        key = (
            abs(k - count) if count else 0,
            abs(regular - per_payment) if per_payment else 0,
            -k,
        )
        if best is None or key < best[0]:
            best = (
                key,
                _plan(f"propuesta_plan_{k}_{frequency}", balance, amounts, dates, frequency),
            )
    return None if best is None else best[1]


def _fallback(
    balance: int, days_past_due: int, profile: PersonaProfile, today: date, *, plan: bool
) -> Offer:
    """The persona's own offer when nothing nearer fits: its longest plan if a plan was asked
    for, else paying in full by the horizon."""
    offers = compute_offers(balance, days_past_due, profile, today)
    plans = [o for o in offers if o.plan_type == PLAN_INSTALLMENTS]
    if plan and plans:
        return plans[-1]
    return _pay_in_full(balance, horizon(profile, today))


def _counter_plan(
    proposal: Proposal,
    balance: int,
    days_past_due: int,
    profile: PersonaProfile,
    today: date,
    reasons: list[Reason],
    *,
    first_amount: int | None = None,
) -> CounterOffer:
    policy = profile.installments
    frequency = proposal.frequency or policy.frequency
    if _slower(frequency, policy.frequency):
        frequency = policy.frequency
    attempts = [(frequency, _first_date(proposal, frequency, profile, today))]
    attempts.append((policy.frequency, horizon(profile, today)))
    for freq, first in attempts:
        plan = _closest_plan(
            balance,
            profile,
            today,
            per_payment=proposal.amount_per_payment,
            first_amount=first_amount,
            count=proposal.count,
            frequency=freq,
            first=first,
        )
        if plan is not None:
            return CounterOffer(plan, tuple(reasons))
    return CounterOffer(
        _fallback(balance, days_past_due, profile, today, plan=True), tuple(reasons)
    )


# --- the four kinds of proposal ---------------------------------------------------------------


def _single_payment(
    balance: int, due: date | None, profile: PersonaProfile, today: date
) -> Outcome:
    """Paying everything at once, on the debtor's date when the horizon allows it."""
    last = horizon(profile, today)
    day = due or last
    reasons = []
    if day < today:
        reasons.append(Reason(DATE_IN_PAST, today))
    if day > last:
        reasons.append(Reason(DATE_BEYOND_HORIZON, last))
    terms = _pay_in_full(balance, _clamp(day, today, last))
    return CounterOffer(terms, tuple(reasons)) if reasons else Accepted(terms)


def _instalments(
    proposal: Proposal, balance: int, days_past_due: int, profile: PersonaProfile, today: date
) -> Outcome:
    policy = profile.installments
    per, count = proposal.amount_per_payment, proposal.count
    frequency = proposal.frequency or policy.frequency
    if frequency not in FREQUENCIES:
        raise ValueError(f"unknown frequency {frequency!r}")
    first = proposal.first_date or _first_date(proposal, frequency, profile, today)
    if (per is not None and per <= 0) or (count is not None and count < 1):
        reasons = [Reason(AMOUNT_NOT_POSITIVE)]
        return _counter_plan(proposal, balance, days_past_due, profile, today, reasons)
    if per is None and count is None:
        return _counter_plan(proposal, balance, days_past_due, profile, today, [Reason(INCOMPLETE)])
    if per is not None:
        n = -(-balance // per)
        if count is not None and count < n:
            reasons = [Reason(DOES_NOT_COVER, balance)]
            return _counter_plan(proposal, balance, days_past_due, profile, today, reasons)
    else:
        assert count is not None
        n = count
    if n > max(policy.max_installments, 1):
        # "1 peso a la semana": too many payments to even lay out; say which rules it breaks
        reasons = [Reason(TOO_MANY_PAYMENTS, policy.max_installments)]
        regular = per if per is not None else balance // n
        if per is not None and per < minimum_down_payment(balance, profile):
            reasons.append(Reason(DOWN_PAYMENT_LOW, minimum_down_payment(balance, profile)))
        if regular < policy.min_installment_centavos:
            reasons.append(Reason(INSTALLMENT_LOW, policy.min_installment_centavos))
        if policy.max_installments < 2:
            reasons = [Reason(NO_PLANS)]
        return _counter_plan(proposal, balance, days_past_due, profile, today, reasons)
    if per is not None:
        amounts = [per] * (n - 1) + [balance - per * (n - 1)]
    else:
        amounts = _even_split(balance, n, profile)
    if n == 1:
        return _single_payment(balance, first, profile, today)
    dates = schedule(first, n, frequency)
    reasons = plan_violations(amounts, dates, balance, profile, today, proposal.frequency)
    if not reasons:
        return Accepted(
            _plan(f"propuesta_plan_{n}_{frequency}", balance, amounts, dates, frequency)
        )
    return _counter_plan(proposal, balance, days_past_due, profile, today, reasons)


def _even_split(balance: int, count: int, profile: PersonaProfile) -> list[int]:
    """``count`` payments: the down payment the persona asks (whole pesos), then equal whole
    pesos, the last absorbing the remainder; as the persona's own plans are split."""
    if count == 1:
        return [balance]
    down = min(balance, max(_ceil_peso(minimum_down_payment(balance, profile)), 1))
    rest = balance - down
    regular = (rest // (count - 1)) // 100 * 100
    return [down] + [regular] * (count - 2) + [rest - regular * (count - 2)]


def _partial_then_rest(
    proposal: Proposal, balance: int, days_past_due: int, profile: PersonaProfile, today: date
) -> Outcome:
    parts = proposal.amounts_and_dates
    if not parts:
        return _counter_plan(proposal, balance, days_past_due, profile, today, [Reason(INCOMPLETE)])
    named = [a for a, _ in parts[:-1]]
    if any(a is None for a in named):
        raise ValueError("only the last payment may be 'the rest'")
    fixed = sum(a for a in named if a is not None)
    last = parts[-1][0]
    amounts = [a for a in named if a is not None] + [balance - fixed if last is None else last]
    dates = [d for _, d in parts]
    if len(amounts) == 1:
        if amounts[0] >= balance:
            return _single_payment(balance, dates[0], profile, today)
        return _promise(
            Proposal(Kind.PROMISE, total=amounts[0], first_date=dates[0]), balance, profile, today
        )
    reasons = plan_violations(amounts, dates, balance, profile, today, proposal.frequency)
    if not reasons:
        code = f"propuesta_plan_{len(amounts)}"
        return Accepted(_plan(code, balance, amounts, dates, proposal.frequency))
    if profile.installments.max_installments < 2:
        return CounterOffer(
            _fallback(balance, days_past_due, profile, today, plan=False), tuple(reasons)
        )
    # keep what the debtor said as far as the rules allow: their first amount and dates
    first = _clamp(dates[0], today, horizon(profile, today))
    wanted_last = max(dates[-1], first + timedelta(days=MIN_GAP_DAYS))
    wanted_last = min(wanted_last, latest_payment(profile, today))
    plan = _two_dates_plan(amounts[0], first, wanted_last, balance, profile, today, len(amounts))
    if plan is not None:
        return CounterOffer(plan, tuple(reasons))
    near = Proposal(Kind.INSTALLMENTS, count=len(amounts), first_date=first)
    return _counter_plan(
        near, balance, days_past_due, profile, today, reasons, first_amount=amounts[0]
    )


def _two_dates_plan(
    first_amount: int,
    first: date,
    last: date,
    balance: int,
    profile: PersonaProfile,
    today: date,
    count: int,
) -> Offer | None:
    """A two-payment plan on the debtor's dates (moved inside the rules), the first amount moved
    into the range the rules allow; only when the debtor asked for two payments."""
    if count != 2 or (last - first).days < MIN_GAP_DAYS:
        return None
    floor = max(profile.installments.min_installment_centavos, 1)
    low = max(minimum_down_payment(balance, profile), 1)
    high = balance - floor
    if low > high:
        return None
    down = min(max(first_amount, low), high)
    amounts, dates = [down, balance - down], [first, last]
    if plan_violations(amounts, dates, balance, profile, today):
        return None
    return _plan("propuesta_plan_2", balance, amounts, dates, None)


def _settlement_amount(
    proposal: Proposal, balance: int, days_past_due: int, profile: PersonaProfile, today: date
) -> Outcome:
    total = proposal.total
    if total is None or total <= 0:
        return CounterOffer(
            _fallback(balance, days_past_due, profile, today, plan=False), (Reason(INCOMPLETE),)
        )
    if total >= balance:
        return _single_payment(balance, proposal.first_date, profile, today)
    deadline = settlement_deadline(profile, today)
    due = proposal.first_date or deadline
    allowed = allowed_discount(balance, days_past_due, profile)
    if allowed <= 0:
        return CounterOffer(
            _fallback(balance, days_past_due, profile, today, plan=False), (Reason(NO_DISCOUNT),)
        )
    floor = balance - allowed
    reasons = []
    if total < floor:
        reasons.append(Reason(DISCOUNT_BEYOND_POLICY, floor))
    if due < today:
        reasons.append(Reason(DATE_IN_PAST, today))
    if due > deadline:
        reasons.append(Reason(DATE_BEYOND_HORIZON, deadline))
    terms = _settlement(balance, max(total, floor), _clamp(due, today, deadline))
    return CounterOffer(terms, tuple(reasons)) if reasons else Accepted(terms)


def _promise(proposal: Proposal, balance: int, profile: PersonaProfile, today: date) -> Outcome:
    """The rules ``services.promises.check_promise`` applies, with the nearest promise that
    meets them when they are broken."""
    amount = proposal.total
    last = horizon(profile, today)
    due = proposal.first_date or last
    reasons = []
    if amount is None or amount <= 0:
        reasons.append(Reason(AMOUNT_NOT_POSITIVE))
    elif amount > balance:
        reasons.append(Reason(AMOUNT_ABOVE_BALANCE, balance))
    if due < today:
        reasons.append(Reason(DATE_IN_PAST, today))
    if due > last:
        reasons.append(Reason(DATE_BEYOND_HORIZON, last))
    kept = balance if amount is None or amount <= 0 else min(amount, balance)
    terms = PromiseTerms(kept, _clamp(due, today, last))
    return CounterOffer(terms, tuple(reasons)) if reasons else Accepted(terms)


def evaluate(
    proposal: Proposal, balance: int, days_past_due: int, profile: PersonaProfile, today: date
) -> Outcome:
    """Accept the debtor's proposal for a debt of ``balance`` centavos, or answer with the
    closest terms the persona allows and why."""
    if balance <= 0:
        raise ValueError("nothing to negotiate on a zero balance")
    if proposal.kind is Kind.INSTALLMENTS:
        return _instalments(proposal, balance, days_past_due, profile, today)
    if proposal.kind is Kind.PARTIAL_THEN_REST:
        return _partial_then_rest(proposal, balance, days_past_due, profile, today)
    if proposal.kind is Kind.SETTLEMENT_AMOUNT:
        return _settlement_amount(proposal, balance, days_past_due, profile, today)
    return _promise(proposal, balance, profile, today)


# --- a typed choice among the offers shown ----------------------------------------------------

_ORDINALS = {
    "primera": 0, "primer": 0, "primero": 0, "1a": 0, "1ra": 0, "1era": 0, "1ro": 0, "1er": 0,
    "segunda": 1, "segundo": 1, "2a": 1, "2da": 1, "2do": 1,
    "tercera": 2, "tercer": 2, "tercero": 2, "3a": 2, "3ra": 2, "3er": 2, "3ro": 2,
    "cuarta": 3, "cuarto": 3, "4a": 3, "4ta": 3, "4to": 3,
    "quinta": 4, "quinto": 4, "5a": 4, "5ta": 4, "5to": 4,
    "ultima": -1, "ultimo": -1, "penultima": -2, "penultimo": -2,
}  # fmt: skip
_WORD = re.compile(r"[a-z0-9]+")
_NO_DISCOUNT = re.compile(r"\bsin\s+(?:el\s+)?descuento\b")
_SETTLEMENT = re.compile(r"\b(?:descuento|desc|liquidacion|rebaja)\b")
_LIQUIDATE = re.compile(r"\bliquid(?:ar|o|arla|arlo|ando)\b")
_IN_FULL = re.compile(
    r"\b(?:pago\s+total|total|todo|completo|de\s+contado|una\s+sola|de\s+una\s+vez|sin\s+descuento)\b"
)
_COUNT_CONTEXT = re.compile(r"\b(?:pagos?|plazos?|quincenas|semanas|meses|mensualidades|abonos)\b")


def _count_in(words: list[str]) -> int | None:
    """The one small number in the text ("6", "seis", "doce"); None for none or several."""
    found = set()
    for word in words:
        if word.isdigit() or word in NUMBER_WORDS:
            value = parse_amount(word)
            if value is not None and value == value.to_integral_value() and 1 <= value <= 99:
                found.add(int(value))
    return found.pop() if len(found) == 1 else None


def choose_offer(text: str, offers: Sequence[Offer]) -> Offer | None:
    """The offer a typed choice stands for, as the buttons (shown in ``offers``' order) would
    select it: "la segunda", "la última", "el de 6 pagos", "el de doce", "liquidar con
    descuento", "pago total". ``None`` when the text names no offer or several.

    "liquidar" alone is the settlement when one is offered (the debtor asked to settle, and the
    discount is theirs by policy), else paying in full."""
    folded = fold(text)
    words = _WORD.findall(folded)
    picked: set[int] = set()
    for word in words:
        if word in _ORDINALS:
            index = _ORDINALS[word]
            if -len(offers) <= index < len(offers):
                picked.add(index % len(offers))
    kinds = [o.plan_type for o in offers]
    settle = _SETTLEMENT.search(folded) and not _NO_DISCOUNT.search(folded)
    if settle:
        picked.update(i for i, k in enumerate(kinds) if k == PLAN_SETTLEMENT)
    elif _IN_FULL.search(folded):
        picked.update(i for i, k in enumerate(kinds) if k == PLAN_PAY_IN_FULL)
    elif _LIQUIDATE.search(folded):
        wanted = PLAN_SETTLEMENT if PLAN_SETTLEMENT in kinds else PLAN_PAY_IN_FULL
        picked.update(i for i, k in enumerate(kinds) if k == wanted)
    count = _count_in(words)
    if count is not None and (not picked or _COUNT_CONTEXT.search(folded)):
        picked.update(
            i
            for i, o in enumerate(offers)
            if o.plan_type == PLAN_INSTALLMENTS and len(o.installments) == count
        )
    return offers[picked.pop()] if len(picked) == 1 else None


# --- clear terms --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    """Consecutive payments of one amount."""

    count: int
    amount: int  # centavos, each
    first_date: date
    last_date: date


@dataclass(frozen=True)
class ScheduleSummary:
    plan_type: str
    frequency: str | None
    payments: int
    total: int
    balance: int
    savings: int
    runs: tuple[Run, ...]


def frequency_of(dates: Sequence[date]) -> str | None:
    """The frequency the payments after the first keep ("semanal" for 7 days apart, "quincenal"
    for 13 to 16, "mensual" for 28 to 31), or ``None`` when they keep none."""
    gaps = {(b - a).days for a, b in pairwise(dates[1:])}
    for frequency, low, high in (("semanal", 7, 7), ("quincenal", 13, 16), ("mensual", 28, 31)):
        if gaps and all(low <= gap <= high for gap in gaps):
            return frequency
    return None


def schedule_summary(offer: Offer) -> ScheduleSummary:
    """The terms of ``offer`` as data: payments grouped into runs of equal amounts (a down
    payment, the regular payments, a last one that differs), the total and the savings."""
    runs: list[Run] = []
    for inst in offer.installments:
        if runs and runs[-1].amount == inst.amount:
            prev = runs[-1]
            runs[-1] = Run(prev.count + 1, prev.amount, prev.first_date, inst.due_date)
        else:
            runs.append(Run(1, inst.amount, inst.due_date, inst.due_date))
    return ScheduleSummary(
        offer.plan_type,
        offer.frequency or frequency_of([i.due_date for i in offer.installments]),
        len(offer.installments),
        offer.total,
        offer.balance,
        offer.discount,
        tuple(runs),
    )


def schedule_lines(offer: Offer) -> list[Installment]:
    """Every payment, for "ver calendario"."""
    return list(offer.installments)


def _day(day: date) -> str:
    return str(format_date(day, "d 'de' MMMM", locale="es_MX"))


def _spelled_out(runs: Sequence[Run]) -> list[Run]:
    """Runs of two payments are read as two payments ("del 25 al 10" would hide that there are
    only two dates)."""
    out: list[Run] = []
    for run in runs:
        if run.count == 2:
            out += [Run(1, run.amount, run.first_date, run.first_date)]
            out += [Run(1, run.amount, run.last_date, run.last_date)]
        else:
            out.append(run)
    return out


def render_summary(summary: ScheduleSummary, templates: Mapping[str, str]) -> str:
    """The summary in the caller's format strings (``domain.yml`` responses):

    * ``run``: ``{pagos}``, ``{monto}``, ``{cada}``, ``{desde}``, ``{hasta}``;
    * ``single``: ``{monto}``, ``{fecha}``; optional ``first`` and ``last`` (same fields) for a
      first or last payment that differs from the others ("enganche de…", "último pago de…");
    * ``every_<frequency>``: the ``{cada}`` words ("cada quincena"), "" when absent;
    * ``summary``: ``{partes}``, ``{total}``, ``{pagos}``; ``savings``: ``{ahorro}``, appended
      when the offer saves something.
    """
    every = templates.get(f"every_{summary.frequency}", "") if summary.frequency else ""
    parts = []
    runs = _spelled_out(summary.runs)
    last = len(runs) - 1
    for index, run in enumerate(runs):
        if run.count == 1:
            key = "single"
            if last > 0 and index in (0, last):
                key = "first" if index == 0 else "last"
            parts.append(
                templates.get(key, templates["single"]).format(
                    monto=format_mxn(run.amount), fecha=_day(run.first_date)
                )
            )
        else:
            text = templates["run"].format(
                pagos=run.count,
                monto=format_mxn(run.amount),
                cada=every,
                desde=_day(run.first_date),
                hasta=_day(run.last_date),
            )
            parts.append(" ".join(text.split()))
    text = templates["summary"].format(
        partes=format_list(parts, locale="es_MX"),
        total=format_mxn(summary.total),
        pagos=summary.payments,
    )
    if summary.savings > 0:
        text += templates["savings"].format(ahorro=format_mxn(summary.savings))
    return text


def render_lines(lines: Sequence[Installment], template: str) -> list[str]:
    """One line per payment: ``{numero}``, ``{monto}``, ``{fecha}``."""
    return [
        template.format(numero=i.number, monto=format_mxn(i.amount), fecha=_day(i.due_date))
        for i in lines
    ]


# --- terms waiting for the debtor's "sí" ---------------------------------------------------------


def terms_token(terms: Terms) -> str:
    """The terms as the dialogue keeps them while it waits for "sí" (slot ``propuesta``)."""
    if isinstance(terms, PromiseTerms):
        return json.dumps({"promesa": [terms.amount, terms.due_date.isoformat()]})
    payments = [[i.amount, i.due_date.isoformat()] for i in terms.installments]
    return json.dumps({"tipo": terms.plan_type, "pagos": payments, "frecuencia": terms.frequency})


def proposal_from_token(token: str) -> Proposal | None:
    """The terms of a token as the exact proposal they make, to be evaluated again before
    anything is stored (a token proves nothing: the persona decides again, today). ``None`` for
    anything that is not a token :func:`terms_token` wrote."""
    try:
        data = json.loads(token)
        if "promesa" in data:
            amount, due = data["promesa"]
            return Proposal(Kind.PROMISE, total=int(amount), first_date=date.fromisoformat(due))
        parts = tuple((int(a), date.fromisoformat(d)) for a, d in data["pagos"])
        frequency = data.get("frecuencia")
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    if not parts or frequency not in (None, *FREQUENCIES):
        return None
    if data.get("tipo") == PLAN_SETTLEMENT and len(parts) == 1:
        return Proposal(Kind.SETTLEMENT_AMOUNT, total=parts[0][0], first_date=parts[0][1])
    return Proposal(Kind.PARTIAL_THEN_REST, amounts_and_dates=parts, frequency=frequency)
