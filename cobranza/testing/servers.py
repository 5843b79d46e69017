"""Start the servers (scripts/run.sh, with the repository's endpoints.yml) on free loopback ports,
for end-to-end tests and benchmarks. Development tooling: nothing in the assistant imports it."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from cobranza.config import PROJECT_ROOT
from cobranza.errors import CobranzaError


class ServersFailed(CobranzaError):
    """The servers did not come up; the message holds the end of their log."""


@dataclass
class Servers:
    process: subprocess.Popen[bytes]
    rasa_port: int
    actions_port: int
    log: Path
    api_token: str = ""
    console_port: int = 0
    action_token: str = ""

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook"

    def say(self, sender: str, text: str, timeout: float = 30) -> list[dict[str, Any]]:
        response = requests.post(
            self.rest_url, json={"sender": sender, "message": text}, timeout=timeout
        )
        response.raise_for_status()
        result: list[dict[str, object]] = response.json()
        return result

    def interrupt(self) -> int:
        """What Ctrl-C in a terminal does: SIGINT to the whole process group."""
        os.killpg(self.process.pid, signal.SIGINT)
        return self.process.wait(timeout=60)


def wait_ready(
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    timeout: float,
    name: str,
    tail: Callable[[], str],
) -> None:
    """Poll ``ready`` once a second until it says so; :class:`ServersFailed` with ``tail()``
    (the end of the logs) when ``process`` exits first or ``timeout`` seconds pass. A refused
    or failed request counts as not ready yet."""
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise ServersFailed(f"{name} exited ({process.returncode}):\n{tail()}")
        try:
            if ready():
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise ServersFailed(f"{name} not ready in {timeout} s:\n{tail()}")
        time.sleep(1)


def log_tail(log: Path, characters: int = 4000) -> Callable[[], str]:
    return lambda: log.read_text(errors="replace")[-characters:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def running_servers(
    database_url: str,
    model: Path,
    ready_timeout: float = 240,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Servers]:
    """The servers through scripts/run.sh on free ports, each on 127.0.0.1; ``extra_env`` e.g.
    selects another credentials file (``RASA_CREDENTIALS``) and the channel's settings. The
    outreach worker is off unless ``extra_env`` turns it on (``OUTREACH_WORKER=on``): on the
    wall clock it would write to debtors whenever a campaign step fell due during a test."""
    actions_port, rasa_port, console_port = free_port(), free_port(), free_port()
    workdir = Path(tempfile.mkdtemp(prefix="cobranza-servers-"))
    log = workdir / "run.log"
    # Both start with "-" on purpose: a random token that did once broke Rasa's argument parsing,
    # and the action token must survive endpoints.yml's ${ACTION_SERVER_TOKEN} as well.
    api_token = "-" + secrets.token_urlsafe(24)
    action_token = "-" + secrets.token_urlsafe(32)
    env = {
        **{k: v for k, v in os.environ.items() if k != "RASA_ENDPOINTS"},
        "DATABASE_URL": database_url,
        "ACTIONS_HOST": "127.0.0.1",
        "ACTIONS_PORT": str(actions_port),
        "RASA_HOST": "127.0.0.1",
        "RASA_PORT": str(rasa_port),
        "RASA_MODEL": str(model),
        "RASA_API_TOKEN": api_token,
        "ACTION_SERVER_TOKEN": action_token,
        "CONSOLE_HOST": "127.0.0.1",
        "CONSOLE_PORT": str(console_port),
        "OUTREACH_WORKER": "off",
        **(extra_env or {}),
    }
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - our own script, no user input
            [str(PROJECT_ROOT / "scripts" / "run.sh")],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    servers = Servers(process, rasa_port, actions_port, log, api_token, console_port, action_token)

    def ready() -> bool:
        rasa = requests.get(f"http://127.0.0.1:{rasa_port}/", timeout=2)
        actions = requests.get(f"http://127.0.0.1:{actions_port}/health", timeout=2)
        console = requests.get(f"{servers.console_url}/api/me", timeout=2)
        return rasa.ok and actions.ok and console.status_code == 401

    try:
        wait_ready(process, ready, ready_timeout, "run.sh", log_tail(log))
        yield servers
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
