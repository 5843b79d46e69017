"""BAJA / ALTO / STOP decide the intent whatever the model predicted."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from cobranza.consent import is_opt_out_keyword
from cobranza.nlu.keywords import OptOutKeywordClassifier


@pytest.mark.parametrize(
    "text", ["BAJA", "baja", " Baja. ", "ALTO", "alto!!", "STOP", "stop 🛑", "Bája"]
)
def test_keywords(text: str) -> None:
    assert is_opt_out_keyword(text)


@pytest.mark.parametrize(
    "text", ["", "bajar", "dar de baja mi tarjeta", "alto ahí", "no pares", "🛑", "stopp"]
)
def test_not_keywords(text: str) -> None:
    assert not is_opt_out_keyword(text)


def _message(text: str, intent: str) -> Message:
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": intent, "confidence": 0.4}, add_to_output=True)
    message.set(
        INTENT_RANKING_KEY,
        [{"name": intent, "confidence": 0.4}, {"name": "no_contactar", "confidence": 0.1}],
        add_to_output=True,
    )
    return message


def test_classifier_overrides_the_model_only_for_keywords() -> None:
    classifier = OptOutKeywordClassifier()
    stop, other = classifier.process(
        [_message("STOP", "nlu_fallback"), _message("alto ahí", "saludar")]
    )
    assert stop.get(INTENT) == {"name": "no_contactar", "confidence": 1.0}
    assert [r["name"] for r in stop.get(INTENT_RANKING_KEY)] == ["no_contactar", "nlu_fallback"]
    assert other.get(INTENT)["name"] == "saludar"
