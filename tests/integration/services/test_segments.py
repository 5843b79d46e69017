"""The portfolio by bucket × score band × persona (cobranza/services/segments.py) on SQLite and
PostgreSQL: counts, open balances (Decimal, exact) and expected recovery per segment, the
unscored as their own band, paid-off debtors left out, and no phone in the result."""

from __future__ import annotations

import json
from datetime import date, timedelta

from sqlalchemy import update
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.db.models import Debt, Debtor
from cobranza.services.segments import segments
from tests.support import outreach as data
from tests.support.scores import score

DAY = date(2026, 11, 22)


def test_segments_count_balances_and_expected_recovery(migrated_sessions: sessionmaker) -> None:
    with db.session_scope(migrated_sessions) as session:
        data.debtor(session, "+525511250001", balance="1000.10", days_past_due=10)
        data.debtor(session, "+525511250002", balance="2000.20", days_past_due=25)
        data.debtor(session, "+525511250003", balance="3000.30", days_past_due=45)
        data.debtor(session, "+525511250004", balance="4000.40", days_past_due=10)
        data.debtor(session, "+525511250005", balance="500.00", days_past_due=10)
        data.debtor(session, "+525511250006", balance="0.00", days_past_due=0)  # paid off
        session.execute(update(Debtor).where(Debtor.phone == "+525511250004").values(persona=None))
        session.execute(
            update(Debt).where(Debt.debtor_phone == "+525511250005").values(status="paid")
        )
        score(session, "+525511250001", 0.9, "A", as_of=DAY, expected="900.09")
        score(session, "+525511250002", 0.8, "A", as_of=DAY, expected="1600.16")
        score(session, "+525511250003", 0.3, "D", as_of=DAY, expected="900.09")
        score(session, "+525511250003", 0.9, "A", as_of=DAY + timedelta(days=1), expected="1.00")
        score(session, "+525511250006", 0.9, "A", as_of=DAY, expected="0.00")
    with migrated_sessions() as session:
        found = segments(session, DAY)
    rows = [(s["bucket"], s["band"], s["persona"], s["debtors"]) for s in found["segments"]]
    assert rows == [
        ("1-30", "A", "estandar", 2),
        ("1-30", "sin puntaje", "sin persona", 1),
        ("31-60", "D", "estandar", 1),  # the score dated tomorrow is not current yet
    ]
    first = found["segments"][0]
    assert (first["balance"], first["expected_recovery"]) == ("3000.30", "2500.25")
    assert first["balance_text"] == "$3,000.30"
    assert found["segments"][1]["expected_recovery"] == "0.00"
    assert found["by_band"]["A"]["debtors"] == 2 and list(found["by_band"]) == [
        "A",
        "D",
        "sin puntaje",
    ]
    assert found["total"] == {
        "debtors": 4,
        "balance": "10001.00",
        "balance_text": "$10,001.00",
        "expected_recovery": "3400.34",
        "expected_recovery_text": "$3,400.34",
    }
    assert "5511" not in json.dumps(found)


def test_an_empty_portfolio_has_no_segments(migrated_sessions: sessionmaker) -> None:
    with migrated_sessions() as session:
        found = segments(session, DAY)
    assert found["segments"] == [] and found["by_band"] == {}
    assert found["total"]["debtors"] == 0 and found["total"]["balance"] == "0.00"
