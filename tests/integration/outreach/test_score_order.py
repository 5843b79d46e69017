"""Scores driving outreach, on SQLite and PostgreSQL: a campaign's ``score_bands`` select who is
planned (unscored debtors are outside), the planner copies the probability to each row, and
the dispatcher, when the tier's daily budget binds, reaches the higher scores of a priority
first (unscored last) — while the compliance engine still decides every send: a high score
never lets a blocked row through."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.db.models import Debtor, OutreachMessage
from cobranza.services.consent import revoke_consent
from cobranza.simulation.fake_graph import FakeGraphAPI
from tests.integration.outreach.test_planner import MORNING as PLAN_MORNING
from tests.integration.outreach.test_planner import plan
from tests.support import outreach as data
from tests.support.clock import SteppingClock
from tests.support.outreach import MORNING, UTC, Files, dispatcher, rows, run
from tests.support.scores import score

TODAY = date(2026, 11, 23)


def with_bands(files: Files, name: str, *bands: str) -> Files:
    campaigns, templates = files
    campaign = campaigns[name]
    audience = dataclasses.replace(campaign.audience, score_bands=tuple(bands))
    return {**campaigns, name: dataclasses.replace(campaign, audience=audience)}, templates


def planned_scores(sessions: sessionmaker) -> dict[str, float | None]:
    with sessions() as session:
        return {
            r.debtor_phone: r.score
            for r in session.execute(select(OutreachMessage)).scalars()
            if r.campaign == "temprana_1_30"
        }


def seed_scored(sessions: sessionmaker) -> None:
    with db.session_scope(sessions) as session:
        for phone in ("+525511200001", "+525511200002", "+525511200003", "+525511200004"):
            data.debtor(session, phone, days_past_due=1, as_of=TODAY)
        score(session, "+525511200001", 0.91, "A", as_of=TODAY - timedelta(days=1))
        score(session, "+525511200002", 0.42, "C", as_of=TODAY - timedelta(days=1))
        # 003: never scored; 004: scored only for a day still to come (not known today)
        score(session, "+525511200004", 0.95, "A", as_of=TODAY + timedelta(days=1))


def test_a_band_filtered_campaign_plans_only_its_bands_and_copies_the_probability(
    sessions: sessionmaker, files: Files
) -> None:
    seed_scored(sessions)
    report = plan(sessions, with_bands(files, "temprana_1_30", "A", "B"), PLAN_MORNING)
    assert report.by_campaign == {"temprana_1_30": 1}
    assert planned_scores(sessions) == {"+525511200001": 0.91}


def test_without_bands_everyone_is_planned_with_their_score_or_none(
    sessions: sessionmaker, files: Files
) -> None:
    seed_scored(sessions)
    plan(sessions, files, PLAN_MORNING)
    assert planned_scores(sessions) == {
        "+525511200001": 0.91,
        "+525511200002": 0.42,
        "+525511200003": None,
        "+525511200004": None,
    }


def test_an_unscored_debtor_is_outside_every_band(sessions: sessionmaker, files: Files) -> None:
    seed_scored(sessions)
    every = with_bands(files, "temprana_1_30", "A", "B", "C", "D", "E")
    plan(sessions, every, PLAN_MORNING)
    assert set(planned_scores(sessions)) == {"+525511200001", "+525511200002"}


def seed_rows(sessions: sessionmaker, scored: dict[str, float | None], **kw: object) -> None:
    """One due row per debtor, inserted in the order given (the lowest scores first, so the
    order found is the score's, not the insertion's)."""
    at = MORNING.astimezone(UTC)
    with db.session_scope(sessions) as session:
        for phone, probability in scored.items():
            data.debtor(session, phone)
            row = data.planned(session, phone, at, **kw)  # type: ignore[arg-type]
            row.score = probability


def sent_to(sessions: sessionmaker) -> set[str]:
    return {r.debtor_phone for r in rows(sessions) if r.status == "sent"}


def test_when_the_daily_budget_binds_the_higher_scores_go_first(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    seed_rows(
        sessions,
        {
            "+525511210001": None,
            "+525511210002": 0.05,
            "+525511210003": 0.61,
            "+525511210004": None,
            "+525511210005": 0.93,
            "+525511210006": 0.61,
        },
    )
    clock = SteppingClock(MORNING.astimezone(UTC))
    report = run(dispatcher(sessions, graph, clock, daily_recipients=3))
    assert (report.sent, report.blocked) == (3, {"daily_recipients": 3})
    # 0.93 and the two 0.61 take the budget (the order they reach Meta is not the claim order:
    # several sends are in flight at once)
    assert sent_to(sessions) == {"+525511210005", "+525511210003", "+525511210006"}
    # The next day the budget reopens: the low score, then the unscored ones.
    clock.at += timedelta(hours=24, seconds=2)
    run(dispatcher(sessions, graph, clock, daily_recipients=1))
    assert "+525511210002" in sent_to(sessions)
    assert not {"+525511210001", "+525511210004"} & sent_to(sessions)


def test_priority_still_comes_before_the_score(sessions: sessionmaker, graph: FakeGraphAPI) -> None:
    seed_rows(sessions, {"+525511220001": 0.99})
    seed_rows(sessions, {"+525511220002": None}, campaign="promesas")
    with db.session_scope(sessions) as session:
        session.execute(
            OutreachMessage.__table__.update()
            .where(OutreachMessage.campaign == "promesas")
            .values(priority=100)
        )
    clock = SteppingClock(MORNING.astimezone(UTC))
    run(dispatcher(sessions, graph, clock, daily_recipients=1))
    assert sent_to(sessions) == {"+525511220002"}


def test_a_high_score_never_lets_a_blocked_row_through(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    seed_rows(sessions, {"+525511230001": 0.2, "+525511230002": 0.99, "+525511230003": 0.98})
    clock = SteppingClock(MORNING.astimezone(UTC))
    with db.session_scope(sessions) as session:
        revoke_consent(session, "+525511230002", "BAJA", clock)  # the highest score opted out
        # the next one is outside its contact window: Tijuana is two hours behind
        session.execute(
            Debtor.__table__.update()
            .where(Debtor.phone == "+525511230003")
            .values(time_zone="America/Tijuana", state="Baja California", municipality="Tijuana")
        )
    early = datetime(2026, 11, 23, 8, 30, tzinfo=MORNING.tzinfo).astimezone(UTC)
    for row_phone in ("+525511230001", "+525511230002", "+525511230003"):
        with db.session_scope(sessions) as session:
            session.execute(
                OutreachMessage.__table__.update()
                .where(OutreachMessage.debtor_phone == row_phone)
                .values(not_before=early)
            )
    clock.at = early
    report = run(dispatcher(sessions, graph, clock, daily_recipients=1))
    assert report.dropped == {"opt_out": 1}
    assert report.blocked == {"contact_window": 1}
    by_phone = {r.debtor_phone: r for r in rows(sessions)}
    assert by_phone["+525511230002"].status == "dropped"
    assert by_phone["+525511230003"].status == "planned"
    assert by_phone["+525511230003"].blocked_rule == "contact_window"
    # the budget went to the low score the engine allowed, not to the blocked high ones
    assert sent_to(sessions) == {"+525511230001"}
    assert [m["to"][-4:] for m in graph.messages] == ["0001"]
