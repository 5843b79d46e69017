"""Writing a turn once, however often RabbitMQ delivers it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cobranza.db.models import ConversationTurn
from cobranza.events.turns import Turn

INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def record(session: Session, turn: Turn, recorded_at: datetime) -> bool:
    """Insert ``turn`` unless a row has its event key: True when this call wrote it.

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
            channel=turn.channel,
            intent=turn.intent,
            confidence=turn.confidence,
            nlu_fallback=turn.nlu_fallback,
            received_at=turn.received_at,
            recorded_at=recorded_at,
        )
        .on_conflict_do_nothing(index_elements=["event_key"])
    )
    return bool(session.execute(statement).rowcount == 1)
