"""When campaign steps fall due: Mexican business days and the planning rule. Pure.

**Business days.** Monday to Friday, except the mandatory rest days of the Ley Federal del
Trabajo, art. 74: 1 January; the first Monday of February (Constitution Day); the third Monday
of March (Benito Juárez's birthday); 1 May; 16 September; the third Monday of November
(Revolution Day); 25 December; and 1 October every six years when a new President takes office
(2024, 2030, 2036…; the reform of 2024 moved it from 1 December). Election days (art. 74, IX)
fall on Sundays, already rest days. Holy Thursday and Friday, 12 December and 2 November are
customary but not mandatory rest days: they count as business days here, as banks' calendars
vary; a lender that closes on them should say so in its own calendar.

**The planning rule** (:func:`due_steps`), for one campaign, one debtor and one local day:

* A ``delinquency`` step falls on the day the account reaches ``days_past_due`` days, and with
  ``every_days: K`` again every K days after that — all only while the debtor is in the
  campaign's whole audience (:func:`in_audience`: buckets, days past due, personas, balance,
  score bands).
  It pauses while the debtor has a commitment still to come (a promise or an instalment due on
  or after the day): who has promised to pay gets the promise's reminders, not dunning.
* ``promise`` and ``installment`` steps fall ``offset_days`` from each commitment's due date;
  ``broken_promise`` steps ``offset_business_days`` business days after the day a promise broke
  (:func:`add_business_days`: a promise broken on a Friday is followed up on Monday, or on
  Tuesday when that Monday is a holiday). These follow what the debtor agreed to, whatever the
  bucket: the audience's ``buckets`` and ``days_past_due`` do not apply to them, only its
  ``personas``, ``balance`` and ``score_bands`` (a campaign for one persona stays for that
  persona). A debtor with no score yet (``score_band`` ``None``) is outside every audience
  that lists score bands.
* A disabled campaign has no due steps.

:func:`commitment_moments` reads the same rule the other way, for one commitment: the moments
at which the enabled campaigns will write about it. A reminder the debtor asks for in the
conversation ("recuérdame") is announced at the next of them, because the campaign message is
what fulfils it (cobranza/services/reminders.py).

The daily cap, the campaign's ``max_per_debtor_per_30_days``, the contact hours, consent and
every other compliance rule are applied by the planner and the dispatcher, which know the
history; this module only says what the campaign calls for.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from cobranza.domain.delinquency import bucket_for
from cobranza.outreach.campaigns import (
    BROKEN_PROMISE,
    DELINQUENCY,
    INSTALLMENT,
    PROMISE,
    Campaign,
    Step,
)

__all__ = [
    "BrokenPromise",
    "Commitment",
    "DebtorFacts",
    "DueStep",
    "add_business_days",
    "commitment_moments",
    "due_steps",
    "holidays",
    "in_audience",
    "installment_reference",
    "is_business_day",
]

# 1 October is the inauguration day from 2024 on (constitutional reform of 2014, art. 83).
INAUGURATION_FROM = 2024


@dataclass(frozen=True)
class Commitment:
    """A promise (``reference`` = its folio) or an agreement's instalment (``FOLIO#n``) still
    to be paid."""

    kind: str  # "promise" | "installment"
    reference: str
    due_on: date
    made_at: datetime | None = None  # when the debtor made it (the promise, the agreement)

    def __post_init__(self) -> None:
        _check_kind(self.kind)


def _check_kind(kind: str) -> None:
    # A typo ("promesa") would silently match no step: refuse it where it is used.
    if kind not in (PROMISE, INSTALLMENT):
        raise ValueError(f"commitment kind must be promise or installment, not {kind!r}")


@dataclass(frozen=True)
class BrokenPromise:
    reference: str
    broken_on: date  # the local date it broke


@dataclass(frozen=True)
class DebtorFacts:
    phone: str
    persona: str | None
    days_past_due: int  # as of the day planned
    balance: Decimal
    commitments: tuple[Commitment, ...] = ()
    broken: tuple[BrokenPromise, ...] = ()
    score_band: str | None = None  # the current propensity band, A … E; None: not scored


@dataclass(frozen=True)
class DueStep:
    campaign: str
    step: str
    template: str
    reference: str | None
    send_at: time
    valid_for: timedelta
    priority: int
    # A commitment's step: when the debtor made it. A step whose moment came before that is not
    # sent (no "tu pago es mañana" minutes after the promise was made).
    anchored_at: datetime | None = None


def installment_reference(folio: str, number: int) -> str:
    """An instalment's reference: its agreement's folio and its number (``CV-…#2``)."""
    return f"{folio}#{number}"


# --- business days ------------------------------------------------------------------------


def _nth_monday(year: int, month: int, n: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(7 - first.weekday()) % 7 + 7 * (n - 1))


@lru_cache(maxsize=64)
def holidays(year: int) -> frozenset[date]:
    """The mandatory rest days of ``year`` (LFT art. 74)."""
    days = {
        date(year, 1, 1),
        _nth_monday(year, 2, 1),
        _nth_monday(year, 3, 3),
        date(year, 5, 1),
        date(year, 9, 16),
        _nth_monday(year, 11, 3),
        date(year, 12, 25),
    }
    if year >= INAUGURATION_FROM and (year - INAUGURATION_FROM) % 6 == 0:
        days.add(date(year, 10, 1))
    return frozenset(days)


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in holidays(day.year)


def add_business_days(day: date, n: int) -> date:
    """The ``n``-th business day after ``day`` (before it when ``n`` is negative); ``day``
    itself does not count. ``n == 0`` is ``day`` when it is a business day, else the next one."""
    step = 1 if n >= 0 else -1
    remaining = abs(n)
    current = day
    if remaining == 0:
        while not is_business_day(current):
            current += timedelta(days=1)
        return current
    while remaining:
        current += timedelta(days=step)
        if is_business_day(current):
            remaining -= 1
    return current


# --- audience -------------------------------------------------------------------------------


def _matches_profile(campaign: Campaign, facts: DebtorFacts) -> bool:
    """The audience's persona, balance and score-band filters (the ones commitment steps
    obey)."""
    audience = campaign.audience
    if audience.personas and facts.persona not in audience.personas:
        return False
    if audience.score_bands and facts.score_band not in audience.score_bands:
        return False
    if audience.min_balance is not None and facts.balance < audience.min_balance:
        return False
    return not (audience.max_balance is not None and facts.balance > audience.max_balance)


def in_audience(campaign: Campaign, facts: DebtorFacts) -> bool:
    """Whether the debtor meets every filter of the campaign's audience today."""
    if not _matches_profile(campaign, facts):
        return False
    audience = campaign.audience
    dpd = facts.days_past_due
    if dpd < 0:
        return False
    if audience.buckets and bucket_for(dpd) not in audience.buckets:
        return False
    if audience.min_days_past_due is not None and dpd < audience.min_days_past_due:
        return False
    return not (audience.max_days_past_due is not None and dpd > audience.max_days_past_due)


# --- planning -------------------------------------------------------------------------------


def _delinquency_falls(step: Step, days_past_due: int) -> bool:
    first = step.days_past_due
    if first is None or days_past_due < first:
        return False
    if days_past_due == first:
        return True
    return bool(step.every_days) and (days_past_due - first) % (step.every_days or 1) == 0


def _due(
    campaign: Campaign, step: Step, reference: str | None, anchored_at: datetime | None = None
) -> DueStep:
    return DueStep(
        campaign=campaign.name,
        step=step.name,
        template=step.template,
        reference=reference,
        send_at=step.send_at,
        valid_for=step.valid_for,
        priority=campaign.priority,
        anchored_at=anchored_at,
    )


def due_steps(campaign: Campaign, facts: DebtorFacts, day: date) -> list[DueStep]:
    """The steps of ``campaign`` that fall on ``day`` (the debtor's local date) for this
    debtor, in the campaign's step order (commitments in the order given). ``reference`` is the
    promise's folio, ``FOLIO#n`` for an instalment, ``None`` for a delinquency step."""
    if not campaign.enabled or not _matches_profile(campaign, facts):
        return []
    found: list[DueStep] = []
    audience_today = in_audience(campaign, facts)
    committed = any(c.due_on >= day for c in facts.commitments)
    for step in campaign.steps:
        if step.anchor == DELINQUENCY:
            if audience_today and not committed and _delinquency_falls(step, facts.days_past_due):
                found.append(_due(campaign, step, None))
        elif step.anchor in (PROMISE, INSTALLMENT):
            offset = timedelta(days=step.offset_days or 0)
            found.extend(
                _due(campaign, step, c.reference, c.made_at)
                for c in facts.commitments
                if c.kind == step.anchor and c.due_on + offset == day
            )
        elif step.anchor == BROKEN_PROMISE:
            found.extend(
                _due(campaign, step, b.reference)
                for b in facts.broken
                if add_business_days(b.broken_on, step.offset_business_days or 0) == day
            )
    return found


def commitment_moments(
    campaigns: Iterable[Campaign], facts: DebtorFacts, kind: str, due_on: date, zone: str
) -> list[datetime]:
    """The moments (aware, in the debtor's ``zone``, in order, each once) at which the enabled
    ``campaigns`` whose persona, balance and score-band filters take the debtor in write about
    a ``kind`` commitment due on ``due_on``: each of their steps anchored on that kind, at its
    ``send_at`` on ``due_on + offset_days``. The rule of :func:`due_steps` for one commitment;
    empty when no campaign will write about it."""
    _check_kind(kind)
    tz = ZoneInfo(zone)
    moments = {
        datetime.combine(due_on + timedelta(days=step.offset_days or 0), step.send_at, tzinfo=tz)
        for campaign in campaigns
        if campaign.enabled and _matches_profile(campaign, facts)
        for step in campaign.steps
        if step.anchor == kind
    }
    return sorted(moments)
