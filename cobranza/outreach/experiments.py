"""Reading the experiment files (``experiments/*.yml``, docs/experiments.md): the same rules as
the campaigns and templates (size cap, UTF-8, YAML without anchors, JSON Schema, every problem at
once naming the file and the place), then the checks of :mod:`cobranza.domain.experiments` and
those across files: names unique, one enabled experiment per target, a response variant in one
enabled experiment at most, and the campaign, step, templates or responses named exist — a
response only if one of our actions says it (:mod:`cobranza.outreach.utterances`).

:func:`load_designs` reads the three folders together (templates, campaigns, experiments), as
the worker, the simulation, the action server and ``cobranza campaigns validate`` do.

Pure apart from reading the files it is given. No folder, or an empty one, is no experiment.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cobranza.domain.experiments import (
    Experiment,
    ResponseTarget,
    ResponseUse,
    Target,
    build_experiment,
    definition_problems,
    reference_problems,
)
from cobranza.outreach.campaigns import Campaign, read_campaigns
from cobranza.outreach.files import (
    ExperimentError,
    OutreachFilesError,
    read_files,
    schema_problems,
)
from cobranza.outreach.templates import Template, read_templates
from cobranza.outreach.utterances import ACTIONS_DIR, DATA_DIR, placeholders, read_response_use
from cobranza.responses import DOMAIN
from cobranza.responses import responses as domain_responses

__all__ = [
    "Designs",
    "ExperimentError",
    "campaign_steps",
    "load_designs",
    "load_experiments",
    "read_experiments",
]

SCHEMA_PATH = Path(__file__).with_name("experiments.schema.json")


def campaign_steps(campaigns: Mapping[str, Campaign]) -> dict[str, dict[str, str]]:
    """``{campaign: {step: template}}``, what an experiment on a step is checked against."""
    return {c.name: {s.name: s.template for s in c.steps} for c in campaigns.values()}


def read_experiments(
    directory: Path,
    *,
    campaigns: Mapping[str, Campaign],
    templates: Mapping[str, Collection[str] | None],
    responses: Mapping[str, Collection[str]],
    response_use: ResponseUse,
) -> tuple[dict[str, Experiment], list[str]]:
    """The valid experiments by name, and every problem found (see :func:`load_experiments`).
    ``templates``: each template's parameters (``None`` for a broken file); ``responses``: each
    response's placeholders; ``response_use``: who says each response."""
    if not directory.is_dir() or not any(directory.glob("*.yml")):
        return {}, []
    found, problems = read_files(directory, "experimentos")
    steps = campaign_steps(campaigns)
    experiments: dict[str, Experiment] = {}
    declared: dict[str, str] = {}
    targets: dict[Target, str] = {}
    variants: dict[str, str] = {}  # a response variant of an enabled experiment → its file
    for _path, label, data in found:
        errors = schema_problems(data, SCHEMA_PATH, label)
        if errors:
            problems.extend(errors)
            continue
        errors = [f"{label}: {p}" for p in definition_problems(data)]
        if errors:
            problems.extend(errors)
            continue
        experiment = build_experiment(data, source=label)
        errors = [
            f"{label}: {p}"
            for p in reference_problems(
                experiment,
                campaign_steps=steps,
                templates=templates,
                responses=responses,
                response_use=response_use,
            )
        ]
        if experiment.name in declared:
            errors.append(
                f"{label}: name: el experimento '{experiment.name}' ya está en "
                f"{declared[experiment.name]}; cada nombre una vez"
            )
        declared.setdefault(experiment.name, label)
        if experiment.enabled and experiment.target in targets:
            errors.append(
                f"{label}: target: {experiment.target.describe()} ya está en un experimento "
                f"activo ({targets[experiment.target]}); un deudor no puede estar en dos a la vez"
            )
        if experiment.enabled:
            targets.setdefault(experiment.target, label)
            errors.extend(_shared_variants(experiment, label, variants))
        problems.extend(errors)
        if not errors:
            experiments[experiment.name] = experiment
    return experiments, problems


def _shared_variants(experiment: Experiment, label: str, variants: dict[str, str]) -> list[str]:
    """A response variant belongs to one enabled experiment: the conversation reads a variant
    it said back as that experiment's target."""
    if not isinstance(experiment.target, ResponseTarget):
        return []
    errors = []
    for number, arm in enumerate(experiment.arms[1:], start=2):
        if arm.variant in variants:
            errors.append(
                f"{label}: arms[{number}].variant: la respuesta '{arm.variant}' ya es variante "
                f"de otro experimento activo ({variants[arm.variant]})"
            )
        variants.setdefault(arm.variant, label)
    return errors


def load_experiments(
    directory: Path,
    *,
    campaigns: Mapping[str, Campaign],
    templates: Mapping[str, Collection[str] | None],
    responses: Mapping[str, Collection[str]],
    response_use: ResponseUse,
) -> dict[str, Experiment]:
    """Every experiment in ``directory/*.yml`` by name, checked against the campaigns, the
    templates' parameters, the responses' placeholders (domain.yml) and who says each response;
    raises :class:`ExperimentError` listing every problem."""
    experiments, problems = read_experiments(
        directory,
        campaigns=campaigns,
        templates=templates,
        responses=responses,
        response_use=response_use,
    )
    if problems:
        raise ExperimentError(problems)
    return experiments


@dataclass(frozen=True)
class Designs:
    """The designers' outreach files, each checked against the others."""

    campaigns: dict[str, Campaign]
    templates: dict[str, Template]
    experiments: dict[str, Experiment]


def response_placeholders(domain: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Each response of the domain and the ``{placeholders}`` its variations use."""
    return {name: placeholders(variations) for name, variations in domain.items()}


def load_designs(
    campaigns_dir: Path,
    templates_dir: Path,
    experiments_dir: Path,
    *,
    personas: Collection[str],
    intents: Collection[str],
    domain_path: Path = DOMAIN,
    actions_dir: Path = ACTIONS_DIR,
    data_dir: Path = DATA_DIR,
) -> Designs:
    """Templates, campaigns and experiments, cross-checked; raises
    :class:`~cobranza.outreach.files.OutreachFilesError` listing the problems of all three
    (an experiment naming a template whose file is broken is not also told it does not
    exist)."""
    templates, declared, problems = read_templates(templates_dir, intents)
    campaigns, more = read_campaigns(campaigns_dir, declared, set(personas))
    domain = domain_responses(domain_path)
    parameters: dict[str, Collection[str] | None] = dict.fromkeys(declared)
    parameters.update({name: t.parameters for name, t in templates.items()})
    experiments, also = read_experiments(
        experiments_dir,
        campaigns=campaigns,
        templates=parameters,
        responses=response_placeholders(domain),
        response_use=read_response_use(domain, actions_dir, data_dir),
    )
    if problems or more or also:
        raise OutreachFilesError(problems + more + also)
    return Designs(campaigns, templates, experiments)
