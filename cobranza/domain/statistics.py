"""Statistics for experiments on proportions (docs/experiments.md): intervals, tests, the
sample size planned up front, and the verdict that waits for it.

Pure and light: the standard library only (``math``, ``statistics.NormalDist``); the unit tests
check every formula against scipy on known cases.

* **One arm's rate**: the Wilson score interval. The Wald interval (p ± z·√(p(1−p)/n)) covers
  far less than 95% when the rate is near 0 or 1 — reply and payment rates often are — and
  collapses to a point at 0 successes; Wilson's does neither.
* **A variant minus the control**: Newcombe's hybrid score interval (Newcombe 1998, method 10),
  built from the two Wilson intervals, for the same reasons: near-nominal coverage at small rates
  and small samples, never outside [−1, 1], consistent with the arms' own intervals.
* **The test**: the two-sided two-proportion z-test with the pooled rate (the same as Pearson's
  chi-square on the 2×2 table without continuity correction).
* **Several variants**: each against the control, the p-values adjusted with Holm's step-down
  method, which controls the family-wise error rate at α like Bonferroni and is never less
  powerful.
* **No peeking**: :func:`verdict` says "en curso" until every arm has its planned sample;
  looking at a running test and stopping at the first p < 0.05 inflates the false positives
  (``scripts/aa_simulation.py`` measures by how much).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

from cobranza.domain.vocabulary import Code

__all__ = [
    "ArmCounts",
    "Comparison",
    "Interval",
    "Outcome",
    "RateEstimate",
    "Verdict",
    "difference_interval",
    "holm",
    "sample_size_per_arm",
    "two_proportion_test",
    "verdict",
    "wilson_interval",
]

_NORMAL = NormalDist()


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


def _z(confidence: float) -> float:
    """The two-sided normal quantile for ``confidence`` (1.959964… for 0.95)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), not {confidence}")
    return _NORMAL.inv_cdf(1 - (1 - confidence) / 2)


def _check_counts(successes: int, trials: int) -> None:
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes}/{trials}")


def wilson_interval(successes: int, trials: int, confidence: float = 0.95) -> Interval:
    """The Wilson score interval for a proportion; ``[0, 1]`` when there are no trials."""
    _check_counts(successes, trials)
    z = _z(confidence)
    if trials == 0:
        return Interval(0.0, 1.0)
    n, z2 = trials, z * z
    p = successes / n
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(low, high)


def difference_interval(
    successes_a: int,
    trials_a: int,
    successes_b: int,
    trials_b: int,
    confidence: float = 0.95,
) -> Interval:
    """Newcombe's hybrid score interval for ``p_a − p_b``, from the arms' Wilson intervals."""
    if trials_a == 0 or trials_b == 0:
        raise ValueError("both arms need at least one trial")
    p_a, p_b = successes_a / trials_a, successes_b / trials_b
    a = wilson_interval(successes_a, trials_a, confidence)
    b = wilson_interval(successes_b, trials_b, confidence)
    difference = p_a - p_b
    below = math.sqrt((p_a - a.low) ** 2 + (b.high - p_b) ** 2)
    above = math.sqrt((a.high - p_a) ** 2 + (p_b - b.low) ** 2)
    return Interval(max(-1.0, difference - below), min(1.0, difference + above))


def two_proportion_test(
    successes_a: int, trials_a: int, successes_b: int, trials_b: int
) -> tuple[float, float]:
    """``(z, p)`` of the pooled two-proportion z-test of ``p_a = p_b``, two-sided. When the
    pooled rate is 0 or 1 the arms cannot differ: ``(0.0, 1.0)``."""
    _check_counts(successes_a, trials_a)
    _check_counts(successes_b, trials_b)
    if trials_a == 0 or trials_b == 0:
        raise ValueError("both arms need at least one trial")
    pooled = (successes_a + successes_b) / (trials_a + trials_b)
    variance = pooled * (1 - pooled) * (1 / trials_a + 1 / trials_b)
    if variance <= 0:
        return 0.0, 1.0
    z = (successes_a / trials_a - successes_b / trials_b) / math.sqrt(variance)
    # erfc keeps its precision far into the tail, where 1 − Φ(|z|) would round to 0.
    return z, math.erfc(abs(z) / math.sqrt(2))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values, in the order given: the k-th smallest of m is
    multiplied by m − k + 1, made non-decreasing in that order, and capped at 1. Rejecting
    where the adjusted value is below α controls the family-wise error rate at α."""
    for p in p_values:
        if not 0 <= p <= 1:
            raise ValueError(f"a p-value must be in [0, 1], not {p}")
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def sample_size_per_arm(
    baseline: float,
    minimum_effect: float,
    *,
    alpha: float = 0.05,
    power: float = 0.8,
    comparisons: int = 1,
) -> int:
    """Debtors each arm needs so that a two-sided pooled z-test at ``alpha / comparisons``
    (Bonferroni's split, which Holm never needs more than) detects an absolute change of
    ``minimum_effect`` from ``baseline`` with probability ``power``.

    The textbook formula (Fleiss, Levin & Paik, without continuity correction), for
    p₁ = baseline and p₂ = baseline ± effect, p̄ their mean:

        n = (z₁₋α/2 · √(2 p̄ (1 − p̄)) + z₁₋β · √(p₁(1 − p₁) + p₂(1 − p₂)))² / effect²

    Both directions are computed and the larger is kept, so a loss of that size is as likely
    to be seen as a gain."""
    if not 0 < baseline < 1:
        raise ValueError(f"baseline must be in (0, 1), not {baseline}")
    if not 0 < minimum_effect < 1:
        raise ValueError(f"minimum_effect must be in (0, 1), not {minimum_effect}")
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("alpha and power must be in (0, 1)")
    if comparisons < 1:
        raise ValueError("comparisons must be at least 1")
    if baseline + minimum_effect >= 1 and baseline - minimum_effect <= 0:
        raise ValueError("baseline ± minimum_effect leaves (0, 1) in both directions")
    z_alpha = _NORMAL.inv_cdf(1 - alpha / (2 * comparisons))
    z_beta = _NORMAL.inv_cdf(power)
    sizes = []
    for other in (baseline + minimum_effect, baseline - minimum_effect):
        if not 0 < other < 1:
            continue
        mean = (baseline + other) / 2
        spread = z_alpha * math.sqrt(2 * mean * (1 - mean)) + z_beta * math.sqrt(
            baseline * (1 - baseline) + other * (1 - other)
        )
        sizes.append((spread / minimum_effect) ** 2)
    # A hair below an integer is float noise from the quantiles, not a fraction of a debtor.
    return math.ceil(max(sizes) - 1e-9)


# --- the verdict -------------------------------------------------------------------------------


class Outcome(Code):
    """Where an experiment stands (a code; :attr:`Verdict.text` is what a person reads)."""

    RUNNING = "running"
    WINS = "wins"
    NO_DIFFERENCE = "no_difference"
    LOSES = "loses"


@dataclass(frozen=True)
class ArmCounts:
    """What one arm has so far: debtors exposed (``trials``) and those who did the thing the
    primary metric counts (``successes``)."""

    name: str
    successes: int
    trials: int

    def __post_init__(self) -> None:
        _check_counts(self.successes, self.trials)


@dataclass(frozen=True)
class RateEstimate:
    arm: str
    successes: int
    trials: int
    rate: float | None
    interval: Interval


@dataclass(frozen=True)
class Comparison:
    """A variant against the control: the difference ``variant − control``, its interval at
    the family-wise confidence, the test's p-value and Holm's adjustment of it."""

    arm: str
    difference: float
    interval: Interval
    z: float
    p_value: float
    adjusted_p_value: float
    outcome: Outcome


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    arms: tuple[RateEstimate, ...]
    comparisons: tuple[Comparison, ...] = ()
    missing: tuple[tuple[str, int], ...] = ()  # (arm, debtors still needed), running only
    winner: str | None = None

    @property
    def text(self) -> str:
        """The verdict in Spanish: «en curso (faltan …)», «gana X», «sin diferencia»,
        «pierde: X»."""
        if self.outcome is Outcome.RUNNING:
            needed = ", ".join(f"{arm}: {count:,}" for arm, count in self.missing)
            total = sum(count for _arm, count in self.missing)
            people = "deudor" if total == 1 else "deudores"
            return f"en curso (faltan {total:,} {people}; {needed})"
        if self.outcome is Outcome.WINS:
            return f"gana {self.winner}"
        if self.outcome is Outcome.LOSES:
            losers = [c.arm for c in self.comparisons if c.outcome is Outcome.LOSES]
            return f"pierde: {', '.join(losers)} (el control es mejor)"
        return "sin diferencia"


def _estimate(arm: ArmCounts, confidence: float) -> RateEstimate:
    rate = arm.successes / arm.trials if arm.trials else None
    return RateEstimate(
        arm.name,
        arm.successes,
        arm.trials,
        rate,
        wilson_interval(arm.successes, arm.trials, confidence),
    )


def verdict(arms: Sequence[ArmCounts], planned_per_arm: int, *, alpha: float = 0.05) -> Verdict:
    """The experiment's verdict; the first arm is the control.

    Until every arm has ``planned_per_arm`` debtors it is :attr:`Outcome.RUNNING` with what
    each arm still needs, whatever the data say so far: no verdict from a peek. Then each
    variant is tested against the control, the p-values Holm-adjusted; a variant whose adjusted
    p-value is below ``alpha`` wins or loses by the sign of its difference. The experiment:
    ``WINS`` (the best winning variant) if any variant wins; otherwise ``LOSES`` if any loses
    (keep the control); otherwise ``NO_DIFFERENCE``.

    The differences' intervals are at the simultaneous level 1 − alpha / comparisons
    (Bonferroni; 1 − alpha with one variant). They describe the size of the effect; the verdict
    comes from the test alone. At the margin the two can disagree (Holm is less strict than
    Bonferroni after the first rejection, and a score interval is not the inverse of the pooled
    test), so an interval may touch 0 next to a significant test, or the reverse."""
    if len(arms) < 2:
        raise ValueError("an experiment needs a control and at least one variant")
    if planned_per_arm < 1:
        raise ValueError("planned_per_arm must be at least 1")
    estimates = tuple(_estimate(arm, 1 - alpha) for arm in arms)
    missing = tuple(
        (arm.name, planned_per_arm - arm.trials) for arm in arms if arm.trials < planned_per_arm
    )
    if missing:
        return Verdict(Outcome.RUNNING, estimates, missing=missing)
    control, variants = arms[0], arms[1:]
    tests = [
        two_proportion_test(v.successes, v.trials, control.successes, control.trials)
        for v in variants
    ]
    adjusted = holm([p for _z, p in tests])
    confidence = 1 - alpha / len(variants)
    comparisons = []
    for variant, (z, p), p_holm in zip(variants, tests, adjusted, strict=True):
        difference = variant.successes / variant.trials - control.successes / control.trials
        outcome = Outcome.NO_DIFFERENCE
        if p_holm < alpha:
            outcome = Outcome.WINS if difference > 0 else Outcome.LOSES
        interval = difference_interval(
            variant.successes, variant.trials, control.successes, control.trials, confidence
        )
        comparisons.append(Comparison(variant.name, difference, interval, z, p, p_holm, outcome))
    winners = [c for c in comparisons if c.outcome is Outcome.WINS]
    if winners:
        best = max(winners, key=lambda c: c.difference)
        return Verdict(Outcome.WINS, estimates, tuple(comparisons), winner=best.arm)
    overall = (
        Outcome.LOSES
        if any(c.outcome is Outcome.LOSES for c in comparisons)
        else Outcome.NO_DIFFERENCE
    )
    return Verdict(overall, estimates, tuple(comparisons))
