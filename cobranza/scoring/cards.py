"""A saved model's card (``<model_id>.json`` in the model directory) and which model is active
(``current``), read without loading the model: no numpy or scikit-learn, so the console can
say what a score means (its horizon) without them. :mod:`cobranza.scoring.model` writes cards
and loads models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cobranza.errors import Rejected

FORMAT = "cobranza-scoring-model"
FORMAT_VERSION = 1
CURRENT = "current"


class ModelFileError(Rejected):
    """A model file or card we refuse to load: corrupted, tampered with, foreign (not ours, or
    for features we cannot compute), or from another scikit-learn. The message says which."""


class NoModel(Rejected):
    """No model has been trained (or activated) yet."""


def current_model_id(directory: Path) -> str:
    pointer = directory / CURRENT
    if not pointer.is_file():
        raise NoModel(f"no hay modelo activo en {directory}: entrene uno (cobranza score train)")
    model_id = pointer.read_text(encoding="utf-8").strip()
    if not model_id or "/" in model_id or "\\" in model_id or model_id.startswith("."):
        raise ModelFileError(f"{pointer}: no nombra un modelo")
    return model_id


def read_card(directory: Path, model_id: str | None = None) -> dict[str, Any]:
    """The card of ``model_id`` (default: the active model), checked to be ours."""
    model_id = model_id or current_model_id(directory)
    if not model_id or "/" in model_id or "\\" in model_id or model_id.startswith("."):
        raise ModelFileError(f"identificador de modelo inválido: {model_id!r}")
    path = directory / f"{model_id}.json"
    if not path.is_file():
        raise NoModel(f"no existe la ficha del modelo {model_id} en {directory}")
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path.name}: la ficha no es JSON válido ({exc})") from exc
    if not isinstance(card, dict) or card.get("format") != FORMAT:
        raise ModelFileError(f"{path.name}: no es la ficha de un modelo de cobranza")
    if card.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(
            f"{path.name}: versión de ficha {card.get('format_version')!r}, se esperaba "
            f"{FORMAT_VERSION}"
        )
    if card.get("model_id") != model_id:
        raise ModelFileError(f"{path.name}: la ficha es de otro modelo ({card.get('model_id')!r})")
    return card


def horizon_days(directory: Path, model_id: str) -> int | None:
    """The days after its day within which a score of ``model_id`` predicts payment (the card's
    ``target.horizon_days``); ``None`` when the card is missing, refused, or does not say."""
    try:
        card = read_card(directory, model_id)
    except (NoModel, ModelFileError, OSError):
        return None
    days = (card.get("target") or {}).get("horizon_days")
    return days if isinstance(days, int) and not isinstance(days, bool) and days > 0 else None
