"""`cobranza payments …` as an operator runs it: a real process on a private copy of the seeded
demo database. Exit codes: 0 every row read, 1 any row with an error (or a file refused)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from cobranza.config import PROJECT_ROOT

AT = "2026-11-22T12:00:00-06:00"
COBRANZA = str(Path(sys.executable).with_name("cobranza"))
SAMPLE = str(PROJECT_ROOT / "docs" / "samples" / "pagos_ejemplo.csv")
HEADER = "transaction_id,method,amount,paid_at,reference,payer_phone,concept\n"


@pytest.fixture
def env(seeded_sqlite_url: str, tmp_path: Path) -> dict[str, str]:
    copy = tmp_path / "cli.db"
    shutil.copyfile(make_url(seeded_sqlite_url).database or "", copy)
    environment = {**os.environ, "DATABASE_URL": f"sqlite:///{copy}"}
    environment.pop("PERSONA_PROFILES_DIR", None)
    return environment


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COBRANZA, *args], env=env, capture_output=True, text=True, timeout=120)


def test_import_the_sample_twice(env: dict[str, str]) -> None:
    first = run(env, "payments", "import", SAMPLE, "--at", AT)
    assert first.returncode == 1, first.stderr  # the sample has one row with an error
    out = first.stdout
    for line in (
        "leídos            8",
        "registrados       6",
        "sin coincidencia  1",
        "con error         1",
    ):
        assert line in out, out
    assert "promesas cumplidas       1" in out and "parcialidades pagadas    1" in out
    assert "ningún adeudo coincide" in out and "más de dos decimales" in out
    second = run(env, "payments", "import", SAMPLE, "--at", AT, "--json")
    assert second.returncode == 1
    report = json.loads(second.stdout)
    assert (report["imported"], report["already_imported"], report["unmatched"]) == (0, 7, 0)
    unmatched = run(env, "payments", "unmatched", "--json")
    assert unmatched.returncode == 0
    assert [u["transaction_id"] for u in json.loads(unmatched.stdout)] == [
        "OXXO-7741-20261121-000390"
    ]
    assert "OXXO-7741-20261121-000390" in run(env, "payments", "unmatched").stdout


def test_a_clean_file_exits_0_and_masks_phones(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "limpio.csv"
    path.write_text(HEADER + "Z1,spei,10.00,2026-11-21,,55 9999 1234,\n", encoding="utf-8")
    result = run(env, "payments", "import", str(path), "--at", AT)
    assert result.returncode == 0, result.stderr
    assert "*******1234" in result.stdout or "********1234" in result.stdout
    assert "9999 1234" not in result.stdout and "5599991234" not in result.stdout


def test_settle_for_the_daily_cron(env: dict[str, str]) -> None:
    later = run(env, "payments", "settle", "--at", "2026-12-20T12:00:00-06:00", "--json")
    assert later.returncode == 0, later.stderr
    report = json.loads(later.stdout)
    assert report["promises_broken"] > 0 and report["installments_missed"] > 0
    again = run(env, "payments", "settle", "--at", "2026-12-20T12:00:00-06:00")
    assert again.returncode == 0 and "promesas incumplidas    0" in again.stdout


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "vacío"),
        ("transaction_id,method\n".encode("utf-16"), "bytes nulos"),
        (b"fecha,importe\n1,2\n", "columna desconocida"),
    ],
)
def test_refused_files(env: dict[str, str], tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "malo.csv"
    path.write_bytes(content)
    result = run(env, "payments", "import", str(path))
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("error: ") and message in result.stderr


def test_a_missing_file_and_a_bad_instant(env: dict[str, str]) -> None:
    missing = run(env, "payments", "import", "/no/existe.csv")
    assert missing.returncode == 1 and "no se pudo leer existe.csv" in missing.stderr
    bad = run(env, "payments", "settle", "--at", "mañana")
    assert bad.returncode == 1 and "--at" in bad.stderr
