"""The agents' queue ordered by the score (cobranza/services/tickets.py), on SQLite and
PostgreSQL: priority first, then a verified debtor's expected recovery (highest first, the
unscored after), then age; the band and expected recovery shown only for a verified ticket, and
an unverified ticket never borrows the score of the number it claims."""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy.orm import Session, sessionmaker

from cobranza import db
from cobranza.db import verifications
from cobranza.db.models import HandoffTicket
from cobranza.services import tickets
from tests.support import outreach as data
from tests.support.clock import NOW
from tests.support.scores import score

DAY = date(2026, 11, 22)


def ticket(
    session: Session, sender: str, phone: str | None, priority: int, minutes_ago: int
) -> int:
    row = HandoffTicket(
        sender_id=sender,
        debtor_phone=phone,
        channel="webchat",
        reason="solicitud_agente",
        priority=priority,
        status="open",
        context={"reason": "solicitud_agente", "persona": "estandar", "messages": []},
        created_at=NOW - timedelta(minutes=minutes_ago),
    )
    session.add(row)
    session.flush()
    return int(row.id)


def verify(session: Session, sender: str, phone: str) -> None:
    verifications.record(session, sender, "webchat", phone, NOW, timedelta(minutes=30))


def test_priority_then_expected_recovery_then_age(migrated_sessions: sessionmaker) -> None:
    phones = [f"+5255112400{n:02d}" for n in range(1, 7)]
    with db.session_scope(migrated_sessions) as session:
        for phone in phones:
            data.debtor(session, phone)
        score(session, phones[0], 0.2, "D", as_of=DAY, expected="400.00")
        score(session, phones[1], 0.9, "A", as_of=DAY, expected="9000.00")
        score(session, phones[2], 0.5, "C", as_of=DAY, expected="2500.00")
        score(session, phones[3], 0.99, "A", as_of=DAY, expected="99999.00")  # unverified
        # phones[4]: verified, never scored; phones[5]: scored only tomorrow (not yet known)
        score(session, phones[5], 0.95, "A", as_of=DAY + timedelta(days=1), expected="50000.00")
        ids = {
            "low": ticket(session, "c-low", phones[0], 50, 90),
            "high": ticket(session, "c-high", phones[1], 50, 5),
            "mid": ticket(session, "c-mid", phones[2], 50, 30),
            "stranger": ticket(session, "c-stranger", phones[3], 50, 120),
            "unscored_old": ticket(session, "c-unscored", phones[4], 50, 200),
            "future": ticket(session, "c-future", phones[5], 50, 100),
            "no_phone": ticket(session, "c-none", None, 50, 300),
            "urgent": ticket(session, "c-urgent", phones[0], 90, 1),
        }
        for sender, phone in (
            ("c-low", phones[0]),
            ("c-high", phones[1]),
            ("c-mid", phones[2]),
            ("c-unscored", phones[4]),
            ("c-future", phones[5]),
            ("c-urgent", phones[0]),
            ("c-stranger", phones[1]),  # verified another number than the one it claims
        ):
            verify(session, sender, phone)
    with migrated_sessions() as session:
        listed = tickets.queue(session, NOW)
    names = {v: k for k, v in ids.items()}
    assert [names[t["id"]] for t in listed] == [
        "urgent",  # priority first, whatever the score
        "high",  # 9,000
        "mid",  # 2,500
        "low",  # 400
        "no_phone",  # unscored: by age
        "unscored_old",
        "stranger",  # its claimed debtor's 99,999 does not count: unverified for that number
        "future",
    ]
    by_name = {names[t["id"]]: t for t in listed}
    assert by_name["high"]["score"] == {
        "band": "A",
        "expected_recovery": "9000.00",
        "expected_recovery_text": "$9,000.00",
        "horizon_days": None,  # this test's model has no card
    }
    for name in ("stranger", "no_phone", "unscored_old", "future"):
        assert by_name[name]["score"] is None
    stranger = json.dumps(by_name["stranger"])
    assert "99999" not in stranger and "99,999" not in stranger
    assert all("reasons" not in json.dumps(t) for t in listed)


def test_public_hides_a_score_of_an_unverified_ticket() -> None:
    described = {"verified": False, "context": {"balance": "1"}, "score": {"band": "A"}}
    assert tickets.public(described)["score"] is None
    assert tickets.public({"verified": True, "context": {}, "score": {"band": "A"}})["score"]
