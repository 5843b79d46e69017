"""The project's own commands: `make help` lists every target; the Python finder fails clearly."""

from __future__ import annotations

import os
import re
import subprocess

from cobranza.config import PROJECT_ROOT


def test_make_help_lists_every_target() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text(encoding="utf-8")
    phony = re.search(r"^\.PHONY:(.*)$", makefile, re.M)
    assert phony
    targets = phony.group(1).split()
    out = subprocess.run(
        ["make", "-s", "help"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    listed = {
        line.split()[0] for line in re.sub(r"\x1b\[[0-9;]*m", "", out).splitlines() if line.strip()
    }
    assert set(targets) == listed, set(targets) ^ listed


def test_find_python_rejects_a_wrong_interpreter() -> None:
    script = str(PROJECT_ROOT / "scripts" / "find_python.sh")
    bad = subprocess.run(
        [script],
        env={**os.environ, "PYTHON": "/nonexistent/python"},
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 1
    assert "PYTHON=/nonexistent/python is not a Python 3.10 interpreter" in bad.stderr
    good = subprocess.run([script], capture_output=True, text=True, check=True).stdout.strip()
    version = subprocess.run(
        [good, "-c", "import sys; print(sys.version_info[:2])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert version == "(3, 10)"
