"""The conversation family (docs/kpis.md): messages received, not understood, and the
assistant's, from ``conversation_turns`` (written by the events consumer, cobranza/events/).

Its rows are about a sender's keyed hash, never a debtor: no bucket, persona, creditor, campaign
or experiment arm can be known for them, so under such a split or filter the family has no
value (None), rather than every message landing in a fallback group that would read as "no
persona". Its own dimensions are the channel and the day. A user message's channel is Rasa's
input channel; a bot message's is its conversation's latest user message's (Rasa's bot events
do not name it): copied by the consumer when it writes the row, looked up here when the
consumer could not (the user message was not written yet), so the order in which consumers
wrote them never matters."""

from __future__ import annotations

from sqlalchemy import String, case, func, literal, select
from sqlalchemy.orm import Session

from cobranza.db import repository
from cobranza.db.models import ConversationTurn
from cobranza.domain.kpis import CONVERSATION_SPLITS, NO_CHANNEL, Conversation
from cobranza.domain.vocabulary import TurnKind
from cobranza.services.kpis.scope import Memberships, Rows, Scope, by, in_range, keyed


def applies(scope: Scope) -> bool:
    """The scope splits and filters only by the turns' own channel and day."""
    return all(d in CONVERSATION_SPLITS for d in scope.dimensions)


def _rows(scope: Scope) -> Rows:
    turn = ConversationTurn
    conversation_channel = repository.conversation_channel(turn.sender_key, turn.received_at)
    # A bot message's channel was copied when the consumer wrote it, if its conversation's
    # user message was there by then; the look-up is for the others (COALESCE stops at the
    # first value that is not NULL, so most bot messages cost no look-up).
    channel = func.coalesce(
        case(
            (turn.kind == TurnKind.USER, turn.channel),
            else_=func.coalesce(turn.channel, conversation_channel),
        ),
        NO_CHANNEL,
    )
    return Rows(
        turn.__table__,
        literal(None, String()),  # no debtor: never joined to a membership (see applies)
        [in_range(turn.received_at, scope)],
        {"channel": channel, "day": turn.received_at},
    )


def conversation(session: Session, scope: Scope) -> dict[str, Conversation] | None:
    """The family by group key, or None when the scope's split or filters do not apply."""
    if not applies(scope):
        return None
    members = Memberships(scope, session.get_bind().dialect.name)
    from_, key, where = keyed(_rows(scope), scope, members)
    turn = ConversationTurn
    found = session.execute(
        select(key, turn.kind, turn.nlu_fallback, func.count())
        .select_from(from_)
        .where(*where)
        .group_by(*by(key), turn.kind, turn.nlu_fallback)
    ).all()
    tallies: dict[str, dict[str, int]] = {}
    for group, kind, verdict, n in found:
        counts = tallies.setdefault(group, {"received": 0, "judged": 0, "no": 0, "sent": 0})
        if kind == TurnKind.BOT:
            counts["sent"] += n
            continue
        counts["received"] += n
        if verdict is not None:
            counts["judged"] += n
            counts["no"] += n if verdict else 0
    return {
        group: Conversation(c["received"], c["judged"], c["no"], c["sent"])
        for group, c in tallies.items()
    }
