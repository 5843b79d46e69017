"""``cobranza debtor`` with the current score and its reasons in Spanish, and ``cobranza
segments`` (table and JSON, ``--at``), on a copy of the demo portfolio."""

from __future__ import annotations

import json
import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from cobranza import db
from cobranza.cli import commands
from tests.support.scores import score

AT = "2026-11-22T12:00:00-06:00"
MARIA = "+525512345678"  # $8,450.00, 12 days past due, olvidadizo
JUAN = "+526641234567"


@pytest.fixture
def database_url(seeded_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    copy = tmp_path / "scores.db"
    shutil.copyfile(make_url(seeded_sqlite_url).database or "", copy)
    url = f"sqlite:///{copy}"
    monkeypatch.setenv("DATABASE_URL", url)
    engine = db.make_engine(url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        score(
            session,
            MARIA,
            0.624,
            "B",
            as_of=date(2026, 11, 21),
            expected="5272.80",
            reasons=[
                # As the model writes them: the feature's label with it (features.labels()).
                {"feature": "payments_90d", "label": "pagos 90 días", "value": 2, "effect": 0.1},
                {
                    "feature": "promises_broken_90d",
                    "label": "promesas incumplidas 90 días",
                    "value": 1,
                    "effect": -0.12,
                },
                {"feature": "feature_nueva_x", "value": 0.333333, "effect": -0.07},  # no label
                {
                    "feature": "replies_30d",
                    "label": "respuestas 30 días",
                    "value": 3,
                    "effect": 0.05,
                },
            ],
        )
        score(session, MARIA, 0.1, "E", as_of=date(2026, 11, 25), expected="845.00")
    engine.dispose()
    return url


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = commands.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_debtor_shows_the_score_with_its_top_reasons_in_spanish(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, "debtor", MARIA, "--at", AT)
    assert code == 0, err
    for expected in (
        "Propensión de pago: 62.4 % (banda B; A es la más probable), al 2026-11-21, "
        "modelo gbm-2026-11-01",
        "Recuperación esperada: $5,272.80",
        "Principales razones:",
        "  - pagos 90 días: 2 (a favor)",
        "  - promesas incumplidas 90 días: 1 (en contra)",
        "  - feature_nueva_x: 0.33 (en contra)",  # no label stored: shown by its name
    ):
        assert expected in out, expected
    assert "respuestas 30 días" not in out  # only the top three in the table
    code, out, _ = cli(capsys, "debtor", MARIA, "--json", "--at", AT)
    found = json.loads(out)["score"]
    assert (found["band"], found["percent"], found["as_of"]) == ("B", 62.4, "2026-11-21")
    assert [r["label"] for r in found["reasons"]][-1] == "respuestas 30 días"
    # Later, the newer score is current.
    _, out, _ = cli(capsys, "debtor", MARIA, "--json", "--at", "2026-11-26T12:00:00-06:00")
    assert json.loads(out)["score"]["band"] == "E"


def test_an_unscored_debtor_says_so(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "debtor", JUAN, "--at", AT)
    assert code == 0 and "Propensión de pago: sin puntaje (aún no calificado)" in out
    _, out, _ = cli(capsys, "debtor", JUAN, "--json", "--at", AT)
    assert json.loads(out)["score"] is None


def test_segments_table_and_json(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "segments", "--at", AT)
    assert code == 0, err
    assert "Segmentos de la cartera con el score vigente al 2026-11-22" in out
    assert re.search(r"1-30\s+B\s+olvidadizo\s+1\s+\$8,450\.00\s+\$5,272\.80\n", out)
    assert re.search(r"1-30\s+sin puntaje\s+olvidadizo\s+\d+\s+\$[\d,.]+\s+—\n", out)
    assert "sin puntaje" in out and "Por banda:" in out and "total" in out
    code, out, _ = cli(capsys, "segments", "--json", "--at", AT)
    found = json.loads(out)
    assert found["by_band"]["B"] == {
        "debtors": 1,
        "balance": "8450.00",
        "balance_text": "$8,450.00",
        "expected_recovery": "5272.80",
        "expected_recovery_text": "$5,272.80",
    }
    assert found["total"]["debtors"] == found["by_band"]["B"]["debtors"] + sum(
        t["debtors"] for band, t in found["by_band"].items() if band != "B"
    )
    assert "+52" not in out
    # --at a later day: María's newer score (E) is current.
    _, out, _ = cli(capsys, "segments", "--json", "--at", "2026-11-26T12:00:00-06:00")
    assert set(json.loads(out)["by_band"]) == {"E", "sin puntaje"}


def test_segments_refuses_a_bad_at(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "segments", "--at", "mañana")
    assert code == 1 and "--at no es una fecha y hora ISO-8601" in err
    code, _, err = cli(capsys, "segments", "--at", "2026-11-22T12:00")
    assert code == 1 and "--at necesita zona horaria" in err
