"""Shared by the end-to-end tests: the trained model and a private copy of the demo database."""

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


@pytest.fixture(scope="module")
def database_url(seeded_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A private copy of the demo database: these conversations write to it."""
    copy = tmp_path_factory.mktemp("e2e-db") / "e2e.db"
    shutil.copyfile(make_url(seeded_sqlite_url).database or "", copy)
    return f"sqlite:///{copy}"
