"""``score_all`` and ``cobranza score``: idempotent per day and model, history kept, reasons
stored, nothing personal in the audit; the CLI's train/run/show on a real database."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from cobranza.cli.commands import main
from cobranza.clock import FixedClock
from cobranza.db.models import AuditLog, DebtorScore, FeatureSnapshot
from cobranza.domain.vocabulary import AuditAction
from cobranza.personas.profiles import PersonaProfile
from cobranza.scoring import features
from cobranza.scoring.model import TrainedModel, save
from cobranza.scoring.scores import latest_score, score_all
from tests.support.clock import DEMO_TODAY, NOW


def test_score_run_is_idempotent_and_keeps_history(
    demo: sessionmaker, profiles: dict[str, PersonaProfile], trained: TrainedModel
) -> None:
    day = DEMO_TODAY - timedelta(days=1)
    clock = FixedClock(NOW)
    with demo() as session:
        first = score_all(session, trained, day, clock, profiles=profiles)
        session.commit()
        again = score_all(session, trained, day, clock, profiles=profiles)
        next_day = score_all(session, trained, DEMO_TODAY, clock, profiles=profiles)
        session.commit()
        assert first.scored == first.debtors > 1000 and first.snapshots_written == first.debtors
        assert again.scored == 0 and again.snapshots_written == 0
        assert again.already_scored == first.debtors
        assert next_day.scored == next_day.debtors
        scores = session.execute(select(func.count()).select_from(DebtorScore)).scalar_one()
        assert scores == first.debtors + next_day.debtors
        row = session.execute(select(DebtorScore).limit(1)).scalar_one()
        assert 0 <= row.probability <= 1 and row.band in "ABCDE"
        snapshot = session.execute(
            select(FeatureSnapshot).where(
                FeatureSnapshot.debtor_phone == row.debtor_phone,
                FeatureSnapshot.as_of == row.as_of,
            )
        ).scalar_one()
        assert row.expected_recovery <= snapshot.balance
        assert len(row.reasons) <= 3
        assert all(set(r) == {"feature", "label", "value", "effect"} for r in row.reasons)
        assert all(r["label"] == features.labels()[r["feature"]] for r in row.reasons)
        latest = latest_score(session, row.debtor_phone)
        assert latest is not None and latest["as_of"] == DEMO_TODAY.isoformat()
        assert latest_score(session, "+520000000000") is None
        audits = (
            session.execute(select(AuditLog).where(AuditLog.action == AuditAction.DEBTORS_SCORED))
            .scalars()
            .all()
        )
        assert len(audits) == 3
        assert all(a.debtor_phone is None and "+52" not in json.dumps(a.details) for a in audits)


@pytest.fixture
def cli_env(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    seeded_sqlite_url: str,
) -> Path:
    import shutil

    source = Path(seeded_sqlite_url.removeprefix("sqlite:///"))
    copy = tmp_path / "cobranza.db"
    shutil.copy(source, copy)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{copy}")
    monkeypatch.setenv("SCORING_MODEL_DIR", str(tmp_path / "modelos"))
    return tmp_path / "modelos"


def test_cli_show_run_and_train_on_a_database_without_history(
    cli_env: Path, trained: TrainedModel, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["score", "show"]) == 1
    assert "no hay modelo activo" in capsys.readouterr().err
    # The demo portfolio has no snapshots yet: nothing to learn from, said plainly.
    assert main(["score", "train", "--from-db"]) == 1
    assert "al menos 3 días" in capsys.readouterr().err
    save(trained, cli_env)
    assert main(["score", "show"]) == 0
    shown = capsys.readouterr().out
    assert "AVISO" in shown and "simulador" in shown and "días de atraso" in shown
    at = ["--at", (NOW + timedelta(days=1)).isoformat()]
    assert main(["score", "run", *at]) == 0
    out = capsys.readouterr().out
    assert "calificados:" in out and "AVISO" in out
    assert main(["score", "run", "--json", *at]) == 0
    assert json.loads(capsys.readouterr().out)["scored"] == 0
    # A day that has not ended everywhere is not scored.
    assert main(["score", "run", "--day", DEMO_TODAY.isoformat(), "--at", NOW.isoformat()]) == 1
    assert "aún no termina" in capsys.readouterr().err
    assert main(["score", "run", "--day", "ayer", *at]) == 1
    assert "AAAA-MM-DD" in capsys.readouterr().err


def test_train_and_run_refuse_an_unmigrated_database_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new machine before `make db`: the commands say what to run, at once (training from a
    simulation would otherwise run for minutes and then fail writing its audit row)."""
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'vacia.db'}")
    monkeypatch.setenv("SCORING_MODEL_DIR", str(tmp_path / "modelos"))
    for command in (["score", "train", "--from-simulation"], ["score", "run"]):
        assert main(command) == 1
        assert "cobranza db upgrade" in capsys.readouterr().err
    assert not (tmp_path / "modelos").exists()
