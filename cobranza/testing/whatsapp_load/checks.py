"""What a WhatsApp load left in the assistant's database and the servers' logs: the promises the
run added, the reply links the assistant recorded, how many times Rasa's tracker holds each
message, and the lock errors logged."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import column, func, select, table
from sqlalchemy.engine import Engine

from cobranza.db.models import Promise, WhatsAppReplyAttempt
from cobranza.domain.phones import whatsapp_id

# Rasa's tracker (its ``events`` table, no model of ours) and the key under which the WhatsApp
# channel stores a message's id in a user event's metadata (MESSAGE_ID_KEY of
# cobranza.channels.whatsapp.config, a module of a sibling layer this one may not import; a unit
# test checks they agree).
_EVENTS = table("events", column("sender_id"), column("type_name"), column("data"))
MESSAGE_ID_KEY = "whatsapp_message_id"

# Lines of a server log that report a lock failure: Rasa's lock store, PostgreSQL, our leases.
LOCK_ERROR = re.compile(
    r"LockError|could not acquire lock|lock timeout|lock wait timeout|deadlock detected"
    r"|taken by another replica",
    re.IGNORECASE,
)


def last_promise_id(engine: Engine) -> int:
    """The largest promise id: a row above it was added by the run."""
    with engine.connect() as connection:
        return int(connection.execute(select(func.max(Promise.id))).scalar() or 0)


def promises_since(engine: Engine, after_id: int, phones: Iterable[str]) -> dict[str, int]:
    """Promise rows added since ``after_id``, per debtor's WhatsApp id (any status: one
    superseded by a re-run turn is a duplicate too)."""
    wanted = list(phones)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Promise.debtor_phone, func.count(Promise.id))
            .where(Promise.id > after_id, Promise.debtor_phone.in_(wanted))
            .group_by(Promise.debtor_phone)
        ).all()
    return {whatsapp_id(phone): int(count) for phone, count in rows}


def reply_links(engine: Engine, message_ids: Iterable[str]) -> dict[str, str]:
    """Meta's id of each reply the assistant recorded → the inbound message it answered."""
    ids = list(message_ids)
    links: dict[str, str] = {}
    with engine.connect() as connection:
        for start in range(0, len(ids), 500):
            rows = connection.execute(
                select(WhatsAppReplyAttempt.message_id, WhatsAppReplyAttempt.reply_to).where(
                    WhatsAppReplyAttempt.reply_to.in_(ids[start : start + 500]),
                    WhatsAppReplyAttempt.message_id.is_not(None),
                )
            ).all()
            links.update({str(wamid): str(reply_to) for wamid, reply_to in rows})
    return links


def processed_counts(engine: Engine, senders: Iterable[str]) -> Counter[str]:
    """How many times each WhatsApp message id is in Rasa's tracker (``events``: a user event
    carries the id in its metadata): exactly once for every message whose turn ran."""
    counts: Counter[str] = Counter()
    wanted = list(senders)
    with engine.connect() as connection:
        rows = connection.execute(
            select(_EVENTS.c.data).where(
                _EVENTS.c.type_name == "user", _EVENTS.c.sender_id.in_(wanted)
            )
        )
        for (data,) in rows:
            metadata = (json.loads(data) or {}).get("metadata") or {}
            message_id = metadata.get(MESSAGE_ID_KEY)
            if message_id:
                counts[str(message_id)] += 1
    return counts


def lock_errors(paths: Iterable[Path]) -> list[str]:
    """``file: line`` for every log line reporting a lock failure."""
    found = []
    for path in paths:
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as log:
            for line in log:
                if LOCK_ERROR.search(line):
                    found.append(f"{path.name}: {line.strip()[:300]}")
    return found
