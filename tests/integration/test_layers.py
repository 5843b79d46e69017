"""The layer contracts (.importlinter) hold, and a wrong import breaks them.

``make lint`` runs ``lint-imports``; these tests show that it is not a check that cannot fail:
on a copy of the code, one import against the layers (the database layer reaching up into a
use case, a pure module importing SQLAlchemy, a cycle) turns the run red and names the contract.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cobranza.config import PROJECT_ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy(tmp_path: Path) -> Path:
    """The packages and the contracts, without caches, in a directory of their own."""
    root = tmp_path / "repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "static")
    for package in ("cobranza", "actions"):
        shutil.copytree(PROJECT_ROOT / package, root / package, ignore=ignore)
    shutil.copy(PROJECT_ROOT / ".importlinter", root / ".importlinter")
    return root


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / ".importlinter")],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _add_import(root: Path, module: str, line: str) -> None:
    path = root / (module.replace(".", "/") + ".py")
    text = path.read_text(encoding="utf-8")
    head, sep, rest = text.partition("from __future__ import annotations\n")
    assert sep, f"{module} has no __future__ import to put the line after"
    path.write_text(f"{head}{sep}\n{line}\n{rest}", encoding="utf-8")


def test_the_code_keeps_its_contracts(tmp_path: Path) -> None:
    result = _lint(_copy(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        # the database layer reaching up into a use case
        ("cobranza.db.audit", "from cobranza.services import tickets  # noqa", "Entry points"),
        # a pure module importing the ORM
        ("cobranza.domain.money", "import sqlalchemy  # noqa", "Pure modules"),
        # the NLU reaching the database
        ("cobranza.nlu.keywords", "from cobranza.db import models  # noqa", "Pure modules"),
        # runtime code importing the test tooling
        ("cobranza.services.views", "from cobranza.testing import servers  # noqa", "Entry"),
        # a cycle between two use cases
        ("cobranza.services.payments", "from cobranza.services import views  # noqa", "cycle"),
    ],
)
def test_a_wrong_import_fails_the_lint(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    root = _copy(tmp_path)
    if contract == "cycle":  # views must import payments for the added line to close a cycle
        _add_import(
            root, "cobranza.services.views", "from cobranza.services import payments  # noqa"
        )
    _add_import(root, module, line)
    result = _lint(root)
    assert result.returncode != 0, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract.lower() in broken.lower(), result.stdout
