"""The planner with the shipped campaign and template files, on SQLite and PostgreSQL: which
steps become rows (and their moment, expiry, template and parameters), idempotency, consent,
commitments, broken-promise follow-ups, and each campaign's limit per debtor."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cobranza import db
from cobranza.db.models import Debt, OutreachMessage, Promise
from cobranza.domain.vocabulary import CommitmentKind, ConsentStatus, PromiseStatus
from cobranza.outreach import planner
from cobranza.services import reminders
from tests.support import outreach as data
from tests.support.clock import SteppingClock
from tests.support.outreach import Files

UTC = timezone.utc
CDMX = ZoneInfo("America/Mexico_City")
# Monday 23 November 2026, 08:00 in Mexico City; the balances were taken on 1 November.
MORNING = datetime(2026, 11, 23, 8, 0, tzinfo=CDMX)
AS_OF = date(2026, 11, 1)


def plan(sessions: sessionmaker, files: Files, at: datetime, days: int = 1) -> planner.PlanReport:
    campaigns, templates = files
    with db.session_scope(sessions) as session:
        return planner.plan(session, campaigns, templates, SteppingClock(at.astimezone(UTC)), days)


def planned(sessions: sessionmaker) -> list[tuple[str, str, str, str | None]]:
    with sessions() as session:
        return [
            (r.debtor_phone, r.campaign, r.step, r.reference)
            for r in session.execute(
                select(OutreachMessage).order_by(OutreachMessage.debtor_phone, OutreachMessage.id)
            ).scalars()
        ]


def promise(
    session: Session,
    phone: str,
    due: date,
    status: str = PromiseStatus.PENDING,
    resolved: datetime | None = None,
    folio: str = "PRM-20261120-0001",
    made: datetime = datetime(2026, 11, 18, tzinfo=UTC),
) -> None:
    debt = session.execute(select(Debt).where(Debt.debtor_phone == phone)).scalar_one()
    session.add(
        Promise(
            folio=folio,
            debt_id=debt.id,
            debtor_phone=phone,
            amount=Decimal("1000.00"),
            due_date=due,
            channel="whatsapp",
            status=status,
            created_at=made,
            updated_at=made,
            resolved_at=resolved,
        )
    )


def test_the_first_day_overdue_plans_the_first_notice_with_its_moment_once(
    sessions: sessionmaker, files: Files
) -> None:
    with db.session_scope(sessions) as session:
        data.debtor(session, "+525511130001", days_past_due=0)  # current: no delinquency step
        data.debtor(session, "+525511130002", days_past_due=1, as_of=date(2026, 11, 23))
        data.debtor(
            session, "+526641130003", data.TIJUANA, days_past_due=1, as_of=date(2026, 11, 23)
        )
    report = plan(sessions, files, MORNING)
    assert report.planned == 2 and report.by_campaign == {"temprana_1_30": 2}
    with sessions() as session:
        rows = {r.debtor_phone: r for r in session.execute(select(OutreachMessage)).scalars()}
    first = rows["+525511130002"]
    assert (first.step, first.template, first.parameters) == (
        "primer_aviso",
        "aviso_cuenta",
        ["Laura"],
    )
    assert first.not_before == datetime(2026, 11, 23, 10, 0, tzinfo=CDMX)
    assert first.expires_at == first.not_before + timedelta(hours=48)
    assert first.priority == 70 and first.planned_on == date(2026, 11, 23)
    tijuana = rows["+526641130003"]
    assert tijuana.not_before == datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("America/Tijuana"))
    # Planning again, later the same day, plans nothing more.
    again = plan(sessions, files, MORNING + timedelta(hours=3))
    assert (again.planned, again.already_planned) == (0, 2)
    assert len(planned(sessions)) == 2


def test_a_step_planned_after_its_hour_goes_out_now_and_an_expired_one_is_not_planned(
    sessions: sessionmaker, files: Files
) -> None:
    with db.session_scope(sessions) as session:
        data.debtor(session, "+525511130004", days_past_due=1, as_of=date(2026, 11, 23))
    late = datetime(2026, 11, 23, 15, 0, tzinfo=CDMX)
    plan(sessions, files, late)
    with sessions() as session:
        row = session.execute(select(OutreachMessage)).scalar_one()
    assert row.not_before == late
    # A promise due today whose reminder window (09:00 + 8 h) is over by 18:00 is not planned.
    with db.session_scope(sessions) as session:
        data.debtor(session, "+525511130005")
        promise(session, "+525511130005", date(2026, 11, 23))
    plan(sessions, files, datetime(2026, 11, 23, 18, 0, tzinfo=CDMX))
    assert [p for p in planned(sessions) if p[0] == "+525511130005"] == []


def test_no_consent_or_a_revoked_one_plans_nothing(sessions: sessionmaker, files: Files) -> None:
    with db.session_scope(sessions) as session:
        data.debtor(
            session, "+525511130006", days_past_due=1, as_of=date(2026, 11, 23), consent=None
        )
        data.debtor(
            session,
            "+525511130007",
            days_past_due=1,
            as_of=date(2026, 11, 23),
            consent=ConsentStatus.REVOKED,
        )
    assert plan(sessions, files, MORNING).planned == 0


def test_promise_reminders_the_day_before_and_on_the_day(
    sessions: sessionmaker, files: Files
) -> None:
    with db.session_scope(sessions) as session:
        data.debtor(session, "+525511130008", days_past_due=12)
        promise(session, "+525511130008", date(2026, 11, 24))
    report = plan(sessions, files, MORNING, days=2)
    assert planned(sessions) == [
        ("+525511130008", "recordatorio_promesa", "dia_anterior", "PRM-20261120-0001"),
        ("+525511130008", "recordatorio_promesa", "dia_de_pago", "PRM-20261120-0001"),
    ]
    assert report.planned == 2


def test_no_reminder_whose_moment_came_before_the_promise_was_made(
    sessions: sessionmaker, files: Files
) -> None:
    """A promise made at 11:00 for tomorrow gets no "tomorrow" reminder (10:00 today, still
    valid until 20:00): only the one on the day. Made at 09:30, it gets both."""
    late, early = "+525511130020", "+525511130021"
    at_eleven = datetime(2026, 11, 23, 11, 0, tzinfo=CDMX)
    at_half_past_nine = datetime(2026, 11, 23, 9, 30, tzinfo=CDMX)
    tomorrow = date(2026, 11, 24)
    with db.session_scope(sessions) as session:
        data.debtor(session, late, days_past_due=12)
        promise(session, late, tomorrow, folio="PRM-20261123-0011", made=at_eleven)
        data.debtor(session, early, days_past_due=12)
        promise(session, early, tomorrow, folio="PRM-20261123-0012", made=at_half_past_nine)
    plan(sessions, files, at_half_past_nine + timedelta(minutes=15), days=2)  # every 15 min
    plan(sessions, files, at_eleven + timedelta(minutes=5), days=2)
    assert sorted(planned(sessions)) == [
        (late, "recordatorio_promesa", "dia_de_pago", "PRM-20261123-0011"),
        (early, "recordatorio_promesa", "dia_anterior", "PRM-20261123-0012"),
        (early, "recordatorio_promesa", "dia_de_pago", "PRM-20261123-0012"),
    ]
    # The first reminder each one gets is at the moment the assistant said it would be.
    with sessions() as session:
        first = {
            r.debtor_phone: r.not_before
            for r in session.execute(
                select(OutreachMessage).order_by(OutreachMessage.not_before.desc())
            ).scalars()
        }
        for phone, folio, asked in (
            (late, "PRM-20261123-0011", at_eleven),
            (early, "PRM-20261123-0012", at_half_past_nine),
        ):
            moments = planner.reminder_moments(session, files[0], phone, asked.astimezone(UTC))
            commitment = reminders.Commitment(CommitmentKind.PROMISE, folio, tomorrow)
            assert reminders.next_moment(moments(commitment), asked) == first[phone]


def test_a_broken_promise_is_followed_up_the_next_business_day_unless_renewed(
    sessions: sessionmaker, files: Files
) -> None:
    friday_night = datetime(2026, 11, 20, 23, 59, tzinfo=CDMX)
    with db.session_scope(sessions) as session:
        data.debtor(session, "+525511130009", days_past_due=12)
        promise(session, "+525511130009", date(2026, 11, 18), PromiseStatus.BROKEN, friday_night)
        data.debtor(session, "+525511130010", days_past_due=12)
        promise(
            session,
            "+525511130010",
            date(2026, 11, 18),
            PromiseStatus.BROKEN,
            friday_night,
            folio="PRM-20261120-0002",
        )
        promise(session, "+525511130010", date(2026, 11, 27), folio="PRM-20261121-0003")
        session.flush()
        session.execute(
            Promise.__table__.update()
            .where(Promise.folio == "PRM-20261121-0003")
            .values(created_at=datetime(2026, 11, 22, tzinfo=UTC))  # renewed after it broke
        )
    plan(sessions, files, MORNING)  # Monday: the next business day after Friday
    follow_ups = [p for p in planned(sessions) if p[1] == "promesa_incumplida"]
    assert follow_ups == [
        ("+525511130009", "promesa_incumplida", "dia_habil_siguiente", "PRM-20261120-0001")
    ]


def test_a_campaigns_limit_per_debtor_holds_across_runs(
    sessions: sessionmaker, files: Files
) -> None:
    campaigns, _ = files
    with db.session_scope(sessions) as session:
        data.debtor(session, "+525511130011", days_past_due=1, as_of=date(2026, 11, 1))
    # 31–60 is weekly from day 31; plan 31 days so several steps fall; the limit is 5 in 30 days.
    start = datetime(2026, 11, 30, 8, 0, tzinfo=CDMX)
    plan(sessions, files, start, days=31)
    rows = [p for p in planned(sessions) if p[1] == "media_31_60"]
    assert 0 < len(rows) <= campaigns["media_31_60"].max_per_debtor_per_30_days
