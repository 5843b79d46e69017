"""The planner: due campaign steps become ``outreach_messages`` rows.

For every debtor with an active debt and a WhatsApp consent in force, and for each local day
from today (in the debtor's zone) for ``days`` days, the pure rules of
:mod:`cobranza.outreach.schedule` say which steps of which campaign fall on that day; each
becomes one row, unique per debtor × campaign × step × day, inserted with ``ON CONFLICT DO
NOTHING``: re-running the planner changes nothing. A row may go out from the step's local hour
(``not_before``) until ``valid_for`` later (``expires_at``); a step whose moment has passed when
it is planned still goes out now if it is valid, unless that moment came before the promise or
agreement it reminds of was made: a promise made at 11:00 for tomorrow gets no "tomorrow"
reminder (10:00 today), only the one on the day.

The planner reads everything in a handful of set queries (debts, consents, promises,
instalments, current scores), not per debtor, so 100,000 debtors plan in seconds. It filters on
consent only to avoid planning what could never be sent; the compliance engine decides at send
time.

Each debtor's current propensity-to-pay score (cobranza/services/scores.py, the latest dated on
or before today) gives the band a campaign's ``score_bands`` select on, and its probability is
copied to the row (``score``): the dispatcher sends higher scores first within a priority when
the tier's daily budget cannot reach everyone. A debtor with no score gets ``NULL`` (sent after
the scored ones) and is outside any band-filtered audience.

:func:`reminder_moments` gives the conversation, for one debtor (the same reading, restricted to
their phone), the moments at which the campaigns will write about a commitment: a reminder the
debtor asks for ("recuérdame") is announced at the next one, never at a moment of its own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from cobranza.clock import Clock
from cobranza.db.models import (
    AgreementInstallment,
    Consent,
    Debt,
    Debtor,
    OutreachMessage,
    PaymentAgreement,
    Promise,
)
from cobranza.domain.vocabulary import (
    AgreementStatus,
    CommitmentKind,
    ConsentStatus,
    DebtStatus,
    InstallmentStatus,
    OutreachStatus,
    PromiseStatus,
)
from cobranza.outreach.campaigns import Campaign, by_priority
from cobranza.outreach.schedule import (
    BrokenPromise,
    Commitment,
    DebtorFacts,
    DueStep,
    commitment_moments,
    due_steps,
    installment_reference,
)
from cobranza.outreach.templates import Template, render_parameters
from cobranza.services import reminders
from cobranza.services.scores import CurrentScore, latest_scores

CHANNEL = "whatsapp"
# Broken promises older than this get no follow-up step any more.
FOLLOW_UP_HORIZON = timedelta(days=14)
LIMIT_WINDOW = 30  # days: a campaign's max_per_debtor_per_30_days
INSERT_CHUNK = 1000


@dataclass(frozen=True)
class Portfolio:
    """What the rules need of each debtor, read in set queries."""

    debtors: dict[str, Any]  # phone → (full_name, time_zone, persona)
    debts: dict[str, list[Any]]  # phone → active debts (days_past_due, balance, as_of)
    commitments: dict[str, list[Commitment]]
    broken: dict[str, list[BrokenPromise]]
    scores: Mapping[str, CurrentScore] = field(default_factory=dict)


@dataclass
class PlanReport:
    debtors: int = 0
    planned: int = 0
    already_planned: int = 0
    by_campaign: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "debtors": self.debtors,
            "planned": self.planned,
            "already_planned": self.already_planned,
            "by_campaign": dict(sorted(self.by_campaign.items())),
        }


def first_name(full_name: str) -> str:
    """The first of the given names: what a template may say before identity is verified."""
    return (full_name.split() or [""])[0]


def _consented(session: Session, phone: str | None = None) -> set[str]:
    """Debtors whose latest WhatsApp consent record is a grant (only ``phone``, if given)."""
    latest = (
        _only(
            select(Consent.debtor_phone, func.max(Consent.recorded_at).label("at")),
            Consent.debtor_phone,
            phone,
        )
        .where(Consent.channel == CHANNEL)
        .group_by(Consent.debtor_phone)
        .subquery()
    )
    rows = session.execute(
        select(Consent.debtor_phone, Consent.status, Consent.id)
        .join(
            latest,
            (Consent.debtor_phone == latest.c.debtor_phone) & (Consent.recorded_at == latest.c.at),
        )
        .where(Consent.channel == CHANNEL)
        .order_by(Consent.id)
    )
    state: dict[str, str] = {}
    for who, status, _ in rows:
        state[who] = status  # ties at one instant: the last recorded wins
    return {who for who, status in state.items() if status == ConsentStatus.GRANTED}


def _only(query: Select, column: Any, phone: str | None) -> Select:
    """``query`` restricted to one debtor's rows when ``phone`` is given."""
    return query if phone is None else query.where(column == phone)


def read_portfolio(session: Session, now: datetime, phone: str | None = None) -> Portfolio:
    """The whole portfolio, or only ``phone``'s part of it (the same queries, restricted): a
    debtor is in it with a WhatsApp consent in force and an active debt with a balance."""
    consented = _consented(session, phone)
    debts: dict[str, list[Any]] = defaultdict(list)
    for who, dpd, balance, as_of in session.execute(
        _only(
            select(
                Debt.debtor_phone, Debt.days_past_due, Debt.current_balance, Debt.balance_as_of
            ).where(Debt.status == DebtStatus.ACTIVE, Debt.current_balance > 0),
            Debt.debtor_phone,
            phone,
        ).order_by(Debt.debtor_phone, Debt.id)
    ):
        if who in consented:
            debts[who].append((dpd, balance, as_of))
    debtors = {
        who: (name, zone, persona)
        for who, name, zone, persona in session.execute(
            _only(
                select(Debtor.phone, Debtor.full_name, Debtor.time_zone, Debtor.persona),
                Debtor.phone,
                phone,
            )
        )
        if who in debts
    }
    commitments: dict[str, list[Commitment]] = defaultdict(list)
    for who, folio, due, made in session.execute(
        _only(
            select(Promise.debtor_phone, Promise.folio, Promise.due_date, Promise.created_at).where(
                Promise.status == PromiseStatus.PENDING
            ),
            Promise.debtor_phone,
            phone,
        )
    ):
        commitments[who].append(Commitment(CommitmentKind.PROMISE, folio, due, made))
    for who, folio, number, due, made in session.execute(
        _only(
            select(
                PaymentAgreement.debtor_phone,
                PaymentAgreement.folio,
                AgreementInstallment.number,
                AgreementInstallment.due_date,
                PaymentAgreement.created_at,
            )
            .join(AgreementInstallment.agreement)
            .where(
                PaymentAgreement.status == AgreementStatus.ACTIVE,
                AgreementInstallment.status == InstallmentStatus.PENDING,
            ),
            PaymentAgreement.debtor_phone,
            phone,
        )
    ):
        commitments[who].append(
            Commitment(CommitmentKind.INSTALLMENT, installment_reference(folio, number), due, made)
        )
    # Scores dated after today (UTC; every Mexican zone is behind it) are not known yet.
    scores = latest_scores(session, debtors.keys(), on=now.date())
    broken = _broken(session, now, debtors, phone)
    return Portfolio(debtors, debts, commitments, broken, scores)


def _broken(
    session: Session, now: datetime, debtors: Mapping[str, Any], phone: str | None = None
) -> dict[str, list[BrokenPromise]]:
    """Promises broken lately with no newer promise on the same debt (a debtor who renewed a
    promise in the conversation needs no follow-up for the old one)."""
    newest_promise: dict[int, datetime] = {
        debt_id: created
        for debt_id, created in session.execute(
            _only(
                select(Promise.debt_id, func.max(Promise.created_at)),
                Promise.debtor_phone,
                phone,
            ).group_by(Promise.debt_id)
        )
    }
    broken: dict[str, list[BrokenPromise]] = defaultdict(list)
    for who, folio, debt_id, resolved in session.execute(
        _only(
            select(Promise.debtor_phone, Promise.folio, Promise.debt_id, Promise.resolved_at).where(
                Promise.status == PromiseStatus.BROKEN,
                Promise.resolved_at >= now - FOLLOW_UP_HORIZON,
            ),
            Promise.debtor_phone,
            phone,
        )
    ):
        if who not in debtors or newest_promise.get(debt_id, resolved) > resolved:
            continue
        zone = ZoneInfo(debtors[who][1])
        broken[who].append(BrokenPromise(folio, resolved.astimezone(zone).date()))
    return broken


def facts_on(portfolio: Portfolio, phone: str, day: date) -> DebtorFacts:
    """The debtor as the rules see them on ``day``: the most overdue debt's days past due
    counted forward from the date its balance was taken, and the total balance."""
    debts = portfolio.debts[phone]
    score = portfolio.scores.get(phone)
    days_past_due = max(dpd + (day - as_of).days if dpd > 0 else 0 for dpd, _, as_of in debts)
    return DebtorFacts(
        phone=phone,
        persona=portfolio.debtors[phone][2],
        days_past_due=max(days_past_due, 0),
        balance=sum((Decimal(balance) for _, balance, _ in debts), Decimal("0")),
        commitments=tuple(portfolio.commitments.get(phone, ())),
        broken=tuple(portfolio.broken.get(phone, ())),
        score_band=score.band if score else None,
    )


def reminder_moments(
    session: Session, campaigns: Mapping[str, Campaign], phone: str, now: datetime
) -> reminders.Moments:
    """When the enabled ``campaigns`` will write to ``phone`` about one of their commitments
    (:func:`~cobranza.outreach.schedule.commitment_moments`, in the debtor's zone), the debtor
    read as the planner reads them, once asked. A reminder the debtor asks for is announced at
    the next of these moments, because that campaign message fulfils it. None for a debtor the
    planner does not plan for (no WhatsApp consent in force, no active debt with a balance)."""

    def moments(commitment: reminders.Commitment) -> list[datetime]:
        portfolio = read_portfolio(session, now, phone)
        if phone not in portfolio.debtors:
            return []
        zone = portfolio.debtors[phone][1]
        facts = facts_on(portfolio, phone, now.astimezone(ZoneInfo(zone)).date())
        return commitment_moments(
            campaigns.values(), facts, commitment.kind, commitment.due_on, zone
        )

    return moments


def _recent_counts(session: Session, today: date) -> dict[tuple[str, str], int]:
    """Rows per (debtor, campaign) planned in the last 30 days that were not dropped."""
    since = today - timedelta(days=LIMIT_WINDOW + 1)  # zones differ by a day at most
    return {
        (phone, campaign): count
        for phone, campaign, count in session.execute(
            select(OutreachMessage.debtor_phone, OutreachMessage.campaign, func.count())
            .where(
                OutreachMessage.planned_on >= since,
                OutreachMessage.status != OutreachStatus.DROPPED,
            )
            .group_by(OutreachMessage.debtor_phone, OutreachMessage.campaign)
        )
    }


def _row(
    phone: str,
    step: DueStep,
    day: date,
    zone: ZoneInfo,
    parameters: list[str],
    now: datetime,
    score: float | None = None,
) -> dict[str, Any] | None:
    moment = datetime.combine(day, step.send_at, tzinfo=zone).astimezone(timezone.utc)
    expires = moment + step.valid_for
    if expires <= now:
        return None  # too late to send
    if step.anchored_at is not None and moment < step.anchored_at:
        return None  # its moment came before the promise or agreement was made
    return {
        "debtor_phone": phone,
        "campaign": step.campaign,
        "step": step.step,
        "planned_on": day,
        "reference": step.reference,
        "template": step.template,
        "parameters": parameters,
        "priority": step.priority,
        "score": score,
        "not_before": max(moment, now),
        "expires_at": expires,
        "status": OutreachStatus.PLANNED.value,
        "attempts": 0,
        "created_at": now,
    }


def candidate_rows(
    portfolio: Portfolio,
    campaigns: Iterable[Campaign],
    templates: Mapping[str, Template],
    now: datetime,
    days: int,
    recent: Mapping[tuple[str, str], int],
) -> Iterator[dict[str, Any]]:
    """Every row the campaigns call for, within each campaign's limit per debtor."""
    ordered = [c for c in campaigns if c.enabled]
    if not ordered:
        return
    for phone, (name, zone_name, _) in portfolio.debtors.items():
        zone = ZoneInfo(zone_name)
        today = now.astimezone(zone).date()
        values = {"nombre": first_name(name)}
        current = portfolio.scores.get(phone)
        probability = current.probability if current else None
        # The debtor on each day, the same whichever campaign asks.
        dated = [
            (day, facts_on(portfolio, phone, day))
            for day in (today + timedelta(days=offset) for offset in range(days))
        ]
        for campaign in ordered:
            budget = campaign.max_per_debtor_per_30_days - recent.get((phone, campaign.name), 0)
            for day, facts in dated:
                for step in due_steps(campaign, facts, day):
                    if budget <= 0:
                        break
                    parameters = render_parameters(templates[step.template], values)
                    row = _row(phone, step, day, zone, parameters, now, probability)
                    if row is not None:
                        budget -= 1
                        yield row


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert, skipping rows already planned (the unique key settles races too)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(OutreachMessage.__table__).on_conflict_do_nothing(
        index_elements=["debtor_phone", "campaign", "step", "planned_on"]
    )
    session.execute(statement, rows)


def plan(
    session: Session,
    campaigns: Mapping[str, Campaign],
    templates: Mapping[str, Template],
    clock: Clock,
    days: int = 1,
) -> PlanReport:
    """Plan the steps falling on the next ``days`` local days (today included)."""
    now = clock.now()
    portfolio = read_portfolio(session, now)
    before = _count(session)
    recent = _recent_counts(session, now.date())
    report = PlanReport(debtors=len(portfolio.debtors))
    chunk: list[dict[str, Any]] = []
    candidates = 0
    for row in candidate_rows(portfolio, by_priority(campaigns), templates, now, days, recent):
        chunk.append(row)
        candidates += 1
        if len(chunk) >= INSERT_CHUNK:
            _insert(session, chunk)
            chunk = []
    if chunk:
        _insert(session, chunk)
    session.flush()
    report.planned = _count(session) - before
    report.already_planned = candidates - report.planned
    for campaign, count in session.execute(
        select(OutreachMessage.campaign, func.count())
        .where(OutreachMessage.created_at == now)
        .group_by(OutreachMessage.campaign)
    ):
        report.by_campaign[campaign] = count
    return report


def _count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(OutreachMessage)).scalar_one())
