"""The current score per debtor (cobranza/services/scores.py) on SQLite and PostgreSQL: the
latest day wins, then the newest model run that day; history and later-dated scores are not
current; phones filter (in chunks, or all read at once); corrupted rows never drive work."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.services import scores
from cobranza.services.scores import CurrentScore, latest_scores
from tests.support import outreach as data
from tests.support.scores import REASONS, WRITTEN, score

DAY = date(2026, 11, 20)


@pytest.fixture
def sessions(migrated_sessions: sessionmaker) -> sessionmaker:
    return migrated_sessions


def test_the_latest_day_then_the_newest_run_is_the_current_score(sessions: sessionmaker) -> None:
    a, b, c, none = "+525511190001", "+525511190002", "+525511190003", "+525511190004"
    with db.session_scope(sessions) as session:
        for phone in (a, b, c, none):
            data.debtor(session, phone)
        # a: history kept; the latest day is current whatever was written last
        score(session, a, 0.9, "A", as_of=DAY, expected="4500.00")
        score(
            session, a, 0.2, "D", as_of=DAY - timedelta(days=1), created_at=WRITTEN + timedelta(1)
        )
        # b: two models on the same day: the newest created_at wins
        score(session, b, 0.3, "C", model_id="old", created_at=WRITTEN)
        score(session, b, 0.6, "B", model_id="new", created_at=WRITTEN + timedelta(hours=2))
        # c: two rows in the same instant and day: the higher id (the later insert) wins
        score(session, c, 0.1, "E", model_id="m1")
        score(session, c, 0.15, "E", model_id="m2")
    with sessions() as session:
        found = latest_scores(session)
    assert set(found) == {a, b, c}
    assert found[a] == CurrentScore(0.9, "A", Decimal("4500.00"), DAY, REASONS, "gbm-2026-11-01")
    assert (found[b].band, found[b].model_id) == ("B", "new")
    assert found[c].model_id == "m2"
    assert isinstance(found[a].expected_recovery, Decimal)
    probability, band, _expected, as_of, reasons, _ = found[a]  # a tuple, in the brief's order
    assert (probability, band, as_of) == (0.9, "A", DAY) and reasons[0]["feature"] == "payments_90d"


def test_phones_filter_and_a_later_dated_score_is_not_known_yet(sessions: sessionmaker) -> None:
    a, b = "+525511190011", "+525511190012"
    with db.session_scope(sessions) as session:
        data.debtor(session, a)
        data.debtor(session, b)
        score(session, a, 0.8, "A", as_of=DAY)
        score(session, a, 0.1, "E", as_of=DAY + timedelta(days=3))
        score(session, b, 0.5, "C", as_of=DAY)
    with sessions() as session:
        assert set(latest_scores(session, [a])) == {a}
        assert latest_scores(session, []) == {}
        assert latest_scores(session, ["+525599999999"]) == {}
        assert latest_scores(session, [a])[a].band == "E"
        assert latest_scores(session, [a], on=DAY)[a].band == "A"
        assert latest_scores(session, [a], on=DAY - timedelta(days=1)) == {}
        # a phone list longer than one IN (...) chunk, and one long enough to read all
        many = [a] + [f"+5255{n:08d}" for n in range(scores.CHUNK * 2)]
        assert set(latest_scores(session, many)) == {a}
        huge = set(many) | {f"+5256{n:08d}" for n in range(scores.READ_ALL_ABOVE)}
        assert set(latest_scores(session, huge)) == {a}
        # hostile phone values are only compared, never interpolated
        assert latest_scores(session, ["' OR 1=1 --", "%", "+52" + "9" * 5000]) == {}


def test_a_corrupted_current_score_leaves_the_debtor_unscored(
    sessions: sessionmaker, caplog: pytest.LogCaptureFixture
) -> None:
    bad_band, good = "+525511190021", "+525511190022"
    odd_reasons = "+525511190023"
    with db.session_scope(sessions) as session:
        for phone in (bad_band, good, odd_reasons):
            data.debtor(session, phone)
        score(session, bad_band, 0.7, "B", as_of=DAY - timedelta(days=1))
        score(session, bad_band, 0.7, "Z", as_of=DAY)  # the current one is corrupted
        score(session, good, 0.7, "B")
        score(
            session,
            odd_reasons,
            0.4,
            "C",
            reasons=[
                "payments_90d",
                {"feature": ""},
                {"value": 3},
                {"feature": 7},
                {"feature": "replies_30d", "value": 1, "effect": "up", "extra": "x"},
                {"feature": "x" * 500, "value": None, "effect": None},
            ]
            + [{"feature": "payments_90d", "value": n, "effect": "up"} for n in range(50)],
        )
    with sessions() as session, caplog.at_level(logging.WARNING):
        found = latest_scores(session)
    assert set(found) == {good, odd_reasons}  # no fallback to an older score: unscored
    assert "1 current scores ignored" in caplog.text and "5511" not in caplog.text
    reasons = found[odd_reasons].reasons
    assert reasons[0] == {
        "feature": "replies_30d",
        "label": "replies_30d",  # no label stored: the name
        "value": 1,
        "effect": "up",
    }
    assert reasons[1]["feature"] == "x" * 80
    assert len(reasons) <= scores.MAX_REASONS


@pytest.mark.parametrize("reasons", [None, {}, "texto", 5, [[1, 2]]])
def test_reasons_that_are_not_a_list_of_objects_read_as_none(
    sessions: sessionmaker, reasons: object
) -> None:
    with db.session_scope(sessions) as session:
        data.debtor(session, "+525511190031")
        row = score(session, "+525511190031", 0.5, "C")
        row.reasons = reasons
    with sessions() as session:
        assert latest_scores(session)["+525511190031"].reasons == []


def test_the_probability_range_is_enforced_by_the_table(sessions: sessionmaker) -> None:
    from sqlalchemy.exc import IntegrityError

    with db.session_scope(sessions) as session:
        data.debtor(session, "+525511190041")
    for probability in (1.5, -0.1):
        with pytest.raises(IntegrityError), db.session_scope(sessions) as session:
            score(session, "+525511190041", probability, "A")
