"""Load persona profiles and validate them against ``persona_profile.schema.json``.

A broken profile raises :class:`ProfileError` whose message names the file and the field, e.g.
``persona_profiles/negociador.yml: plans.installments.max_installments: -1 is less than the
minimum of 0``, so a conversation designer knows where to look.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cobranza.domain.delinquency import BUCKETS
from cobranza.errors import InvalidFiles

SCHEMA_PATH = Path(__file__).with_name("persona_profile.schema.json")


class ProfileError(InvalidFiles):
    """One or more persona profiles are invalid; ``problems`` lists ``file: field: message``."""


@dataclass(frozen=True)
class Condition:
    fact: str
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    equals: bool | None = None

    def describe(self) -> str:
        if self.equals is not None:
            return f"{self.fact} = {'sí' if self.equals else 'no'}"
        if self.minimum is not None and self.maximum is not None:
            if self.minimum == self.maximum:
                return f"{self.fact} = {self.minimum}"
            return f"{self.minimum} ≤ {self.fact} ≤ {self.maximum}"
        if self.minimum is not None:
            return f"{self.fact} ≥ {self.minimum}"
        return f"{self.fact} ≤ {self.maximum}"


@dataclass(frozen=True)
class InstallmentPolicy:
    max_installments: int
    min_down_payment_pct: Decimal
    min_installment_centavos: int
    frequency: str


@dataclass(frozen=True)
class PersonaProfile:
    name: str
    label: str
    description: str
    priority: int
    fallback: bool
    conditions: tuple[Condition, ...]
    tone_register: str
    tone_style: str
    pay_in_full: bool
    max_discount_pct: dict[str, Decimal]
    settlement_pay_within_days: int
    installments: InstallmentPolicy
    promise_max_days_ahead: int
    escalation: dict[str, Any] = field(default_factory=dict)
    source: str = ""


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


def _location(path: Any) -> str:
    parts = [str(p) for p in path]
    return ".".join(parts) if parts else "(raíz)"


def _conditions(raw: dict[str, Any]) -> tuple[Condition, ...]:
    result = []
    for fact, spec in raw.items():
        if isinstance(spec, bool):
            result.append(Condition(fact, equals=spec))
        elif isinstance(spec, int):
            result.append(Condition(fact, minimum=Decimal(spec), maximum=Decimal(spec)))
        else:
            low, high = spec.get("min"), spec.get("max")
            result.append(
                Condition(
                    fact,
                    minimum=None if low is None else Decimal(str(low)),
                    maximum=None if high is None else Decimal(str(high)),
                )
            )
    return tuple(result)


def _build(data: dict[str, Any], source: str) -> PersonaProfile:
    plans = data["plans"]
    inst = plans["installments"]
    settlement = plans["settlement"]
    min_inst = Decimal(str(inst.get("min_installment_amount", 0))).quantize(Decimal("0.01"))
    return PersonaProfile(
        name=data["name"],
        label=data["label"],
        description=" ".join(data["description"].split()),
        priority=data["fits"]["priority"],
        fallback=bool(data["fits"].get("fallback", False)),
        conditions=_conditions(data["fits"].get("all", {})),
        tone_register=data["tone"]["register"],
        tone_style=data["tone"]["style"],
        pay_in_full=plans["pay_in_full"],
        max_discount_pct={b: Decimal(str(settlement["max_discount_pct"][b])) for b in BUCKETS},
        settlement_pay_within_days=settlement.get("pay_within_days", 7),
        installments=InstallmentPolicy(
            max_installments=inst["max_installments"],
            min_down_payment_pct=Decimal(str(inst["min_down_payment_pct"])),
            min_installment_centavos=int(min_inst * 100),
            frequency=inst["frequency"],
        ),
        promise_max_days_ahead=data["promise"]["max_days_ahead"],
        escalation=dict(data["escalation"]),
        source=source,
    )


def _check_one(path: Path, label: str) -> tuple[PersonaProfile | None, list[str]]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        return None, [f"{label}: YAML inválido: {exc}"]
    if not isinstance(data, dict):
        return None, [f"{label}: (raíz): se esperaba un mapa de campos, no {type(data).__name__}"]
    validator = jsonschema.Draft7Validator(_schema())
    problems = [
        f"{label}: {_location(err.absolute_path)}: {err.message}"
        for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path)))
    ]
    if problems:
        return None, problems
    if data["name"] != path.stem:
        problems.append(
            f"{label}: name: '{data['name']}' debe coincidir con el archivo '{path.stem}'"
        )
    fits = data["fits"]
    if not fits.get("fallback") and not fits.get("all"):
        problems.append(
            f"{label}: fits.all: sin condiciones; usa fallback: true para la persona por defecto"
        )
    for fact, spec in fits.get("all", {}).items():
        if isinstance(spec, dict) and "min" in spec and "max" in spec and spec["min"] > spec["max"]:
            problems.append(
                f"{label}: fits.all.{fact}: min ({spec['min']}) mayor que max ({spec['max']})"
            )
    if problems:
        return None, problems
    return _build(data, label), []


def load_profiles(directory: Path) -> dict[str, PersonaProfile]:
    """Every ``*.yml`` in ``directory``, validated; raises :class:`ProfileError` listing all
    problems of all files at once."""
    if not directory.is_dir():
        raise ProfileError([f"{directory}: no existe la carpeta de perfiles de persona"])
    profiles: dict[str, PersonaProfile] = {}
    problems: list[str] = []
    files = sorted(directory.glob("*.yml"))
    if not files:
        problems.append(f"{directory}: no hay perfiles (*.yml)")
    for path in files:
        label = f"{directory.name}/{path.name}"
        profile, found = _check_one(path, label)
        problems.extend(found)
        if profile is not None:
            profiles[profile.name] = profile
    fallbacks = [p.source for p in profiles.values() if p.fallback]
    if not problems and len(fallbacks) != 1:
        problems.append(
            f"{directory.name}: debe haber exactamente un perfil con fits.fallback: true "
            f"(hay {len(fallbacks)}: {', '.join(fallbacks) or 'ninguno'})"
        )
    priorities: dict[int, str] = {}
    for profile in profiles.values():
        if profile.priority in priorities:
            problems.append(
                f"{profile.source}: fits.priority: {profile.priority} repetida con "
                f"{priorities[profile.priority]}; cada persona necesita su propia prioridad"
            )
        priorities[profile.priority] = profile.source
    if problems:
        raise ProfileError(problems)
    return profiles
