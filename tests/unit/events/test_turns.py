"""Reading one message of Rasa's event broker (cobranza/events/turns.py): the events Rasa's own
classes serialise, and every way a message can be wrong. Pure: no broker, no database."""

from __future__ import annotations

import json
import math
from datetime import datetime, timezone
from typing import Any

import pytest
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered

from cobranza.config import PROJECT_ROOT, ConfigError
from cobranza.events.turns import (
    BOT,
    MALFORMED,
    USER,
    SenderKeys,
    Skipped,
    Turn,
    fallback_threshold,
    read_event,
)

KEYS = SenderKeys(b"k" * 32)
THRESHOLD = 0.5
LIMIT = 64 * 1024
PHONE = "+525512345678"
AT = 1796069743.1307392  # 2026-12-01 00:15:43.130739 UTC


def rasa_body(event: Any, sender: str = PHONE) -> bytes:
    """A message as Rasa's tracker store hands it to the pika broker (tracker_store.py,
    _stream_new_events) and the broker sends it (pika.py, _message)."""
    body = {"sender_id": sender}
    body.update(event.as_dict())
    return json.dumps(body).encode("utf-8")


def said(intent: str, confidence: float, *, channel: str | None = "whatsapp", **kw: Any) -> Any:
    parse = {
        "intent": {"name": intent, "confidence": confidence},
        "entities": [],
        "text": "no importa",
        "intent_ranking": [{"name": intent, "confidence": confidence}],
    }
    return UserUttered(
        "no importa",
        parse["intent"],
        parse_data=parse,
        input_channel=channel,
        timestamp=kw.pop("timestamp", AT),
        **kw,
    )


def read(body: bytes) -> Turn | Skipped:
    return read_event(body, KEYS, THRESHOLD, LIMIT)


def test_a_user_message_becomes_a_turn_without_personal_data() -> None:
    turn = read(rasa_body(said("saludar", 0.93)))
    assert isinstance(turn, Turn)
    assert (turn.kind, turn.channel, turn.intent) == (USER, "whatsapp", "saludar")
    assert turn.confidence == pytest.approx(0.93) and turn.nlu_fallback is False
    assert turn.received_at == datetime.fromtimestamp(AT, timezone.utc)
    assert turn.received_at.tzinfo is timezone.utc
    assert len(turn.sender_key) == 64 and len(turn.event_key) == 64
    assert PHONE not in repr(turn) and "5512345678" not in repr(turn)
    assert "no importa" not in repr(turn)


def test_keys_are_keyed_hashes_stable_across_deliveries() -> None:
    body = rasa_body(said("saludar", 0.93))
    first, again = read(body), read(body)
    assert isinstance(first, Turn) and first == again
    other_key = read_event(body, SenderKeys(b"z" * 32), THRESHOLD, LIMIT)
    assert isinstance(other_key, Turn)
    assert other_key.sender_key != first.sender_key  # the key matters: not a plain hash
    later = read(rasa_body(said("saludar", 0.93, timestamp=AT + 1e-6)))
    assert isinstance(later, Turn)
    assert later.sender_key == first.sender_key and later.event_key != first.event_key
    other = read(rasa_body(said("saludar", 0.93), sender="+525598765432"))
    assert isinstance(other, Turn) and other.sender_key != first.sender_key


def test_the_float_timestamp_is_kept_exactly_in_the_key() -> None:
    """Two events a few nanoseconds apart are two events; the same float is the same one."""
    a = read(rasa_body(said("saludar", 0.9, timestamp=AT)))
    b = read(rasa_body(said("saludar", 0.9, timestamp=math.nextafter(AT, math.inf))))
    assert isinstance(a, Turn) and isinstance(b, Turn)
    assert a.event_key != b.event_key


@pytest.mark.parametrize(
    ("intent", "confidence", "fell_back"),
    [
        ("nlu_fallback", 0.5, True),  # FallbackClassifier: confidence = the threshold
        ("informar_fecha", 0.49, True),  # under the threshold without the classifier
        ("informar_fecha", 0.5, False),
        ("no_contactar", 1.0, False),  # the opt-out keywords overrule a fallback
    ],
)
def test_not_understood_is_nlu_fallback_or_under_the_threshold(
    intent: str, confidence: float, fell_back: bool
) -> None:
    turn = read(rasa_body(said(intent, confidence)))
    assert isinstance(turn, Turn) and turn.nlu_fallback is fell_back


def test_a_bot_message_is_a_turn_without_intent() -> None:
    turn = read(rasa_body(BotUttered("Hola", metadata={"utter_action": "utter_x"}, timestamp=AT)))
    assert isinstance(turn, Turn)
    assert (turn.kind, turn.channel, turn.intent, turn.confidence, turn.nlu_fallback) == (
        BOT,
        None,
        None,
        None,
        None,
    )
    user = read(rasa_body(said("saludar", 0.9)))
    assert isinstance(user, Turn) and user.sender_key == turn.sender_key
    assert user.event_key != turn.event_key  # same instant, another kind


def test_other_events_and_external_intents_are_ignored_not_malformed() -> None:
    for event in (ActionExecuted("action_listen", timestamp=AT), SlotSet("x", 1, timestamp=AT)):
        found = read(rasa_body(event))
        assert found == Skipped("other_event") and not found.malformed
    external = UserUttered.create_external("recordatorio", input_channel="whatsapp")
    assert read(rasa_body(external)) == Skipped("external")


def test_a_user_message_without_intent_counts_without_a_verdict() -> None:
    turn = read(rasa_body(UserUttered("hola", input_channel="webchat", timestamp=AT)))
    assert isinstance(turn, Turn)
    assert (turn.intent, turn.confidence, turn.nlu_fallback) == (None, None, None)


def _event(**changes: Any) -> bytes:
    body = json.loads(rasa_body(said("saludar", 0.9)))
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"x" * (LIMIT + 1), "oversized"),
        (b"", "not_json"),
        (b"\xff\xfe\x00garbage", "not_json"),
        (b"{not json", "not_json"),
        (b"[" * 100_000 + b"]" * 100_000, "oversized"),
        (b"[" * 30_000 + b"]" * 30_000, "not_json"),  # nested past the parser's recursion
        (b'"user"', "not_an_event"),
        (b"[1, 2]", "not_an_event"),
        (b"{}", "not_an_event"),
        (_event(event=7), "not_an_event"),
        (_event(sender_id=None), "bad_sender"),
        (_event(sender_id=""), "bad_sender"),
        (_event(sender_id="x" * 10_000), "bad_sender"),
        (_event(sender_id=5512345678), "bad_sender"),
        (_event(timestamp=None), "bad_timestamp"),
        (_event(timestamp="1796069743.13"), "bad_timestamp"),
        (_event(timestamp=True), "bad_timestamp"),
        (_event(timestamp=-1.0), "bad_timestamp"),
        (_event(timestamp=1e300), "bad_timestamp"),
        (_event(timestamp=10**400), "bad_timestamp"),
        (b'{"sender_id": "a", "event": "user", "timestamp": NaN}', "bad_timestamp"),
        (b'{"sender_id": "a", "event": "user", "timestamp": Infinity}', "bad_timestamp"),
    ],
)
def test_malformed_messages_say_why(body: bytes, reason: str) -> None:
    found = read(body)
    assert found == Skipped(reason) and found.malformed and reason in MALFORMED


@pytest.mark.parametrize(
    "changes",
    [
        {"parse_data": "saludar"},
        {"parse_data": {"intent": "saludar"}},
        {"parse_data": {"intent": {"name": 7, "confidence": 0.9}}},
        {"parse_data": {"intent": {"name": "x" * 500, "confidence": 0.9}}},
        {"parse_data": {"intent": {"name": "a\nb", "confidence": 0.9}}},
    ],
)
def test_a_broken_intent_is_no_verdict_not_a_lost_message(changes: dict[str, Any]) -> None:
    turn = read(_event(**changes))
    assert isinstance(turn, Turn) and turn.kind == USER
    assert (turn.intent, turn.nlu_fallback) == (None, None)


@pytest.mark.parametrize("confidence", [1.5, -0.1, "0.9", True, None])
def test_a_confidence_outside_zero_to_one_is_dropped(confidence: Any) -> None:
    turn = read(_event(parse_data={"intent": {"name": "saludar", "confidence": confidence}}))
    assert isinstance(turn, Turn) and turn.confidence is None and turn.intent == "saludar"
    assert turn.nlu_fallback is False  # a named intent that is not nlu_fallback


@pytest.mark.parametrize(
    ("channel", "stored"),
    [("WhatsApp", "whatsapp"), ("webchat", "webchat"), ("", None), ("a b", None), (7, None)],
)
def test_the_channel_is_a_short_name_or_nothing(channel: Any, stored: str | None) -> None:
    turn = read(_event(input_channel=channel))
    assert isinstance(turn, Turn) and turn.channel == stored
    assert isinstance(read(_event(input_channel="x" * 33)), Turn)


def test_the_threshold_comes_from_config_yml() -> None:
    text = (PROJECT_ROOT / "config.yml").read_text(encoding="utf-8")
    assert fallback_threshold(text) == 0.5
    assert fallback_threshold("pipeline:\n  - name: FallbackClassifier\n") == 0.3  # Rasa's
    with pytest.raises(ConfigError, match="FallbackClassifier"):
        fallback_threshold("pipeline:\n  - name: DIETClassifier\n")
    for bad in ("threshold: 2", "threshold: cero", "threshold: 0"):
        with pytest.raises(ConfigError, match="threshold"):
            fallback_threshold(f"pipeline:\n  - name: FallbackClassifier\n    {bad}\n")
    with pytest.raises(ConfigError):
        fallback_threshold("pipeline: [")
