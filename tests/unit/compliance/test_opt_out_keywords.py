"""BAJA / ALTO / STOP decide the intent whatever the model predicted."""

from __future__ import annotations

import pytest
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from cobranza.compliance.optout import is_opposition_phrase, is_opt_out_keyword
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


@pytest.mark.parametrize(
    "text",
    [
        "borren mi número de sus registros",
        "Eliminen mis datos por favor",
        "sáquenme de su lista",
        "quiero darme de baja",
        "ya dejen de escribirme",
        "no me vuelvan a contactar",
        "ya no me manden nada",
        "revoco mi consentimiento",
        "no autorizo más mensajes",
        "me opongo",
    ],
)
def test_opposition_phrases(text: str) -> None:
    assert is_opposition_phrase(text)


@pytest.mark.parametrize(
    "text",
    [
        "dar de baja mi tarjeta",
        "no me alcanza para pagar",
        "ya no tengo trabajo",
        "mi número cambió",
        "borré el mensaje sin querer",
        "no me llegó el mensaje",
    ],
)
def test_not_opposition_phrases(text: str) -> None:
    assert not is_opposition_phrase(text)


def test_opposition_phrase_overrides_only_a_fallback() -> None:
    classifier = OptOutKeywordClassifier()
    fallback = _message("borren mi numero de sus registros", "nlu_fallback")
    understood = _message("ya no me manden nada hasta el viernes", "prometer_pago")
    classifier.process([fallback, understood])
    assert fallback.get(INTENT)["name"] == "no_contactar"
    assert understood.get(INTENT)["name"] == "prometer_pago"
