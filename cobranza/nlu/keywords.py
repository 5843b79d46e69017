"""Opt-out keywords decide the intent whatever the model says (LFPDPPP): a message
that is just BAJA, ALTO or STOP is ``no_contactar`` with confidence 1.0. A message the model did
not understand (``nlu_fallback``) that states opposition in so many words ("borren mi número",
"dejen de escribirme") is ``no_contactar`` too: opposition must not be lost to a fallback."""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message

from cobranza.compliance.optout import is_opposition_phrase, is_opt_out_keyword
from cobranza.nlu.component import StatelessComponent

OPT_OUT_INTENT = "no_contactar"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class OptOutKeywordClassifier(StatelessComponent, IntentClassifier):
    """Put it last in the pipeline, after FallbackClassifier."""

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            text = str(message.get(TEXT) or "")
            fell_back = (message.get(INTENT) or {}).get("name") == "nlu_fallback"
            if is_opt_out_keyword(text) or (fell_back and is_opposition_phrase(text)):
                decided = {"name": OPT_OUT_INTENT, "confidence": 1.0}
                message.set(INTENT, decided, add_to_output=True)
                ranking = [
                    r
                    for r in message.get(INTENT_RANKING_KEY) or []
                    if r.get("name") != OPT_OUT_INTENT
                ]
                message.set(INTENT_RANKING_KEY, [decided, *ranking], add_to_output=True)
        return messages
