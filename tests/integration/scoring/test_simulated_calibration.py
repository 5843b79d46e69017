"""Calibration on held-out *simulated* data: a 50-day × 500-debtor ``cobranza simulate`` run
(the real outbound loop: campaigns, sends, replies, promises, payments), labelled with a 7-day
horizon, trained with the out-of-time split. On the validation window — later days, never
trained or calibrated on — the predicted probabilities must match what the simulated debtors
did: the expected calibration error within the activation gate's 0.05, the mean prediction
within 2.5 points of the observed rate, and no decile off by more than 10 points.

Day-block calibration failed exactly this (the booster recognised debtors whose snapshots sat
on both sides; docs/scoring.md). A 7-day horizon keeps the run short enough for the suite; the
30-day figures are in docs/scoring.md and ``make bench-score``."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from cobranza import db
from cobranza.config import load_settings
from cobranza.scoring.model import TrainedModel, train
from cobranza.scoring.snapshots import labelled
from cobranza.simulation.run import simulate

pytestmark = pytest.mark.slow

START = datetime(2026, 12, 7, 5, 0, tzinfo=ZoneInfo("America/Mexico_City"))  # a Monday
DAYS, DEBTORS, SIMULATION_SEED, HORIZON = 50, 500, 11, 7
SOURCE = {"kind": "simulation", "simulated": True, "description": "prueba de calibración"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    url = f"sqlite:///{tmp_path_factory.mktemp('calibration') / 'simulacion.db'}"
    report = simulate(
        DAYS, DEBTORS, SIMULATION_SEED, start=START, database_url=url, settings=load_settings()
    )
    assert report.violations == []
    engine = db.make_engine(url)
    try:
        with db.session_scope(db.make_session_factory(engine)) as session:
            data = labelled(session, HORIZON, Decimal("0.10"))
    finally:
        engine.dispose()
    return train(data, seed=7, source=SOURCE, created_at=datetime(2026, 12, 1, tzinfo=timezone.utc))


def test_calibrated_on_the_out_of_time_window(trained: TrainedModel) -> None:
    metrics = trained.card["metrics"]["model"]
    y, p = trained.validation["y"], trained.validation["model"]
    assert metrics["rows"] == len(y) > 5_000 and 0 < metrics["positives"] < len(y)
    assert metrics["ece"] <= 0.05
    assert abs(float(np.mean(p)) - float(np.mean(y))) <= 0.025
    for row in metrics["deciles"]:
        assert abs(row["predicted"] - row["observed"]) <= 0.10, row


def test_calibrated_on_debtors_the_booster_never_saw(trained: TrainedModel) -> None:
    held = trained.card["model"]["calibration_debtors"]
    assert held["share"] == 0.25
    assert 0.15 * DEBTORS <= held["debtors"] <= 0.35 * DEBTORS


def test_the_validation_window_is_later_than_everything_trained_on(trained: TrainedModel) -> None:
    windows = trained.card["windows"]
    train_end = datetime.fromisoformat(windows["train"][1]).date()
    validation_start = datetime.fromisoformat(windows["validation"][0]).date()
    assert (validation_start - train_end).days >= HORIZON
