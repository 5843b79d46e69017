"""Over-long messages never reach the tokenizer or DIET, and the dialogue answers them politely.

DIET's memory grows with the square of a message's length: one anonymous 100 KB message on the
REST channel once grew Rasa to 24 GB. Two components, one at each end of the NLU pipeline
(``config.yml`` and ``config_spacy.yml``), close that path for every way into the NLU (REST, web
chat, WhatsApp, Twilio and Rasa's ``/model/parse``, which all run this same pipeline):

* :class:`MessageLengthLimiter` comes **first**. A text longer than ``MAX_MESSAGE_CHARS``
  characters is cut to that many (every later component sees at most ``MAX_MESSAGE_CHARS``) and
  the message is marked. A leading ``/`` is dropped from a cut text too: Rasa's
  ``RegexMessageHandler`` runs after the whole pipeline and would otherwise read
  ``/informar{…}`` out of a 200 KB text as a button press.
* :class:`TooLongMessageClassifier` comes **last**: a marked message is the intent
  ``mensaje_muy_largo`` with confidence 1.0 and no entities, whatever the model, the fallback or
  the opt-out keywords said. ``data/rules/limits.yml`` answers it with ``utter_mensaje_muy_largo``
  and nothing else: no promise, date or amount is read out of a text nobody could check.

The channels also bound what they hand to Rasa (``cobranza.channels.limits.bound_user_text``:
at most ``MAX_MESSAGE_CHARS + 1`` characters, so the tracker never stores a 200 KB text and a
bounded text is still recognised here as too long).
"""

from __future__ import annotations

import re

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from cobranza.domain.text import MAX_MESSAGE_CHARS
from cobranza.nlu.component import StatelessComponent

TOO_LONG_INTENT = "mensaje_muy_largo"
# Set on a Message by MessageLengthLimiter, read by TooLongMessageClassifier (not in the output).
TOO_LONG_MARK = "cobranza_too_long"
# What RegexMessageHandler would read as "/intent{entities}" once leading blanks are stripped.
_COMMAND_PREFIX = re.compile(r"^[\s/]+")


def cut_to_limit(text: str) -> str | None:
    """The text a too-long message continues with, or None when ``text`` is short enough."""
    if len(text) <= MAX_MESSAGE_CHARS:
        return None
    return _COMMAND_PREFIX.sub("", text[:MAX_MESSAGE_CHARS])


# A tokenizer-type component so that the recipe runs it, in pipeline order, on the training data
# and on every message; it produces no tokens.
@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class MessageLengthLimiter(StatelessComponent):
    """Put it first in the pipeline, before the tokenizer (and before ``SpacyNLP``)."""

    @staticmethod
    def _limit(message: Message) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str):
            return
        cut = cut_to_limit(text)
        if cut is not None:
            message.set(TEXT, cut)
            message.set(TOO_LONG_MARK, True)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for example in training_data.training_examples:
            self._limit(example)
        return training_data

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._limit(message)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class TooLongMessageClassifier(StatelessComponent, IntentClassifier):
    """Put it last in the pipeline: its decision must not be overridden (not even by opt-out
    phrases found inside a cut text; the debtor is asked for a shorter message instead)."""

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            if message.get(TOO_LONG_MARK):
                decided = {"name": TOO_LONG_INTENT, "confidence": 1.0}
                message.set(INTENT, decided, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [decided], add_to_output=True)
                message.set(ENTITIES, [], add_to_output=True)
        return messages
