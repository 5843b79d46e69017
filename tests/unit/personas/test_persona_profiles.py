"""Schema validation of persona_profiles/: the real files pass; broken ones fail naming the file
and the field."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cobranza.config import PROJECT_ROOT
from cobranza.personas.profiles import ProfileError, load_profiles

# An edit to one persona profile's parsed YAML.
Change = Callable[[dict[str, Any]], None]

REAL = PROJECT_ROOT / "persona_profiles"


def test_real_profiles_are_valid(profiles: dict) -> None:
    assert {"olvidadizo", "en_apuros", "negociador", "reincidente"} <= set(profiles)
    assert sum(p.fallback for p in profiles.values()) == 1
    for profile in profiles.values():
        assert profile.source == f"persona_profiles/{profile.name}.yml"
        assert profile.promise_max_days_ahead >= 1


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "persona_profiles"
    shutil.copytree(REAL, target)
    return target


def _edit(directory: Path, name: str, change: Change) -> None:
    path = directory / f"{name}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def _set(path: str, value: object) -> Change:
    def change(data: dict) -> None:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value

    return change


@pytest.mark.parametrize(
    ("persona", "change", "expected"),
    [
        (
            "negociador",
            _set("plans.installments.max_installments", -1),
            "persona_profiles/negociador.yml: plans.installments.max_installments: -1 is less than the minimum of 0",
        ),
        (
            "olvidadizo",
            _set("tone.register", "vos"),
            "persona_profiles/olvidadizo.yml: tone.register: 'vos' is not one of",
        ),
        (
            "en_apuros",
            _set("plans.settlement.max_discount_pct.90+", 120),
            "persona_profiles/en_apuros.yml: plans.settlement.max_discount_pct.90+: 120 is greater than the maximum of 100",
        ),
        (
            "reincidente",
            lambda d: d.pop("promise"),
            "persona_profiles/reincidente.yml: (raíz): 'promise' is a required property",
        ),
        (
            "reincidente",
            _set("fits.all.dias_atraso", {"max": 3}),
            "persona_profiles/reincidente.yml: fits.all: Additional properties are not allowed ('dias_atraso'",
        ),
        (
            "negociador",
            _set("promise.max_days_ahead", "diez"),
            "persona_profiles/negociador.yml: promise.max_days_ahead: 'diez' is not of type 'integer'",
        ),
        (
            "olvidadizo",
            _set("name", "olvidadiza"),
            "persona_profiles/olvidadizo.yml: name: 'olvidadiza' debe coincidir con el archivo 'olvidadizo'",
        ),
        (
            "olvidadizo",
            _set("fits.all.days_past_due", {"min": 30, "max": 10}),
            "persona_profiles/olvidadizo.yml: fits.all.days_past_due: min (30) mayor que max (10)",
        ),
        (
            "negociador",
            _set("fits.priority", 90),
            "persona_profiles/reincidente.yml: fits.priority: 90 repetida con persona_profiles/negociador.yml",
        ),
        (
            "negociador",
            _set("fits.fallback", True),
            "debe haber exactamente un perfil con fits.fallback: true (hay 2",
        ),
        (
            "estandar",
            _set("fits.fallback", False),
            "persona_profiles/estandar.yml: fits.all: sin condiciones",
        ),
    ],
)
def test_broken_profile_names_file_and_field(
    tmp_path: Path, persona: str, change: Change, expected: str
) -> None:
    directory = _copy(tmp_path)
    _edit(directory, persona, change)
    with pytest.raises(ProfileError) as info:
        load_profiles(directory)
    assert any(expected in problem for problem in info.value.problems), info.value.problems


def test_invalid_yaml_and_missing_folder(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    (directory / "olvidadizo.yml").write_text("name: [sin cerrar\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"persona_profiles/olvidadizo.yml: YAML inválido"):
        load_profiles(directory)
    with pytest.raises(ProfileError, match="no existe"):
        load_profiles(tmp_path / "nada")
    (tmp_path / "vacia").mkdir()
    with pytest.raises(ProfileError, match="no hay perfiles"):
        load_profiles(tmp_path / "vacia")


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    directory = _copy(tmp_path)
    _edit(directory, "olvidadizo", _set("tone.style", "grosero"))
    _edit(directory, "negociador", _set("promise.max_days_ahead", 0))
    with pytest.raises(ProfileError) as info:
        load_profiles(directory)
    files = {problem.split(":")[0] for problem in info.value.problems}
    assert files == {"persona_profiles/olvidadizo.yml", "persona_profiles/negociador.yml"}
