"""Shared by the end-to-end tests: the trained model, a private copy of the demo database, and
the console's own process over a database.

The servers run on the wall clock, so the demo portfolio they read is generated as of today in
Mexico City (as `make run` does), not as of the fixed day the other tests use: days past due,
persona windows and promise dates then mean the same to the servers as to the portfolio.

The browser tests share one headless Chromium per module: Debian's package (installed by
scripts/ensure_chromium.sh), driven by Playwright, so no browser is downloaded."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy.engine import make_url

from cobranza.config import PROJECT_ROOT
from cobranza.testing.servers import free_port, port_open

RESULTS = PROJECT_ROOT / "results"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def model() -> Path:
    """`make train`: trains when the model is missing or older than the training data."""
    result = subprocess.run(
        ["make", "-s", "train"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1200
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    path = PROJECT_ROOT / "models" / "cobranza.tar.gz"
    assert path.is_file()
    return path


@pytest.fixture(scope="session")
def seeded_today_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The demo portfolio as of today, migrated and with personas assigned on the wall clock."""
    from cobranza import db
    from cobranza.clock import SystemClock, local_today
    from cobranza.demo import portfolio
    from cobranza.personas.profiles import load_profiles
    from cobranza.services import views

    clock = SystemClock()
    url = f"sqlite:///{tmp_path_factory.mktemp('seeded-today') / 'demo.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    with db.session_scope(db.make_session_factory(engine)) as session:
        portfolio.load_demo(session, local_today(clock, "America/Mexico_City"))
        views.reassign_personas(session, load_profiles(PROJECT_ROOT / "persona_profiles"), clock)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def database_url(seeded_today_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A private copy of today's demo database: these conversations write to it."""
    copy = tmp_path_factory.mktemp("e2e-db") / "e2e.db"
    shutil.copyfile(make_url(seeded_today_url).database or "", copy)
    return f"sqlite:///{copy}"


class ConsoleProcess(Protocol):
    """What the ``console_process`` fixture gives: ``with console_process(url, log) as base``."""

    def __call__(
        self, database_url: str, log_name: str, env: Mapping[str, str] | None = None
    ) -> AbstractContextManager[str]: ...


@contextmanager
def _console_process(
    database_url: str, log_name: str, env: Mapping[str, str] | None = None
) -> Iterator[str]:
    """``python -m cobranza.console`` (as scripts/run.sh starts it) on a free loopback port over
    ``database_url``, logging to results/``log_name``; its base URL. Its views never reach Rasa,
    so none runs: RASA_URL names a port nothing listens on. ``env`` adds to its environment."""
    port = free_port()
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CONSOLE_HOST": "127.0.0.1",
        "CONSOLE_PORT": str(port),
        "RASA_URL": f"http://127.0.0.1:{free_port()}",
        "RASA_API_TOKEN": "token-de-prueba-consola",
        **(env or {}),
    }
    RESULTS.mkdir(exist_ok=True)
    log = RESULTS / log_name
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cobranza.console"], env=environment, stdout=out, stderr=out
        )
        try:
            deadline = time.monotonic() + 60
            while not port_open(port):
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "the console did not start"
                time.sleep(0.2)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()
            process.wait(timeout=30)


@pytest.fixture(scope="session")
def console_process() -> ConsoleProcess:
    """Starts the console's own process; the tests say over which database, where it logs and
    what else it is told (the supervisors' views: a simulation's database, an experiments
    folder)."""
    return _console_process


def _missing(reason: str) -> None:
    """Same policy as the PostgreSQL tests: skip locally, fail on CI."""
    if os.environ.get("CI"):
        pytest.fail(reason + " — CI must run the browser tests")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        _missing(f"{CHROMIUM} is not installed: run scripts/ensure_chromium.sh (Debian's chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing(
            "Playwright for Python is not installed in the virtualenv (pip install playwright)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()
