"""The demo data loader: the packaged portfolio.yml passes; a broken copy fails naming the file
and the key, so whoever edits it knows where to look."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from cobranza.demo.data import DATA_PATH, PortfolioDataError, load_data

Change = Callable[[dict[str, Any]], None]


def test_packaged_data_is_valid() -> None:
    data = load_data()
    assert data.synthetic_count == 1000 and len(data.documented) == 7
    maria = data.documented[0]
    assert maria["full_name"] == "María Fernanda López Hernández"
    assert maria["date_of_birth"] == date(1985, 3, 12) and maria["balance"] == Decimal("8450.00")
    assert [c["code"] for c in data.creditors] == ["credifacil", "tiendahogar", "motopresta"]
    assert "products" not in data.creditors[0] and data.products["motopresta"]
    assert [s.name for s in data.scenarios] == [
        "olvidadizo",
        "en_apuros",
        "negociador",
        "reincidente",
        "general",
    ]
    assert data.scenarios[0].draws[0] == ("days_past_due", 1, 30)


def _broken(tmp_path: Path, change: Change) -> Path:
    data = yaml.safe_load(DATA_PATH.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "portfolio.yml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _problems(path: Path) -> list[str]:
    with pytest.raises(PortfolioDataError) as caught:
        load_data(path)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "portfolio.yml"
    path.write_text("seed: 1\ncreditors: [credifacil\nplaces: []\n", encoding="utf-8")
    [problem] = _problems(path)
    assert problem.startswith("portfolio.yml: YAML inválido:") and "line 3" in problem


def test_a_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "portfolio.yml"
    path.write_text("- one\n- two\n", encoding="utf-8")
    assert _problems(path) == ["portfolio.yml: (raíz): se esperaba un mapa de claves, no list"]


def test_a_missing_file(tmp_path: Path) -> None:
    [problem] = _problems(tmp_path / "portfolio.yml")
    assert problem.startswith("portfolio.yml: no se puede leer:")


def _delete(*keys: str | int) -> Change:
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return change


def _set(value: object, *keys: str | int) -> Change:
    def change(data: dict[str, Any]) -> None:
        node: Any = data
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (_delete("seed"), "portfolio.yml: (raíz): 'seed' is a required property"),
        (
            _delete("creditors", 2, "clabe"),
            "portfolio.yml: creditors.2: 'clabe' is a required property",
        ),
        (
            _delete("documented_debtors", 0, "balance"),
            "portfolio.yml: documented_debtors.0: 'balance' is a required property",
        ),
        (
            _delete("synthetic", "scenarios", "en_apuros", "weight"),
            "portfolio.yml: synthetic.scenarios.en_apuros: 'weight' is a required property",
        ),
        (
            _set(8450.0, "documented_debtors", 0, "balance"),
            "portfolio.yml: documented_debtors.0.balance: 8450.0 is not of type 'string'",
        ),
        (
            _set(33, "places", 3, "lada"),
            "portfolio.yml: places.3.lada: 33 is not of type 'string'",
        ),
        (
            _set([1, 30], "synthetic", "scenarios", "olvidadizo", "draws", "promises"),
            "portfolio.yml: synthetic.scenarios.olvidadizo.draws: Additional properties are "
            "not allowed ('promises' was unexpected)",
        ),
        (
            _set("banco", "creditors", 0, "bank_name"),
            "portfolio.yml: creditors.0: Additional properties are not allowed ('bank_name' was "
            "unexpected)",
        ),
    ],
)
def test_schema_problems_name_the_key(tmp_path: Path, change: Change, expected: str) -> None:
    assert _problems(_broken(tmp_path, change)) == [expected]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            _set("bancofeliz", "documented_debtors", 1, "creditor"),
            "portfolio.yml: documented_debtors.1.creditor: 'bancofeliz' no está en creditors",
        ),
        (
            _set("Crédito para motocicleta", "documented_debtors", 0, "product"),
            "portfolio.yml: documented_debtors.0.product: 'Crédito para motocicleta' no es un "
            "producto de credifacil",
        ),
        (
            _set("99999.00", "documented_debtors", 0, "balance"),
            "portfolio.yml: documented_debtors.0.balance: 99999.00 mayor que original",
        ),
        (
            _set("1985-02-30", "documented_debtors", 0, "date_of_birth"),
            "portfolio.yml: documented_debtors.0.date_of_birth: '1985-02-30' no es una fecha",
        ),
        (
            _set("+526641234567", "documented_debtors", 0, "phone"),
            "portfolio.yml: documented_debtors.1.phone: '+526641234567' repetido",
        ),
        (
            _set([30, 1], "synthetic", "scenarios", "olvidadizo", "draws", "days_past_due"),
            "portfolio.yml: synthetic.scenarios.olvidadizo.draws.days_past_due: 30 mayor que 1",
        ),
        (
            _set("credifacil", "creditors", 1, "code"),
            "portfolio.yml: creditors.1.code: 'credifacil' repetido",
        ),
    ],
)
def test_cross_reference_problems_name_the_key(
    tmp_path: Path, change: Change, expected: str
) -> None:
    assert expected in _problems(_broken(tmp_path, change))
