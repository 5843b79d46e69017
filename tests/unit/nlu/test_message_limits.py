"""Over-long messages: the first NLU component cuts them, the last one makes them
``mensaje_muy_largo`` (and nothing else), on real Rasa ``Message`` objects and on the graph Rasa
builds from config.yml; the channels' ``bound_user_text`` keeps the signal."""

from __future__ import annotations

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.engine import validation
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
from rasa.shared.core.domain import Domain
from rasa.shared.data import TrainingType
from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from rasa.shared.utils.io import read_model_configuration

from cobranza.channels.limits import bound_user_text
from cobranza.config import PROJECT_ROOT
from cobranza.domain.text import MAX_MESSAGE_CHARS
from cobranza.nlu.keywords import OptOutKeywordClassifier
from cobranza.nlu.limits import (
    TOO_LONG_INTENT,
    TOO_LONG_MARK,
    MessageLengthLimiter,
    TooLongMessageClassifier,
)

LIMITER = "cobranza.nlu.limits.MessageLengthLimiter"
CLASSIFIER = "cobranza.nlu.limits.TooLongMessageClassifier"
PROMISE = "te pago 500 el viernes, borren mi número "


def long_text(size: int, unit: str = PROMISE) -> str:
    return (unit * (size // len(unit) + 1))[:size]


def predicted(text: str) -> Message:
    """A message as the model leaves it: an intent, a ranking and two entities."""
    message = Message(data={TEXT: text})
    message.set(INTENT, {"name": "prometer_pago", "confidence": 0.93}, add_to_output=True)
    message.set(
        INTENT_RANKING_KEY,
        [{"name": "prometer_pago", "confidence": 0.93}, {"name": "informar", "confidence": 0.05}],
        add_to_output=True,
    )
    message.set(
        ENTITIES,
        [{"entity": "monto", "value": 500}, {"entity": "fecha", "value": "2026-11-27"}],
        add_to_output=True,
    )
    return message


DOMAIN = Domain.load(str(PROJECT_ROOT / "domain.yml"))


def pipeline(text: str) -> Message:
    """Our components in pipeline order around a stand-in for the model, then Rasa's
    RegexMessageHandler, which the recipe always appends after the pipeline."""
    [message] = MessageLengthLimiter().process([Message(data={TEXT: text})])
    seen = message.get(TEXT)
    modelled = predicted(seen)
    for key, value in message.data.items():
        if key != TEXT:
            modelled.set(key, value)
    [modelled] = OptOutKeywordClassifier().process([modelled])
    [modelled] = TooLongMessageClassifier().process([modelled])
    [final] = RegexMessageHandler().process([modelled], DOMAIN)
    return final


def test_the_limit_is_4000_characters() -> None:
    assert MAX_MESSAGE_CHARS == 4000


@pytest.mark.parametrize("size", [1, 3_999, 4_000])
def test_up_to_the_limit_nothing_changes(size: int) -> None:
    text = long_text(size)
    [message] = MessageLengthLimiter().process([Message(data={TEXT: text})])
    assert message.get(TEXT) == text
    assert not message.get(TOO_LONG_MARK)
    final = pipeline(text)
    assert final.get(INTENT)["name"] == "prometer_pago"
    assert [e["entity"] for e in final.get(ENTITIES)] == ["monto", "fecha"]


@pytest.mark.parametrize("size", [4_001, 4_002, 100_000, 200_000])
def test_beyond_the_limit_the_text_is_cut_and_only_too_long_is_left(size: int) -> None:
    text = long_text(size)
    [message] = MessageLengthLimiter().process([Message(data={TEXT: text})])
    assert len(message.get(TEXT)) <= MAX_MESSAGE_CHARS
    assert text.startswith(message.get(TEXT))
    assert message.get(TOO_LONG_MARK) is True

    final = pipeline(text)
    assert final.get(INTENT) == {"name": TOO_LONG_INTENT, "confidence": 1.0}
    assert final.get(INTENT_RANKING_KEY) == [{"name": TOO_LONG_INTENT, "confidence": 1.0}]
    assert final.get(ENTITIES) == []  # no promise, amount or date read from it
    assert TOO_LONG_MARK not in final.as_dict(only_output_properties=True)


@pytest.mark.parametrize(
    "unit",
    [
        "ñ",  # 2 bytes in UTF-8, one character
        "😀",  # 4 bytes in UTF-8 (a surrogate pair in UTF-16), one character
        "e\u0301",  # e + combining acute accent: two code points, one letter on screen
    ],
)
def test_characters_are_code_points_not_bytes(unit: str) -> None:
    exact = unit * (MAX_MESSAGE_CHARS // len(unit))
    assert len(exact) == MAX_MESSAGE_CHARS and len(exact.encode("utf-8")) > MAX_MESSAGE_CHARS
    [kept] = MessageLengthLimiter().process([Message(data={TEXT: exact})])
    assert kept.get(TEXT) == exact and not kept.get(TOO_LONG_MARK)
    over = exact + unit
    [cut] = MessageLengthLimiter().process([Message(data={TEXT: over})])
    assert cut.get(TOO_LONG_MARK) is True
    assert cut.get(TEXT) == over[:MAX_MESSAGE_CHARS]
    cut.get(TEXT).encode("utf-8")  # still valid text (no half character)


@pytest.mark.parametrize(
    "text",
    [
        '/informar{"plan_elegido": "' + "P" * 200_000 + '"}',
        '  /prometer_pago{"monto": 500, "fecha": "2026-11-27"}' + " " * 5_000,
        "//no_contactar" + "x" * 5_000,
        "/afirmar" + "!" * 4_000,
    ],
    ids=["entities", "leading-blanks", "double-slash", "just-over"],
)
def test_a_long_text_written_like_a_button_press_is_not_one(text: str) -> None:
    """RegexMessageHandler runs after the pipeline and would read "/intent{…}" as a button."""
    final = pipeline(text)
    assert final.get(INTENT) == {"name": TOO_LONG_INTENT, "confidence": 1.0}
    assert final.get(ENTITIES) == []
    assert not final.get(TEXT).lstrip().startswith("/")
    assert len(final.get(TEXT)) <= MAX_MESSAGE_CHARS


def test_a_short_button_press_still_works() -> None:
    final = pipeline("/afirmar")
    assert final.get(INTENT)["name"] == "afirmar"


def test_opt_out_words_inside_a_long_text_do_not_override_too_long() -> None:
    final = pipeline("dejen de escribirme " * 300)
    assert final.get(INTENT)["name"] == TOO_LONG_INTENT


def test_messages_without_text_are_left_alone() -> None:
    [message] = MessageLengthLimiter().process([Message(data={INTENT: "saludar"})])
    assert message.get(TEXT) is None and not message.get(TOO_LONG_MARK)
    [classified] = TooLongMessageClassifier().process([message])
    assert classified.get(INTENT) == "saludar"


def test_training_data_is_cut_the_same_way() -> None:
    short = Message(data={TEXT: "te pago el viernes", INTENT: "prometer_pago"})
    long = Message(data={TEXT: long_text(5_000), INTENT: "informar"})
    core = Message(data={INTENT: "saludar"})
    data = MessageLengthLimiter().process_training_data(TrainingData([short, long, core]))
    assert data.training_examples[0].get(TEXT) == "te pago el viernes"
    assert len(data.training_examples[1].get(TEXT)) == MAX_MESSAGE_CHARS
    assert data.training_examples[2].get(TEXT) is None


# --- the channels' bound ---------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 3_999, 4_000])
def test_bound_user_text_keeps_texts_up_to_the_limit(size: int) -> None:
    text = long_text(size).strip()
    assert bound_user_text(text) == text
    assert bound_user_text(f"  \n{text}\t ") == text  # Rasa's UserMessage strips it anyway


@pytest.mark.parametrize("size", [4_001, 4_002, 100_000, 200_000])
def test_bound_user_text_keeps_one_character_more_so_the_nlu_still_sees_too_long(
    size: int,
) -> None:
    text = "x" + long_text(size - 1)
    bounded = bound_user_text(text)
    assert len(bounded) == MAX_MESSAGE_CHARS + 1 and text.startswith(bounded[:MAX_MESSAGE_CHARS])
    assert UserMessage(bounded).text == bounded  # Rasa's strip leaves the signal intact
    assert pipeline(bounded).get(INTENT)["name"] == TOO_LONG_INTENT


@pytest.mark.parametrize(
    "text",
    [
        "a" * MAX_MESSAGE_CHARS + " " + "b" * 10,  # a blank right after the limit
        "a" * MAX_MESSAGE_CHARS + " \n\t " * 500 + "b",  # many blanks, then one letter
        " " * 100 + "a" * (MAX_MESSAGE_CHARS + 1),  # blanks first: Rasa strips them
        "a " * 3000,  # a blank at every other position
    ],
    ids=["blank-after-limit", "blanks-then-letter", "leading-blanks", "alternating"],
)
def test_blanks_at_the_cut_do_not_lose_the_signal(text: str) -> None:
    bounded = bound_user_text(text)
    assert len(bounded) == MAX_MESSAGE_CHARS + 1
    assert UserMessage(bounded).text == bounded
    assert pipeline(UserMessage(bounded).text or "").get(INTENT)["name"] == TOO_LONG_INTENT


def test_bound_user_text_counts_characters() -> None:
    emoji = "😀" * (MAX_MESSAGE_CHARS + 10)
    assert bound_user_text(emoji) == "😀" * (MAX_MESSAGE_CHARS + 1)


# --- the configuration ------------------------------------------------------------------------


@pytest.mark.parametrize("config_file", ["config.yml", "config_spacy.yml"])
def test_the_limiter_runs_first_and_the_classifier_last_in_rasas_graph(config_file: str) -> None:
    config = read_model_configuration(PROJECT_ROOT / config_file)
    names = [c["name"] for c in config["pipeline"]]
    assert names[0] == LIMITER and names[-1] == CLASSIFIER

    graph = DefaultV1Recipe().graph_config_for_recipe(config, {}, TrainingType.BOTH)
    validation.validate(graph)
    nodes = graph.predict_schema.nodes
    first = f"run_{LIMITER}0"
    assert nodes[first].needs == {"messages": "nlu_message_converter"}
    assert nodes[first].fn == "process"
    # every other NLU node is downstream of the limiter
    following = [n for n, node in nodes.items() if node.needs.get("messages") == first]
    assert len(following) == 1 and following[0] != f"run_{CLASSIFIER}{len(names) - 1}"
    # the classifier is the last of the pipeline; only Rasa's RegexMessageHandler follows it
    assert nodes["run_RegexMessageHandler"].needs["messages"] == (
        f"run_{CLASSIFIER}{len(names) - 1}"
    )
    # in training, the limiter processes the training data before the tokenizer
    train = graph.train_schema.nodes
    assert train[first].needs["training_data"] == "nlu_training_data_provider"
