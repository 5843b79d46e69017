"""config_spacy.yml: its spaCy components load and run (on a small spaCy pipeline the test
builds, since es_core_news_md is not installable offline), and it cannot drift from config.yml."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
import spacy
import yaml
from rasa.engine import validation
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import SPACY_DOCS, TOKENS_NAMES
from rasa.nlu.featurizers.dense_featurizer.spacy_featurizer import SpacyFeaturizer
from rasa.nlu.tokenizers.spacy_tokenizer import SpacyTokenizer
from rasa.nlu.utils.spacy_utils import SpacyNLP
from rasa.shared.data import TrainingType
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.utils.io import read_model_configuration
from spacy.tokens import Doc
from thinc.types import Floats1d

from cobranza.clock import FixedClock
from cobranza.config import PROJECT_ROOT
from cobranza.nlu.normalizer import EntityNormalizer

SPACY_CONFIG = PROJECT_ROOT / "config_spacy.yml"
DEFAULT_CONFIG = PROJECT_ROOT / "config.yml"
NORMALIZER = "cobranza.nlu.normalizer.EntityNormalizer"
LIMITER = "cobranza.nlu.limits.MessageLengthLimiter"
TOO_LONG = "cobranza.nlu.limits.TooLongMessageClassifier"
SPACY_COMPONENTS = ["SpacyNLP", "SpacyTokenizer", "SpacyFeaturizer"]
VECTOR_WIDTH = 4
WORDS = ["le", "deposito", "mil", "quinientos", "el", "viernes", "gracias"]


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def entry(config: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [c for c in config["pipeline"] if c["name"] == name]
    return dict(found)


def settings(component: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in component.items() if k != "name"}


@pytest.fixture(scope="module")
def spacy_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A blank Spanish spaCy pipeline with a few word vectors, saved to disk."""
    nlp = spacy.blank("es")
    nlp.vocab.reset_vectors(width=VECTOR_WIDTH)
    for i, word in enumerate(WORDS):
        nlp.vocab.set_vector(word, cast(Floats1d, np.full(VECTOR_WIDTH, i + 1, dtype="float32")))
    path = tmp_path_factory.mktemp("spacy") / "es_test_model"
    nlp.to_disk(path)
    return path


def create(cls: Any, config: dict[str, Any], tmp_path: Path, node: str) -> Any:
    return cls.create(
        {**cls.get_default_config(), **config},
        LocalModelStorage(tmp_path),
        Resource(node),
        ExecutionContext(GraphSchema({}), node_name=node),
    )


def test_spacy_config_starts_with_the_length_limit_then_the_spacy_components() -> None:
    config = load_yaml(SPACY_CONFIG)
    names = [c["name"] for c in config["pipeline"]]
    assert names[0] == LIMITER and names[-1] == TOO_LONG
    assert names[1:4] == SPACY_COMPONENTS
    assert entry(config, "SpacyNLP")["model"] == "es_core_news_md"
    assert "WhitespaceTokenizer" not in names
    assert names.index(NORMALIZER) == names.index("DIETClassifier") + 1
    assert names.index("EntitySynonymMapper") > names.index(NORMALIZER)
    # after the spaCy part, the same components in the same order as config.yml
    default = [c["name"] for c in load_yaml(DEFAULT_CONFIG)["pipeline"]]
    assert default[:2] == [LIMITER, "WhitespaceTokenizer"] and names[4:] == default[2:]


def test_spacy_components_process_a_spanish_message(spacy_model_dir: Path, tmp_path: Path) -> None:
    config = load_yaml(SPACY_CONFIG)
    nlp_config = {**settings(entry(config, "SpacyNLP")), "model": str(spacy_model_dir)}
    spacy_nlp = create(SpacyNLP, nlp_config, tmp_path, "provide_SpacyNLP0")
    tokenizer = create(
        SpacyTokenizer, settings(entry(config, "SpacyTokenizer")), tmp_path, "run_SpacyTokenizer1"
    )
    featurizer = create(
        SpacyFeaturizer,
        settings(entry(config, "SpacyFeaturizer")),
        tmp_path,
        "run_SpacyFeaturizer2",
    )
    model = spacy_nlp.provide()
    assert model.model.lang == "es"

    text = "Le deposito mil quinientos el viernes, gracias 🙏"
    message = Message(data={TEXT: text, "metadata": {"time_zone": "America/Tijuana"}})
    spacy_nlp.process([message], model)
    tokenizer.process([message])
    featurizer.process([message])

    doc = message.get(SPACY_DOCS[TEXT])
    assert isinstance(doc, Doc)
    assert doc.text == text.lower()  # SpacyNLP lower-cases (case_sensitive: false)
    tokens = message.get(TOKENS_NAMES[TEXT])
    assert [t.text for t in tokens] == [
        "le", "deposito", "mil", "quinientos", "el", "viernes", ",", "gracias", "🙏",
    ]  # fmt: skip
    assert all(text.lower()[t.start : t.end] == t.text for t in tokens)

    sequence, sentence = message.get_dense_features(TEXT)
    assert sequence is not None and sentence is not None
    assert sequence.features.shape == (len(tokens), VECTOR_WIDTH)
    assert sentence.features.shape == (1, VECTOR_WIDTH)
    assert sequence.features[1].tolist() == [2.0] * VECTOR_WIDTH  # "deposito"

    # and the normaliser, further down the same pipeline, reads the message
    normalizer = EntityNormalizer(
        settings(entry(config, NORMALIZER)),
        clock=FixedClock(datetime(2026, 11, 18, 18, 0, tzinfo=timezone.utc)),
    )
    normalizer.process([message])
    values = {e["entity"]: e["value"] for e in message.get("entities")}
    assert values == {"monto": 1500, "fecha": "2026-11-20"}


def test_spacy_config_builds_a_valid_rasa_graph() -> None:
    config = read_model_configuration(SPACY_CONFIG)
    graph = DefaultV1Recipe().graph_config_for_recipe(config, {}, TrainingType.BOTH)
    validation.validate(graph)
    nodes = list(graph.predict_schema.nodes)
    assert any(n.startswith("provide_SpacyNLP") for n in nodes)
    assert any("EntityNormalizer" in n for n in nodes)


def test_spacy_config_and_config_share_policies_and_settings() -> None:
    spacy_config = load_yaml(SPACY_CONFIG)
    default = load_yaml(DEFAULT_CONFIG)
    for key in ("recipe", "language", "assistant_id", "policies"):
        assert spacy_config.get(key) == default.get(key), key
    for name in ("DIETClassifier", "EntitySynonymMapper", "FallbackClassifier"):
        assert entry(spacy_config, name) == entry(default, name), name

    default_names = [c["name"] for c in default["pipeline"]]
    if NORMALIZER in default_names:
        assert entry(spacy_config, NORMALIZER) == entry(default, NORMALIZER)

    # the same length limit first; after the tokenizer (and spaCy's own featurizer) the
    # pipelines are the same, in order
    assert spacy_config["pipeline"][0] == default["pipeline"][0]
    spacy_rest = spacy_config["pipeline"][1 + len(SPACY_COMPONENTS) :]
    tokenizer_at = default_names.index("WhitespaceTokenizer")
    default_rest = default["pipeline"][tokenizer_at + 1 :]
    if NORMALIZER not in default_names:
        spacy_rest = [c for c in spacy_rest if c["name"] != NORMALIZER]
    assert spacy_rest == default_rest
