"""scripts/run.sh's arguments and environment, checked without starting the servers: a copy of the
script in a scratch project whose ``.venv/bin/rasa`` and ``.venv/bin/python -m …`` only record
how they were called (any other ``python`` call, e.g. token generation, runs the real one)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from cobranza.config import PROJECT_ROOT

RECORDER = """#!/usr/bin/env bash
# Record argv and environment as {name}, then wait like a server would.
{{ printf '%s\\n' "$@"; echo --env--; env; }} > "$RECORD_DIR/{name}.tmp"
mv "$RECORD_DIR/{name}.tmp" "$RECORD_DIR/{name}"
exec sleep 60
"""

FAKE_PYTHON = """#!/usr/bin/env bash
if [ "$1" = "-m" ] && [ "$#" = 2 ]; then
  {{ printf '%s\\n' "$@"; echo --env--; env; }} > "$RECORD_DIR/$2.tmp"
  mv "$RECORD_DIR/$2.tmp" "$RECORD_DIR/$2"
  exec sleep 60
fi
PYTHONPATH={root} exec {python} "$@"
"""

RUN_VARIABLES = (
    "ACTIONS_HOST",
    "RASA_HOST",
    "CONSOLE_HOST",
    "ACTION_SERVER_TOKEN",
    "RASA_API_TOKEN",
    "RASA_MAX_REQUEST_BYTES",
    "ACTIONS_MAX_REQUEST_BYTES",
    "RASA_ENDPOINTS",
    "OUTREACH_WORKER",
)


@dataclass
class Call:
    args: list[str]
    env: dict[str, str]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    for script in ("run.sh", "common.sh"):
        shutil.copy(PROJECT_ROOT / "scripts" / script, root / "scripts" / script)
    (root / "models").mkdir()
    (root / "models" / "cobranza.tar.gz").write_bytes(b"")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "rasa").write_text(RECORDER.format(name="rasa"))
    (bin_dir / "python").write_text(FAKE_PYTHON.format(root=PROJECT_ROOT, python=sys.executable))
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    (root / "records").mkdir()
    return root


def run(project: Path, **settings: str) -> dict[str, Call]:
    """Start run.sh, wait for its four processes to record their call, then Ctrl-C it."""
    records = project / "records"
    env = {k: v for k, v in os.environ.items() if k not in RUN_VARIABLES}
    env.update(RECORD_DIR=str(records), **settings)
    process = subprocess.Popen(
        [str(project / "scripts" / "run.sh")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    names = ("cobranza.action_server", "rasa", "cobranza.console", "cobranza.outreach")
    try:
        deadline = time.monotonic() + 60
        while not all((records / n).exists() for n in names):
            assert process.poll() is None, process.stdout.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "run.sh did not start its servers"
            time.sleep(0.1)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
    calls = {}
    for name in names:
        text = (records / name).read_text()
        args, env_text = text.split("--env--\n", 1)
        pairs = (line.split("=", 1) for line in env_text.splitlines() if "=" in line)
        calls[name] = Call(args.splitlines(), dict(pairs))
        (records / name).unlink()
    return calls


def argument(call: Call, flag: str) -> str:
    return call.args[call.args.index(flag) + 1]


def test_everything_binds_loopback_by_default_and_shares_one_action_token(project: Path) -> None:
    calls = run(project)
    rasa, actions, console = (
        calls["rasa"],
        calls["cobranza.action_server"],
        calls["cobranza.console"],
    )
    assert argument(rasa, "--interface") == "127.0.0.1"
    assert actions.env["ACTIONS_HOST"] == "127.0.0.1"
    assert console.env["CONSOLE_HOST"] == "127.0.0.1"
    token_file = project / "var" / "action_server_token"
    token = token_file.read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    # Rasa needs it for endpoints.yml's ${ACTION_SERVER_TOKEN}; the console does not get it.
    assert rasa.env["ACTION_SERVER_TOKEN"] == actions.env["ACTION_SERVER_TOKEN"] == token
    assert "ACTION_SERVER_TOKEN" not in console.env
    assert "RASA_API_TOKEN" not in actions.env
    # The outreach worker holds neither token.
    worker = calls["cobranza.outreach"]
    assert "RASA_API_TOKEN" not in worker.env and "ACTION_SERVER_TOKEN" not in worker.env
    assert rasa.env["ACTIONS_PORT"] == actions.env["ACTIONS_PORT"] == "5055"
    # Rasa's body bound as Sanic settings, for Rasa only.
    assert rasa.env["SANIC_REQUEST_MAX_SIZE"] == "524288"
    assert "SANIC_REQUEST_MAX_SIZE" not in actions.env
    assert argument(rasa, "--endpoints") == "endpoints.yml"
    # The API token is still generated the same way, and still kept from the action server.
    api_token = (project / "var" / "rasa_api_token").read_text().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", api_token) and api_token != token
    assert f"--auth-token={api_token}" in rasa.args
    # A second start reuses the same token.
    assert run(project)["rasa"].env["ACTION_SERVER_TOKEN"] == token


def test_hosts_ports_tokens_and_bounds_from_the_environment(project: Path) -> None:
    calls = run(
        project,
        RASA_HOST="0.0.0.0",
        ACTIONS_HOST="10.1.2.3",
        ACTIONS_PORT="6055",
        ACTION_SERVER_TOKEN="t" * 40,
        RASA_MAX_REQUEST_BYTES="1048576",
    )
    rasa, actions = calls["rasa"], calls["cobranza.action_server"]
    assert argument(rasa, "--interface") == "0.0.0.0"
    assert actions.env["ACTIONS_HOST"] == "10.1.2.3"
    assert rasa.env["ACTIONS_PORT"] == actions.env["ACTIONS_PORT"] == "6055"
    assert rasa.env["ACTION_SERVER_TOKEN"] == actions.env["ACTION_SERVER_TOKEN"] == "t" * 40
    assert rasa.env["SANIC_REQUEST_MAX_SIZE"] == "1048576"
    assert not (project / "var" / "action_server_token").exists()


def test_a_bad_bound_stops_run_sh_before_any_server(project: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in RUN_VARIABLES}
    result = subprocess.run(
        [str(project / "scripts" / "run.sh")],
        env={**env, "RECORD_DIR": str(project / "records"), "RASA_MAX_REQUEST_BYTES": "mucho"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "RASA_MAX_REQUEST_BYTES" in result.stderr
    assert list((project / "records").iterdir()) == []
