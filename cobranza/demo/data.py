"""Read the demo portfolio's data (``portfolio.yml``) and check it before anything is generated.

The data is edited by hand, so a mistake must say where it is: :class:`PortfolioDataError`
names the file and the key, e.g. ``portfolio.yml: creditors.2: 'clabe' is a required
property``. The schema (``portfolio.schema.json``) checks shapes and types; the checks here
are the cross-references a schema cannot express (a debtor's creditor and product exist, a
balance is not above the original amount, a range's ends are in order).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from cobranza.domain import phones
from cobranza.errors import InvalidFiles

DATA_PATH = Path(__file__).with_name("portfolio.yml")
SCHEMA_PATH = Path(__file__).with_name("portfolio.schema.json")


class PortfolioDataError(InvalidFiles):
    """The demo data is invalid; ``problems`` lists ``file: key: message``."""


@dataclass(frozen=True)
class Place:
    state: str
    municipality: str
    lada: str


@dataclass(frozen=True)
class Scenario:
    """A history shape for synthetic debtors; ``draws`` is (field, low, high) in draw order."""

    name: str
    weight: int
    hardship: bool
    draws: tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class SecondDebt:
    """A documented debtor's second debt, exactly as written."""

    creditor_code: str
    product: str
    original: Decimal
    balance: Decimal
    days_past_due: int


@dataclass(frozen=True)
class PortfolioData:
    seed: int
    documented: tuple[dict[str, Any], ...]  # DebtorPlan fields, typed (Decimal, date)
    synthetic_count: int
    original_pesos: tuple[int, int]
    min_balance_pesos: int
    birth_years: tuple[int, int]
    days_past_due: tuple[int, int]
    consent_weights: dict[str, int]
    second_debt_probability: float
    pending_promise_probability: float
    agreement_probability: float
    scenarios: tuple[Scenario, ...]
    second_debt_original: Decimal
    second_debt_balance: Decimal
    second_debt_max_days_past_due: int
    creditors: tuple[dict[str, Any], ...]  # the creditors table's columns
    products: dict[str, tuple[str, ...]]
    places: tuple[Place, ...]
    women_names: tuple[str, ...]
    women_second: tuple[str, ...]
    men_names: tuple[str, ...]
    men_second: tuple[str, ...]
    surnames: tuple[str, ...]
    hardship_reasons: tuple[str, ...]
    consent_sources: dict[str, str]


def _location(path: Iterable[Any]) -> str:
    return ".".join(str(part) for part in path) or "(raíz)"


@lru_cache(maxsize=1)
def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def _cross_checks(data: dict[str, Any], label: str) -> list[str]:
    problems: list[str] = []
    products: dict[str, list[str]] = {}
    for n, creditor in enumerate(data["creditors"]):
        if creditor["code"] in products:
            problems.append(f"{label}: creditors.{n}.code: '{creditor['code']}' repetido")
        products[creditor["code"]] = creditor["products"]
    seen: set[str] = set()
    for n, debtor in enumerate(data["documented_debtors"]):
        where = f"{label}: documented_debtors.{n}"
        try:
            phone = phones.normalize_phone(debtor["phone"])
        except phones.InvalidPhone:
            phone = None
        if phone != debtor["phone"]:
            problems.append(f"{where}.phone: '{debtor['phone']}' no es un número +52 normalizado")
        if debtor["phone"] in seen:
            problems.append(f"{where}.phone: '{debtor['phone']}' repetido")
        seen.add(debtor["phone"])
        try:
            date.fromisoformat(debtor["date_of_birth"])
        except ValueError:
            problems.append(f"{where}.date_of_birth: '{debtor['date_of_birth']}' no es una fecha")
        if debtor["creditor"] not in products:
            problems.append(f"{where}.creditor: '{debtor['creditor']}' no está en creditors")
        elif debtor["product"] not in products[debtor["creditor"]]:
            problems.append(
                f"{where}.product: '{debtor['product']}' no es un producto de {debtor['creditor']}"
            )
        if Decimal(debtor["balance"]) > Decimal(debtor["original"]):
            problems.append(f"{where}.balance: {debtor['balance']} mayor que original")
        second_debt = debtor.get("second_debt")
        if second_debt is not None:
            problems += _second_debt_problems(f"{where}.second_debt", second_debt, products)
    synthetic = data["synthetic"]
    ranges = [(key, synthetic[key]) for key in ("original_pesos", "birth_years", "days_past_due")]
    for name, scenario in synthetic["scenarios"].items():
        ranges += [(f"scenarios.{name}.draws.{f}", r) for f, r in scenario["draws"].items()]
    for key, (low, high) in ranges:
        if low > high:
            problems.append(f"{label}: synthetic.{key}: {low} mayor que {high}")
    if synthetic["min_balance_pesos"] >= synthetic["original_pesos"][0]:
        problems.append(
            f"{label}: synthetic.min_balance_pesos: debe ser menor que original_pesos[0]"
        )
    second = synthetic["second_debt"]
    if Decimal(second["balance"]) > Decimal(second["original"]):
        problems.append(f"{label}: synthetic.second_debt.balance: mayor que original")
    return problems


def _second_debt_problems(where: str, debt: dict[str, Any], products: dict[str, Any]) -> list[str]:
    if debt["creditor"] not in products:
        return [f"{where}.creditor: '{debt['creditor']}' no está en creditors"]
    problems = []
    if debt["product"] not in products[debt["creditor"]]:
        problems.append(
            f"{where}.product: '{debt['product']}' no es un producto de {debt['creditor']}"
        )
    if Decimal(debt["balance"]) > Decimal(debt["original"]):
        problems.append(f"{where}.balance: {debt['balance']} mayor que original")
    return problems


def _second_debt(spec: dict[str, Any] | None) -> SecondDebt | None:
    if spec is None:
        return None
    return SecondDebt(
        creditor_code=spec["creditor"],
        product=spec["product"],
        original=Decimal(spec["original"]),
        balance=Decimal(spec["balance"]),
        days_past_due=spec["days_past_due"],
    )


def _pair(values: list[int]) -> tuple[int, int]:
    low, high = values
    return low, high


def _build(data: dict[str, Any]) -> PortfolioData:
    synthetic = data["synthetic"]
    second = synthetic["second_debt"]
    names = data["names"]
    documented = tuple(
        {
            **{k: v for k, v in debtor.items() if k not in ("creditor", "second_debt")},
            "creditor_code": debtor["creditor"],
            "second_debt": _second_debt(debtor.get("second_debt")),
            "date_of_birth": date.fromisoformat(debtor["date_of_birth"]),
            "original": Decimal(debtor["original"]),
            "balance": Decimal(debtor["balance"]),
        }
        for debtor in data["documented_debtors"]
    )
    return PortfolioData(
        seed=data["seed"],
        documented=documented,
        synthetic_count=synthetic["count"],
        original_pesos=_pair(synthetic["original_pesos"]),
        min_balance_pesos=synthetic["min_balance_pesos"],
        birth_years=_pair(synthetic["birth_years"]),
        days_past_due=_pair(synthetic["days_past_due"]),
        consent_weights=dict(synthetic["consent_weights"]),
        second_debt_probability=synthetic["second_debt_probability"],
        pending_promise_probability=synthetic["pending_promise_probability"],
        agreement_probability=synthetic["agreement_probability"],
        scenarios=tuple(
            Scenario(
                name=name,
                weight=spec["weight"],
                hardship=spec.get("hardship", False),
                draws=tuple((field, low, high) for field, (low, high) in spec["draws"].items()),
            )
            for name, spec in synthetic["scenarios"].items()
        ),
        second_debt_original=Decimal(second["original"]),
        second_debt_balance=Decimal(second["balance"]),
        second_debt_max_days_past_due=second["max_days_past_due"],
        creditors=tuple(
            {k: v for k, v in creditor.items() if k != "products"} for creditor in data["creditors"]
        ),
        products={c["code"]: tuple(c["products"]) for c in data["creditors"]},
        places=tuple(Place(**place) for place in data["places"]),
        women_names=tuple(names["women"]["first"]),
        women_second=tuple(names["women"]["second"]),
        men_names=tuple(names["men"]["first"]),
        men_second=tuple(names["men"]["second"]),
        surnames=tuple(names["surnames"]),
        hardship_reasons=tuple(data["hardship_reasons"]),
        consent_sources=dict(data["consent_sources"]),
    )


def load_data(path: Path = DATA_PATH) -> PortfolioData:
    """The checked data in ``path``; raises :class:`PortfolioDataError` listing every problem."""
    label = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PortfolioDataError([f"{label}: no se puede leer: {exc.strerror}"]) from exc
    except yaml.YAMLError as exc:
        raise PortfolioDataError([f"{label}: YAML inválido: {exc}"]) from exc
    if not isinstance(data, dict):
        raise PortfolioDataError(
            [f"{label}: (raíz): se esperaba un mapa de claves, no {type(data).__name__}"]
        )
    validator = jsonschema.Draft7Validator(_schema())
    problems = [
        f"{label}: {_location(err.absolute_path)}: {err.message}"
        for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.path)))
    ]
    problems = problems or _cross_checks(data, label)
    if problems:
        raise PortfolioDataError(problems)
    return _build(data)


@lru_cache(maxsize=1)
def demo_data() -> PortfolioData:
    """The packaged ``portfolio.yml``, read and checked once per process."""
    return load_data()
