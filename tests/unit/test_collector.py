"""cobranza/collector.py: one collection and one freeze per process (in a child process: a freeze
would last for the rest of the test run)."""

from __future__ import annotations

import subprocess
import sys

from cobranza.config import PROJECT_ROOT

SCRIPT = """
import gc, logging
logging.basicConfig(level=logging.INFO, format="%(message)s")
from cobranza import collector
alive = [[n] for n in range(50_000)]  # objects the freeze must keep
assert gc.get_freeze_count() == 0
assert collector.freeze("test")
frozen = gc.get_freeze_count()
assert frozen >= 50_000, frozen
more = [[n] for n in range(1_000)]
assert not collector.freeze("test")  # once per process
assert gc.get_freeze_count() == frozen
print("ok", frozen)
"""


def test_freezes_what_is_alive_once_per_process() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")
    assert "test: " in done.stderr and "objects from start-up kept out" in done.stderr
