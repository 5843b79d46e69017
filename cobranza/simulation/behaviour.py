"""The simulated debtors' behaviour: per-persona probabilities read from ``behaviour.yml``.

They are **assumptions of the simulator, not data from any lender** (the file says so at its
top, and so does every report of ``cobranza simulate``): they exist so that the whole outbound
loop runs end to end with debtors that answer, promise, pay, break and opt out at plausible,
persona-shaped rates. Checked on load, every problem at once, like the designers' other files:
every persona of ``persona_profiles/`` needs an entry (a debtor of a persona without one could
not be simulated), every probability lies in [0, 1], every range is ``[min, max]`` with
``min ≤ max``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from cobranza.errors import InvalidFiles

BEHAVIOUR_PATH = Path(__file__).with_name("behaviour.yml")
ASSUMPTIONS_NOTICE = "Comportamiento simulado: supuestos del simulador, no datos de ningún acreedor"


class BehaviourError(InvalidFiles):
    """``behaviour.yml`` is invalid; ``problems`` lists ``file: key: message``."""


@dataclass(frozen=True)
class Behaviour:
    """One persona's assumed behaviour (the keys are explained in behaviour.yml)."""

    delivered: float
    read_given_delivered: float
    reply_given_read: float
    reply_delay_minutes: tuple[float, float]
    opt_out_given_reply: float
    right_party_given_reply: float
    promise_given_right_party: float
    promise_share_of_balance: tuple[float, float]
    keep_promise: float
    partial_given_not_kept: float
    partial_share: tuple[float, float]
    spontaneous_payment_per_week: float
    spontaneous_share_of_balance: tuple[float, float]


_RANGES = {f.name for f in fields(Behaviour) if "tuple" in str(f.type)}
_SHARES = {"promise_share_of_balance", "partial_share", "spontaneous_share_of_balance"}
_KEYS = [f.name for f in fields(Behaviour)]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse(name: str, spec: Any, where: str, problems: list[str]) -> Behaviour | None:
    if not isinstance(spec, dict):
        problems.append(f"{where}: personas.{name}: debe ser un mapa de probabilidades")
        return None
    values: dict[str, Any] = {}
    for key in sorted(set(spec) - set(_KEYS)):
        problems.append(f"{where}: personas.{name}.{key}: clave desconocida")
    for key in _KEYS:
        place = f"{where}: personas.{name}.{key}"
        if key not in spec:
            problems.append(f"{place}: falta")
            continue
        value = spec[key]
        if key in _RANGES:
            ok = (
                isinstance(value, list)
                and len(value) == 2
                and all(_number(v) and v >= 0 for v in value)
                and value[0] <= value[1]
                and (key not in _SHARES or value[1] <= 1)
            )
            if not ok:
                limit = " y ≤ 1" if key in _SHARES else ""
                problems.append(
                    f"{place}: debe ser [mínimo, máximo] con 0 ≤ mínimo ≤ máximo{limit}"
                )
                continue
            values[key] = (float(value[0]), float(value[1]))
        else:
            if not (_number(value) and 0 <= value <= 1):
                problems.append(f"{place}: debe ser una probabilidad entre 0 y 1")
                continue
            values[key] = float(value)
    if len(values) != len(_KEYS):
        return None
    return Behaviour(**values)


def parse_behaviour(
    document: Any, personas: Collection[str], where: str = "behaviour.yml"
) -> dict[str, Behaviour]:
    """The behaviour per persona from a parsed document; raises :class:`BehaviourError`."""
    problems: list[str] = []
    table = document.get("personas") if isinstance(document, dict) else None
    if not isinstance(table, dict) or not table:
        raise BehaviourError([f"{where}: personas: falta el mapa de personas"])
    found: dict[str, Behaviour] = {}
    for name, spec in table.items():
        if name not in personas:
            problems.append(f"{where}: personas.{name}: no es una persona de persona_profiles/")
            continue
        parsed = _parse(str(name), spec, where, problems)
        if parsed is not None:
            found[str(name)] = parsed
    for name in sorted(set(personas) - set(table)):
        problems.append(f"{where}: personas.{name}: falta (cada persona necesita su supuesto)")
    if problems:
        raise BehaviourError(problems)
    return found


def load_behaviour(
    personas: Collection[str], path: Path = BEHAVIOUR_PATH
) -> Mapping[str, Behaviour]:
    """``behaviour.yml`` checked against the persona names (raises with every problem)."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BehaviourError([f"{path.name}: no se puede leer: {exc}"]) from exc
    return parse_behaviour(document, personas, path.name)
