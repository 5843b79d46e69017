"""Experiments on what we say (docs/experiments.md): a campaign step's template or a
conversation response, in two to five variants ("arms"), each debtor always in the same arm.

Pure: the definition as values, the checks a definition must pass (given the names of the
campaigns' steps, the templates and the responses that exist), the stable assignment, and the
planned sample from :mod:`cobranza.domain.statistics`. Reading the files is
:mod:`cobranza.outreach.experiments`.

**Assignment.** ``sha256("<experiment>:<debtor id>")``, its first 8 bytes as an integer, modulo
100, is the debtor's bucket; the arms take the buckets in order by their weights (integer
percentages summing to 100). The same debtor gets the same arm in every process and on every
day, with no table to look up; another experiment's name gives an unrelated bucket, so two
experiments are independent. The experiment's name is the salt: renaming a running experiment
reshuffles everyone, so a new name means a new experiment.

**The first arm is the control**: what is sent or said today (the step's template, or the
response itself). Every other arm is compared with it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cobranza.domain.statistics import ArmCounts, Verdict, sample_size_per_arm, verdict
from cobranza.domain.vocabulary import Code

__all__ = [
    "BUCKETS",
    "MAX_PLANNED_PER_ARM",
    "METRIC_LABELS",
    "REPLY_WINDOW_DAYS",
    "Arm",
    "CampaignStepTarget",
    "Experiment",
    "Metric",
    "ResponseTarget",
    "ResponseUse",
    "Target",
    "assign",
    "bucket",
    "build_experiment",
    "definition_problems",
    "reference_problems",
]

BUCKETS = 100  # weights are whole percentages
# An experiment that needs more debtors than this per arm would never end: the minimum effect
# is too small for the baseline (or alpha/power too strict).
MAX_PLANNED_PER_ARM = 1_000_000
# A reply is recorded when it answers a campaign message of the last 7 days
# (cobranza/outreach/replies.py: REPLY_WINDOW), so a reply rate cannot look further than that.
REPLY_WINDOW_DAYS = 7


class Metric(Code):
    """The primary metric. Each is a share of the debtors exposed to an arm (first exposure
    within the experiment) who did the thing within ``window_days`` of that exposure."""

    REPLY_RATE = "reply_rate"
    PROMISE_RATE = "promise_rate"
    PROMISE_KEPT_RATE = "promise_kept_rate"
    PAYMENT_RATE = "payment_rate"


METRIC_LABELS: dict[Metric, str] = {
    Metric.REPLY_RATE: "tasa de respuesta",
    Metric.PROMISE_RATE: "tasa de promesas de pago",
    Metric.PROMISE_KEPT_RATE: "tasa de promesas cumplidas",
    Metric.PAYMENT_RATE: "tasa de pago",
}


@dataclass(frozen=True)
class CampaignStepTarget:
    """A campaign step; the arms are templates."""

    campaign: str
    step: str

    def describe(self) -> str:
        return f"paso {self.campaign}.{self.step}"


@dataclass(frozen=True)
class ResponseTarget:
    """A conversation response (``utter_*`` in domain.yml); the arms are responses."""

    response: str

    def describe(self) -> str:
        return f"respuesta {self.response}"


Target = CampaignStepTarget | ResponseTarget


@dataclass(frozen=True)
class Arm:
    name: str
    variant: str  # a template name, or a response name
    weight: int  # percent of the debtors


@dataclass(frozen=True)
class Experiment:
    name: str
    description: str
    enabled: bool
    target: Target
    arms: tuple[Arm, ...]
    metric: Metric
    window_days: int
    baseline_rate: float
    minimum_effect: float
    alpha: float = 0.05
    power: float = 0.8
    source: str = ""

    @property
    def control(self) -> Arm:
        return self.arms[0]

    @property
    def comparisons(self) -> int:
        """Each variant against the control."""
        return len(self.arms) - 1

    @property
    def planned_per_arm(self) -> int:
        """Debtors every arm needs before there is a verdict, computed from the definition."""
        return sample_size_per_arm(
            self.baseline_rate,
            self.minimum_effect,
            alpha=self.alpha,
            power=self.power,
            comparisons=self.comparisons,
        )

    @property
    def planned_total(self) -> int:
        """Debtors to enrol, on average, until the smallest arm has its planned sample."""
        smallest = min(arm.weight for arm in self.arms)
        return math.ceil(self.planned_per_arm * BUCKETS / smallest)

    def assign(self, debtor_id: str) -> Arm:
        return assign(self, debtor_id)

    def verdict(self, counts: Mapping[str, tuple[int, int]]) -> Verdict:
        """The verdict from ``{arm: (successes, exposed)}``; an arm not in ``counts`` has had
        nobody yet."""
        arms = [ArmCounts(arm.name, *counts.get(arm.name, (0, 0))) for arm in self.arms]
        return verdict(arms, self.planned_per_arm, alpha=self.alpha)


def bucket(experiment: str, debtor_id: str) -> int:
    """The debtor's bucket in ``[0, 100)`` for this experiment: stable, and unrelated between
    experiments."""
    digest = hashlib.sha256(f"{experiment}:{debtor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def assign(experiment: Experiment, debtor_id: str) -> Arm:
    """The arm ``debtor_id`` is in: the arms take the buckets in order, by weight."""
    point = bucket(experiment.name, debtor_id)
    edge = 0
    for arm in experiment.arms:
        edge += arm.weight
        if point < edge:
            return arm
    raise ValueError(f"the weights of {experiment.name} do not sum to {BUCKETS}")


def build_experiment(data: Mapping[str, Any], source: str = "") -> Experiment:
    """The experiment a definition describes; ``data`` has passed the JSON Schema
    (``cobranza/outreach/experiments.schema.json``), so its keys and types are right."""
    raw_target = data["target"]
    target: Target = (
        ResponseTarget(raw_target["response"])
        if "response" in raw_target
        else CampaignStepTarget(raw_target.get("campaign", ""), raw_target.get("step", ""))
    )
    return Experiment(
        name=data["name"],
        description=" ".join(data["description"].split()),
        enabled=data["enabled"],
        target=target,
        arms=tuple(Arm(a["name"], a["variant"], a["weight"]) for a in data["arms"]),
        metric=Metric(data["metric"]),
        window_days=data["window_days"],
        baseline_rate=float(data["baseline_rate"]),
        minimum_effect=float(data["minimum_effect"]),
        alpha=float(data.get("alpha", 0.05)),
        power=float(data.get("power", 0.8)),
        source=source,
    )


def _duplicates(values: Sequence[str]) -> list[str]:
    seen: set[str] = set()
    repeated = []
    for value in values:
        if value in seen and value not in repeated:
            repeated.append(value)
        seen.add(value)
    return repeated


def definition_problems(data: Mapping[str, Any]) -> list[str]:
    """What is wrong inside one schema-valid definition, as ``place: message``: the target's
    keys, the arms' names, variants and weights, and a plan that could never end."""
    problems: list[str] = []
    target = data["target"]
    if "response" in target and ({"campaign", "step"} & set(target)):
        problems.append(
            "target: usa campaign + step (un paso de campaña) o response (una respuesta), no ambos"
        )
    elif "response" not in target and not {"campaign", "step"} <= set(target):
        problems.append(
            "target: falta campaign y step (un paso de campaña) o response (una respuesta)"
        )
    arms = data["arms"]
    for name in _duplicates([a["name"] for a in arms]):
        problems.append(f"arms: el brazo '{name}' está repetido; cada nombre una vez")
    for variant in _duplicates([a["variant"] for a in arms]):
        problems.append(
            f"arms: la variante '{variant}' está en dos brazos; cada brazo prueba una distinta"
        )
    total = sum(a["weight"] for a in arms)
    if total != BUCKETS:
        weights = " + ".join(str(a["weight"]) for a in arms)
        problems.append(f"arms: los pesos suman {total} ({weights}); deben sumar {BUCKETS}")
    problems.extend(_metric_problems(data))
    problems.extend(_plan_problems(data, len(arms) - 1))
    return problems


def _metric_problems(data: Mapping[str, Any]) -> list[str]:
    if data["metric"] != Metric.REPLY_RATE:
        return []
    if set(data["target"]) == {"response"}:
        return [
            "metric: reply_rate cuenta respuestas a un mensaje de campaña; para una respuesta "
            "de la conversación usa promise_rate, promise_kept_rate o payment_rate"
        ]
    if data["window_days"] > REPLY_WINDOW_DAYS:
        return [
            f"window_days: con reply_rate la ventana es de 1 a {REPLY_WINDOW_DAYS} días: una "
            f"respuesta se registra si contesta un mensaje de campaña de los últimos "
            f"{REPLY_WINDOW_DAYS} días"
        ]
    return []


def _plan_problems(data: Mapping[str, Any], comparisons: int) -> list[str]:
    baseline, effect = float(data["baseline_rate"]), float(data["minimum_effect"])
    if not (0 < baseline + effect < 1 or 0 < baseline - effect < 1):
        return [
            f"minimum_effect: {effect} desde baseline_rate {baseline} sale de 0–1 en ambos "
            "sentidos; no hay cambio posible de ese tamaño"
        ]
    needed = sample_size_per_arm(
        baseline,
        effect,
        alpha=float(data.get("alpha", 0.05)),
        power=float(data.get("power", 0.8)),
        comparisons=comparisons,
    )
    if needed > MAX_PLANNED_PER_ARM:
        return [
            f"minimum_effect: con {effect} harían falta {needed:,} deudores por brazo (máximo "
            f"{MAX_PLANNED_PER_ARM:,}); el experimento no terminaría: busca un efecto mayor"
        ]
    return []


@dataclass(frozen=True)
class ResponseUse:
    """Who says each response of domain.yml, as the files show it
    (:mod:`cobranza.outreach.utterances`): our actions through ``turn.say(...)`` (by name, or
    by a name built on a fixed prefix such as ``f"utter_motivo_{kind}"``), or Rasa itself (a
    rule, a story, one of its default actions) with ``where`` it does."""

    by_actions: frozenset[str] = frozenset()
    action_prefixes: tuple[str, ...] = ()
    by_rasa: Mapping[str, str] = field(default_factory=dict)

    def said_by_an_action(self, response: str) -> bool:
        return response in self.by_actions or any(
            response.startswith(prefix) for prefix in self.action_prefixes
        )

    def said_elsewhere(self, response: str) -> str | None:
        """Where ``response`` is said on its own (Rasa's place, or "una acción"), if anywhere."""
        if response in self.by_rasa:
            return self.by_rasa[response]
        return "una acción" if self.said_by_an_action(response) else None


def reference_problems(
    experiment: Experiment,
    *,
    campaign_steps: Mapping[str, Mapping[str, str]],
    templates: Mapping[str, Collection[str] | None],
    responses: Mapping[str, Collection[str]],
    response_use: ResponseUse,
) -> list[str]:
    """What the experiment names that does not exist or cannot be varied, as ``place:
    message``. ``campaign_steps`` maps each campaign to its steps' templates; ``templates``
    each template to its parameters (``None``: its file is broken, reported on its own);
    ``responses`` each response to the placeholders its texts use. The control (first arm) must
    be what the target sends or says today, and a variant may only use values the control has
    (the planned message, or what the action passes)."""
    target = experiment.target
    if isinstance(target, ResponseTarget):
        if target.response not in responses:
            return [f"target.response: la respuesta '{target.response}' no existe en domain.yml"]
        problems = _variant_problems(experiment, target.response, responses, "respuesta")
        return problems + _response_use_problems(experiment, target.response, response_use)
    steps = campaign_steps.get(target.campaign)
    if steps is None:
        known = ", ".join(sorted(campaign_steps)) or "ninguna"
        return [f"target.campaign: la campaña '{target.campaign}' no existe (hay: {known})"]
    current = steps.get(target.step)
    if current is None:
        known = ", ".join(steps) or "ninguno"
        return [
            f"target.step: la campaña {target.campaign} no tiene el paso '{target.step}' "
            f"(pasos: {known})"
        ]
    return _variant_problems(experiment, current, templates, "plantilla")


_WHERE = {"plantilla": "templates/", "respuesta": "domain.yml"}
_VALUES = {"plantilla": "parámetro", "respuesta": "valor"}


def _variant_problems(
    experiment: Experiment, current: str, known: Mapping[str, Collection[str] | None], kind: str
) -> list[str]:
    problems = []
    if experiment.control.variant != current:
        problems.append(
            f"arms[1].variant: el primer brazo es el control y debe ser lo que hoy se usa en "
            f"{experiment.target.describe()}: '{current}', no '{experiment.control.variant}'"
        )
    has = known.get(current)
    for number, arm in enumerate(experiment.arms, start=1):
        if arm.variant not in known:
            problems.append(
                f"arms[{number}].variant: la {kind} '{arm.variant}' no existe en {_WHERE[kind]}"
            )
            continue
        uses = known[arm.variant]
        if has is None or uses is None:
            continue  # a broken file: its own problems are reported
        extra = sorted(set(uses) - set(has))
        if extra:
            listed = ", ".join(f"'{name}'" for name in extra)
            problems.append(
                f"arms[{number}].variant: la {kind} '{arm.variant}' usa {listed}, que "
                f"'{current}' no usa: cada variante solo recibe los valores del control "
                f"({', '.join(sorted(has)) or f'ningún {_VALUES[kind]}'})"
            )
    return problems


def _response_use_problems(experiment: Experiment, response: str, use: ResponseUse) -> list[str]:
    """Only a response our actions say can change with the arm: Rasa 3.6 fills the responses of
    rules and stories itself, with no hook to pick a variant short of an NLG server. A variant
    exists for the experiment alone (an action that reads the last response sees the target)."""
    problems = []
    if response in use.by_rasa:
        problems.append(
            f"target.response: Rasa dice '{response}' por su cuenta ({use.by_rasa[response]}); "
            "solo se puede experimentar con respuestas que dice una acción (turn.say): Rasa 3.6 "
            "no elige variantes en reglas ni historias sin un servidor NLG (docs/experiments.md)"
        )
    elif not use.said_by_an_action(response):
        problems.append(
            f"target.response: ninguna acción dice '{response}' con turn.say(...); solo esas "
            "respuestas pueden cambiar de variante (docs/experiments.md)"
        )
    for number, arm in enumerate(experiment.arms[1:], start=2):
        where = use.said_elsewhere(arm.variant)
        if where is not None:
            problems.append(
                f"arms[{number}].variant: '{arm.variant}' ya se dice fuera del experimento "
                f"({where}); una variante existe solo para su experimento"
            )
    return problems
