"""End to end: the trained model, scripts/run.sh (what `make run` starts) bringing up the action
server and Rasa, a real conversation over the REST channel, and Ctrl-C stopping both."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from cobranza.config import PROJECT_ROOT

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def model() -> Path:
    """`make train`: trains when the model is missing or older than the training data."""
    result = subprocess.run(
        ["make", "-s", "train"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    path = PROJECT_ROOT / "models" / "cobranza.tar.gz"
    assert path.is_file()
    return path


@pytest.fixture(scope="module")
def servers(
    model: Path, seeded_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict]:
    actions_port, rasa_port = _free_port(), _free_port()
    endpoints = tmp_path_factory.mktemp("e2e") / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://localhost:{actions_port}/webhook"\n')
    log = tmp_path_factory.mktemp("e2e-log") / "run.log"
    env = {
        **os.environ,
        "DATABASE_URL": seeded_sqlite_url,
        "ACTIONS_PORT": str(actions_port),
        "RASA_PORT": str(rasa_port),
        "RASA_ENDPOINTS": str(endpoints),
        "RASA_MODEL": str(model),
    }
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(PROJECT_ROOT / "scripts" / "run.sh")],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"run.sh exited early ({proc.returncode}):\n{log.read_text()[-4000:]}")
        try:
            if (
                requests.get(f"http://127.0.0.1:{rasa_port}/", timeout=2).ok
                and requests.get(f"http://127.0.0.1:{actions_port}/health", timeout=2).ok
            ):
                break
        except requests.ConnectionError:
            pass
        time.sleep(1)
    else:
        os.killpg(proc.pid, signal.SIGKILL)
        pytest.fail(f"servers not ready in 240 s:\n{log.read_text()[-4000:]}")
    info = {"proc": proc, "rasa": rasa_port, "actions": actions_port, "log": log}
    yield info
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)


def say(port: int, sender: str, text: str) -> list[str]:
    response = requests.post(
        f"http://127.0.0.1:{port}/webhooks/rest/webhook",
        json={"sender": sender, "message": text},
        timeout=30,
    )
    response.raise_for_status()
    return [m.get("text", "") for m in response.json()]


def test_known_debtor_is_greeted_without_disclosure(servers: dict) -> None:
    replies = say(servers["rasa"], "5215512345678", "hola buenas tardes")
    assert len(replies) == 1 and "Cobranza Demo" in replies[0]
    assert "confirmar tu identidad" in replies[0]
    assert "$" not in replies[0] and "CrediFácil" not in replies[0]
    assert say(servers["rasa"], "5215512345678", "eres un robot?") == [
        "Soy un asistente virtual de Cobranza Demo, no una persona."
    ]


def test_unknown_number_is_told_politely(servers: dict) -> None:
    [reply] = say(servers["rasa"], "5215500001111", "buenas")
    assert "No encontré una cuenta asociada a este número" in reply


def test_ctrl_c_stops_both_servers(servers: dict) -> None:
    proc = servers["proc"]
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends to the foreground group
    proc.wait(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        _port_open(servers["rasa"]) or _port_open(servers["actions"])
    ):
        time.sleep(0.5)
    assert not _port_open(servers["rasa"]) and not _port_open(servers["actions"])
