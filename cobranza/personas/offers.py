"""Concrete payment offers for one debt, computed from the persona's plan policy.

All arithmetic is in integer centavos. Every offer satisfies two invariants the tests check
for every demo debtor and for generated balances:

* the instalments add up exactly to ``total``;
* ``total + discount == balance``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from cobranza.domain.delinquency import CURRENT, bucket_for
from cobranza.domain.money import percent_of, to_pesos
from cobranza.personas.profiles import PersonaProfile

PLAN_PAY_IN_FULL = "pay_in_full"
PLAN_SETTLEMENT = "settlement"
PLAN_INSTALLMENTS = "installments"
MIN_GAP_DAYS = 7


@dataclass(frozen=True)
class Installment:
    number: int
    amount: int  # centavos
    due_date: date


@dataclass(frozen=True)
class Offer:
    code: str
    plan_type: str
    balance: int  # centavos
    discount: int  # centavos
    total: int  # centavos
    installments: tuple[Installment, ...]
    frequency: str | None = None
    discount_pct: Decimal = Decimal(0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "plan_type": self.plan_type,
            "balance": str(to_pesos(self.balance)),
            "discount": str(to_pesos(self.discount)),
            "discount_pct": str(self.discount_pct),
            "total": str(to_pesos(self.total)),
            "frequency": self.frequency,
            "installments": [
                {
                    "number": i.number,
                    "amount": str(to_pesos(i.amount)),
                    "due_date": i.due_date.isoformat(),
                }
                for i in self.installments
            ],
        }


def _month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def next_quincena(after: date) -> date:
    """The next Mexican pay day strictly after ``after``: the 15th or the month's last day."""
    if after.day < 15:
        return after.replace(day=15)
    end = _month_end(after)
    if after < end:
        return end
    following = end + timedelta(days=1)
    return following.replace(day=15)


def add_months(day: date, months: int, anchor_day: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(anchor_day, calendar.monthrange(year, month)[1]))


def schedule(first: date, count: int, frequency: str) -> list[date]:
    dates = [first]
    while len(dates) < count:
        previous = dates[-1]
        if frequency == "semanal":
            dates.append(previous + timedelta(days=7))
        elif frequency == "quincenal":
            # the next pay day at least a week away, so two payments never fall days apart
            dates.append(next_quincena(previous + timedelta(days=MIN_GAP_DAYS - 1)))
        elif frequency == "mensual":
            dates.append(add_months(first, len(dates), first.day))
        else:
            raise ValueError(f"unknown frequency {frequency!r}")
    return dates


def split_installments(total: int, count: int, down_payment_pct: Decimal) -> list[int]:
    """Split ``total`` centavos into ``count`` payments: a down payment of ``down_payment_pct``
    rounded up to whole pesos, then equal whole-peso instalments, the last one absorbing the
    remainder (centavos included) so the sum is exact."""
    if count < 1:
        raise ValueError("count must be at least 1")
    if count == 1:
        return [total]
    down = percent_of(total, down_payment_pct)
    down = min(total, -(-down // 100) * 100)  # round up to the peso
    rest = total - down
    regular = (rest // (count - 1)) // 100 * 100
    amounts = [down] + [regular] * (count - 2) + [rest - regular * (count - 2)]
    assert sum(amounts) == total
    return amounts


def _installment_counts(balance: int, profile: PersonaProfile) -> list[int]:
    policy = profile.installments
    if policy.max_installments < 2:
        return []
    best = 0
    for count in range(policy.max_installments, 1, -1):
        amounts = split_installments(balance, count, policy.min_down_payment_pct)
        if all(a > 0 for a in amounts) and min(amounts[1:]) >= max(
            policy.min_installment_centavos, 1
        ):
            best = count
            break
    if best < 2:
        return []
    short = (best + 1) // 2
    return [short, best] if 2 <= short < best else [best]


def settlement_deadline(profile: PersonaProfile, today: date) -> date:
    """The day a settlement must be paid by: within the profile's days, never past the promise
    horizon."""
    days = min(profile.settlement_pay_within_days, profile.promise_max_days_ahead)
    return today + timedelta(days=days)


def compute_offers(
    balance: int, days_past_due: int, profile: PersonaProfile, today: date
) -> list[Offer]:
    """The offers this persona allows for a debt of ``balance`` centavos, dated from ``today``
    (the debtor's local date)."""
    if balance <= 0:
        return []
    deadline = today + timedelta(days=profile.promise_max_days_ahead)
    offers: list[Offer] = []
    if profile.pay_in_full:
        offers.append(
            Offer(
                "pago_total",
                PLAN_PAY_IN_FULL,
                balance,
                0,
                balance,
                (Installment(1, balance, deadline),),
            )
        )
    bucket = bucket_for(days_past_due)
    pct = Decimal(0) if bucket == CURRENT else profile.max_discount_pct[bucket]
    discount = percent_of(balance, pct)
    if discount > 0:  # a settlement that saves nothing is no offer
        total = balance - discount
        due = settlement_deadline(profile, today)
        offers.append(
            Offer(
                "liquidacion_" + format(pct.normalize(), "f").replace(".", "_"),
                PLAN_SETTLEMENT,
                balance,
                discount,
                total,
                (Installment(1, total, due),),
                discount_pct=pct,
            )
        )
    policy = profile.installments
    for count in _installment_counts(balance, profile):
        amounts = split_installments(balance, count, policy.min_down_payment_pct)
        dates = schedule(deadline, count, policy.frequency)
        offers.append(
            Offer(
                f"plan_{count}_{policy.frequency}",
                PLAN_INSTALLMENTS,
                balance,
                0,
                balance,
                tuple(
                    Installment(n + 1, a, d)
                    for n, (a, d) in enumerate(zip(amounts, dates, strict=True))
                ),
                frequency=policy.frequency,
            )
        )
    return offers
