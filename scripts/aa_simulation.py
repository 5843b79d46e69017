"""``make bench-aa``: the false-positive rate of our experiment verdict, measured by A/A
simulation, and what peeking would do to it (docs/experiments.md).

An A/A experiment has arms that do not differ: every arm's debtors respond at the same true
rate. Any "gana" or "pierde" is then a false positive, and a sound procedure gives one in
``alpha`` of them (5%) — for several arms, in the family (Holm's guarantee).

For each of ``--experiments`` simulated experiments, each arm's debtors arrive evenly over
``--days`` days until the arm has the planned sample (``sample_size_per_arm`` for
``--rate``, ``--effect``, alpha 0.05, power 0.8; the last day tops up), each responding with
probability ``--rate`` (numpy's binomial, seeded). Then:

* **our verdict** (:func:`cobranza.domain.statistics.verdict`) once, at the planned sample: it
  says "en curso" on every earlier look, which is checked;
* **peeking**: the same data looked at every day with the same test (Holm with several arms),
  stopping at the first day any adjusted p < 0.05: the practice our verdict refuses.

Both with two arms and with three (each variant against the control). A last line runs A/B
experiments whose variant truly differs by ``--effect`` and counts the wins: the power the
plan promised (about 80%).

Prints the rates with their 95% Wilson intervals. Defaults (20,000 experiments of each kind)
take about 10 seconds.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from tabulate import tabulate

from cobranza.domain.statistics import (
    ArmCounts,
    Outcome,
    holm,
    sample_size_per_arm,
    two_proportion_test,
    verdict,
    wilson_interval,
)

ALPHA = 0.05
POWER = 0.8


@dataclass(frozen=True)
class Plan:
    rate: float
    effect: float
    days: int

    def per_arm(self, arms: int) -> int:
        return sample_size_per_arm(
            self.rate, self.effect, alpha=ALPHA, power=POWER, comparisons=arms - 1
        )

    def daily_arrivals(self, n: int) -> NDArray[np.int64]:
        """Debtors a day in one arm: even, the remainder on the last day."""
        arrivals = np.full(self.days, n // self.days, dtype=np.int64)
        arrivals[-1] += n - arrivals.sum()
        return arrivals


def _simulate(
    rng: np.random.Generator, experiments: int, rates: list[float], arrivals: NDArray[np.int64]
) -> NDArray[np.int64]:
    """Cumulative successes, shape (experiments, arms, days)."""
    daily = np.stack(
        [rng.binomial(arrivals, rate, size=(experiments, arrivals.size)) for rate in rates], axis=1
    )
    return np.cumsum(daily, axis=2)


def _looks_significant(successes: list[int], trials: int) -> bool:
    """The peeker's test on one day's data: each variant against the control, Holm-adjusted."""
    control = successes[0]
    p_values = [two_proportion_test(s, trials, control, trials)[1] for s in successes[1:]]
    return min(holm(p_values)) < ALPHA


@dataclass
class Counts:
    final_positives: int = 0  # "gana" or "pierde" from our verdict at the planned sample
    peeking_positives: int = 0  # stopped on a day with p < alpha
    premature_verdicts: int = 0  # our verdict answered something but "en curso" before the plan


def _run(
    plan: Plan, arms: int, experiments: int, seed: int, lift: float = 0.0
) -> tuple[int, Counts]:
    n = plan.per_arm(arms)
    arrivals = plan.daily_arrivals(n)
    cumulative_trials = np.cumsum(arrivals)
    rates = [plan.rate] + [plan.rate + lift] * (arms - 1)
    successes = _simulate(np.random.default_rng(seed), experiments, rates, arrivals)
    names = ["control"] + [f"v{i}" for i in range(1, arms)]
    counts = Counts()
    for experiment in successes:
        daily = experiment.T.tolist()  # days × arms
        for day, row in enumerate(daily):
            trials = int(cumulative_trials[day])
            if _looks_significant(row, trials):
                counts.peeking_positives += 1
                break
        if plan.days > 1:  # a look before the end: our verdict must not answer
            middle = plan.days // 2
            early = verdict(
                [
                    ArmCounts(a, s, int(cumulative_trials[middle]))
                    for a, s in zip(names, daily[middle], strict=True)
                ],
                n,
                alpha=ALPHA,
            )
            counts.premature_verdicts += early.outcome is not Outcome.RUNNING
        final = verdict(
            [ArmCounts(a, s, n) for a, s in zip(names, daily[-1], strict=True)], n, alpha=ALPHA
        )
        counts.final_positives += final.outcome in (Outcome.WINS, Outcome.LOSES)
    return n, counts


def _rate(count: int, total: int) -> list[str]:
    interval = wilson_interval(count, total)
    return [
        f"{count:,} / {total:,}",
        f"{count / total:.2%}",
        f"{interval.low:.2%} – {interval.high:.2%}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--experiments", type=int, default=20_000, help="por escenario (20,000)")
    parser.add_argument("--rate", type=float, default=0.15, help="tasa real de ambos brazos (0.15)")
    parser.add_argument("--effect", type=float, default=0.03, help="efecto mínimo planeado (0.03)")
    parser.add_argument("--days", type=int, default=28, help="días en que llega la muestra (28)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.experiments < 1 or args.days < 1:
        parser.error("--experiments y --days deben ser positivos")
    plan = Plan(args.rate, args.effect, args.days)
    try:
        plan.per_arm(3)
    except ValueError as exc:
        parser.error(f"--rate/--effect: {exc}")
    started = time.perf_counter()
    print(
        f"A/A: {args.experiments:,} experimentos simulados por escenario; todos los brazos con la "
        f"misma tasa real ({plan.rate:.1%}). Plan: efecto mínimo {plan.effect * 100:.1f} puntos, "
        f"α {ALPHA}, potencia {POWER}; la muestra llega en {plan.days} días."
    )
    rows = []
    premature = 0
    for arms in (2, 3):
        n, counts = _run(plan, arms, args.experiments, args.seed + arms)
        premature += counts.premature_verdicts
        label = f"{arms} brazos" + (" (Holm)" if arms > 2 else "")
        rows.append(
            [
                f"{label}, veredicto al llegar al plan",
                f"{n:,}",
                *_rate(counts.final_positives, args.experiments),
            ]
        )
        rows.append(
            [
                f"{label}, mirando cada día y parando en p < {ALPHA}",
                f"{n:,}",
                *_rate(counts.peeking_positives, args.experiments),
            ]
        )
    print()
    print(
        tabulate(
            rows,
            headers=["escenario", "n por brazo", "falsos positivos", "tasa", "IC 95% (Wilson)"],
            disable_numparse=True,
        )
    )
    n, power = _run(plan, 2, args.experiments, args.seed + 10, lift=plan.effect)
    wins, share, interval = _rate(power.final_positives, args.experiments)
    print()
    print(
        f"A/B con una diferencia real igual al efecto mínimo ({plan.rate:.1%} → "
        f"{plan.rate + plan.effect:.1%}), {n:,} por brazo: «gana» en {wins} = {share} "
        f"(IC 95% {interval}); se planeó una potencia de {POWER:.0%}."
    )
    print(
        "Antes del plan (a mitad de la llegada), respuestas del veredicto distintas de "
        f"«en curso»: {premature} de {2 * args.experiments:,}."
    )
    print(f"Tiempo: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
