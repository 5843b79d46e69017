"""Rasa 3.6 NLU component that normalises the ``monto`` and ``fecha`` entities.

It runs after ``DIETClassifier`` (and before ``EntitySynonymMapper``) and, for every message:

- a ``monto`` found by DIET gets ``value`` = the amount as a JSON number (an ``int`` for whole
  pesos, otherwise a number with two decimals, built from the exact ``Decimal``); it is dropped
  when no amount can be read from its span;
- a ``fecha`` gets ``value`` = the ISO date ``YYYY-MM-DD``; it is dropped when it cannot be
  resolved;
- when DIET found no ``monto`` (or no ``fecha``) but our rules find one in the text, it is added
  with ``extractor: "EntityNormalizer"`` and ``confidence_entity: 1.0``.

"Today" is the local date in the IANA zone named by the user message metadata key
``time_zone`` (Rasa passes a user message's metadata to the NLU ``Message`` as ``metadata``),
else ``America/Mexico_City`` (configurable as ``default_time_zone``). The clock is
:class:`cobranza.clock.SystemClock` unless one is passed to the constructor. For evaluations
against a fixed reference date (``scripts/nlu_report.py``), ``create`` takes its clock from
:func:`cobranza.config.nlu_clock` (the settings are the one reader of the environment): when
``COBRANZA_NLU_TODAY`` (an ISO date) is set, the clock stands at noon of that day in Mexico
City, which is that same date in every Mexican zone.

The component never raises on odd input: on any error it logs and leaves the message unchanged.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import ENTITY_ATTRIBUTE_CONFIDENCE_TYPE
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    METADATA,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from cobranza.clock import Clock, SystemClock
from cobranza.config import nlu_clock
from cobranza.domain.amounts import extract_amount, parse_amount
from cobranza.domain.dates import extract_date, resolve_date

logger = logging.getLogger(__name__)

DEFAULT_TIME_ZONE = "America/Mexico_City"
TIME_ZONE_METADATA_KEY = "time_zone"
_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*")


def amount_to_json(amount: Decimal) -> int | float:
    """1500.00 → 1500; 1500.50 → 1500.5 (the JSON number read from the exact decimal text)."""
    if amount == amount.to_integral_value():
        return int(amount)
    return float(str(amount.quantize(Decimal("0.01"))))


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
class EntityNormalizer(GraphComponent, EntityExtractorMixin):
    """Resolves ``monto`` to pesos and ``fecha`` to an ISO date (es-MX rules)."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            "amount_entity": "monto",
            "date_entity": "fecha",
            "default_time_zone": DEFAULT_TIME_ZONE,
            # add entities our rules find when DIET found none of that type
            "add_missing": True,
        }

    def __init__(self, config: dict[str, Any], clock: Clock | None = None) -> None:
        self._config = {**self.get_default_config(), **config}
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._amount_entity = str(self._config["amount_entity"])
        self._date_entity = str(self._config["date_entity"])
        self._add_missing = bool(self._config["add_missing"])
        zone = str(self._config["default_time_zone"])
        self._default_zone = zone if _valid_zone(zone) else DEFAULT_TIME_ZONE

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> EntityNormalizer:
        return cls(config, clock=nlu_clock())

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Training examples keep the values their authors wrote."""
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            try:
                self._process_message(message)
            except Exception:
                logger.exception("EntityNormalizer could not normalise a message; left as is")
        return messages

    # --- per message ----------------------------------------------------------------------------

    def today_for(self, message: Message) -> date:
        """The debtor's local date: metadata ``time_zone`` when valid, else the default zone."""
        zone = self._default_zone
        metadata = message.get(METADATA)
        if isinstance(metadata, dict):
            wanted = metadata.get(TIME_ZONE_METADATA_KEY)
            if isinstance(wanted, str) and _valid_zone(wanted):
                zone = wanted
            elif wanted is not None:
                logger.warning("Ignoring an invalid time_zone in the message metadata")
        return self._clock.now().astimezone(ZoneInfo(zone)).date()

    def _process_message(self, message: Message) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str):
            return
        entities = message.get(ENTITIES) or []
        if not isinstance(entities, list):
            return
        today = self.today_for(message)
        result: list[dict[str, Any]] = []
        for entity in entities:
            if not isinstance(entity, dict):
                result.append(entity)
                continue
            kind = entity.get(ENTITY_ATTRIBUTE_TYPE)
            if kind == self._amount_entity:
                normalised = self._normalise_amount(entity, text)
            elif kind == self._date_entity:
                normalised = self._normalise_date(entity, text, today)
            else:
                normalised = entity
            if normalised is not None:
                result.append(normalised)
        result = self._merge_split_amounts(result, text)
        if self._add_missing:
            self._add_missing_entities(result, text, today)
        message.set(ENTITIES, result, add_to_output=True)

    def _merge_split_amounts(self, entities: list[Any], text: str) -> list[Any]:
        """DIET sometimes cuts one amount in pieces ("mil" + "200", "dos" + "mil quinientos");
        when our own reading of the message covers them, it replaces the pieces."""
        whole = extract_amount(text)
        if whole is None:
            return entities
        pieces = [
            e
            for e in entities
            if isinstance(e, dict)
            and e.get(ENTITY_ATTRIBUTE_TYPE) == self._amount_entity
            and e.get(ENTITY_ATTRIBUTE_START, -1) < whole.end
            and e.get(ENTITY_ATTRIBUTE_END, -1) > whole.start
        ]
        if not pieces or (
            len(pieces) == 1
            and pieces[0].get(ENTITY_ATTRIBUTE_VALUE) == amount_to_json(whole.value)
        ):
            return entities
        merged = {
            **pieces[0],
            ENTITY_ATTRIBUTE_START: min(
                [whole.start] + [p[ENTITY_ATTRIBUTE_START] for p in pieces]
            ),
            ENTITY_ATTRIBUTE_END: max([whole.end] + [p[ENTITY_ATTRIBUTE_END] for p in pieces]),
            ENTITY_ATTRIBUTE_VALUE: amount_to_json(whole.value),
        }
        kept = [e for e in entities if not any(e is p for p in pieces)]
        return sorted(
            [*kept, self.add_processor_name(merged)],
            key=lambda e: e.get(ENTITY_ATTRIBUTE_START, 0) if isinstance(e, dict) else 0,
        )

    def _normalise_amount(self, entity: dict[str, Any], text: str) -> dict[str, Any] | None:
        amount = parse_amount(_span(entity, text))
        if amount is None:
            logger.debug("Dropping a %s entity with no readable amount", self._amount_entity)
            return None
        return self.add_processor_name({**entity, ENTITY_ATTRIBUTE_VALUE: amount_to_json(amount)})

    def _normalise_date(
        self, entity: dict[str, Any], text: str, today: date
    ) -> dict[str, Any] | None:
        resolved = resolve_date(_span(entity, text), today)
        if resolved is None:
            logger.debug("Dropping a %s entity with no resolvable date", self._date_entity)
            return None
        return self.add_processor_name({**entity, ENTITY_ATTRIBUTE_VALUE: resolved.isoformat()})

    def _add_missing_entities(self, entities: list[dict[str, Any]], text: str, today: date) -> None:
        kinds = {e.get(ENTITY_ATTRIBUTE_TYPE) for e in entities if isinstance(e, dict)}
        if self._amount_entity not in kinds:
            amount = extract_amount(text)
            if amount is not None:
                entities.append(
                    self._new_entity(
                        self._amount_entity, amount.start, amount.end, amount_to_json(amount.value)
                    )
                )
        if self._date_entity not in kinds:
            found = extract_date(text, today)
            if found is not None:
                entities.append(
                    self._new_entity(
                        self._date_entity, found.start, found.end, found.value.isoformat()
                    )
                )
        entities.sort(key=lambda e: e.get(ENTITY_ATTRIBUTE_START, 0) if isinstance(e, dict) else 0)

    def _new_entity(self, kind: str, start: int, end: int, value: object) -> dict[str, Any]:
        return {
            ENTITY_ATTRIBUTE_TYPE: kind,
            ENTITY_ATTRIBUTE_START: start,
            ENTITY_ATTRIBUTE_END: end,
            ENTITY_ATTRIBUTE_VALUE: value,
            ENTITY_ATTRIBUTE_CONFIDENCE_TYPE: 1.0,
            EXTRACTOR: self.name,
        }


def _span(entity: dict[str, Any], text: str) -> str:
    """The entity's text: ``text[start:end]`` when the offsets are sane, else its value."""
    start, end = entity.get(ENTITY_ATTRIBUTE_START), entity.get(ENTITY_ATTRIBUTE_END)
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text):
        return text[start:end]
    value = entity.get(ENTITY_ATTRIBUTE_VALUE)
    return value if isinstance(value, str) else ""


def _valid_zone(name: str) -> bool:
    if len(name) > 64 or not _ZONE_NAME.fullmatch(name):
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True
