"""Small hand-built portfolios for the outreach and reconciliation tests: a creditor, debtors
in chosen zones with one debt each and a WhatsApp consent, and outreach rows; and dispatchers
draining one table at once, each in a thread of its own; the dispatcher as the outreach tests
run it (settings, a Graph client, one round, the rows, a seeded table). The rows' columns are those of
cobranza/testing/synthetic_portfolio.py, which the benches' portfolios use too."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cobranza import db
from cobranza.clock import Clock
from cobranza.config import OutreachSettings, Settings, load_settings
from cobranza.db.models import Consent, Creditor, Debt, Debtor, OutreachMessage
from cobranza.domain.vocabulary import ConsentStatus, OutreachStatus
from cobranza.outreach import templates
from cobranza.outreach.campaigns import Campaign
from cobranza.outreach.dispatcher import Dispatcher, DispatchReport
from cobranza.outreach.graph import GraphClient
from cobranza.simulation.fake_graph import FakeGraphAPI
from cobranza.testing import synthetic_portfolio
from cobranza.testing.synthetic_portfolio import (
    consent_row,
    creditor_row,
    debt_row,
    debtor_row,
    message_row,
)

TOKEN = "graph-token"
PHONE_ID = "1234567890"
SINCE = synthetic_portfolio.SINCE  # when the debtors and consents were recorded
UTC = timezone.utc
MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("America/Mexico_City"))  # a Monday

# The shipped campaigns and templates, as load_outreach returns them (the ``files`` fixture).
Files = tuple[dict[str, Campaign], dict[str, templates.Template]]


@dataclass(frozen=True)
class Place:
    state: str
    municipality: str
    zone: str


MEXICO_CITY = Place("Ciudad de México", "Coyoacán", "America/Mexico_City")
TIJUANA = Place("Baja California", "Tijuana", "America/Tijuana")
CANCUN = Place("Quintana Roo", "Benito Juárez", "America/Cancun")


@dataclass(frozen=True)
class Button:
    payload: str


@dataclass(frozen=True)
class Template:
    """What the dispatcher needs of a registered template."""

    name: str
    language: str = "es_MX"
    buttons: tuple[Button, ...] = ()
    parameters: tuple[str, ...] = ("nombre",)


TEMPLATES = {"aviso_cuenta": Template("aviso_cuenta", buttons=(Button("/saludar"),))}
REGISTERED = {"aviso_cuenta": 1}  # what the fake Graph API knows: name → body parameters


def creditor(session: Session) -> Creditor:
    found = session.query(Creditor).filter_by(code="demo").one_or_none()
    if found is not None:
        return found
    row = Creditor(**creditor_row("demo", "Demo", "Demo Financiera S.A. de C.V."))
    session.add(row)
    session.flush()
    return row


def debtor(
    session: Session,
    phone: str,
    place: Place = MEXICO_CITY,
    *,
    consent: str | None = ConsentStatus.GRANTED,
    balance: str = "5000.00",
    days_past_due: int = 10,
    as_of: date = date(2026, 11, 1),
    since: datetime = SINCE,
) -> Debtor:
    """A debtor with one active debt and (unless ``consent`` is None) a WhatsApp consent."""
    town = place.municipality
    row = Debtor(**debtor_row(phone, place.state, place.zone, municipality=town, since=since))
    session.add(row)
    session.flush()
    owed = {"current_balance": Decimal(balance), "days_past_due": days_past_due}
    contract = f"CTR-{phone[-8:]}"
    session.add(Debt(**debt_row(phone, creditor(session).id, contract, as_of, **owed)))
    if consent is not None:
        session.add(Consent(**consent_row(phone, consent, recorded_at=since)))
    session.flush()
    return row


def planned(
    session: Session,
    phone: str,
    not_before: datetime,
    *,
    campaign: str = "temprana",
    step: str = "primer_contacto",
    template: str = "aviso_cuenta",
    parameters: tuple[str, ...] = ("Laura",),
    valid_for: timedelta = timedelta(hours=48),
) -> OutreachMessage:
    columns = message_row(
        phone,
        campaign,
        step,
        not_before,
        OutreachStatus.PLANNED,
        template=template,
        parameters=list(parameters),
        expires_at=not_before + valid_for,
    )
    row = OutreachMessage(**columns)
    session.add(row)
    session.flush()
    return row


def drain_at_once(
    sessions: sessionmaker, make: Callable[[], Dispatcher], workers: int = 2, batch: int = 7
) -> list[BaseException]:
    """``workers`` dispatchers from ``make`` draining the table at the same time, each in a thread
    and an event loop of its own, in batches of ``batch`` rows so that their rounds interleave;
    what they raised. On SQLite, which has one writer, a worker may meet a locked database and
    stop: that is left out (sending nothing twice is the caller's to check)."""
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            dispatch = make()
            dispatch.batch = batch

            async def drain() -> None:
                try:
                    await dispatch.drain()
                finally:
                    await dispatch.sender.close()  # type: ignore[attr-defined]

            asyncio.run(drain())
        except BaseException as error:  # noqa: BLE001 - returned to the test
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if sessions.kw["bind"].dialect.name == "sqlite":
        errors = [e for e in errors if "database is locked" not in str(e)]
    return errors


def settings(**outreach: object) -> Settings:
    """The default settings with these outreach settings."""
    base = load_settings({})
    return Settings(
        **{**base.__dict__, "outreach": OutreachSettings(**outreach)}  # type: ignore[arg-type]
    )


def client(graph: FakeGraphAPI, timeout: float = 5.0) -> GraphClient:
    return graph.client(timeout_seconds=timeout)


def dispatcher(
    sessions: sessionmaker, graph: FakeGraphAPI, clock: Clock, **outreach: object
) -> Dispatcher:
    return Dispatcher(sessions, settings(**outreach), clock, client(graph), TEMPLATES)


def run(dispatch: Dispatcher) -> DispatchReport:
    """One round of ``dispatch``, its client closed after."""

    async def once() -> DispatchReport:
        try:
            return await dispatch.run_once()
        finally:
            await dispatch.sender.close()  # type: ignore[attr-defined]

    return asyncio.run(once())


def rows(sessions: sessionmaker) -> list[OutreachMessage]:
    with sessions() as session:
        return list(session.execute(select(OutreachMessage).order_by(OutreachMessage.id)).scalars())


def seed(sessions: sessionmaker, *phones: str, at: datetime = MORNING, **kwargs: object) -> None:
    """A debtor for each of ``phones`` (``kwargs``: see :func:`debtor`), each with a first
    notice planned ``at``."""
    with db.session_scope(sessions) as session:
        for phone in phones:
            debtor(session, phone, **kwargs)  # type: ignore[arg-type]
            planned(session, phone, at.astimezone(UTC))
