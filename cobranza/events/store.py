"""Writing a turn once, however often RabbitMQ delivers it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cobranza.db import repository
from cobranza.db.models import ConversationTurn
from cobranza.domain.vocabulary import TurnKind
from cobranza.events.turns import Turn

INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def record(session: Session, turn: Turn, recorded_at: datetime) -> bool:
    """Insert ``turn`` unless a row has its event key: True when this call wrote it. A bot
    message gets its conversation's channel when it is known (:func:`_conversation_channel`).

    ``ON CONFLICT DO NOTHING`` rather than a look-up first: two consumers that hold the same
    message at once (one lost its connection after committing, RabbitMQ handed it to the
    other) cannot both insert, and neither fails."""
    insert = INSERTS[session.get_bind().dialect.name]
    statement = (
        insert(ConversationTurn)
        .values(
            event_key=turn.event_key,
            sender_key=turn.sender_key,
            kind=turn.kind,
            channel=turn.channel if turn.kind == TurnKind.USER else _conversation_channel(turn),
            intent=turn.intent,
            confidence=turn.confidence,
            nlu_fallback=turn.nlu_fallback,
            received_at=turn.received_at,
            recorded_at=recorded_at,
        )
        .on_conflict_do_nothing(index_elements=["event_key"])
    )
    return bool(session.execute(statement).rowcount == 1)


def _conversation_channel(turn: Turn) -> Any:
    """SQL: the channel of the sender's latest user message at or before a bot message. NULL
    when that message is not written yet (another consumer holds it): the KPIs then look it up
    themselves (cobranza/services/kpis/conversations.py); this copy spares them one look-up per
    bot message."""
    return repository.conversation_channel(turn.sender_key, turn.received_at)
