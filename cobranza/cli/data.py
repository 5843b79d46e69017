"""``cobranza data validate``: what our actions expect of the stories and rules in ``data/``,
beyond what ``rasa data validate`` checks.

Every custom action of ours ends the debtor's turn: it says all it has to say, and the debtor
speaks next (actions/base.py tells Rasa so, which spares the policies a prediction per turn:
docs/latency.md). A story or rule that follows a custom action with another action, or a rule
that ends with one and ``wait_for_user_input: false``, would never run as written; this check
names each such place, all at once."""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from cobranza.bootstrap import App
from cobranza.config import PROJECT_ROOT
from cobranza.errors import CobranzaError

# Steps that record what an action did (its slots, its loop), not a new action.
_RECORDS = ("slot_was_set", "active_loop")
# Steps where the debtor speaks.
_USER = ("intent", "user", "or")


class DataError(CobranzaError):
    """Stories or rules that contradict how our actions end a turn."""


def custom_actions(domain: Mapping[str, Any]) -> frozenset[str]:
    """The actions the action server runs: those listed in the domain that are not responses."""
    return frozenset(
        name for name in domain.get("actions") or () if not str(name).startswith("utter_")
    )


def _what(step: Mapping[str, Any]) -> str:
    key = next(iter(step), "?")
    return f"{key}: {step[key]}" if key in ("action", "checkpoint") else key


def _problems_in(
    steps: list[Mapping[str, Any]], actions: frozenset[str], waits: bool
) -> Iterator[str]:
    for index, step in enumerate(steps):
        name = step.get("action")
        if name not in actions:
            continue
        following = [s for s in steps[index + 1 :] if not any(k in s for k in _RECORDS)]
        if following and not any(k in following[0] for k in _USER):
            yield f"después de «{name}» viene «{_what(following[0])}»"
        elif not following and not waits:
            yield f"termina con «{name}» y wait_for_user_input: false"


def problems(files: Iterable[Path], actions: frozenset[str], root: Path) -> list[str]:
    """Each place where a custom action does not end the turn, named by file and story."""
    found = []
    for path in sorted(files):
        content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for kind, label in (("stories", "story"), ("rules", "rule")):
            for block in content.get(kind) or ():
                waits = block.get("wait_for_user_input", True)
                for problem in _problems_in(block.get("steps") or [], actions, waits):
                    where = f"{path.relative_to(root)}: {label} «{block.get(label, '?')}»"
                    found.append(f"{where}: {problem}")
    return found


def check_project(root: Path) -> list[str]:
    domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8")) or {}
    return problems((root / "data").rglob("*.yml"), custom_actions(domain), root)


def cmd_data_validate(args: argparse.Namespace, app: App) -> None:
    found = check_project(PROJECT_ROOT)
    if found:
        raise DataError(
            f"{len(found)} lugar(es) donde una acción nuestra no termina el turno (cada una "
            "dice todo lo suyo y luego habla el deudor: pon lo que sigue dentro de la acción, "
            "o en una regla que empiece con un intent):\n" + "\n".join(f"  {p}" for p in found)
        )
    print("Datos: cada acción nuestra en data/ termina el turno (después habla el deudor).")


def add_parsers(sub: Any) -> None:
    data = sub.add_parser("data", help="historias y reglas de data/")
    datasub = data.add_subparsers(dest="data_command", required=True, metavar="ACCIÓN")
    datasub.add_parser(
        "validate", help="revisar que cada acción nuestra termine el turno del deudor"
    ).set_defaults(command="data validate")


COMMANDS = {"data validate": cmd_data_validate}
