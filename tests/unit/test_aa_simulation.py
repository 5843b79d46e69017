"""``make bench-aa`` runs: a small A/A simulation prints its table, and the verdict never
answered before the planned sample."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cobranza.config import PROJECT_ROOT


def test_the_aa_simulation_runs_and_never_peeks() -> None:
    done = subprocess.run(
        [sys.executable, "scripts/aa_simulation.py", "--experiments", "300", "--days", "5"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    out = done.stdout
    assert "2 brazos, veredicto al llegar al plan" in out
    assert "3 brazos (Holm), mirando cada día y parando en p < 0.05" in out
    assert "distintas de «en curso»: 0 de 600." in out
    assert done.stderr == ""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["--experiments", "0"], "deben ser positivos"), (["--rate", "1.5"], "--rate/--effect")],
)
def test_the_aa_simulation_refuses_nonsense(arguments: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "scripts/aa_simulation.py", *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2 and message in done.stderr
