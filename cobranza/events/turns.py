"""One message of Rasa's event broker read into a :class:`Turn`, or the reason it is skipped.

Rasa's tracker store publishes every new event of a conversation as one JSON object: the
event's ``as_dict()`` plus ``sender_id`` (rasa/core/tracker_store.py, ``_stream_new_events``;
rasa/core/brokers/pika.py sends it). Only the user's and the bot's messages become turns;
the rest (actions, slots, sessions) are skipped as ``other_event``. A message that is not a
Rasa event at all is *malformed*: the consumer acknowledges it and counts the reason, since
it will never become readable and a requeue would loop.

Nothing personal leaves this module: the sender id (a phone number on WhatsApp) becomes an
HMAC under the consumer's key and the text is never read. Pure: no broker, no database."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import yaml

from cobranza.config import ConfigError
from cobranza.domain.vocabulary import TurnKind

USER, BOT = TurnKind.USER.value, TurnKind.BOT.value
NLU_FALLBACK = "nlu_fallback"
# Rasa's FallbackClassifier threshold when config.yml names the component without one.
RASA_DEFAULT_THRESHOLD = 0.3

# Why a message is skipped. Malformed: not a Rasa event (counted, logged by reason only).
OVERSIZED, NOT_JSON, NOT_AN_EVENT = "oversized", "not_json", "not_an_event"
BAD_SENDER, BAD_TIMESTAMP = "bad_sender", "bad_timestamp"
MALFORMED = frozenset({OVERSIZED, NOT_JSON, NOT_AN_EVENT, BAD_SENDER, BAD_TIMESTAMP})
# Not ours to count: another kind of event, or an intent the server injected (Rasa's
# trigger_intent: metadata ``is_external``), which no person wrote.
OTHER_EVENT, EXTERNAL = "other_event", "external"

MAX_SENDER_CHARS = 256
# Rasa's timestamps are seconds since 1970 as floats; anything outside this century is no
# Rasa event (and a datetime could not hold 1e300).
FIRST_INSTANT = datetime(2000, 1, 1, tzinfo=timezone.utc).timestamp()
LAST_INSTANT = datetime(2100, 1, 1, tzinfo=timezone.utc).timestamp()
INTENT_PATTERN = re.compile(r"[\w.:/-]{1,100}")
CHANNEL_PATTERN = re.compile(r"[a-z0-9_.-]{1,32}")


@dataclass(frozen=True)
class Turn:
    """A user's or the bot's message: keyed hashes, never the sender or the text."""

    event_key: str
    sender_key: str
    kind: str
    channel: str | None
    intent: str | None
    confidence: float | None
    nlu_fallback: bool | None
    received_at: datetime


@dataclass(frozen=True)
class Skipped:
    reason: str

    @property
    def malformed(self) -> bool:
        return self.reason in MALFORMED


class SenderKeys:
    """HMAC-SHA256 under the consumer's key: the same sender id gives the same key on every
    consumer, and nobody without the key can test a phone number against it (a plain hash of
    a ten-digit number is undone by trying them all)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, *parts: str) -> str:
        message = "\x1f".join(parts).encode("utf-8")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def sender(self, sender_id: str) -> str:
        return self._mac("sender", sender_id)

    def event(self, kind: str, sender_id: str, timestamp: float) -> str:
        """One event: its kind, its sender and Rasa's timestamp exactly (``repr`` of a float
        is the shortest text that reads back as the same float, as JSON wrote it)."""
        return self._mac("event", kind, sender_id, repr(timestamp))


def read_event(body: bytes, keys: SenderKeys, threshold: float, max_bytes: int) -> Turn | Skipped:
    """The turn in one broker message, or why there is none. ``threshold``: the
    FallbackClassifier's (:func:`fallback_threshold`); ``max_bytes``: a longer body is not
    parsed at all."""
    if len(body) > max_bytes:
        return Skipped(OVERSIZED)
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):  # bad UTF-8 or JSON, too deep, a 5,000-digit number
        return Skipped(NOT_JSON)
    if not isinstance(event, dict) or not isinstance(event.get("event"), str):
        return Skipped(NOT_AN_EVENT)
    sender_id = event.get("sender_id")
    if not isinstance(sender_id, str) or not 0 < len(sender_id) <= MAX_SENDER_CHARS:
        return Skipped(BAD_SENDER)
    timestamp = _timestamp(event.get("timestamp"))
    if timestamp is None:
        return Skipped(BAD_TIMESTAMP)
    kind = event["event"]
    if kind not in (USER, BOT):
        return Skipped(OTHER_EVENT)
    metadata = event.get("metadata")
    if kind == USER and isinstance(metadata, dict) and metadata.get("is_external") is True:
        return Skipped(EXTERNAL)
    intent, confidence = _intent(event.get("parse_data")) if kind == USER else (None, None)
    return Turn(
        event_key=keys.event(kind, sender_id, timestamp),
        sender_key=keys.sender(sender_id),
        kind=kind,
        channel=_channel(event.get("input_channel")) if kind == USER else None,
        intent=intent,
        confidence=confidence,
        nlu_fallback=_fell_back(intent, confidence, threshold),
        received_at=datetime.fromtimestamp(timestamp, timezone.utc),
    )


def _timestamp(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, (int, float)):
        return None
    try:
        value = float(raw)
    except OverflowError:
        return None
    return value if math.isfinite(value) and FIRST_INSTANT <= value < LAST_INSTANT else None


def _intent(parse_data: Any) -> tuple[str | None, float | None]:
    """The intent the NLU decided (after FallbackClassifier and our classifiers) and its
    confidence; either is None when missing or not what Rasa writes."""
    intent = parse_data.get("intent") if isinstance(parse_data, dict) else None
    if not isinstance(intent, dict):
        return None, None
    name = intent.get("name")
    if not isinstance(name, str) or not INTENT_PATTERN.fullmatch(name):
        return None, None
    confidence = intent.get("confidence")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)):
        return name, None
    return name, float(confidence) if 0.0 <= confidence <= 1.0 else None


def _fell_back(intent: str | None, confidence: float | None, threshold: float) -> bool | None:
    """Not understood: ``nlu_fallback`` (FallbackClassifier: the top intent under the
    threshold, or two intents too close to tell), or any intent under the threshold. A
    message with no intent has no verdict."""
    if intent is None:
        return None
    return intent == NLU_FALLBACK or (confidence is not None and confidence < threshold)


def _channel(raw: Any) -> str | None:
    """Rasa's input channel name (``whatsapp``, ``webchat``, ``rest``…), lower-cased."""
    if not isinstance(raw, str):
        return None
    name = raw.strip().lower()
    return name if CHANNEL_PATTERN.fullmatch(name) else None


def fallback_threshold(config_text: str) -> float:
    """The FallbackClassifier ``threshold`` of a Rasa config (config.yml): under it, the NLU
    did not understand. Raises :class:`ConfigError` when the pipeline has no
    FallbackClassifier or the threshold is not a number in (0, 1]."""
    try:
        config = yaml.safe_load(config_text)
    except yaml.YAMLError as exc:
        raise ConfigError("the Rasa config is not valid YAML") from exc
    pipeline = config.get("pipeline") if isinstance(config, dict) else None
    steps = [s for s in pipeline or [] if isinstance(s, dict)] if isinstance(pipeline, list) else []
    found = [s for s in steps if s.get("name") == "FallbackClassifier"]
    if not found:
        raise ConfigError(
            "the Rasa config's pipeline has no FallbackClassifier: nothing says when the NLU "
            "did not understand"
        )
    threshold = found[0].get("threshold", RASA_DEFAULT_THRESHOLD)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise ConfigError(f"FallbackClassifier threshold must be a number, got {threshold!r}")
    if not 0 < threshold <= 1:
        raise ConfigError(f"FallbackClassifier threshold must be in (0, 1], got {threshold}")
    return float(threshold)
