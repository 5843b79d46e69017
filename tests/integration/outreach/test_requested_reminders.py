"""A reminder the debtor asks for ("recuérdame") is announced at the moment the campaign that
will send it writes: the next step of the enabled campaign for that kind of commitment
(recordatorio_promesa, recordatorio_parcialidad), for that debtor's audience and zone. When no
campaign will write about it, nothing is scheduled and the debtor is told so. On SQLite and
PostgreSQL, with the shipped campaign files."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.db.models import (
    AgreementInstallment,
    AuditLog,
    Debt,
    OutreachMessage,
    PaymentAgreement,
    Promise,
    Reminder,
)
from cobranza.domain.vocabulary import CommitmentKind
from cobranza.outreach import planner
from cobranza.outreach.campaigns import Campaign
from cobranza.services import reminders
from cobranza.services.consent import grant_consent
from tests.support import outreach as data
from tests.support.outreach import Files

UTC = timezone.utc
CDMX = ZoneInfo("America/Mexico_City")
TIJUANA = ZoneInfo("America/Tijuana")
# Monday 23 November 2026, 08:00 in Mexico City.
MONDAY = datetime(2026, 11, 23, 8, 0, tzinfo=CDMX)
MADE = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)  # when the commitments were made
PHONE = "+525511140001"


def _debt(session: Session, phone: str) -> Debt:
    return session.execute(select(Debt).where(Debt.debtor_phone == phone)).scalar_one()


def promise(session: Session, phone: str, due: date, folio: str = "PP-20261120-AAAAAA") -> None:
    session.add(
        Promise(
            folio=folio,
            debt_id=_debt(session, phone).id,
            debtor_phone=phone,
            amount=Decimal("1000.00"),
            due_date=due,
            channel="whatsapp",
            created_at=MADE,
            updated_at=MADE,
        )
    )
    session.flush()


def agreement(
    session: Session, phone: str, first_due: date, folio: str = "CV-20261120-BBBBBB"
) -> None:
    """Two fortnightly instalments, the first due on ``first_due``."""
    row = PaymentAgreement(
        folio=folio,
        debt_id=_debt(session, phone).id,
        debtor_phone=phone,
        plan_type="installments",
        balance_at_agreement=Decimal("5000.00"),
        total_amount=Decimal("5000.00"),
        channel="whatsapp",
        created_at=MADE,
    )
    session.add(row)
    session.flush()
    for number, due in enumerate((first_due, first_due + timedelta(days=15)), start=1):
        session.add(
            AgreementInstallment(
                agreement_id=row.id, number=number, amount=Decimal("2500.00"), due_date=due
            )
        )
    session.flush()


def ask(
    sessions: sessionmaker,
    campaigns: Mapping[str, Campaign],
    at: datetime,
    phone: str = PHONE,
    zone: str = "America/Mexico_City",
) -> reminders.Scheduled:
    """The debtor says "recuérdame" at ``at``: what the action does, in one unit of work."""
    now = at.astimezone(UTC)
    with db.session_scope(sessions) as session:
        moments = planner.reminder_moments(session, campaigns, phone, now)
        return reminders.schedule(session, phone, "whatsapp", zone, FixedClock(now), moments)


def stored(sessions: sessionmaker) -> list[tuple[str, date, datetime]]:
    with sessions() as session:
        return [
            (r.reference, r.due_on, r.scheduled_for)
            for r in session.execute(select(Reminder).order_by(Reminder.id)).scalars()
        ]


def test_an_instalment_is_reminded_three_days_before_at_ten(
    sessions: sessionmaker, files: Files
) -> None:
    with db.session_scope(sessions) as session:
        data.debtor(session, PHONE)
        agreement(session, PHONE, date(2026, 11, 28))  # in 5 days
    result = ask(sessions, files[0], MONDAY)
    assert result.outcome is reminders.Outcome.SCHEDULED
    assert result.commitment == reminders.Commitment(
        CommitmentKind.INSTALLMENT, "CV-20261120-BBBBBB", date(2026, 11, 28)
    )
    moment = datetime(2026, 11, 25, 10, 0, tzinfo=CDMX)
    assert stored(sessions) == [("CV-20261120-BBBBBB", date(2026, 11, 28), moment)]
    assert result.reminder is not None and result.reminder.scheduled_for == moment
    with sessions() as session:
        (audited,) = session.execute(
            select(AuditLog).where(AuditLog.action == "reminder_scheduled")
        ).scalars()
    assert audited.details == {
        "reference": "CV-20261120-BBBBBB",
        "scheduled_for": moment.isoformat(),
    }


def test_an_instalment_asked_for_two_days_before_is_reminded_on_the_day_at_nine(
    sessions: sessionmaker, files: Files
) -> None:
    with db.session_scope(sessions) as session:
        data.debtor(session, PHONE)
        agreement(session, PHONE, date(2026, 11, 28))
    result = ask(sessions, files[0], datetime(2026, 11, 26, 12, 0, tzinfo=CDMX))
    assert result.outcome is reminders.Outcome.SCHEDULED
    moment = datetime(2026, 11, 28, 9, 0, tzinfo=CDMX)
    assert stored(sessions) == [("CV-20261120-BBBBBB", date(2026, 11, 28), moment)]


def test_a_promise_is_reminded_the_day_before_at_ten_in_the_debtors_zone(
    sessions: sessionmaker, files: Files
) -> None:
    tijuana = "+526641140002"
    with db.session_scope(sessions) as session:
        data.debtor(session, PHONE)
        promise(session, PHONE, date(2026, 11, 26))  # in 3 days
        data.debtor(session, tijuana, data.TIJUANA)
        promise(session, tijuana, date(2026, 11, 26), folio="PP-20261120-CCCCCC")
    assert ask(sessions, files[0], MONDAY).outcome is reminders.Outcome.SCHEDULED
    assert ask(sessions, files[0], MONDAY, tijuana, "America/Tijuana").reminder is not None
    assert stored(sessions) == [
        ("PP-20261120-AAAAAA", date(2026, 11, 26), datetime(2026, 11, 25, 10, 0, tzinfo=CDMX)),
        ("PP-20261120-CCCCCC", date(2026, 11, 26), datetime(2026, 11, 25, 10, 0, tzinfo=TIJUANA)),
    ]


def test_asked_again_the_same_reminder_is_announced_and_nothing_is_added(
    sessions: sessionmaker, files: Files
) -> None:
    with db.session_scope(sessions) as session:
        data.debtor(session, PHONE)
        promise(session, PHONE, date(2026, 11, 26))
    first = ask(sessions, files[0], MONDAY)
    again = ask(sessions, files[0], MONDAY + timedelta(hours=2))
    assert again.outcome is reminders.Outcome.SCHEDULED
    assert first.reminder is not None and again.reminder is not None
    assert again.reminder.id == first.reminder.id and len(stored(sessions)) == 1


def test_the_announced_moment_is_when_the_planner_sends_the_campaign_step(
    sessions: sessionmaker, files: Files
) -> None:
    with db.session_scope(sessions) as session:
        data.debtor(session, PHONE)
        agreement(session, PHONE, date(2026, 11, 28))
    result = ask(sessions, files[0], MONDAY)
    assert result.reminder is not None
    campaigns, templates = files
    for day in range(6):  # the planner runs every day until the instalment
        at = (MONDAY + timedelta(days=day)).astimezone(UTC)
        with db.session_scope(sessions) as session:
            planner.plan(session, campaigns, templates, FixedClock(at), 1)
    with sessions() as session:
        first = session.execute(
            select(OutreachMessage)
            .where(OutreachMessage.reference == "CV-20261120-BBBBBB#1")
            .order_by(OutreachMessage.not_before)
        ).scalars()
        sent_at = [(row.campaign, row.not_before) for row in first]
    assert sent_at[0] == ("recordatorio_parcialidad", result.reminder.scheduled_for)


def test_no_reminder_when_the_campaign_for_that_commitment_is_disabled(
    sessions: sessionmaker, files: Files
) -> None:
    campaigns = dict(files[0])
    off = dataclasses.replace(campaigns["recordatorio_parcialidad"], enabled=False)
    campaigns["recordatorio_parcialidad"] = off
    with db.session_scope(sessions) as session:
        data.debtor(session, PHONE)
        agreement(session, PHONE, date(2026, 11, 28))
    result = ask(sessions, campaigns, MONDAY)
    assert result.outcome is reminders.Outcome.NO_CAMPAIGN and result.reminder is None
    assert result.commitment is not None and result.commitment.due_on == date(2026, 11, 28)
    assert stored(sessions) == []
    with sessions() as session:
        audited = session.execute(select(AuditLog).where(AuditLog.action == "reminder_scheduled"))
        assert audited.scalars().all() == []


def test_no_reminder_when_the_campaigns_audience_leaves_the_debtor_out(
    sessions: sessionmaker, files: Files
) -> None:
    campaigns = dict(files[0])
    promesa = campaigns["recordatorio_promesa"]
    only = dataclasses.replace(promesa.audience, personas=("negociador",))
    campaigns["recordatorio_promesa"] = dataclasses.replace(promesa, audience=only)
    with db.session_scope(sessions) as session:
        data.debtor(session, PHONE)  # persona "estandar"
        promise(session, PHONE, date(2026, 11, 26))
    assert ask(sessions, campaigns, MONDAY).outcome is reminders.Outcome.NO_CAMPAIGN
    assert stored(sessions) == []


def test_consent_granted_in_the_same_unit_of_work_is_seen(
    sessions: sessionmaker, files: Files
) -> None:
    """The action grants consent and schedules in one unit of work: the planner's reading of
    the debtor sees the consent just recorded. Without it, no campaign writes to them."""
    with db.session_scope(sessions) as session:
        data.debtor(session, PHONE, consent=None)
        promise(session, PHONE, date(2026, 11, 26))
    assert ask(sessions, files[0], MONDAY).outcome is reminders.Outcome.NO_CAMPAIGN
    now = MONDAY.astimezone(UTC)
    with db.session_scope(sessions) as session:
        grant_consent(session, PHONE, "whatsapp", "conversación", "https://aviso", FixedClock(now))
        moments = planner.reminder_moments(session, files[0], PHONE, now)
        result = reminders.schedule(
            session, PHONE, "whatsapp", "America/Mexico_City", FixedClock(now), moments
        )
    assert result.outcome is reminders.Outcome.SCHEDULED
    assert stored(sessions) == [
        ("PP-20261120-AAAAAA", date(2026, 11, 26), datetime(2026, 11, 25, 10, 0, tzinfo=CDMX))
    ]


def test_no_commitment_and_too_late(sessions: sessionmaker, files: Files) -> None:
    with db.session_scope(sessions) as session:
        data.debtor(session, PHONE)
    nothing = ask(sessions, files[0], MONDAY)
    assert (nothing.outcome, nothing.commitment) == (reminders.Outcome.NO_COMMITMENT, None)
    with db.session_scope(sessions) as session:
        promise(session, PHONE, date(2026, 11, 23))  # today; 09:00 has passed at 09:30
    late = ask(sessions, files[0], datetime(2026, 11, 23, 9, 30, tzinfo=CDMX))
    assert late.outcome is reminders.Outcome.TOO_LATE and late.reminder is None
    assert stored(sessions) == []


def test_the_portfolio_of_one_debtor_is_theirs_in_the_whole_portfolio(
    sessions: sessionmaker,
) -> None:
    other = "+525511140003"
    with db.session_scope(sessions) as session:
        data.debtor(session, PHONE, balance="7000.00")
        promise(session, PHONE, date(2026, 11, 26))
        agreement(session, PHONE, date(2026, 11, 28))
        data.debtor(session, other)
        promise(session, other, date(2026, 11, 27), folio="PP-20261120-DDDDDD")
    now = MONDAY.astimezone(UTC)
    with sessions() as session:
        whole = planner.read_portfolio(session, now)
        one = planner.read_portfolio(session, now, PHONE)
    assert set(one.debtors) == set(one.debts) == set(one.commitments) == {PHONE}
    day = MONDAY.date()
    assert planner.facts_on(one, PHONE, day) == planner.facts_on(whole, PHONE, day)
    assert set(whole.debtors) == {PHONE, other}
