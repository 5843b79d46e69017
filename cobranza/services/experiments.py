"""Experiments in the database (docs/experiments.md): recording who was exposed to which arm,
choosing a conversation response's variant, and the results.

**Exposures.** ``experiment_exposures`` holds each debtor's *first* exposure to an experiment:
the arm, when, and the campaign message or the conversation that exposed them. It is written
with ``INSERT … ON CONFLICT DO NOTHING`` on (experiment, debtor), so two dispatchers, or a
dispatcher and a conversation, never record a debtor twice, whoever comes first.

**Results** (:func:`results`), marked ``simulated`` on a database ``cobranza simulate`` made.
Per arm: the debtors exposed, those whose window (``window_days``
after their first exposure) has closed — only they can count as a "no" — and, among those,
the ones who did what the primary metric counts within their window:

* ``reply_rate``: answered a campaign message (``outreach_messages.replied_at``);
* ``promise_rate``: made a promise of payment (``promises.created_at``);
* ``promise_kept_rate``: made a promise within the window that was kept within it (a kept
  promise's ``resolved_at`` is the payment that completed it);
* ``payment_rate``: paid anything (``payments.paid_at`` on any of the debtor's debts).

Once every arm has its planned sample of closed windows, the analysis stops at the moment the
last arm reached it (``cutoff``): every arm is read over the same calendar period, so a larger
arm's earlier debtors are not compared with a smaller arm's later ones, and data beyond the plan
do not move the verdict. The statistics are :mod:`cobranza.domain.statistics`: Wilson intervals
per arm, and once the plan is reached Newcombe's interval for each difference, the pooled
two-proportion z-test and Holm's adjustment; the verdict says «en curso» until then.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cobranza.db import audit, verifications
from cobranza.db.models import (
    Debt,
    Debtor,
    ExperimentExposure,
    OutreachMessage,
    Payment,
    Promise,
)
from cobranza.domain.experiments import METRIC_LABELS, Experiment, Metric, ResponseTarget
from cobranza.domain.statistics import Interval, Outcome, Verdict
from cobranza.domain.vocabulary import PromiseStatus

__all__ = [
    "ArmResult",
    "ExperimentResults",
    "ResponseExperiments",
    "record_exposure",
    "response_variant",
    "results",
]


# --- recording -------------------------------------------------------------------------------


def record_exposure(
    session: Session,
    experiment: str,
    arm: str,
    debtor_phone: str,
    at: datetime,
    *,
    outreach_message_id: int | None = None,
    conversation_id: str | None = None,
) -> bool:
    """Record the debtor's first exposure to ``experiment``; False when one was already
    recorded (by anyone: the unique key settles races). Exactly one of ``outreach_message_id``
    and ``conversation_id`` says what exposed them."""
    if (outreach_message_id is None) == (conversation_id is None):
        raise ValueError("an exposure comes from a campaign message or a conversation")
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(ExperimentExposure.__table__)
        .values(
            experiment=experiment,
            arm=arm,
            debtor_phone=debtor_phone,
            exposed_at=at,
            outreach_message_id=outreach_message_id,
            conversation_id=conversation_id,
        )
        .on_conflict_do_nothing(index_elements=["experiment", "debtor_phone"])
    )
    return bool(session.execute(statement).rowcount == 1)


@dataclass(frozen=True)
class ResponseExperiments:
    """The conversation's side of the experiments: the enabled experiment on each response,
    and each response variant's target (of every experiment, enabled or not, so a variant said
    before an experiment was switched off still reads as its target)."""

    by_target: Mapping[str, Experiment] = field(default_factory=dict)
    targets: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, experiments: Iterable[Experiment]) -> ResponseExperiments:
        by_target: dict[str, Experiment] = {}
        targets: dict[str, str] = {}
        for experiment in experiments:
            target = experiment.target
            if not isinstance(target, ResponseTarget):
                continue
            if experiment.enabled:
                by_target[target.response] = experiment
            for arm in experiment.arms[1:]:
                targets[arm.variant] = target.response
        return cls(by_target, targets)

    def canonical(self, response: str) -> str:
        """The response a variant stands for (any other response is itself)."""
        return self.targets.get(response, response)


def exposed_debtor(
    session: Session, conversation_id: str, phone: str | None, number_proven: bool, now: datetime
) -> str | None:
    """Whom a response in this conversation exposes: the debtor verified in it, else — on a
    channel that proves the number (WhatsApp) — the debtor whose number writes. Nobody on an
    unverified web chat: a typed number proves nothing, and a stranger must not be counted as
    the debtor."""
    verified = verifications.verified_phone(session, conversation_id, now)
    if verified is not None:
        return verified
    if number_proven and phone is not None and session.get(Debtor, phone) is not None:
        return phone
    return None


def response_variant(
    session: Session,
    experiments: ResponseExperiments,
    response: str,
    *,
    conversation_id: str,
    phone: str | None,
    number_proven: bool,
    now: datetime,
) -> str:
    """The response to say instead of ``response``: the variant of the debtor's arm when an
    enabled experiment is on it and the debtor is known (their exposure recorded in the same
    transaction as the turn), else ``response`` itself (the control, nothing recorded)."""
    experiment = experiments.by_target.get(response)
    if experiment is None:
        return response
    debtor = exposed_debtor(session, conversation_id, phone, number_proven, now)
    if debtor is None:
        return response
    arm = experiment.assign(debtor)
    record_exposure(
        session, experiment.name, arm.name, debtor, now, conversation_id=conversation_id
    )
    return arm.variant


# --- results ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArmResult:
    name: str
    variant: str
    weight: int
    exposed: int  # every debtor exposed so far
    closed: int  # those whose window has closed
    analysed: int  # those the analysis counts (closed, up to the cutoff)
    successes: int  # of the analysed, those who did what the metric counts
    rate: float | None
    interval: Interval  # Wilson, at 1 − alpha


@dataclass(frozen=True)
class ExperimentResults:
    experiment: Experiment
    as_of: datetime
    arms: tuple[ArmResult, ...]
    verdict: Verdict
    cutoff: datetime | None = None  # the last exposure analysed, once the plan is reached
    first_exposed: datetime | None = None
    last_exposed: datetime | None = None
    other_arms: Mapping[str, int] = field(default_factory=dict)  # arms no longer defined
    simulated: bool = False  # the database is a `cobranza simulate` run's

    @property
    def running(self) -> bool:
        return self.verdict.outcome is Outcome.RUNNING

    def as_dict(self) -> dict[str, Any]:
        e = self.experiment
        return {
            "experiment": e.name,
            "source": e.source,
            "description": e.description,
            "enabled": e.enabled,
            "target": e.target.describe(),
            "metric": e.metric.value,
            "metric_label": METRIC_LABELS[e.metric],
            "window_days": e.window_days,
            "baseline_rate": e.baseline_rate,
            "minimum_effect": e.minimum_effect,
            "alpha": e.alpha,
            "power": e.power,
            "planned_per_arm": e.planned_per_arm,
            "planned_total": e.planned_total,
            "as_of": _iso(self.as_of),
            "outcome": self.verdict.outcome.value,
            "verdict": self.verdict.text,
            "winner": self.verdict.winner,
            "missing": dict(self.verdict.missing),
            "arms": [
                {
                    "name": a.name,
                    "variant": a.variant,
                    "weight": a.weight,
                    "exposed": a.exposed,
                    "window_closed": a.closed,
                    "analysed": a.analysed,
                    "successes": a.successes,
                    "rate": a.rate,
                    "interval": [a.interval.low, a.interval.high],
                }
                for a in self.arms
            ],
            "comparisons": [
                {
                    "arm": c.arm,
                    "difference": c.difference,
                    "interval": [c.interval.low, c.interval.high],
                    "confidence": 1 - e.alpha / e.comparisons,
                    "z": c.z,
                    "p_value": c.p_value,
                    "adjusted_p_value": c.adjusted_p_value,
                    "outcome": c.outcome.value,
                }
                for c in self.verdict.comparisons
            ],
            "cutoff": _iso(self.cutoff),
            "first_exposed": _iso(self.first_exposed),
            "last_exposed": _iso(self.last_exposed),
            "other_arms": dict(self.other_arms),
            "simulated": self.simulated,
        }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="seconds") if at is not None else None


def _outcome_times(session: Session, experiment: Experiment) -> dict[int, datetime]:
    """Exposure id → the first moment at or after the exposure the debtor did what the metric
    counts (for ``promise_kept_rate``: the first keeping of a promise made since). Whether it
    fell inside the window is the caller's comparison."""
    exposure = ExperimentExposure
    metric = experiment.metric
    query = select(exposure.id).select_from(exposure)
    at: Any
    if metric is Metric.REPLY_RATE:
        at = OutreachMessage.replied_at
        query = query.join(OutreachMessage, OutreachMessage.debtor_phone == exposure.debtor_phone)
    elif metric is Metric.PAYMENT_RATE:
        at = Payment.paid_at
        query = query.join(Debt, Debt.debtor_phone == exposure.debtor_phone).join(
            Payment, Payment.debt_id == Debt.id
        )
    else:
        query = query.join(Promise, Promise.debtor_phone == exposure.debtor_phone)
        at = Promise.created_at
        if metric is Metric.PROMISE_KEPT_RATE:
            at = Promise.resolved_at
            query = query.where(
                Promise.status == PromiseStatus.KEPT, Promise.created_at >= exposure.exposed_at
            )
    query = (
        query.add_columns(func.min(at))
        .where(exposure.experiment == experiment.name, at >= exposure.exposed_at)
        .group_by(exposure.id)
    )
    return {exposure_id: first for exposure_id, first in session.execute(query) if first}


def _cutoff(
    closed: Mapping[str, list[datetime]], experiment: Experiment, planned: int
) -> datetime | None:
    """When the last arm reached its planned sample of closed windows; None until then."""
    reached = []
    for arm in experiment.arms:
        times = closed.get(arm.name, [])
        if len(times) < planned:
            return None
        reached.append(times[planned - 1])
    return max(reached)


def results(session: Session, experiment: Experiment, now: datetime) -> ExperimentResults:
    """The experiment's results as of ``now`` (module docstring)."""
    rows = session.execute(
        select(ExperimentExposure.id, ExperimentExposure.arm, ExperimentExposure.exposed_at)
        .where(ExperimentExposure.experiment == experiment.name)
        .order_by(ExperimentExposure.exposed_at, ExperimentExposure.id)
    ).all()
    window = timedelta(days=experiment.window_days)
    names = {arm.name for arm in experiment.arms}
    exposed: Counter[str] = Counter()
    other: Counter[str] = Counter()
    closed: defaultdict[str, list[datetime]] = defaultdict(list)
    for _id, arm, at in rows:
        if arm not in names:
            other[arm] += 1
            continue
        exposed[arm] += 1
        if at + window <= now:
            closed[arm].append(at)
    planned = experiment.planned_per_arm
    cutoff = _cutoff(closed, experiment, planned)
    firsts = _outcome_times(session, experiment)
    analysed: Counter[str] = Counter()
    successes: Counter[str] = Counter()
    for exposure_id, arm, at in rows:
        if arm not in names or at + window > now or (cutoff is not None and at > cutoff):
            continue
        analysed[arm] += 1
        first = firsts.get(exposure_id)
        if first is not None and first < at + window:
            successes[arm] += 1
    verdict = experiment.verdict({a: (successes[a], analysed[a]) for a in names})
    arms = tuple(
        ArmResult(
            arm.name,
            arm.variant,
            arm.weight,
            exposed[arm.name],
            len(closed[arm.name]),
            estimate.trials,
            estimate.successes,
            estimate.rate,
            estimate.interval,
        )
        for arm, estimate in zip(experiment.arms, verdict.arms, strict=True)
    )
    times = [at for _id, arm, at in rows if arm in names]
    return ExperimentResults(
        experiment,
        now,
        arms,
        verdict,
        cutoff,
        times[0] if times else None,
        times[-1] if times else None,
        dict(other),
        audit.simulated_database(session),
    )
