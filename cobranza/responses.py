"""The one reader of ``domain.yml``'s responses for code outside Rasa: every text a person reads
lives there (reviewed in one place, scanned by the conduct check), and the channels and the
console take theirs from here instead of writing their own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cobranza.config import PROJECT_ROOT, ConfigError

DOMAIN = PROJECT_ROOT / "domain.yml"


def responses(domain_path: Path = DOMAIN) -> dict[str, list[dict[str, Any]]]:
    """Every response of the domain, by name, with its variants."""
    domain = yaml.safe_load(domain_path.read_text(encoding="utf-8")) or {}
    return dict(domain.get("responses") or {})


def first_texts(prefix: str, domain_path: Path = DOMAIN) -> dict[str, str]:
    """The first text of every response whose name starts with ``prefix``, by the rest of the
    name (``utter_no_soportado_audio`` → ``audio``)."""
    return {
        name.removeprefix(prefix): str(variants[0]["text"])
        for name, variants in responses(domain_path).items()
        if name.startswith(prefix) and variants and isinstance(variants[0].get("text"), str)
    }


def text(name: str, domain_path: Path = DOMAIN) -> str:
    """The first text of response ``name``; a missing one stops the start-up, named."""
    found = first_texts(name, domain_path).get("")
    if found is None:
        raise ConfigError(f"domain.yml needs a text for the response {name}")
    return found
