"""Who says each response of domain.yml: our actions, or Rasa itself. An experiment on a
conversation response (docs/experiments.md) can only vary what our actions say.

Rasa 3.6 fills a response named by a rule or a story (``- action: utter_saludo``) itself, from
the domain, with no hook that could pick another text per debtor short of an NLG server. Our
actions say theirs through ``turn.say(...)`` (actions/base.py), where the experiment's variant
is chosen. So:

* **said by an action**: the first argument of a ``.say(...)`` call in ``actions/*.py``, read
  from the source (:mod:`ast`, never imported: this layer is below the actions): a string, a
  module constant (``CHOOSE = "utter_elige_opcion"``, also imported from another action module),
  or an f-string's fixed start (``f"utter_motivo_{kind}"`` → every response starting with
  ``utter_motivo_``). A name passed through a variable is not followed: that response cannot be
  an experiment's target (refused, never guessed). ``dispatcher.utter_message(response=...)``
  outside ``turn.say`` does not count either: nothing there picks a variant;
* **said by Rasa**: every ``action:`` step of the rules and stories under ``data/``, and the
  responses Rasa's default actions and forms say (:data:`RASA_RESPONSES`, ``utter_ask_*``).

Pure apart from reading the files given.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from cobranza.config import PROJECT_ROOT
from cobranza.domain.experiments import ResponseUse

__all__ = [
    "ACTIONS_DIR",
    "DATA_DIR",
    "RASA_RESPONSES",
    "placeholders",
    "read_response_use",
    "said_by_actions",
    "said_by_rasa",
]

ACTIONS_DIR = PROJECT_ROOT / "actions"
DATA_DIR = PROJECT_ROOT / "data"
PREFIX = "utter_"
# Said by Rasa's own default actions (rasa/core/actions/action.py, 3.6), whatever our data says.
RASA_RESPONSES: dict[str, str] = {
    "utter_default": "action_default_fallback de Rasa",
    "utter_ask_rephrase": "action_default_ask_rephrase de Rasa",
    "utter_restart": "action_restart de Rasa",
    "utter_back": "action_back de Rasa",
}
FORM_QUESTION = "utter_ask_"  # a form asks for a slot with utter_ask_<slot> by itself
# Rasa's interpolation (rasa/core/nlg/interpolator.py): {name} in a response's texts.
_PLACEHOLDER = re.compile(r"{([^\n{}]+?)}")


def _constants(tree: ast.Module) -> dict[str, str]:
    """Module-level ``NAME = "utter_..."``."""
    found: dict[str, str] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
            and node.value.value.startswith(PREFIX)
        ):
            found[node.targets[0].id] = node.value.value
    return found


def _imported(tree: ast.Module, constants: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """``from actions.x import NAME [as OTHER]`` of a constant of another action module."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("actions."):
            module = (node.module or "").removeprefix("actions.")
            for alias in node.names:
                value = constants.get(module, {}).get(alias.name)
                if value is not None:
                    found[alias.asname or alias.name] = value
    return found


def _said(tree: ast.Module) -> Iterator[ast.expr]:
    """The response argument of every ``<something>.say(response, ...)`` call."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "say"
        ):
            if node.args:
                yield node.args[0]
            for keyword in node.keywords:
                if keyword.arg == "response":
                    yield keyword.value


def said_by_actions(actions_dir: Path = ACTIONS_DIR) -> tuple[frozenset[str], tuple[str, ...]]:
    """The responses the actions say by name through ``.say(...)``, and the fixed starts of
    the names they build (``f"utter_motivo_{kind}"`` → ``utter_motivo_``)."""
    trees = {
        path.stem: ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for path in sorted(actions_dir.glob("*.py"))
    }
    constants = {name: _constants(tree) for name, tree in trees.items()}
    names: set[str] = set()
    prefixes: set[str] = set()
    for module, tree in trees.items():
        known = {**_imported(tree, constants), **constants[module]}
        for argument in _said(tree):
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                names.add(argument.value)
            elif isinstance(argument, ast.Name) and argument.id in known:
                names.add(known[argument.id])
            elif isinstance(argument, ast.JoinedStr) and argument.values:
                first = argument.values[0]
                if isinstance(first, ast.Constant) and str(first.value).startswith(PREFIX):
                    prefixes.add(str(first.value))
    return frozenset(n for n in names if n.startswith(PREFIX)), tuple(sorted(prefixes))


def _steps(data: Any) -> Iterator[Any]:
    if not isinstance(data, dict):
        return
    for key in ("rules", "stories"):
        for flow in data.get(key) or []:
            if isinstance(flow, dict):
                yield from flow.get("steps") or []


def said_by_rasa(
    data_dir: Path = DATA_DIR, responses: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Response → where Rasa says it itself: the first rule or story file naming it as an
    action step, or a default action of Rasa's; with ``responses`` (the domain's), every
    ``utter_ask_*`` among them too (a form's question)."""
    where: dict[str, str] = {}
    for path in sorted(data_dir.rglob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for step in _steps(data):
            action = step.get("action") if isinstance(step, dict) else None
            if isinstance(action, str) and action.startswith(PREFIX):
                where.setdefault(action, str(path.relative_to(data_dir.parent)))
    for name in responses or {}:
        if name.startswith(FORM_QUESTION):
            where.setdefault(name, "la pregunta de un formulario de Rasa")
    for name, place in RASA_RESPONSES.items():
        where.setdefault(name, place)
    return where


def placeholders(variations: Any) -> frozenset[str]:
    """The ``{name}`` placeholders in every string of a response's variations (texts, button
    titles and payloads), conditions and channels aside."""
    found: set[str] = set()

    def visit(value: Any) -> None:
        if isinstance(value, str):
            found.update(match.strip() for match in _PLACEHOLDER.findall(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                if key not in ("condition", "channel"):
                    visit(item)
        elif isinstance(value, list):
            for item in value:
                visit(item)

    visit(variations)
    return frozenset(found)


def read_response_use(
    responses: Mapping[str, Any], actions_dir: Path = ACTIONS_DIR, data_dir: Path = DATA_DIR
) -> ResponseUse:
    """Who says each response, from the actions' source and Rasa's training data."""
    names, prefixes = said_by_actions(actions_dir)
    return ResponseUse(names, prefixes, said_by_rasa(data_dir, responses))
