"""Shared by the end-to-end tests: the trained model and a private copy of the demo database.

The servers run on the wall clock, so the demo portfolio they read is generated as of today in
Mexico City (as `make run` does), not as of the fixed day the other tests use: days past due,
persona windows and promise dates then mean the same to the servers as to the portfolio."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from cobranza.config import PROJECT_ROOT


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
