"""The propensity-to-pay model: training with out-of-time validation, metrics against a simple
baseline, bands, per-debtor reasons, and safe persistence (docs/scoring.md).

**Split (out of time).** The labelled snapshots' days are sorted; the last
``validation_share`` of them (30% by default) are the validation window. Training uses only
snapshots whose whole horizon ended *before* the validation window starts (an embargo of
``horizon_days``): a model put to work on the first validation day could only have learnt from
outcomes known by then. Without the embargo, a payment made early in the validation window
would label both training and validation snapshots, and the validation would flatter the model.

**Model.** :class:`~sklearn.ensemble.HistGradientBoostingClassifier` (fixed hyper-parameters,
``random_state=seed``, no early stopping, categories natively), calibrated by
:class:`~sklearn.calibration.CalibratedClassifierCV` on *other debtors*: a seeded hash of the
phone puts :data:`CALIBRATION_SHARE` of the training window's debtors aside; the booster learns
from the rest, and the calibration is fitted on the predictions for the debtors it never saw.
Each debtor has one nearly identical snapshot per day, so rows of one debtor on both sides (a
shuffled or a day-blocked fold) let the booster recognise the debtor, and the calibration learns
from answers the booster remembered, not predicted: trained that way on the 120-day simulation,
the top decile predicted 0.59 where 0.27 paid. For the same reason a leaf must hold
:data:`MIN_DEBTORS_PER_LEAF` debtors' worth of snapshots. Isotonic calibration when the
calibration debtors bring at least :data:`ISOTONIC_MIN_CLASS` positives and negatives (it is
free-form and needs the data); Platt's sigmoid otherwise (two parameters: stable on little
data, but it cannot fix a non-monotone miscalibration). The card says which and why.

**Baseline.** Logistic regression on days past due and days since the last payment (0 and a
missing flag when never paid), standardised: what a collections team sorts by without a model.
Both are measured on the validation window: AUC, KS, Brier score, expected calibration error
(over the deciles of the predicted probability), a decile table and the lift of the top two
deciles. The CLI prints them side by side; :func:`verdict` says whether the model beat the
baseline.

**Bands.** A–E by probability thresholds: the quintiles of the model's probabilities on the
validation window, stored in the card. A score run later uses the same thresholds, so a
better month shows more A's.

**Reasons.** For each feature, the change in the predicted probability when that feature alone
is replaced by its training reference (median of a number, most frequent category): "what
moved it". The top three by absolute effect are kept. Limits: one feature at a time (two
features that move together share or hide their effect); the reference is a typical debtor, not
zero; effects do not add up to the probability.

**Persistence.** ``<model_id>.skops`` (skops 0.9: no pickle; loading lists every type the file
would build and refuses any outside :data:`TRUSTED_TYPES`) and ``<model_id>.json``, the model
card (:func:`save`, :func:`load`). :func:`load` refuses with :class:`ModelFileError` a card that
is not ours, a feature list this code cannot compute, a model file whose SHA-256 differs from
the card's, a scikit-learn version other than the one that trained it, and a file that would
build a type we did not list."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import skops
import skops.io as sio
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score, roc_curve
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from cobranza.domain.scores import SCORE_BANDS
from cobranza.errors import Rejected
from cobranza.scoring import features
from cobranza.scoring.cards import (
    CURRENT,
    FORMAT,
    FORMAT_VERSION,
    ModelFileError,
    NoModel,
    current_model_id,
    read_card,
)
from cobranza.scoring.features import AGE, BY_NAME, CATEGORY, PROTECTED, Value, feature_names
from cobranza.scoring.snapshots import LabelledSet, NoTrainingData

SIMULATED_WARNING = (
    "Entrenado con comportamiento simulado: estas métricas miden al simulador "
    "(cobranza/simulation/behaviour.yml), no a deudores reales. Un acreedor reentrena con su "
    "historia (cobranza score train --from-db) y este mismo informe decide si se usa."
)
BANDS = SCORE_BANDS
VALIDATION_SHARE = 0.3
ISOTONIC_MIN_CLASS = 200
CALIBRATION_SHARE = 0.25  # of the training window's debtors, held out to fit the calibration
MIN_DEBTORS_PER_LEAF = 12
MIN_SAMPLES_LEAF = 40
MAX_CATEGORIES = 250  # HistGradientBoosting: a category code must be below max_bins (255)
MAX_MODEL_BYTES = 200 * 1024 * 1024
# OpenMP threads for fitting and predicting. One: on a shared machine (two cores here) OpenMP's
# spinning threads made a 6,000-row fit 40× slower under load; one thread is fast at our sizes
# and gives the same numbers whatever the machine.
THREADS = 1
TOP_REASONS = 3
HGB_PARAMS: dict[str, Any] = {
    "learning_rate": 0.06,
    "max_iter": 60,
    "max_leaf_nodes": 15,
    "l2_regularization": 1.0,
    "early_stopping": False,
}
# Every type the model file may build beyond skops' own defaults: what CalibratedClassifierCV
# over HistGradientBoostingClassifier and the baseline pipeline are made of (scikit-learn 1.1).
TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn._loss._loss.CyHalfBinomialLoss",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
)
_EXPECTED = {
    "model": CalibratedClassifierCV,
    "baseline": Pipeline,
}


# --- encoding ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Encoding:
    """How feature dicts become the model's matrix: the names in order, which are categories,
    each category's vocabulary (codes are positions; anything else is missing)."""

    names: tuple[str, ...]
    vocabulary: dict[str, tuple[str, ...]]

    @property
    def categorical(self) -> list[bool]:
        return [name in self.vocabulary for name in self.names]

    def matrix(self, rows: Sequence[dict[str, Value]]) -> np.ndarray:
        lookup = {name: {v: i for i, v in enumerate(vs)} for name, vs in self.vocabulary.items()}
        out = np.full((len(rows), len(self.names)), np.nan, dtype=np.float64)
        for j, name in enumerate(self.names):
            codes = lookup.get(name)
            for i, row in enumerate(rows):
                value = row.get(name)
                if value is None:
                    continue
                if codes is not None:
                    code = codes.get(str(value))
                    if code is not None:
                        out[i, j] = code
                elif isinstance(value, int | float) and not isinstance(value, bool):
                    out[i, j] = float(value)
        return out

    def shown(self, name: str, code: float) -> Value:
        """A matrix value back as the feature's value (a category's name)."""
        if np.isnan(code):
            return None
        if name in self.vocabulary:
            return self.vocabulary[name][int(code)]
        return float(code)


def fit_encoding(rows: Sequence[dict[str, Value]], names: Sequence[str]) -> Encoding:
    """The vocabulary of each category as seen in training: the :data:`MAX_CATEGORIES` most
    frequent values, sorted (ties broken by name, so the same data gives the same codes)."""
    vocabulary: dict[str, tuple[str, ...]] = {}
    for name in names:
        if BY_NAME[name].kind != CATEGORY:
            continue
        counts = Counter(str(r[name]) for r in rows if r.get(name) is not None)
        kept = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CATEGORIES]
        vocabulary[name] = tuple(sorted(k for k, _ in kept))
    return Encoding(tuple(names), vocabulary)


# --- metrics ----------------------------------------------------------------------------------


def _deciles(y: np.ndarray, p: np.ndarray) -> list[np.ndarray]:
    """Row indices of the ten deciles of ``p``, highest first (stable order for ties)."""
    order = np.argsort(-p, kind="stable")
    return [part for part in np.array_split(order, 10) if len(part)]


def metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC, KS, Brier, ECE over deciles, lift of the top two deciles, and the decile table."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    n = len(y)
    base = float(y.mean()) if n else 0.0
    both = 0 < y.sum() < n
    auc = float(roc_auc_score(y, p)) if both else None
    ks = None
    if both:
        fpr, tpr, _ = roc_curve(y, p)
        ks = float(np.max(tpr - fpr))
    table = []
    ece = 0.0
    for k, idx in enumerate(_deciles(y, p), start=1):
        predicted, observed = float(p[idx].mean()), float(y[idx].mean())
        ece += len(idx) / n * abs(predicted - observed)
        table.append({"decile": k, "count": len(idx), "predicted": predicted, "observed": observed})
    top = np.concatenate(_deciles(y, p)[:2]) if n else np.array([], dtype=int)
    lift = float(y[top].mean() / base) if n and base > 0 else None
    return {
        "rows": n,
        "positives": int(y.sum()),
        "base_rate": base,
        "auc": auc,
        "ks": ks,
        "brier": float(brier_score_loss(y, p)) if n else None,
        "ece": ece if n else None,
        "lift_top2": lift,
        "deciles": table,
    }


# --- the model --------------------------------------------------------------------------------


BASELINE_FEATURES = ("days_past_due", "days_since_last_payment")


def baseline_matrix(rows: Sequence[dict[str, Value]]) -> np.ndarray:
    """Days past due, days since the last payment (0 when never) and a never-paid flag."""
    out = np.zeros((len(rows), 3), dtype=np.float64)
    for i, row in enumerate(rows):
        dpd, since = row.get("days_past_due"), row.get("days_since_last_payment")
        out[i, 0] = float(dpd) if isinstance(dpd, int | float) else 0.0
        if isinstance(since, int | float):
            out[i, 1] = float(since)
        else:
            out[i, 2] = 1.0
    return out


@dataclass
class TrainedModel:
    """A fitted model, its baseline, the encoding, the reference values and the card."""

    model: CalibratedClassifierCV
    baseline: Pipeline
    encoding: Encoding
    reference: np.ndarray
    card: dict[str, Any]
    validation: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        return str(self.card["model_id"])

    @property
    def bands(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.card["bands"].items()}

    def predict(self, x: np.ndarray) -> np.ndarray:
        with threadpool_limits(limits=THREADS, user_api="openmp"):
            return np.asarray(self.model.predict_proba(x)[:, 1], dtype=float)

    def probabilities(self, rows: Sequence[dict[str, Value]]) -> np.ndarray:
        if not rows:
            return np.zeros(0)
        return self.predict(self.encoding.matrix(rows))

    def band(self, probability: float) -> str:
        return band_for(probability, self.bands)

    def reasons(
        self, rows: Sequence[dict[str, Value]], top: int = TOP_REASONS
    ) -> tuple[np.ndarray, list[list[dict[str, Any]]]]:
        """The probabilities and, per row, the ``top`` features whose replacement by the
        training reference moves the probability most (module docstring)."""
        x = self.encoding.matrix(rows)
        if not len(x):
            return np.zeros(0), []
        p = self.predict(x)
        effects = np.zeros_like(x)
        for j in range(x.shape[1]):
            ref = self.reference[j]
            differs = ~((x[:, j] == ref) | (np.isnan(x[:, j]) & np.isnan(ref)))
            idx = np.flatnonzero(differs)
            if not len(idx):
                continue
            changed = x[idx].copy()
            changed[:, j] = ref
            effects[idx, j] = p[idx] - self.predict(changed)
        out: list[list[dict[str, Any]]] = []
        names = self.encoding.names
        label = features.labels()
        for i in range(len(x)):
            order = np.argsort(-np.abs(effects[i]), kind="stable")[:top]
            out.append(
                [
                    {
                        "feature": names[j],
                        "label": label.get(names[j], names[j]),
                        "value": self.encoding.shown(names[j], x[i, j]),
                        "effect": round(float(effects[i, j]), 4),
                    }
                    for j in order
                    if abs(effects[i, j]) >= 1e-4
                ]
            )
        return p, out


def band_for(probability: float, bands: dict[str, float]) -> str:
    """A (most likely to pay) … E: the first band whose threshold the probability reaches."""
    for name in BANDS[:-1]:
        if probability >= bands[name]:
            return name
    return BANDS[-1]


def calibration_debtors(phones: Sequence[str], seed: int, share: float) -> np.ndarray:
    """Which rows belong to the calibration debtors: a seeded hash of the phone, so each debtor
    is wholly on one side and the same seed picks the same debtors."""
    cut = share * 2**32
    return np.array(
        [
            int(hashlib.sha256(f"{seed}:{phone}".encode()).hexdigest()[:8], 16) < cut
            for phone in phones
        ],
        dtype=bool,
    )


def _min_samples_leaf(phones: Sequence[str]) -> int:
    """A leaf must hold :data:`MIN_DEBTORS_PER_LEAF` debtors' worth of snapshots: each debtor
    has one nearly identical snapshot per day, and a smaller leaf learns individual debtors."""
    per_debtor = float(np.median(list(Counter(phones).values()))) if phones else 1.0
    return max(MIN_SAMPLES_LEAF, round(MIN_DEBTORS_PER_LEAF * per_debtor))


def _reference(x: np.ndarray, encoding: Encoding) -> np.ndarray:
    ref = np.full(x.shape[1], np.nan)
    for j, name in enumerate(encoding.names):
        column = x[:, j][~np.isnan(x[:, j])]
        if not len(column):
            continue
        if name in encoding.vocabulary:
            values, counts = np.unique(column, return_counts=True)
            ref[j] = values[np.argmax(counts)]
        else:
            ref[j] = float(np.median(column))
    return ref


def _window(days: Sequence[date]) -> list[str]:
    return [min(days).isoformat(), max(days).isoformat()] if days else []


def train(
    data: LabelledSet,
    *,
    seed: int,
    source: dict[str, Any],
    created_at: datetime,
    validation_share: float = VALIDATION_SHARE,
    use_age: bool = False,
    age_justification: str | None = None,
) -> TrainedModel:
    """Fit the model and the baseline on the training window and measure both on the validation
    window (module docstring). ``source``: where the data came from (``kind``: simulation or
    database, ``simulated``, a description): copied into the card, with the warning when
    simulated. Raises :class:`NoTrainingData` when a window is empty or one-sided."""
    if use_age and not (age_justification or "").strip():
        raise Rejected("usar la edad exige documentar por qué (SCORING_AGE_JUSTIFICATION)")
    if not 0 < validation_share < 1:
        raise Rejected("la proporción de validación debe estar entre 0 y 1")
    names = feature_names(use_age)
    if use_age and any(AGE.name not in row for row in data.features[:1]):
        raise NoTrainingData("los datos no traen la edad: llame a labelled(..., use_age=True)")
    days = sorted(set(data.days))
    if len(days) < 3:
        raise NoTrainingData(
            f"hacen falta al menos 3 días de fotos con su horizonte cumplido; hay {len(days)} "
            f"(y {data.unlabelled} fotos aún sin resultado)"
        )
    n_validation = max(1, round(len(days) * validation_share))
    validation_days = days[-n_validation:]
    first_validation = validation_days[0]
    embargo = data.horizon_days
    train_days = [d for d in days if (first_validation - d).days >= embargo]
    if not train_days:
        raise NoTrainingData(
            f"no queda ventana de entrenamiento: la validación empieza el {first_validation} y "
            f"el horizonte ({embargo} días) debe cumplirse antes; hacen falta más días de fotos "
            f"(p. ej. --days {len(days) + embargo + data.horizon_days + 10} en la simulación)"
        )
    train_set = set(train_days)
    val_set = set(validation_days)
    tr = [i for i, d in enumerate(data.days) if d in train_set]
    va = [i for i, d in enumerate(data.days) if d in val_set]
    rows_tr = [data.features[i] for i in tr]
    rows_va = [data.features[i] for i in va]
    y_tr = np.array([data.labels[i] for i in tr], dtype=int)
    y_va = np.array([data.labels[i] for i in va], dtype=int)
    for label, y in (("entrenamiento", y_tr), ("validación", y_va)):
        if y.sum() == 0 or y.sum() == len(y):
            raise NoTrainingData(f"la ventana de {label} tiene una sola clase: no se puede medir")

    started = time.perf_counter()
    encoding = fit_encoding(rows_tr, names)
    x_tr = encoding.matrix(rows_tr)
    x_va = encoding.matrix(rows_va)
    phones_tr = [data.phones[i] for i in tr]
    held_out = calibration_debtors(phones_tr, seed, CALIBRATION_SHARE)
    for side, y in (("de ajuste", y_tr[~held_out]), ("de calibración", y_tr[held_out])):
        if y.sum() in (0, len(y)):
            raise NoTrainingData(f"el grupo {side} tiene una sola clase: hacen falta más deudores")
    smallest = min(int(y_tr[held_out].sum()), int(held_out.sum() - y_tr[held_out].sum()))
    method = "isotonic" if smallest >= ISOTONIC_MIN_CLASS else "sigmoid"
    leaf = _min_samples_leaf([p for p, h in zip(phones_tr, held_out, strict=True) if not h])
    booster = HistGradientBoostingClassifier(
        **HGB_PARAMS,
        min_samples_leaf=leaf,
        categorical_features=np.array(encoding.categorical),
        random_state=seed,
    )
    model = CalibratedClassifierCV(booster, method=method, cv="prefit")
    with threadpool_limits(limits=THREADS, user_api="openmp"):
        booster.fit(x_tr[~held_out], y_tr[~held_out])
        model.fit(x_tr[held_out], y_tr[held_out])
    baseline = Pipeline(
        [("scale", StandardScaler()), ("logistic", LogisticRegression(random_state=seed))]
    )
    baseline.fit(baseline_matrix(rows_tr), y_tr)
    seconds = time.perf_counter() - started

    with threadpool_limits(limits=THREADS, user_api="openmp"):
        p_va = model.predict_proba(x_va)[:, 1]
    b_va = baseline.predict_proba(baseline_matrix(rows_va))[:, 1]
    quintiles = np.quantile(p_va, [0.8, 0.6, 0.4, 0.2])
    bands = {name: round(float(q), 6) for name, q in zip(BANDS[:-1], quintiles, strict=True)}
    reference = _reference(x_tr, encoding)
    card: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_id": f"ptp-{created_at.strftime('%Y%m%dT%H%M%SZ')}-s{seed}",
        "created_at": created_at.isoformat(),
        "source": {**source, "warning": SIMULATED_WARNING if source.get("simulated") else None},
        "target": {
            "share_of_balance": str(data.target_share),
            "horizon_days": data.horizon_days,
            "definition": (
                f"paga al menos {float(data.target_share) * 100:g}% del saldo de la foto en los "
                f"{data.horizon_days} días siguientes"
            ),
        },
        "windows": {
            "train": _window(train_days),
            "validation": _window(validation_days),
            "embargo_days": embargo,
            "validation_share": validation_share,
            "data_end": data.data_end.isoformat() if data.data_end else None,
        },
        "rows": {
            "train": len(tr),
            "train_positives": int(y_tr.sum()),
            "validation": len(va),
            "validation_positives": int(y_va.sum()),
            "unlabelled_snapshots": data.unlabelled,
        },
        "features": [
            {
                "name": name,
                "kind": BY_NAME[name].kind,
                **(
                    {"vocabulary": list(encoding.vocabulary[name])}
                    if name in encoding.vocabulary
                    else {}
                ),
                "reference": encoding.shown(name, reference[j]),
            }
            for j, name in enumerate(names)
        ],
        "protected": {
            "never_used": list(PROTECTED),
            "age_used": use_age,
            "age_justification": (age_justification or "").strip() or None,
        },
        "model": {
            "type": "HistGradientBoostingClassifier + CalibratedClassifierCV",
            "params": HGB_PARAMS,
            "seed": seed,
            "min_samples_leaf": leaf,
            "calibration": method,
            "calibration_reason": (
                f"isotónica: los deudores de calibración traen ≥ {ISOTONIC_MIN_CLASS} de cada clase"
                if method == "isotonic"
                else f"sigmoide (Platt): los deudores de calibración traen menos de "
                f"{ISOTONIC_MIN_CLASS} de una clase; la isotónica sobreajustaría"
            ),
            "calibration_debtors": {
                "share": CALIBRATION_SHARE,
                "debtors": len({p for p, h in zip(phones_tr, held_out, strict=True) if h}),
                "rows": int(held_out.sum()),
            },
        },
        "baseline": {
            "type": "LogisticRegression (estandarizada)",
            "features": [*BASELINE_FEATURES, "never_paid"],
        },
        "metrics": {"model": metrics(y_va, p_va), "baseline": metrics(y_va, b_va)},
        "bands": bands,
        "training_seconds": round(seconds, 3),
        "versions": {
            "sklearn": sklearn.__version__,
            "skops": skops.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }
    return TrainedModel(
        model,
        baseline,
        encoding,
        reference,
        card,
        validation={"y": y_va, "model": p_va, "baseline": b_va},
    )


def verdict(card: dict[str, Any], max_ece: float = 0.05) -> tuple[bool, str]:
    """Whether the validation says to use the model: its AUC beats the baseline's, its Brier
    score is no worse (ranking better while predicting worse probabilities is not better) and
    its calibration error is within ``max_ece``. The reason is Spanish, for the CLI."""
    model, baseline = card["metrics"]["model"], card["metrics"]["baseline"]
    auc, base_auc, ece = model.get("auc"), baseline.get("auc"), model.get("ece")
    brier, base_brier = model.get("brier"), baseline.get("brier")
    if None in (auc, base_auc, ece, brier, base_brier):
        return False, "sin métricas suficientes en la validación"
    if auc <= base_auc:
        return False, f"el modelo no supera a la referencia (AUC {auc:.3f} ≤ {base_auc:.3f})"
    if brier > base_brier:
        return False, (
            f"el modelo ordena mejor pero predice peor que la referencia (Brier {brier:.4f} > "
            f"{base_brier:.4f})"
        )
    if ece > max_ece:
        return False, f"el modelo está mal calibrado (ECE {ece:.3f} > {max_ece:.3f})"
    return True, f"el modelo supera a la referencia (AUC {auc:.3f} > {base_auc:.3f}, ECE {ece:.3f})"


# --- persistence ------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def save(trained: TrainedModel, directory: Path, activate: bool = True) -> Path:
    """Write ``<model_id>.skops`` and its card ``<model_id>.json`` (with the file's SHA-256);
    with ``activate``, point ``current`` at it. Returns the card's path."""
    directory.mkdir(parents=True, exist_ok=True)
    model_path = directory / f"{trained.model_id}.skops"
    payload = {
        "model": trained.model,
        "baseline": trained.baseline,
        "reference": trained.reference,
    }
    _write_atomically(model_path, sio.dumps(payload))
    card = dict(trained.card)
    card["file"] = {
        "name": model_path.name,
        "sha256": _sha256(model_path),
        "bytes": model_path.stat().st_size,
    }
    trained.card = card
    card_path = directory / f"{trained.model_id}.json"
    _write_atomically(card_path, json.dumps(card, ensure_ascii=False, indent=2).encode())
    if activate:
        _write_atomically(directory / CURRENT, f"{trained.model_id}\n".encode())
    return card_path


def _check_features(card: dict[str, Any], name: str) -> Encoding:
    features = card.get("features")
    if not isinstance(features, list) or not features:
        raise ModelFileError(f"{name}: la ficha no lista las variables")
    age_used = bool((card.get("protected") or {}).get("age_used"))
    names: list[str] = []
    vocabulary: dict[str, tuple[str, ...]] = {}
    for item in features:
        if not isinstance(item, dict) or item.get("name") not in BY_NAME:
            raise ModelFileError(
                f"{name}: variable ajena {item.get('name') if isinstance(item, dict) else item!r}"
                ": este código no sabe calcularla"
            )
        feature = BY_NAME[item["name"]]
        if item.get("kind") != feature.kind:
            raise ModelFileError(f"{name}: la variable {feature.name} cambió de tipo")
        if feature.name == AGE.name and not age_used:
            raise ModelFileError(f"{name}: usa la edad sin declararlo en la ficha")
        if feature.kind == CATEGORY:
            vocab = item.get("vocabulary")
            if not isinstance(vocab, list) or not all(isinstance(v, str) for v in vocab):
                raise ModelFileError(f"{name}: la variable {feature.name} no trae su vocabulario")
            vocabulary[feature.name] = tuple(vocab)
        names.append(feature.name)
    if tuple(names) != feature_names(age_used):
        raise ModelFileError(
            f"{name}: la lista de variables no es la de este código "
            "(entrenado con otra versión: reentrene con cobranza score train)"
        )
    return Encoding(tuple(names), vocabulary)


def load(directory: Path, model_id: str | None = None) -> TrainedModel:
    """Load a saved model after checking its card, its file's hash, the scikit-learn version
    and every type the file would build (module docstring); :class:`ModelFileError` otherwise."""
    card = read_card(directory, model_id)
    model_id = str(card["model_id"])
    name = f"{model_id}.json"
    encoding = _check_features(card, name)
    file_info = card.get("file")
    if not isinstance(file_info, dict) or file_info.get("name") != f"{model_id}.skops":
        raise ModelFileError(f"{name}: la ficha no nombra su archivo de modelo")
    path = directory / f"{model_id}.skops"
    if not path.is_file():
        raise ModelFileError(f"falta el archivo del modelo {path.name}")
    if path.stat().st_size > MAX_MODEL_BYTES:
        raise ModelFileError(f"{path.name}: demasiado grande para ser uno de nuestros modelos")
    if _sha256(path) != file_info.get("sha256"):
        raise ModelFileError(
            f"{path.name}: su SHA-256 no coincide con la ficha: archivo alterado o corrupto"
        )
    trained_with = (card.get("versions") or {}).get("sklearn")
    if trained_with != sklearn.__version__:
        raise ModelFileError(
            f"{path.name}: entrenado con scikit-learn {trained_with}, instalado "
            f"{sklearn.__version__}: reentrene (cobranza score train)"
        )
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except (zipfile.BadZipFile, KeyError, ValueError, json.JSONDecodeError, OSError) as exc:
        raise ModelFileError(f"{path.name}: no es un archivo skops válido ({exc})") from exc
    foreign = sorted(set(untrusted) - set(TRUSTED_TYPES))
    if foreign:
        raise ModelFileError(
            f"{path.name}: contiene tipos no confiables, no se carga: {', '.join(foreign)}"
        )
    try:
        payload = sio.load(path, trusted=list(TRUSTED_TYPES))
    except Exception as exc:  # skops raises assorted errors on malformed content
        raise ModelFileError(f"{path.name}: no se pudo leer el modelo ({exc})") from exc
    if not isinstance(payload, dict) or set(payload) != {"model", "baseline", "reference"}:
        raise ModelFileError(f"{path.name}: no contiene un modelo de cobranza")
    for key, kind in _EXPECTED.items():
        if not isinstance(payload[key], kind):
            raise ModelFileError(f"{path.name}: '{key}' no es {kind.__name__}")
    model = payload["model"]
    reference = np.asarray(payload["reference"], dtype=float)
    if getattr(model, "n_features_in_", None) != len(encoding.names) or reference.shape != (
        len(encoding.names),
    ):
        raise ModelFileError(f"{path.name}: el modelo no tiene las variables de su ficha")
    bands = card.get("bands")
    if not isinstance(bands, dict) or set(bands) != set(BANDS[:-1]):
        raise ModelFileError(f"{name}: la ficha no trae los umbrales de las bandas")
    return TrainedModel(model, payload["baseline"], encoding, reference, card)


__all__ = [
    "BANDS",
    "FORMAT",
    "SIMULATED_WARNING",
    "TRUSTED_TYPES",
    "Encoding",
    "ModelFileError",
    "NoModel",
    "TrainedModel",
    "band_for",
    "baseline_matrix",
    "current_model_id",
    "fit_encoding",
    "load",
    "metrics",
    "read_card",
    "save",
    "train",
    "verdict",
]
