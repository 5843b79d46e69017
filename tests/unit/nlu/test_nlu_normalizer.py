"""EntityNormalizer on real Rasa NLU messages with DIET-like entities."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from rasa.engine import validation
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.data import TrainingType
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.utils.io import read_model_configuration

from cobranza.clock import FixedClock
from cobranza.config import PROJECT_ROOT, nlu_clock
from cobranza.nlu.normalizer import EntityNormalizer, amount_to_json

# Friday 20 November 2026, 18:00 UTC = 12:00 in Mexico City, 09:00 in Tijuana.
NOW = datetime(2026, 11, 20, 18, 0, tzinfo=timezone.utc)
# Saturday 21 November 2026, 05:30 UTC = Friday 23:30 in Mexico City, Saturday in Madrid.
LATE_FRIDAY = datetime(2026, 11, 21, 5, 30, tzinfo=timezone.utc)


def diet(text: str, entity: str, span: str, **extra: Any) -> dict[str, Any]:
    start = text.index(span)
    return {
        "entity": entity,
        "start": start,
        "end": start + len(span),
        "value": span,
        "confidence_entity": 0.98,
        "extractor": "DIETClassifier",
        **extra,
    }


def message(text: str, *entities: dict[str, Any], metadata: Any = None) -> Message:
    data: dict[str, Any] = {"text": text, "metadata": metadata}
    if entities:
        data["entities"] = list(entities)
    return Message(data=data)


@pytest.fixture
def normalizer() -> EntityNormalizer:
    return EntityNormalizer({}, clock=FixedClock(NOW))


def run(component: EntityNormalizer, msg: Message) -> list[dict[str, Any]]:
    [out] = component.process([msg])
    assert out is msg
    entities: list[dict[str, Any]] = out.get("entities") or []
    return entities


def by_type(entities: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in entities if e["entity"] == kind]


@pytest.mark.parametrize(
    ("text", "span", "value"),
    [
        ("te pago 2 mil el viernes", "2 mil", 2000),
        ("puedo dar mil quinientos", "mil quinientos", 1500),
        ("le deposito $1,500.00", "$1,500.00", 1500),
        ("le deposito 1,500.50", "1,500.50", 1500.5),
        ("son 2,000.05 pesos", "2,000.05", 2000.05),
        ("medio millón", "medio millón", 500000),
        ("mil 500", "mil 500", 1500),
        ("1.5k", "1.5k", 1500),
    ],
)
def test_diet_amount_gets_a_json_number(
    normalizer: EntityNormalizer, text: str, span: str, value: float
) -> None:
    [amount] = by_type(run(normalizer, message(text, diet(text, "monto", span))), "monto")
    assert amount["value"] == value
    assert type(amount["value"]) is type(value)
    assert amount["extractor"] == "DIETClassifier"
    assert amount["confidence_entity"] == 0.98
    assert text[amount["start"] : amount["end"]] == span
    assert "EntityNormalizer" in amount["processors"]
    json.dumps(amount)  # serialisable as the tracker stores it


def test_amount_to_json_goes_through_decimal_text() -> None:
    from decimal import Decimal

    assert amount_to_json(Decimal("0.10")) == 0.1
    assert amount_to_json(Decimal("1500.00")) == 1500
    assert isinstance(amount_to_json(Decimal("1500.00")), int)
    assert json.dumps(amount_to_json(Decimal("2000.05"))) == "2000.05"


def test_diet_amount_that_is_not_an_amount_is_dropped(normalizer: EntityNormalizer) -> None:
    text = "te pago lo que pueda"
    entities = run(normalizer, message(text, diet(text, "monto", "lo que pueda")))
    assert by_type(entities, "monto") == []


@pytest.mark.parametrize(
    ("text", "span", "iso"),
    [
        ("te pago 2 mil el viernes", "el viernes", "2026-11-27"),
        ("le deposito pasado mañana", "pasado mañana", "2026-11-22"),
        ("le deposito pasado manana", "pasado manana", "2026-11-22"),
        ("en la kincena", "la kincena", "2026-11-30"),
        ("a fin de mes", "fin de mes", "2026-11-30"),
        ("el 15 de diciembre", "15 de diciembre", "2026-12-15"),
        ("nací el 12/03/1985", "12/03/1985", "1985-03-12"),
        ("el 15", "el 15", "2026-12-15"),
    ],
)
def test_diet_date_gets_an_iso_value(
    normalizer: EntityNormalizer, text: str, span: str, iso: str
) -> None:
    [found] = by_type(run(normalizer, message(text, diet(text, "fecha", span))), "fecha")
    assert found["value"] == iso
    assert found["extractor"] == "DIETClassifier"
    assert text[found["start"] : found["end"]] == span


def test_diet_date_that_cannot_be_resolved_is_dropped(normalizer: EntityNormalizer) -> None:
    text = "el 31 de febrero"
    entities = run(normalizer, message(text, diet(text, "fecha", "31 de febrero")))
    assert entities == []


def test_missing_entities_are_added(normalizer: EntityNormalizer) -> None:
    text = "te pago 2 mil el viernes"
    entities = run(normalizer, message(text))
    assert entities == [
        {
            "entity": "monto",
            "start": 8,
            "end": 13,
            "value": 2000,
            "confidence_entity": 1.0,
            "extractor": "EntityNormalizer",
        },
        {
            "entity": "fecha",
            "start": 14,
            "end": 24,
            "value": "2026-11-27",
            "confidence_entity": 1.0,
            "extractor": "EntityNormalizer",
        },
    ]


def test_only_the_missing_type_is_added(normalizer: EntityNormalizer) -> None:
    text = "te pago 2 mil el viernes"
    entities = run(normalizer, message(text, diet(text, "monto", "2 mil")))
    [amount] = by_type(entities, "monto")
    [found] = by_type(entities, "fecha")
    assert amount["extractor"] == "DIETClassifier" and amount["value"] == 2000
    assert found["extractor"] == "EntityNormalizer" and found["value"] == "2026-11-27"
    assert [e["start"] for e in entities] == sorted(e["start"] for e in entities)


def test_a_dropped_diet_entity_is_replaced_by_what_the_rules_find(
    normalizer: EntityNormalizer,
) -> None:
    text = "te pago 1500 el viernes"
    entities = run(normalizer, message(text, diet(text, "monto", "te pago")))
    [amount] = by_type(entities, "monto")
    assert amount["value"] == 1500 and amount["extractor"] == "EntityNormalizer"


def test_other_entities_are_left_alone(normalizer: EntityNormalizer) -> None:
    text = "soy Juan, te pago mañana"
    name = diet(text, "nombre", "Juan")
    entities = run(normalizer, message(text, dict(name)))
    assert by_type(entities, "nombre") == [name]
    [found] = by_type(entities, "fecha")
    assert found["value"] == "2026-11-21"


def test_no_amount_or_date_adds_nothing(normalizer: EntityNormalizer) -> None:
    msg = message("hola, buenas tardes")
    assert run(normalizer, msg) == []


def test_years_and_phones_are_not_amounts(normalizer: EntityNormalizer) -> None:
    entities = run(normalizer, message("nací el 12/03/1985, mi cel 5512345678"))
    assert by_type(entities, "monto") == []
    [found] = by_type(entities, "fecha")
    assert found["value"] == "1985-03-12"


@pytest.mark.parametrize(
    ("metadata", "iso"),
    [
        (None, "2026-11-21"),  # Mexico City: still Friday 23:30 → "mañana" is Saturday
        ({}, "2026-11-21"),
        ({"time_zone": "America/Mexico_City"}, "2026-11-21"),
        ({"time_zone": "America/Tijuana"}, "2026-11-21"),
        ({"time_zone": "Europe/Madrid"}, "2026-11-22"),  # already Saturday there
        ({"time_zone": "UTC"}, "2026-11-22"),
        ({"time_zone": "Not/AZone"}, "2026-11-21"),
        ({"time_zone": "America"}, "2026-11-21"),
        ({"time_zone": "../../etc/passwd"}, "2026-11-21"),
        ({"time_zone": 5}, "2026-11-21"),
        ("not a dict", "2026-11-21"),
    ],
)
def test_today_comes_from_the_metadata_time_zone(metadata: Any, iso: str) -> None:
    component = EntityNormalizer({}, clock=FixedClock(LATE_FRIDAY))
    text = "le pago mañana"
    entities = run(component, message(text, diet(text, "fecha", "mañana"), metadata=metadata))
    assert [e["value"] for e in entities] == [iso]


def test_configured_default_time_zone() -> None:
    component = EntityNormalizer({"default_time_zone": "UTC"}, clock=FixedClock(LATE_FRIDAY))
    [found] = run(component, message("le pago mañana"))
    assert found["value"] == "2026-11-22"


@pytest.mark.parametrize(
    "text",
    ["", "😀", "🙏💵😅" * 50, "x" * 10_000, "2 mil " * 2_000, "\x00\x01", "   "],
)
def test_odd_text_never_raises(normalizer: EntityNormalizer, text: str) -> None:
    msg = message(text)
    [out] = normalizer.process([msg])
    assert out is msg
    assert out.get("text") == text


def test_message_without_text_is_left_unchanged(normalizer: EntityNormalizer) -> None:
    msg = Message(data={"intent": {"name": "saludo"}})
    [out] = normalizer.process([msg])
    assert out.get("entities") is None


@pytest.mark.parametrize(
    "bad_entity",
    [
        {"entity": "monto"},  # no offsets, no value
        {"entity": "monto", "start": 50, "end": 60, "value": 12},
        {"entity": "fecha", "start": "a", "end": None, "value": ["x"]},
        "not a dict",
    ],
)
def test_malformed_entities_do_not_raise(normalizer: EntityNormalizer, bad_entity: Any) -> None:
    msg = message("te pago 2 mil", bad_entity)
    [out] = normalizer.process([msg])
    assert isinstance(out.get("entities"), list)


def test_entity_with_bad_offsets_falls_back_to_its_value(normalizer: EntityNormalizer) -> None:
    entities = run(
        normalizer, message("ok", {"entity": "monto", "start": 9, "end": 99, "value": "mil"})
    )
    assert [e["value"] for e in entities] == [1000]


def test_add_missing_can_be_switched_off() -> None:
    component = EntityNormalizer({"add_missing": False}, clock=FixedClock(NOW))
    assert run(component, message("te pago 2 mil el viernes")) == []


def test_create_uses_the_system_clock_and_real_rasa_objects(tmp_path: Path) -> None:
    component = EntityNormalizer.create(
        {**EntityNormalizer.get_default_config()},
        LocalModelStorage(tmp_path),
        Resource("normalizer"),
        ExecutionContext(GraphSchema({}), "test"),
    )
    entities = run(component, message("te pago 2 mil"))
    assert [e["value"] for e in entities] == [2000]
    training = TrainingData([Message(data={"text": "mil", "intent": "pagar"})])
    assert component.process_training_data(training) is training


def test_create_reads_the_evaluation_date_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COBRANZA_NLU_TODAY", "2026-11-22")  # a Sunday
    component = EntityNormalizer.create(
        {}, LocalModelStorage(tmp_path), Resource("n"), ExecutionContext(GraphSchema({}), "t")
    )
    for zone in ("America/Tijuana", "America/Cancun", "America/Mexico_City"):
        entities = run(component, message("el próximo lunes", metadata={"time_zone": zone}))
        assert [e["value"] for e in entities] == ["2026-11-30"]


@pytest.mark.parametrize("raw", ["22/11/2026", "mañana", "2026-13-01"])
def test_a_malformed_evaluation_date_is_an_error(raw: str) -> None:
    with pytest.raises(ValueError, match="COBRANZA_NLU_TODAY"):
        nlu_clock({"COBRANZA_NLU_TODAY": raw})


def test_without_the_variable_the_clock_is_the_system_clock() -> None:
    from cobranza.clock import SystemClock

    assert isinstance(nlu_clock({}), SystemClock)
    assert isinstance(nlu_clock({"COBRANZA_NLU_TODAY": " "}), SystemClock)


def test_the_component_fits_the_default_recipe() -> None:
    """config.yml with the normaliser after DIET builds a valid Rasa graph."""
    config = read_model_configuration(PROJECT_ROOT / "config.yml")
    names = [c["name"] for c in config["pipeline"]]
    if "cobranza.nlu.normalizer.EntityNormalizer" not in names:
        at = names.index("DIETClassifier") + 1
        config["pipeline"].insert(at, {"name": "cobranza.nlu.normalizer.EntityNormalizer"})
    graph = DefaultV1Recipe().graph_config_for_recipe(config, {}, TrainingType.BOTH)
    validation.validate(graph)
    assert any("EntityNormalizer" in node for node in graph.predict_schema.nodes)


@pytest.mark.parametrize(
    ("text", "pieces", "value"),
    [
        ("mil 200 la quincena", ["mil", "200"], 1200),
        ("puedo dar mil quinientos por quincena?", ["mil", "quinientos"], 1500),
        ("sale pues el sabado le deposito dos mil quinientos", ["dos", "mil quinientos"], 2500),
    ],
)
def test_amount_cut_in_pieces_by_diet_is_merged(text: str, pieces: list[str], value: int) -> None:
    start = 0
    diet = []
    for piece in pieces:
        begin = text.index(piece, start)
        start = begin + len(piece)
        diet.append(
            {
                "entity": "monto",
                "start": begin,
                "end": start,
                "value": piece,
                "extractor": "DIETClassifier",
            }
        )
    message = Message(data={"text": text, "entities": diet})
    EntityNormalizer(EntityNormalizer.get_default_config()).process([message])
    amounts = [e for e in message.get("entities") if e["entity"] == "monto"]
    assert [e["value"] for e in amounts] == [value]
