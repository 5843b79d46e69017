"""``cobranza data validate``: every custom action ends the debtor's turn in data/."""

from __future__ import annotations

import inspect
import pkgutil
from pathlib import Path

import yaml

import actions
from actions.base import DbAction
from cobranza.cli.data import check_project, custom_actions, problems
from cobranza.config import PROJECT_ROOT

OURS = frozenset({"action_informar_saldo", "action_procesar_promesa"})


def _write(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "data" / "rules" / "x.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def test_the_shipped_stories_and_rules_end_every_turn_with_the_debtor() -> None:
    assert check_project(PROJECT_ROOT) == []


def test_every_action_that_ends_its_turn_is_one_the_check_knows() -> None:
    """The check reads the domain's list; each DbAction (which ends its turn) must be on it."""
    for module in pkgutil.iter_modules(actions.__path__):
        __import__(f"actions.{module.name}")
    names = set()
    pending = list(DbAction.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if not inspect.isabstract(cls):
            names.add(cls().name())
    domain = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
    assert len(names) >= 15 and names <= custom_actions(domain)


def test_an_action_followed_by_a_response_or_an_action_is_named(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
stories:
- story: saldo y luego texto
  steps:
  - intent: consultar_saldo
  - action: action_informar_saldo
  - slot_was_set:
    - deudor_encontrado: true
  - action: utter_algo_mas
rules:
- rule: promesa sin esperar
  wait_for_user_input: false
  steps:
  - intent: prometer_pago
  - action: action_procesar_promesa
- rule: promesa y luego otra acción
  steps:
  - intent: prometer_pago
  - action: action_procesar_promesa
  - action: action_informar_saldo
""",
    )
    found = problems([path], OURS, tmp_path)
    assert found == [
        "data/rules/x.yml: story «saldo y luego texto»: después de «action_informar_saldo» "
        "viene «action: utter_algo_mas»",
        "data/rules/x.yml: rule «promesa sin esperar»: termina con «action_procesar_promesa» y "
        "wait_for_user_input: false",
        "data/rules/x.yml: rule «promesa y luego otra acción»: después de "
        "«action_procesar_promesa» viene «action: action_informar_saldo»",
    ]


def test_the_debtor_speaking_next_in_any_form_is_fine(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
stories:
- story: el deudor sigue
  steps:
  - intent: consultar_saldo
  - action: action_informar_saldo
  - slot_was_set:
    - deudor_encontrado: true
  - or:
    - intent: afirmar
    - intent: negar
  - action: action_procesar_promesa
  - intent: saludar
  - action: utter_saludo
  - action: utter_algo_mas
rules:
- rule: termina esperando
  steps:
  - intent: prometer_pago
  - action: action_procesar_promesa
""",
    )
    assert problems([path], OURS, tmp_path) == []


def test_responses_are_not_custom_actions() -> None:
    domain = {"actions": ["action_informar_saldo", "utter_saludo"], "responses": {}}
    assert custom_actions(domain) == {"action_informar_saldo"}
