"""Assign a persona to a debtor from the data, and say why.

Personas are tried from the highest ``fits.priority`` down; the first whose conditions all hold
wins; the single ``fallback`` persona takes everyone else. The :class:`Assignment` keeps every
condition checked, so ``cobranza debtor`` can show why a debtor got a persona and why the
personas above it did not fit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from cobranza.personas.profiles import Condition, PersonaProfile


@dataclass(frozen=True)
class DebtorFacts:
    """What the persona rules can look at, computed from the database at one instant."""

    days_past_due: int
    balance: Decimal
    broken_promises_90d: int
    kept_promises_90d: int
    discount_requests: int
    on_time_payments_12m: int
    late_payments_12m: int
    hardship_declared: bool

    def value(self, fact: str) -> Decimal | bool:
        raw = getattr(self, fact)
        return raw if isinstance(raw, bool) else Decimal(raw)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["balance"] = str(self.balance)
        return data


@dataclass(frozen=True)
class ConditionCheck:
    condition: str
    actual: str
    passed: bool


@dataclass(frozen=True)
class PersonaTrial:
    persona: str
    priority: int
    fits: bool
    checks: tuple[ConditionCheck, ...]
    fallback: bool = False


@dataclass(frozen=True)
class Assignment:
    persona: str
    trials: tuple[PersonaTrial, ...]

    def explain(self) -> list[str]:
        """One line per persona tried, in Spanish, the winner last."""
        lines = []
        for trial in self.trials:
            if trial.fallback:
                lines.append(f"{trial.persona}: asignada por defecto (ninguna otra persona aplica)")
                continue
            detail = "; ".join(
                f"{c.condition}: {c.actual} {'✓' if c.passed else '✗'}" for c in trial.checks
            )
            verdict = "aplica" if trial.fits else "no aplica"
            lines.append(f"{trial.persona} (prioridad {trial.priority}): {verdict} — {detail}")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "persona": self.persona,
            "trials": [
                {
                    "persona": t.persona,
                    "priority": t.priority,
                    "fits": t.fits,
                    "fallback": t.fallback,
                    "checks": [asdict(c) for c in t.checks],
                }
                for t in self.trials
            ],
        }


def _check(condition: Condition, facts: DebtorFacts) -> ConditionCheck:
    actual = facts.value(condition.fact)
    if condition.equals is not None:
        passed = actual is condition.equals
        shown = "sí" if actual else "no"
    else:
        number = Decimal(actual)
        passed = (condition.minimum is None or number >= condition.minimum) and (
            condition.maximum is None or number <= condition.maximum
        )
        shown = str(actual)
    return ConditionCheck(condition.describe(), shown, passed)


def assign_persona(facts: DebtorFacts, profiles: dict[str, PersonaProfile]) -> Assignment:
    ordered = sorted(profiles.values(), key=lambda p: (-p.priority, p.name))
    trials: list[PersonaTrial] = []
    for profile in ordered:
        if profile.fallback:
            continue
        checks = tuple(_check(c, facts) for c in profile.conditions)
        fits = all(c.passed for c in checks)
        trials.append(PersonaTrial(profile.name, profile.priority, fits, checks))
        if fits:
            return Assignment(profile.name, tuple(trials))
    fallback = next(p for p in ordered if p.fallback)
    trials.append(PersonaTrial(fallback.name, fallback.priority, True, (), fallback=True))
    return Assignment(fallback.name, tuple(trials))
