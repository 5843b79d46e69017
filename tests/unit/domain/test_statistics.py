"""The experiment statistics against scipy and published values, and their properties."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from cobranza.domain.statistics import (
    ArmCounts,
    Outcome,
    difference_interval,
    holm,
    sample_size_per_arm,
    two_proportion_test,
    verdict,
    wilson_interval,
)

# --- Wilson --------------------------------------------------------------------------------


@pytest.mark.parametrize("confidence", [0.80, 0.90, 0.95, 0.99])
@pytest.mark.parametrize(
    ("successes", "trials"),
    [(0, 1), (1, 1), (0, 10), (1, 10), (5, 10), (10, 10), (3, 250), (81, 263), (999, 1000)],
)
def test_wilson_matches_scipy(successes: int, trials: int, confidence: float) -> None:
    ours = wilson_interval(successes, trials, confidence)
    theirs = stats.binomtest(successes, trials).proportion_ci(confidence, method="wilson")
    assert ours.low == pytest.approx(theirs.low, abs=1e-12)
    assert ours.high == pytest.approx(theirs.high, abs=1e-12)


def test_wilson_published_value() -> None:
    """Newcombe (1998), "Two-sided confidence intervals for the single proportion", Statistics
    in Medicine 17:857, example 81/263: Wilson 95% interval 0.2553 to 0.3662."""
    interval = wilson_interval(81, 263)
    assert (round(interval.low, 4), round(interval.high, 4)) == (0.2553, 0.3662)


def test_wilson_without_trials_says_nothing() -> None:
    assert wilson_interval(0, 0) == wilson_interval(0, 0, 0.5)
    assert (wilson_interval(0, 0).low, wilson_interval(0, 0).high) == (0.0, 1.0)


@pytest.mark.parametrize(("successes", "trials"), [(-1, 10), (11, 10), (0, -1)])
def test_wilson_refuses_impossible_counts(successes: int, trials: int) -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(successes, trials)


@pytest.mark.parametrize("confidence", [0.0, 1.0, -0.5, 95])
def test_confidence_must_be_a_probability(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        wilson_interval(1, 2, confidence)


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_holds_the_observed_rate(counts: tuple[int, int]) -> None:
    successes, trials = counts
    interval = wilson_interval(successes, trials)
    assert 0 <= interval.low <= successes / trials <= interval.high <= 1
    wider = wilson_interval(successes, trials, 0.99)
    assert wider.low <= interval.low and interval.high <= wider.high


# --- the difference ------------------------------------------------------------------------

# Newcombe (1998), "Interval estimation for the difference between independent proportions:
# comparison of eleven methods", Statistics in Medicine 17:873, Table II, method 10 (hybrid
# score, no continuity correction), 95%.
NEWCOMBE_TABLE_II = [
    ((56, 70, 48, 80), (0.0524, 0.3339)),
    ((9, 10, 3, 10), (0.1705, 0.8090)),
    ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ((0, 10, 0, 20), (-0.1611, 0.2775)),
    ((0, 10, 0, 10), (-0.2775, 0.2775)),
    ((10, 10, 0, 20), (0.6791, 1.0000)),
    ((10, 10, 0, 10), (0.6075, 1.0000)),
]


@pytest.mark.parametrize(("counts", "expected"), NEWCOMBE_TABLE_II)
def test_difference_interval_published_values(
    counts: tuple[int, int, int, int], expected: tuple[float, float]
) -> None:
    interval = difference_interval(*counts)
    assert (round(interval.low, 4), round(interval.high, 4)) == expected


def test_difference_interval_from_scipy_wilson() -> None:
    """Method 10 is built from the two Wilson limits; built here from scipy's."""
    a, n, b, m = 30, 400, 45, 410
    wa = stats.binomtest(a, n).proportion_ci(0.9, method="wilson")
    wb = stats.binomtest(b, m).proportion_ci(0.9, method="wilson")
    pa, pb = a / n, b / m
    low = pa - pb - math.hypot(pa - wa.low, wb.high - pb)
    high = pa - pb + math.hypot(wa.high - pa, pb - wb.low)
    ours = difference_interval(a, n, b, m, 0.9)
    assert (ours.low, ours.high) == pytest.approx((low, high), abs=1e-12)


def test_difference_needs_trials_in_both_arms() -> None:
    with pytest.raises(ValueError, match="trial"):
        difference_interval(0, 0, 1, 2)


counts = st.integers(1, 3000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@given(counts, counts)
def test_difference_interval_properties(a: tuple[int, int], b: tuple[int, int]) -> None:
    interval = difference_interval(*a, *b)
    difference = a[0] / a[1] - b[0] / b[1]
    assert -1 <= interval.low <= difference <= interval.high <= 1
    mirrored = difference_interval(*b, *a)
    assert mirrored.low == pytest.approx(-interval.high, abs=1e-12)
    assert mirrored.high == pytest.approx(-interval.low, abs=1e-12)


# --- the test ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "table",
    [(45, 500, 30, 500), (12, 100, 25, 110), (1, 40, 9, 41), (300, 2000, 260, 1900), (3, 7, 4, 9)],
)
def test_z_test_is_pearsons_chi_square(table: tuple[int, int, int, int]) -> None:
    """The pooled z-test squared is Pearson's chi-square without Yates' correction."""
    a, n, b, m = table
    z, p = two_proportion_test(a, n, b, m)
    chi2, p_chi2, _dof, _expected = stats.chi2_contingency(
        [[a, n - a], [b, m - b]], correction=False
    )
    assert z * z == pytest.approx(chi2, rel=1e-9)
    assert p == pytest.approx(p_chi2, rel=1e-9)


def test_z_test_known_case() -> None:
    """45/500 against 30/500: pooled 0.075, standard error √(0.075·0.925·2/500) = 0.016658,
    z = 0.03 / 0.016658 = 1.8010, two-sided p = 2·(1 − Φ(1.8010)) = 0.0717."""
    z, p = two_proportion_test(45, 500, 30, 500)
    assert z == pytest.approx(1.8010, abs=1e-4)
    assert p == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)
    assert round(p, 4) == 0.0717


def test_z_test_far_tail_keeps_precision() -> None:
    z, p = two_proportion_test(900, 1000, 100, 1000)
    assert p > 0 and p == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)


@pytest.mark.parametrize("table", [(0, 50, 0, 60), (50, 50, 60, 60)])
def test_z_test_without_variation_finds_nothing(table: tuple[int, int, int, int]) -> None:
    assert two_proportion_test(*table) == (0.0, 1.0)


def test_z_test_needs_trials() -> None:
    with pytest.raises(ValueError, match="trial"):
        two_proportion_test(0, 0, 1, 2)


@given(counts, counts)
def test_z_test_is_symmetric(a: tuple[int, int], b: tuple[int, int]) -> None:
    z, p = two_proportion_test(*a, *b)
    z2, p2 = two_proportion_test(*b, *a)
    assert z2 == pytest.approx(-z) and p2 == pytest.approx(p)
    assert 0 <= p <= 1


def test_z_test_size_is_nominal_exactly() -> None:
    """The exact type I error of the test at n = 435 a side and a true 5% in both arms, summed
    over every outcome with scipy's binomial: close to 0.05."""
    assert _rejection_probability(435, 0.05, 0.05) == pytest.approx(0.05, abs=0.006)


# --- Holm ----------------------------------------------------------------------------------


def test_holm_textbook_example() -> None:
    """Four hypotheses, p = 0.01, 0.04, 0.03, 0.005 at α = 0.05: Holm rejects H1 and H4
    (the example in Wikipedia's "Holm–Bonferroni method")."""
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [p < 0.05 for p in adjusted] == [True, False, False, True]


def test_holm_step_down_enforces_monotonicity() -> None:
    """Like R's p.adjust(c(.01, .02, .03, .04, .05), "holm"): 0.05 0.08 0.09 0.09 0.09."""
    assert holm([0.01, 0.02, 0.03, 0.04, 0.05]) == pytest.approx([0.05, 0.08, 0.09, 0.09, 0.09])


def test_holm_edge_cases() -> None:
    assert holm([]) == []
    assert holm([0.03]) == [0.03]
    assert holm([0.6, 0.7]) == [1.0, 1.0]
    with pytest.raises(ValueError, match="p-value"):
        holm([0.5, 1.5])


@given(st.lists(st.floats(0, 1), min_size=1, max_size=12))
def test_holm_properties(p_values: list[float]) -> None:
    adjusted = holm(p_values)
    m = len(p_values)
    for raw, adj in zip(p_values, adjusted, strict=True):
        assert raw <= adj <= 1
        assert adj <= min(1.0, m * raw) + 1e-12  # never stricter than Bonferroni
    by_raw = sorted(zip(p_values, adjusted, strict=True))
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(by_raw))


# --- the sample size -----------------------------------------------------------------------


def test_sample_size_known_case() -> None:
    """5% against 10%, α = 0.05 two-sided, power 0.80: 435 a side (Fleiss, Levin & Paik,
    Statistical Methods for Rates and Proportions, table A.4, without continuity correction)."""
    assert sample_size_per_arm(0.05, 0.05) == 435


@pytest.mark.parametrize(
    ("baseline", "effect", "alpha", "power", "comparisons"),
    [(0.15, 0.03, 0.05, 0.8, 1), (0.5, 0.1, 0.01, 0.9, 1), (0.1, 0.02, 0.05, 0.8, 3)],
)
def test_sample_size_textbook_formula_with_scipy(
    baseline: float, effect: float, alpha: float, power: float, comparisons: int
) -> None:
    def n_for(other: float) -> float:
        return _textbook_n(baseline, other, alpha / comparisons, power)

    expected = math.ceil(max(n_for(baseline + effect), n_for(baseline - effect)))
    assert (
        sample_size_per_arm(baseline, effect, alpha=alpha, power=power, comparisons=comparisons)
        == expected
    )


def test_sample_size_has_the_power_it_promises() -> None:
    """Exact power of the pooled test (every outcome, scipy's binomial) at the planned n: at
    least 80% less a hair for the normal approximation; clearly less with 20% fewer."""
    n = sample_size_per_arm(0.10, 0.03)
    assert _rejection_probability(n, 0.10, 0.13) >= 0.79
    assert _rejection_probability(n, 0.10, 0.07) >= 0.79
    assert _rejection_probability(int(n * 0.8), 0.10, 0.13) < 0.75


def test_sample_size_splits_alpha_over_comparisons() -> None:
    assert sample_size_per_arm(0.2, 0.05, comparisons=2) == sample_size_per_arm(
        0.2, 0.05, alpha=0.025
    )
    assert sample_size_per_arm(0.2, 0.05, comparisons=3) > sample_size_per_arm(
        0.2, 0.05, comparisons=2
    )


def test_sample_size_takes_the_harder_direction() -> None:
    """From 40%, a rise to 50% needs more debtors than a fall to 30%: the rise is planned.
    From 95%, only the fall to 85% exists."""
    rise, fall = _textbook_n(0.4, 0.5), _textbook_n(0.4, 0.3)
    assert rise > fall
    assert sample_size_per_arm(0.4, 0.1) == math.ceil(rise)
    assert sample_size_per_arm(0.6, 0.1) == math.ceil(rise)  # the mirror image
    assert sample_size_per_arm(0.95, 0.1) == math.ceil(_textbook_n(0.95, 0.85))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"baseline": 0.0, "minimum_effect": 0.1},
        {"baseline": 1.0, "minimum_effect": 0.1},
        {"baseline": 0.5, "minimum_effect": 0.0},
        {"baseline": 0.5, "minimum_effect": 0.6},
        {"baseline": 0.5, "minimum_effect": 0.1, "alpha": 0.0},
        {"baseline": 0.5, "minimum_effect": 0.1, "power": 1.0},
        {"baseline": 0.5, "minimum_effect": 0.1, "comparisons": 0},
    ],
)
def test_sample_size_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        sample_size_per_arm(**kwargs)  # type: ignore[arg-type]


# --- the verdict ---------------------------------------------------------------------------


def test_no_verdict_before_the_planned_sample() -> None:
    """A huge difference after 99 of 100 planned in one arm is still "en curso"."""
    result = verdict([ArmCounts("control", 5, 100), ArmCounts("b", 90, 99)], 100)
    assert result.outcome is Outcome.RUNNING
    assert result.missing == (("b", 1),)
    assert result.comparisons == ()
    assert result.text == "en curso (faltan 1 deudor; b: 1)"
    assert result.arms[1].rate == pytest.approx(90 / 99)


def test_running_lists_every_arm_short() -> None:
    result = verdict(
        [ArmCounts("control", 0, 0), ArmCounts("b", 10, 1500), ArmCounts("c", 1, 200)], 2000
    )
    assert result.missing == (("control", 2000), ("b", 500), ("c", 1800))
    assert result.text == "en curso (faltan 4,300 deudores; control: 2,000, b: 500, c: 1,800)"
    assert result.arms[0].rate is None


def test_a_clear_winner() -> None:
    result = verdict([ArmCounts("control", 150, 1000), ArmCounts("b", 200, 1000)], 1000)
    assert result.outcome is Outcome.WINS and result.winner == "b"
    assert result.text == "gana b"
    (comparison,) = result.comparisons
    assert comparison.difference == pytest.approx(0.05)
    assert comparison.p_value == comparison.adjusted_p_value < 0.05
    assert 0 < comparison.interval.low < 0.05 < comparison.interval.high


def test_a_clear_loser_and_no_difference() -> None:
    loses = verdict([ArmCounts("control", 200, 1000), ArmCounts("b", 150, 1000)], 1000)
    assert loses.outcome is Outcome.LOSES
    assert loses.text == "pierde: b (el control es mejor)"
    same = verdict([ArmCounts("control", 150, 1000), ArmCounts("b", 160, 1000)], 1000)
    assert same.outcome is Outcome.NO_DIFFERENCE and same.text == "sin diferencia"
    assert 0 in same.comparisons[0].interval


def test_several_arms_are_holm_adjusted() -> None:
    """b (p ≈ 0.042) and c (p ≈ 0.036) each beat the control alone; with both in the
    experiment, Holm's first step needs p < 0.025 and neither passes."""
    control = ArmCounts("control", 150, 1000)
    b, c = ArmCounts("b", 184, 1000), ArmCounts("c", 185, 1000)
    assert verdict([control, b], 1000).winner == "b"
    assert verdict([control, c], 1000).winner == "c"
    both = verdict([control, b, c], 1000)
    assert both.outcome is Outcome.NO_DIFFERENCE
    p_b, p_c = (comparison.p_value for comparison in both.comparisons)
    assert 0.025 < p_c < p_b < 0.05
    assert [c.adjusted_p_value for c in both.comparisons] == pytest.approx([2 * p_c, 2 * p_c])


def test_holm_steps_down_where_bonferroni_stops() -> None:
    """c is clear (p ≈ 6e-5); then b is tested at 0.05, not Bonferroni's 0.025: both win, and
    the verdict names the larger gain."""
    result = verdict(
        [ArmCounts("control", 150, 1000), ArmCounts("b", 184, 1000), ArmCounts("c", 220, 1000)],
        1000,
    )
    assert [c.outcome for c in result.comparisons] == [Outcome.WINS, Outcome.WINS]
    assert 0.025 < result.comparisons[0].adjusted_p_value < 0.05
    assert result.winner == "c" and result.text == "gana c"
    # the intervals are simultaneous (97.5% each for two comparisons)
    assert result.comparisons[0].interval == difference_interval(184, 1000, 150, 1000, 0.975)


def test_verdict_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="variant"):
        verdict([ArmCounts("control", 1, 2)], 10)
    with pytest.raises(ValueError, match="planned"):
        verdict([ArmCounts("a", 1, 2), ArmCounts("b", 1, 2)], 0)
    with pytest.raises(ValueError, match="successes"):
        ArmCounts("a", 3, 2)


@given(st.lists(st.integers(0, 300), min_size=2, max_size=5), st.integers(1, 300))
def test_running_until_every_arm_is_full(trials: list[int], planned: int) -> None:
    arms = [ArmCounts(f"a{i}", n // 3, n) for i, n in enumerate(trials)]
    result = verdict(arms, planned)
    assert (result.outcome is Outcome.RUNNING) == any(n < planned for n in trials)
    assert sum(count for _arm, count in result.missing) == sum(max(0, planned - n) for n in trials)


def _rejection_probability(n: int, p_a: float, p_b: float, alpha: float = 0.05) -> float:
    """P(the pooled test rejects at ``alpha``) with n a side, summed exactly over outcomes."""
    k = np.arange(n + 1)
    weight = np.outer(stats.binom.pmf(k, n, p_a), stats.binom.pmf(k, n, p_b))
    x_a, x_b = k[:, None], k[None, :]
    pooled = (x_a + x_b) / (2 * n)
    variance = pooled * (1 - pooled) * (2 / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(variance > 0, (x_a - x_b) / n / np.sqrt(variance), 0.0)
    return float(weight[np.abs(z) > stats.norm.ppf(1 - alpha / 2)].sum())


def _textbook_n(baseline: float, other: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Fleiss' formula, without continuity correction, with scipy's normal quantiles."""
    z_a = stats.norm.ppf(1 - alpha / 2)
    z_b = stats.norm.ppf(power)
    mean = (baseline + other) / 2
    spread = z_a * math.sqrt(2 * mean * (1 - mean)) + z_b * math.sqrt(
        baseline * (1 - baseline) + other * (1 - other)
    )
    return float((spread / (other - baseline)) ** 2)
