"""The trained model's own verdicts through the event broker: messages parsed by the real NLU
pipeline (models/cobranza.tar.gz: DIET, FallbackClassifier at config.yml's 0.5, our opt-out and
length classifiers), logged as Rasa's processor logs them, published by Rasa's tracker store and
PikaEventBroker to the real RabbitMQ, read by the consumer into SQLite. What is "not
understood" in the KPIs is what the model said, not what a test wrote by hand."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from sqlalchemy import select
from sqlalchemy.engine import Engine

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.config import PROJECT_ROOT, EventsSettings, Secret
from cobranza.db.models import ConversationTurn
from cobranza.events.consumer import Consumer
from cobranza.events.turns import fallback_threshold
from tests.support import rabbitmq
from tests.support.clock import NOW

pytestmark = [
    pytest.mark.slow,
    # TensorFlow's dropout layer calls random.randrange with a float while DIET loads in this
    # process (the servers' tests load it in Rasa's own process, outside pytest's filter).
    pytest.mark.filterwarnings("ignore:non-integer arguments to randrange:DeprecationWarning"),
]

MESSAGES = {
    "hola": False,
    "el perro azul de mi tía vuela": True,  # nlu_fallback
    "BAJA": False,  # the opt-out keyword decides, confidence 1.0
    "x" * 5000: False,  # too long: mensaje_muy_largo, confidence 1.0
}


@pytest.fixture
def names() -> Iterator[rabbitmq.Names]:
    found = rabbitmq.fresh_names()
    yield found
    asyncio.run(rabbitmq.delete(found))


def test_the_models_fallbacks_arrive_as_not_understood(
    model: Path, migrated_sqlite: Engine, names: rabbitmq.Names
) -> None:
    from rasa.core.agent import Agent

    threshold = fallback_threshold((PROJECT_ROOT / "config.yml").read_text(encoding="utf-8"))
    config = EventsSettings(
        broker_url=Secret(rabbitmq.URL),
        broker_display="amqp://guest:***@127.0.0.1:5672/",
        sender_key=Secret("k" * 40),
        queue=names.queue,
    )
    sessions = db.make_session_factory(migrated_sqlite)

    async def scenario() -> Consumer:
        agent = Agent.load(str(model))
        tracker = DialogueStateTracker.from_events(
            "+525512345678", [ActionExecuted("action_listen")]
        )
        for text in MESSAGES:
            parsed = await agent.parse_message(text)
            # As MessageProcessor._handle_message_with_tracker logs a message.
            tracker.update(
                UserUttered(
                    text,
                    parsed["intent"],
                    parsed["entities"],
                    parsed,
                    input_channel="whatsapp",
                    message_id=None,
                    metadata={},
                )
            )
        published = await rabbitmq.publish_with_rasa(names, [tracker])
        await rabbitmq.wait_for_depth(names.queue, published)
        c = Consumer(sessions, config, threshold, FixedClock(NOW), retry_base=0.05)
        stop = asyncio.Event()
        task = asyncio.create_task(c.run(stop))
        while c.tally.acked < published:
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 10)
        return c

    c = asyncio.run(scenario())
    assert c.tally.stored == len(MESSAGES) and not c.tally.malformed
    with db.session_scope(sessions) as session:
        found = session.execute(
            select(ConversationTurn.intent, ConversationTurn.nlu_fallback).order_by(
                ConversationTurn.received_at
            )
        ).all()
    assert [fell_back for _, fell_back in found] == list(MESSAGES.values())
    assert [intent for intent, _ in found][1:] == [
        "nlu_fallback",
        "no_contactar",
        "mensaje_muy_largo",
    ]
