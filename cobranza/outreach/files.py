"""Reading the designers' outreach files (``campaigns/*.yml``, ``templates/*.yml``,
``experiments/*.yml``): size cap, UTF-8, YAML without anchors, JSON Schema, and problem messages
that name the file and the place.

Pure apart from reading the files it is given: no database, no settings. Places are written as
``steps[2].send_at``: keys joined by dots, list items counted from 1 as a designer counts them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from cobranza.domain.yaml_text import MAX_DESIGNER_FILE_BYTES, YamlRefused, parse_yaml
from cobranza.errors import InvalidFiles

# More files than this in one folder is a mistake (a copied archive), not a campaign plan.
MAX_FILES = 200


class OutreachFilesError(InvalidFiles):
    """Campaign or template files do not validate; ``problems`` lists every one as
    ``file: place: message``."""


class TemplateError(OutreachFilesError):
    """One or more templates (``templates/*.yml``) are invalid."""


class CampaignError(OutreachFilesError):
    """One or more campaigns (``campaigns/*.yml``) are invalid, or refer to what does not
    exist (a template, a persona)."""


class ExperimentError(OutreachFilesError):
    """One or more experiments (``experiments/*.yml``) are invalid, or name what does not exist
    (a campaign step, a template, a response)."""


def place(path: Iterable[Any]) -> str:
    """``["steps", 1, "send_at"]`` → ``steps[2].send_at``; the root is ``(raíz)``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part + 1}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(raíz)"


@cache
def schema(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def schema_problems(data: Any, schema_path: Path, label: str) -> list[str]:
    """Every JSON Schema error in ``data``, as ``label: place: message``, in document order."""
    validator = jsonschema.Draft7Validator(schema(schema_path))
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{label}: {place(err.absolute_path)}: {_message(err)}" for err in errors]


MAX_SHOWN = 60  # characters of a wrong value repeated in a problem


def _shown(value: Any) -> str:
    """A value as the problem repeats it, cut: an oversized one must not flood the report."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def _message(err: jsonschema.ValidationError) -> str:
    """jsonschema's message, in Spanish for the cases a designer meets most."""
    if err.validator == "additionalProperties":
        allowed = sorted((err.schema.get("properties") or {}).keys())
        extra = sorted(set(err.instance) - set(allowed)) if isinstance(err.instance, dict) else []
        return (
            f"clave desconocida {', '.join(repr(k) for k in extra)}; "
            f"se permiten: {', '.join(allowed)}"
        )
    if err.validator == "required":
        return f"falta la clave obligatoria: {err.message.split(' is a required')[0]}"
    if err.validator == "enum":
        options = ", ".join(json.dumps(o, ensure_ascii=False) for o in err.validator_value)
        return f"{_shown(err.instance)} no es válido; opciones: {options}"
    if err.validator == "type":
        shown = _shown(err.instance)
        hint = ""
        if err.validator_value == "string" and isinstance(err.instance, int):
            # YAML 1.1 reads 10:00 as the number 600 (base 60): the quotes are needed.
            hint = ' (escribe el valor entre comillas, p. ej. send_at: "10:00")'
        return f"{shown} debe ser de tipo {err.validator_value}{hint}"
    if err.validator == "uniqueItems":
        return f"{_shown(err.instance)} repite un valor; cada uno va una sola vez"
    if err.validator == "minItems" and isinstance(err.instance, list):
        return f"la lista necesita al menos {err.validator_value} elemento(s)"
    if err.validator == "maxItems" and isinstance(err.instance, list):
        return f"la lista admite a lo más {err.validator_value} elemento(s)"
    if err.validator == "minProperties" and err.instance == {}:
        return "no puede estar vacío"
    if err.validator in _BOUNDS:
        return f"{_shown(err.instance)} {_BOUNDS[str(err.validator)]} {err.validator_value}"
    return err.message


_BOUNDS = {
    "minimum": "es menor que el mínimo,",
    "maximum": "es mayor que el máximo,",
    "exclusiveMinimum": "debe ser mayor que",
    "exclusiveMaximum": "debe ser menor que",
}


# A designer's file as read: its path, its label in problems (``campaigns/a.yml``), its data.
Found = tuple[Path, str, dict[str, Any]]


def read_files(directory: Path, what: str) -> tuple[list[Found], list[str]]:
    """``(path, label, data)`` for every readable ``*.yml`` in ``directory`` and the problems
    of the others (missing folder, too many files, too big, not UTF-8, bad YAML)."""
    if not directory.is_dir():
        return [], [f"{directory}: no existe la carpeta de {what}"]
    paths = sorted(directory.glob("*.yml"))
    if not paths:
        return [], [f"{directory}: no hay {what} (*.yml)"]
    if len(paths) > MAX_FILES:
        return [], [f"{directory}: {len(paths)} archivos; el máximo es {MAX_FILES}"]
    found: list[Found] = []
    problems: list[str] = []
    for path in paths:
        label = f"{directory.name}/{path.name}"
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_DESIGNER_FILE_BYTES + 1)
        except OSError as exc:
            problems.append(f"{label}: no se pudo leer: {exc.strerror or exc}")
            continue
        if len(raw) > MAX_DESIGNER_FILE_BYTES:
            problems.append(
                f"{label}: el archivo pasa de {MAX_DESIGNER_FILE_BYTES // 1024} KiB; "
                "un archivo de diseño cabe en unos cuantos"
            )
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{label}: no está en UTF-8")
            continue
        try:
            data = parse_yaml(text)
        except YamlRefused as exc:
            problems.append(f"{label}: {exc}")
            continue
        if not isinstance(data, dict):
            problems.append(
                f"{label}: (raíz): se esperaba un mapa de campos, no {type(data).__name__}"
            )
            continue
        found.append((path, label, data))
    return found, problems


def unique_names(found: Iterable[Found], noun: str) -> tuple[list[Found], set[str], list[str]]:
    """The files whose ``name`` no earlier file declares (one without a textual name is kept, for
    its schema check to report), every name declared, and a problem for each file that repeats
    one. ``noun`` names the kind with its article: ``la campaña``, ``la plantilla``."""
    kept: list[Found] = []
    declared: dict[str, str] = {}
    problems: list[str] = []
    for path, label, data in found:
        name = data.get("name")
        if isinstance(name, str):
            if name in declared:
                problems.append(
                    f"{label}: name: {noun} '{name}' ya está en {declared[name]}; "
                    "cada nombre una vez"
                )
                continue
            declared[name] = label
        kept.append((path, label, data))
    return kept, set(declared), problems
