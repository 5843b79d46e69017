"""Reading the experiment files (``experiments/*.yml``, docs/experiments.md): the same rules as
the campaigns and templates (size cap, UTF-8, YAML without anchors, JSON Schema, every problem at
once naming the file and the place), then the checks of :mod:`cobranza.domain.experiments` and
those across files: names unique, one enabled experiment per target, and the campaign, step,
templates or responses named exist.

Pure apart from reading the files it is given. No folder, or an empty one, is no experiment.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

from cobranza.domain.experiments import (
    Experiment,
    Target,
    build_experiment,
    definition_problems,
    reference_problems,
)
from cobranza.outreach.campaigns import Campaign
from cobranza.outreach.files import ExperimentError, read_files, schema_problems

__all__ = ["ExperimentError", "campaign_steps", "load_experiments", "read_experiments"]

SCHEMA_PATH = Path(__file__).with_name("experiments.schema.json")


def campaign_steps(campaigns: Mapping[str, Campaign]) -> dict[str, dict[str, str]]:
    """``{campaign: {step: template}}``, what an experiment on a step is checked against."""
    return {c.name: {s.name: s.template for s in c.steps} for c in campaigns.values()}


def read_experiments(
    directory: Path,
    *,
    campaigns: Mapping[str, Campaign],
    templates: Collection[str],
    responses: Collection[str],
) -> tuple[dict[str, Experiment], list[str]]:
    """The valid experiments by name, and every problem found (see :func:`load_experiments`)."""
    if not directory.is_dir() or not any(directory.glob("*.yml")):
        return {}, []
    found, problems = read_files(directory, "experimentos")
    steps = campaign_steps(campaigns)
    experiments: dict[str, Experiment] = {}
    declared: dict[str, str] = {}
    targets: dict[Target, str] = {}
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
                experiment, campaign_steps=steps, templates=templates, responses=responses
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
        problems.extend(errors)
        if not errors:
            experiments[experiment.name] = experiment
    return experiments, problems


def load_experiments(
    directory: Path,
    *,
    campaigns: Mapping[str, Campaign],
    templates: Collection[str],
    responses: Collection[str],
) -> dict[str, Experiment]:
    """Every experiment in ``directory/*.yml`` by name, checked against the campaigns, the
    template names and the response names (domain.yml) given; raises :class:`ExperimentError`
    listing every problem."""
    experiments, problems = read_experiments(
        directory, campaigns=campaigns, templates=templates, responses=responses
    )
    if problems:
        raise ExperimentError(problems)
    return experiments
