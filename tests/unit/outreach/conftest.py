"""Helpers to write designers' files into a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

INTENTS = frozenset({"saludar", "numero_equivocado", "no_contactar"})


def write_yaml(directory: Path, name: str, data: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def template_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "aviso",
        "language": "es_MX",
        "category": "utility",
        "body": "Hola {{1}}, te escribimos de Cobranza Demo. Responde a este mensaje.",
        "parameters": ["nombre"],
        "buttons": [{"text": "Revisar", "payload": "/saludar"}],
    }
    data.update(changes)
    return data


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    return tmp_path / "templates"
