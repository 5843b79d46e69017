"""Training, validation, persistence and the refusals of the model loader."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import skops.io as sio

from cobranza.errors import Rejected
from cobranza.scoring.cards import horizon_days
from cobranza.scoring.model import (
    ModelFileError,
    NoModel,
    TrainedModel,
    band_for,
    load,
    metrics,
    save,
    train,
    verdict,
)
from cobranza.scoring.snapshots import LabelledSet, NoTrainingData
from tests.integration.scoring.conftest import CREATED, SOURCE, synthetic


class Smuggled:
    """A type no model of ours contains: a file that builds it must be refused."""

    def __init__(self) -> None:
        self.payload = "os.system"


def _validation_rows(data: LabelledSet, trained: TrainedModel) -> list[dict[str, Any]]:
    first, last = trained.card["windows"]["validation"]
    return [
        f for f, d in zip(data.features, data.days, strict=True) if first <= d.isoformat() <= last
    ]


def test_out_of_time_split_with_an_embargo(trained: TrainedModel, dataset: LabelledSet) -> None:
    windows = trained.card["windows"]
    train_last, validation_first = windows["train"][1], windows["validation"][0]
    from datetime import date

    gap = (date.fromisoformat(validation_first) - date.fromisoformat(train_last)).days
    assert gap >= dataset.horizon_days  # no training outcome falls inside the validation window
    assert trained.card["rows"]["train"] + trained.card["rows"]["validation"] < len(dataset)


def test_the_model_beats_the_baseline_and_is_calibrated_on_held_out_data(
    trained: TrainedModel,
) -> None:
    model, baseline = trained.card["metrics"]["model"], trained.card["metrics"]["baseline"]
    assert model["auc"] > baseline["auc"] + 0.03
    assert model["ks"] > baseline["ks"]
    assert model["ece"] < 0.04  # the tolerance: 4 points of probability, averaged over deciles
    assert model["lift_top2"] > 1.5
    assert len(model["deciles"]) == 10
    assert sum(d["count"] for d in model["deciles"]) == model["rows"]
    assert verdict(trained.card)[0]
    bands = trained.bands
    assert bands["A"] >= bands["B"] >= bands["C"] >= bands["D"]
    assert band_for(1.0, bands) == "A" and band_for(0.0, bands) == "E"


def test_training_is_deterministic_for_a_seed(trained: TrainedModel, dataset: LabelledSet) -> None:
    again = train(dataset, seed=7, source=SOURCE, created_at=CREATED)
    assert again.card["metrics"] == trained.card["metrics"]
    rows = dataset.features[-300:]
    assert np.array_equal(again.probabilities(rows), trained.probabilities(rows))


def test_metrics_by_hand() -> None:
    y = np.array([0, 0, 1, 1])
    m = metrics(y, np.array([0.1, 0.2, 0.8, 0.9]))
    assert m["auc"] == 1.0 and m["ks"] == 1.0 and m["lift_top2"] == 2.0
    assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.04 + 0.01) / 4)
    assert metrics(np.array([1, 1]), np.array([0.5, 0.5]))["auc"] is None


def test_reasons_are_the_top_three_what_moved_it(
    trained: TrainedModel, dataset: LabelledSet
) -> None:
    rows = dataset.features[:50]
    p, reasons = trained.reasons(rows)
    assert np.allclose(p, trained.probabilities(rows))
    for row, top in zip(rows, reasons, strict=True):
        assert len(top) <= 3
        effects = [abs(r["effect"]) for r in top]
        assert effects == sorted(effects, reverse=True)
        for reason in top:
            assert reason["value"] == row[reason["feature"]]
    # A debtor at the reference on every feature has nothing that moved them.
    reference = {f["name"]: f["reference"] for f in trained.card["features"]}
    assert trained.reasons([reference])[1] == [[]]


def test_too_little_data_is_refused_with_what_is_missing() -> None:
    with pytest.raises(NoTrainingData, match="3 días"):
        train(synthetic(days=2, debtors=20), seed=1, source=SOURCE, created_at=CREATED)
    with pytest.raises(NoTrainingData, match="ventana de entrenamiento"):
        train(synthetic(days=8, debtors=50, horizon=7), seed=1, source=SOURCE, created_at=CREATED)
    with pytest.raises(Rejected, match="SCORING_AGE_JUSTIFICATION"):
        train(synthetic(days=8), seed=1, source=SOURCE, created_at=CREATED, use_age=True)


def test_age_is_used_only_when_declared_and_recorded_in_the_card() -> None:
    data = synthetic(days=30, debtors=120)
    for i, row in enumerate(data.features):
        row["age"] = float(25 + i % 40)
    aged = train(
        data,
        seed=7,
        source=SOURCE,
        created_at=CREATED,
        use_age=True,
        age_justification="crédito de nómina: la edad de retiro acota el plazo",
    )
    assert aged.encoding.names[-1] == "age"
    assert aged.card["protected"]["age_used"] is True
    assert "nómina" in aged.card["protected"]["age_justification"]


# --- persistence ------------------------------------------------------------------------------


@pytest.fixture
def saved(trained: TrainedModel, tmp_path: Path) -> Path:
    save(trained, tmp_path)
    return tmp_path


def _card(directory: Path, trained: TrainedModel) -> Path:
    return directory / f"{trained.model_id}.json"


def _file(directory: Path, trained: TrainedModel) -> Path:
    return directory / f"{trained.model_id}.skops"


def _rehash(directory: Path, trained: TrainedModel) -> None:
    """A forger who also rewrites the card's hash: the other checks must still refuse."""
    import hashlib

    card_path = _card(directory, trained)
    card = json.loads(card_path.read_text())
    card["file"]["sha256"] = hashlib.sha256(_file(directory, trained).read_bytes()).hexdigest()
    card_path.write_text(json.dumps(card))


def test_the_model_file_round_trips(
    saved: Path, trained: TrainedModel, dataset: LabelledSet
) -> None:
    loaded = load(saved)
    assert loaded.model_id == trained.model_id
    rows = dataset.features[:200]
    assert np.array_equal(loaded.probabilities(rows), trained.probabilities(rows))
    assert loaded.reasons(rows[:5])[1] == trained.reasons(rows[:5])[1]
    card = json.loads(_card(saved, trained).read_text())
    assert card["source"]["simulated"] and "simulador" in card["source"]["warning"]
    assert card["versions"]["sklearn"] and len(card["file"]["sha256"]) == 64
    assert [f["name"] for f in card["features"]] == list(trained.encoding.names)


def test_no_model_yet(tmp_path: Path) -> None:
    with pytest.raises(NoModel, match="score train"):
        load(tmp_path)


def test_a_corrupted_file_is_refused(saved: Path, trained: TrainedModel) -> None:
    path = _file(saved, trained)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="SHA-256"):
        load(saved)


def test_a_truncated_file_with_a_forged_hash_is_refused(saved: Path, trained: TrainedModel) -> None:
    path = _file(saved, trained)
    path.write_bytes(path.read_bytes()[:1000])
    _rehash(saved, trained)
    with pytest.raises(ModelFileError, match="skops"):
        load(saved)


def test_a_pickle_in_place_of_the_model_is_refused(saved: Path, trained: TrainedModel) -> None:
    _file(saved, trained).write_bytes(pickle.dumps({"model": Smuggled()}))
    _rehash(saved, trained)
    with pytest.raises(ModelFileError, match="no es un archivo skops"):
        load(saved)


def test_a_skops_file_with_an_untrusted_type_is_refused(saved: Path, trained: TrainedModel) -> None:
    sio.dump(
        {"model": trained.model, "baseline": trained.baseline, "reference": Smuggled()},
        _file(saved, trained),
    )
    _rehash(saved, trained)
    with pytest.raises(ModelFileError, match=r"no confiables.*Smuggled"):
        load(saved)


def test_a_foreign_or_tampered_card_is_refused(saved: Path, trained: TrainedModel) -> None:
    card_path = _card(saved, trained)
    original = json.loads(card_path.read_text())
    cases: list[tuple[dict[str, Any] | str, str]] = [
        ("{no es json", "JSON"),
        ({**original, "format": "otra-cosa"}, "no es la ficha"),
        ({**original, "format_version": 99}, "versión de ficha"),
        ({**original, "versions": {**original["versions"], "sklearn": "0.24.2"}}, "scikit-learn"),
        ({**original, "features": original["features"][:-1]}, "lista de variables"),
        (
            {**original, "features": [*original["features"], {"name": "sex", "kind": "category"}]},
            "ajena",
        ),
        (
            {
                **original,
                "features": [*original["features"], {"name": "age", "kind": "number"}],
            },
            "edad",
        ),
        ({**original, "model_id": "otro"}, "otro modelo"),
        ({**original, "bands": {"A": 0.5}}, "bandas"),
    ]
    for content, message in cases:
        card_path.write_text(content if isinstance(content, str) else json.dumps(content))
        with pytest.raises(ModelFileError, match=message):
            load(saved)


def test_a_scores_horizon_is_read_from_its_models_card(
    saved: Path, trained: TrainedModel, dataset: LabelledSet
) -> None:
    """What the console's score tooltip says: the saved card's horizon; nothing for a model
    without a card or with a card that is not ours."""
    assert horizon_days(saved, trained.model_id) == dataset.horizon_days
    assert horizon_days(saved, "ptp-borrado") is None
    card_path = _card(saved, trained)
    card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "format": "otra"}))
    assert horizon_days(saved, trained.model_id) is None


def test_a_current_pointer_outside_the_directory_is_refused(saved: Path) -> None:
    (saved / "current").write_text("../../etc/passwd\n")
    with pytest.raises(ModelFileError, match="no nombra un modelo"):
        load(saved)


def test_an_oversized_file_is_refused_before_reading(
    saved: Path, trained: TrainedModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cobranza.scoring import model as scoring_model

    monkeypatch.setattr(scoring_model, "MAX_MODEL_BYTES", 100)
    with pytest.raises(ModelFileError, match="demasiado grande"):
        load(saved)


def test_a_copy_keeps_working_elsewhere(saved: Path, trained: TrainedModel, tmp_path: Path) -> None:
    other = tmp_path / "otra"
    shutil.copytree(saved, other)
    assert load(other).model_id == trained.model_id
