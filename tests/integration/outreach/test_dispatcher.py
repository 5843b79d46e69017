"""The dispatcher against a real database (SQLite and PostgreSQL) and a loopback fake of the
Graph API that knows the approved templates: at most once under a crash between marking and
sending, outcomes recorded from what Meta's answer proves, the compliance engine asked at send
time, the tier's daily budget, status callbacks settling rows, and two workers sharing a table.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.db.models import AuditLog, ContactAttempt, OutreachMessage, Reminder
from cobranza.domain.vocabulary import ContactOutcome, OutreachStatus
from cobranza.outreach.dispatcher import DispatchReport
from cobranza.outreach.pacing import Pacer
from cobranza.outreach.statuses import apply_callback
from cobranza.services.consent import revoke_consent
from cobranza.simulation.fake_graph import FakeGraphAPI
from tests.support import outreach as data
from tests.support.clock import SteppingClock
from tests.support.outreach import MORNING, UTC, dispatcher, rows, run, seed

CDMX = ZoneInfo("America/Mexico_City")


def test_a_due_row_is_sent_once_with_its_template_and_counted(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    seed(sessions, "+525511110001")
    clock = SteppingClock(MORNING.astimezone(UTC))
    report = run(dispatcher(sessions, graph, clock))
    assert (report.claimed, report.sent) == (1, 1)
    [payload] = graph.messages
    assert payload["to"] == "5215511110001"
    assert payload["template"]["name"] == "aviso_cuenta"
    assert payload["template"]["components"][0]["parameters"] == [{"type": "text", "text": "Laura"}]
    [row] = rows(sessions)
    assert (row.status, row.wamid, row.sent_at) == ("sent", graph.message_ids[0], clock.at)
    with sessions() as session:
        attempt = session.execute(select(ContactAttempt)).scalar_one()
        assert (attempt.outcome, attempt.initiated_by) == ("sent", "campaign:temprana")
        assert row.contact_attempt_id == attempt.id
        actions = session.execute(select(AuditLog.action)).scalars().all()
        assert actions.count("outreach_sent") == 1 and "contact_decision" in actions
    # Running again sends nothing more.
    assert run(dispatcher(sessions, graph, clock)).claimed == 0
    assert len(graph.messages) == 1


def test_a_crash_between_marking_and_sending_never_sends_the_row(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    seed(sessions, "+525511110002")
    clock = SteppingClock(MORNING.astimezone(UTC))
    crashed = dispatcher(sessions, graph, clock)
    claimed = crashed.claim(DispatchReport())  # committed: marked sending; then the process dies
    assert len(claimed) == 1 and rows(sessions)[0].status == "sending"
    for minutes in (1, 5, 11):  # restarts before and after the sending timeout
        clock.at = MORNING.astimezone(UTC) + timedelta(minutes=minutes)
        run(dispatcher(sessions, graph, clock))
    assert graph.request_count == 0
    [row] = rows(sessions)
    assert (row.status, row.status_reason) == ("unknown", "no_answer_recorded")
    with sessions() as session:  # it still counts towards the caps: it may have gone out
        assert session.execute(select(ContactAttempt.outcome)).scalar_one() == "sending"


def test_a_throttled_send_is_rescheduled_explicitly_and_sent_later(sessions: sessionmaker) -> None:
    seed(sessions, "+525511110003")
    clock = SteppingClock(MORNING.astimezone(UTC))
    with FakeGraphAPI(
        data.TOKEN, data.PHONE_ID, fail_plan={1: 429}, templates=data.REGISTERED
    ) as graph:
        report = run(dispatcher(sessions, graph, clock))
        assert (report.rescheduled, report.sent) == (1, 0)
        [row] = rows(sessions)
        assert (row.status, row.blocked_rule, row.attempts) == ("planned", "throttled", 1)
        assert row.not_before == clock.at + timedelta(seconds=30)
        with sessions() as session:  # not sent: the attempt no longer counts towards the caps
            assert session.execute(select(ContactAttempt.outcome)).scalar_one() == "not_sent"
        assert run(dispatcher(sessions, graph, clock)).claimed == 0  # not before its time
        clock.at += timedelta(seconds=31)
        assert run(dispatcher(sessions, graph, clock)).sent == 1
        assert len(graph.messages) == 1 and graph.request_count == 2
    with sessions() as session:  # each claim records its attempt; the row points at the last
        attempts = session.execute(select(ContactAttempt).order_by(ContactAttempt.id)).scalars()
        first, second = attempts.all()
        assert (first.outcome, second.outcome) == ("not_sent", "sent")
        assert rows(sessions)[0].contact_attempt_id == second.id


def test_a_server_error_leaves_the_row_unknown_and_never_retried(sessions: sessionmaker) -> None:
    seed(sessions, "+525511110004")
    clock = SteppingClock(MORNING.astimezone(UTC))
    with FakeGraphAPI(
        data.TOKEN, data.PHONE_ID, fail_plan={1: 500}, templates=data.REGISTERED
    ) as graph:
        assert run(dispatcher(sessions, graph, clock)).unknown == 1
        clock.at += timedelta(days=1)
        run(dispatcher(sessions, graph, clock))
        assert graph.request_count == 1
    assert rows(sessions)[0].status == "unknown"


def test_a_template_meta_does_not_know_fails_for_good(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    seed(sessions, "+525511110005")
    with db.session_scope(sessions) as session:
        session.execute(select(OutreachMessage)).scalar_one().template = "aviso_cuenta"
    clock = SteppingClock(MORNING.astimezone(UTC))
    refused = FakeGraphAPI(data.TOKEN, data.PHONE_ID, templates={"otra": 1})
    with refused:
        assert run(dispatcher(sessions, refused, clock)).failed == 1
    [row] = rows(sessions)
    assert (row.status, row.status_reason) == ("failed", "graph_132001")


def test_outside_the_window_the_row_waits_for_the_next_opening_in_the_debtors_zone(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    late = datetime(2026, 11, 23, 22, 30, tzinfo=ZoneInfo("America/Tijuana"))
    seed(sessions, "+526641110006", place=data.TIJUANA, at=late)
    clock = SteppingClock(late.astimezone(UTC))
    report = run(dispatcher(sessions, graph, clock))
    assert report.blocked == {"contact_window": 1} and graph.request_count == 0
    [row] = rows(sessions)
    opening = datetime(2026, 11, 24, 7, 0, tzinfo=ZoneInfo("America/Tijuana"))
    assert (row.status, row.blocked_rule, row.not_before) == ("planned", "contact_window", opening)
    clock.at = opening.astimezone(UTC)
    assert run(dispatcher(sessions, graph, clock)).sent == 1


def test_weekdays_only_holds_a_saturday_row_until_monday(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    saturday = datetime(2026, 11, 28, 10, 0, tzinfo=CDMX)
    seed(sessions, "+525511110007", at=saturday)
    clock = SteppingClock(saturday.astimezone(UTC))
    report = run(dispatcher(sessions, graph, clock, weekdays_only=True))
    assert report.blocked == {"weekday": 1}
    monday = datetime(2026, 11, 30, 7, 0, tzinfo=CDMX)
    assert rows(sessions)[0].not_before == monday


def test_an_opt_out_drops_the_row_and_nothing_is_sent(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    seed(sessions, "+525511110008")
    clock = SteppingClock(MORNING.astimezone(UTC))
    with db.session_scope(sessions) as session:
        revoke_consent(session, "+525511110008", "BAJA", clock)
    report = run(dispatcher(sessions, graph, clock))
    assert report.dropped == {"opt_out": 1} and graph.request_count == 0
    assert rows(sessions)[0].status == "dropped"


def test_the_daily_cap_of_one_message_per_debtor_holds_a_second_campaign(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    seed(sessions, "+525511110009")
    with db.session_scope(sessions) as session:
        data.planned(session, "+525511110009", MORNING.astimezone(UTC), campaign="promesas")
    clock = SteppingClock(MORNING.astimezone(UTC))
    report = run(dispatcher(sessions, graph, clock))
    assert (report.sent, report.blocked) == (1, {"daily_cap": 1})
    held = next(r for r in rows(sessions) if r.status == "planned")
    assert held.not_before == datetime(2026, 11, 24, 7, 0, tzinfo=CDMX)


def test_the_tiers_unique_recipients_budget_holds_the_rest_for_24_hours(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    seed(sessions, "+525511110010", "+525511110011", "+525511110012")
    clock = SteppingClock(MORNING.astimezone(UTC))
    report = run(dispatcher(sessions, graph, clock, daily_recipients=2))
    assert (report.sent, report.blocked) == (2, {"daily_recipients": 1})
    held = next(r for r in rows(sessions) if r.status == "planned")
    assert held.not_before == clock.at + timedelta(hours=24, seconds=1)


def test_status_callbacks_settle_rows_forward_only_even_before_the_wamid_is_stored(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    seed(sessions, "+525511110013")
    clock = SteppingClock(MORNING.astimezone(UTC))
    run(dispatcher(sessions, graph, clock))
    wamid = graph.message_ids[0]
    later = clock.at + timedelta(seconds=5)
    with db.session_scope(sessions) as session:
        assert apply_callback(session, wamid, "read", later, None)
        assert not apply_callback(session, wamid, "delivered", later, None)  # late, older news
        assert not apply_callback(session, wamid, "read", later, None)  # a duplicate
        assert not apply_callback(session, "wamid.someone-else", "read", later, None)
    [row] = rows(sessions)
    assert (row.status, row.settled_at) == ("read", later)
    with db.session_scope(sessions) as session:
        assert apply_callback(session, wamid, "failed", later, 131026)
    assert (rows(sessions)[0].status, rows(sessions)[0].status_reason) == ("failed", "graph_131026")


def test_two_workers_at_once_send_each_row_once(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    phones = [f"+5255111200{n:02d}" for n in range(30)]
    seed(sessions, *phones)
    clock = SteppingClock(MORNING.astimezone(UTC))
    assert data.drain_at_once(sessions, lambda: dispatcher(sessions, graph, clock)) == []
    sent_to = [m["to"] for m in graph.messages]
    assert len(sent_to) == len(set(sent_to))
    with sessions() as session:
        counts = dict(
            session.execute(
                select(OutreachMessage.status, func.count()).group_by(OutreachMessage.status)
            ).all()
        )
    assert counts.get("sent", 0) == len(sent_to)
    if sessions.kw["bind"].dialect.name == "postgresql":
        assert counts == {"sent": 30}


def _fake_time() -> tuple[list[float], Callable[[float], Awaitable[None]]]:
    clock = [0.0]

    async def sleep(seconds: float) -> None:
        clock[0] += seconds

    return clock, sleep


def _most_in_one_second(instants: list[float]) -> int:
    return max(
        sum(1 for other in instants if start <= other < start + 1.0 - 1e-9) for start in instants
    )


def test_the_pacer_never_lets_more_than_the_rate_out_in_any_second() -> None:
    clock, sleep = _fake_time()
    pacer = Pacer(80, monotonic=lambda: clock[0], sleep=sleep)

    async def burst() -> list[float]:
        return [await pacer.wait() for _ in range(400)]

    instants = asyncio.run(burst())
    assert _most_in_one_second(instants) == 80
    gaps = [b - a for a, b in itertools.pairwise(instants)]
    assert min(gaps) >= 1 / 160 - 1e-12  # never closer than half a slot: no burst of 80
    assert instants[-1] - instants[0] <= (400 - 1) / 80  # never behind 80 per second
    with pytest.raises(ValueError):
        Pacer(0)


def test_the_pacer_catches_up_after_a_late_wake_up_without_exceeding_the_rate() -> None:
    clock, sleep = _fake_time()
    pacer = Pacer(80, monotonic=lambda: clock[0], sleep=sleep)

    async def with_a_stall() -> list[float]:
        instants = []
        for n in range(320):
            instants.append(await pacer.wait())
            if n == 100:
                clock[0] += 0.3  # the event loop was busy for 300 ms
        return instants

    instants = asyncio.run(with_a_stall())
    assert _most_in_one_second(instants) <= 80
    # The stall costs no throughput: 320 sends take no longer than 320 slots of 1/80 s would
    # without any stall (fixed slots would have lost the 300 ms for good: 4.29 s).
    assert instants[-1] - instants[0] <= (320 - 1) / 80


def test_a_slow_rate_allows_one_send_per_period() -> None:
    clock, sleep = _fake_time()
    pacer = Pacer(0.5, monotonic=lambda: clock[0], sleep=sleep)

    async def three() -> list[float]:
        return [await pacer.wait() for _ in range(3)]

    assert asyncio.run(three()) == [0.0, 2.0, 4.0]


def test_contact_outcome_codes_are_the_stored_values() -> None:
    assert ContactOutcome.NOT_SENT == "not_sent" and OutreachStatus.SENDING == "sending"


def test_a_reminder_the_debtor_asked_for_is_fulfilled_by_the_campaign_message(
    sessions: sessionmaker, graph: FakeGraphAPI
) -> None:
    seed(sessions, "+525511110014")
    clock = SteppingClock(MORNING.astimezone(UTC))
    with db.session_scope(sessions) as session:
        row = session.execute(select(OutreachMessage)).scalar_one()
        row.reference = "PP-20261120-AAAA"
        session.add(
            Reminder(
                debtor_phone="+525511110014",
                channel="whatsapp",
                reference="PP-20261120-AAAA",
                due_on=date(2026, 11, 24),
                scheduled_for=MORNING.astimezone(UTC),
                status="pending",
                created_at=MORNING.astimezone(UTC) - timedelta(days=2),
            )
        )
    run(dispatcher(sessions, graph, clock))
    with sessions() as session:
        reminder = session.execute(select(Reminder)).scalar_one()
    assert (reminder.status, reminder.status_reason) == ("sent", "campaign:temprana")
