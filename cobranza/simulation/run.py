"""``cobranza simulate``: a month in a minute. The whole outbound loop on a copy of the demo
portfolio, with a clock of its own, and the compliance invariants checked at the end.

**The database** is a fresh temporary SQLite file (or an empty database the caller names, e.g.
PostgreSQL), migrated, loaded with the demo portfolio cut on the start date. ``debtors`` keeps
the 7 documented debtors and the first ``debtors − 7`` generated ones: the generator draws them
in sequence, so generating fewer gives exactly the first ones of the full portfolio (no rows to
delete). The demo's places rotate through 41 municipalities covering all 12 Mexican zones, so
48 debtors or more span every zone (the report lists them).

**The clock** (:class:`SimClock`) starts at ``start`` and moves in steps of ``step`` from 05:00
to 01:00 the next day, Mexico City time, then jumps overnight. That span covers every zone's
07:00 opening (Cancún opens at 06:00 Mexico City) and 22:00 closing (Tijuana closes at 00:00)
with steps on both sides, and the steps fall on the hour and half hour, where the window's
edges are: a window bug would be hit. Each step:

1. the events that fell due since the previous step, in time order, with the clock at each
   event's instant: Meta's status callbacks (stored in ``whatsapp_statuses`` and applied with
   :func:`cobranza.outreach.statuses.apply_callback`, as the channel's store does), the
   debtor's replies (:func:`cobranza.outreach.replies.record_reply`, as the store does for a
   message answering a campaign), promises (:func:`cobranza.services.promises.record_promise`),
   opt-outs (:func:`cobranza.services.consent.revoke_consent`) and payments; the payments of
   the step are imported as one bank file (:func:`cobranza.services.reconciliation.
   import_payments`: the real matching path, by contract number or convenience-store reference);
   the channel itself (``cobranza.channels``) is an entry point this layer may not import;
2. the first step of a day settles the commitments (with the persona profiles: broken promises
   make reincidentes) and draws the day's spontaneous payments; the planner runs then and at
   :data:`PLAN_HOURS` (the worker plans every 15 minutes; a few times a day catches a promise
   made today for tomorrow);
3. the dispatcher drains what is due, through a real Graph client, to a
   :class:`~cobranza.simulation.fake_graph.FakeGraphAPI` that knows the templates (names and
   parameter counts), with a pacer too fast to wait: the simulated clock does not move while
   it sends;
4. every message the fake accepted since the last step, in row order, gets its debtor's
   behaviour drawn (:mod:`cobranza.simulation.behaviour`: assumptions, not data) with one
   seeded ``random.Random``: delivered or not, read, replied, right party (drawn, then verified
   with the date of birth on record through the identity service), opt-out, promise, and
   whether the promise is kept, partly paid or broken. Same seed, same run: the report is identical.

No conversation runs: replies and promises are drawn, not parsed (docs/simulation.md).

**Message experiments** (docs/experiments.md): the dispatcher honours the enabled experiments of
``experiments/`` as in production — each debtor gets their arm's template and the exposure is
recorded when the fake accepts it — and the report ends with each experiment's results as
``cobranza experiments report`` computes them. The database carries a ``simulation_started``
audit row, so those results — here, or from ``cobranza experiments report`` on a database kept
with ``--database`` — say they are simulated. The behaviour model does not read the template,
so the arms differ only by chance: an A/A test on simulated debtors.

**Ordering experiments** (docs/simulation.md, "Score-ordered vs random outreach"). Three
options, all off by default (the run is then exactly the one above): ``daily_recipients``
overrides the tier's unique-recipient budget so it binds; ``model`` (a trained scoring model)
scores every debtor at the first step of each day, after the snapshots, as of the day that
ended (as ``cobranza score run`` does; the first day, as of the day before the start), so the
planner copies the scores onto the rows it plans; ``order="random"`` then overwrites the
``score`` of each row just planned with a number from its own seeded generator, so the
dispatcher's order within a priority is random while everything else (audiences, caps, the
behaviour draws' code path) stays the same. ``order="score"`` needs a model.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random
import shutil
import tempfile
import time as time_module
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from cobranza import bootstrap, db
from cobranza.bootstrap import App
from cobranza.compliance.rules import debtor_zone
from cobranza.config import Secret, Settings
from cobranza.db import audit
from cobranza.db import repository as repo
from cobranza.db.models import Debt, Debtor, OutreachMessage, Payment, Promise, WhatsAppStatus
from cobranza.demo.data import demo_data
from cobranza.demo.portfolio import load_demo
from cobranza.domain.delinquency import bucket_for
from cobranza.domain.payment_files import PaymentRow
from cobranza.domain.phones import whatsapp_id
from cobranza.domain.vocabulary import AuditAction, DebtStatus, OutreachStatus, PromiseStatus
from cobranza.errors import CobranzaError
from cobranza.outreach import worker
from cobranza.outreach.campaigns import BROKEN_PROMISE
from cobranza.outreach.dispatcher import Dispatcher, DispatchReport
from cobranza.outreach.pacing import Pacer
from cobranza.outreach.replies import record_reply
from cobranza.outreach.statuses import apply_callback
from cobranza.scoring.model import TrainedModel
from cobranza.scoring.scores import score_all
from cobranza.scoring.snapshots import write_snapshots
from cobranza.services import reconciliation, views
from cobranza.services.consent import revoke_consent
from cobranza.services.experiments import results
from cobranza.services.identity import verify_birth_date
from cobranza.services.payments import store_reference
from cobranza.services.promises import PromiseRejected, primary_debt, record_promise
from cobranza.simulation.behaviour import ASSUMPTIONS_NOTICE, Behaviour, load_behaviour
from cobranza.simulation.fake_graph import FakeGraphAPI, registered
from cobranza.simulation.invariants import Received, violations

CDMX = ZoneInfo("America/Mexico_City")
# A Monday, before any zone opens: the same start gives the same run.
DEFAULT_START = datetime(2026, 12, 7, 5, 0, tzinfo=CDMX)
DAY_FIRST_STEP = time(5, 0)  # Mexico City: 06:00 in Cancún, an hour before its opening
DAY_SPAN = timedelta(hours=20)  # to 01:00 Mexico City: 23:00 in Tijuana, after its closing
DEFAULT_STEP = timedelta(minutes=30)
PLAN_HOURS = (13, 17)  # Mexico City; the first step of the day plans too
TOKEN, PHONE_ID = "EAAG-simulacion", "100000000000001"
SOURCE = "simulacion"
UNDELIVERABLE = 131026  # Meta's "message undeliverable"
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
MIN_DEBTORS = 7  # the documented ones
ORDERS = ("score", "random")  # how rows are ordered within a priority (module docstring)


class SimulationError(CobranzaError):
    """The simulation cannot run as asked (a database that is not empty, too few debtors)."""


class SimClock:
    """The simulation's clock: it stands still until the run moves it."""

    def __init__(self, at: datetime) -> None:
        self.at = at.astimezone(timezone.utc)

    def now(self) -> datetime:
        return self.at


# --- the report -------------------------------------------------------------------------------


@dataclass
class Funnel:
    debtors: int = 0
    reached: int = 0  # a message delivered or read
    replied: int = 0
    right_party: int = 0  # drawn by the model, then verified with the date of birth on record
    promises: int = 0
    kept: int = 0
    broken: int = 0
    recovered: Decimal = ZERO

    def as_dict(self) -> dict[str, Any]:
        return {
            "debtors": self.debtors,
            "reached": self.reached,
            "replied": self.replied,
            "right_party_model": self.right_party,
            "promises": self.promises,
            "kept": self.kept,
            "broken": self.broken,
            "recovered": str(self.recovered),
        }


@dataclass
class SimulationReport:
    days: int
    debtors: int
    seed: int
    start: datetime
    weekdays_only: bool
    zones: dict[str, int] = field(default_factory=dict)
    total: Funnel = field(default_factory=Funnel)
    by_bucket: dict[str, Funnel] = field(default_factory=dict)
    by_persona: dict[str, Funnel] = field(default_factory=dict)
    sent_by_campaign: dict[str, int] = field(default_factory=dict)
    blocked: dict[str, int] = field(default_factory=dict)  # times a row was held back, by rule
    dropped: dict[str, int] = field(default_factory=dict)
    follow_ups_after_broken: int = 0
    opt_outs: int = 0
    payments: int = 0
    unmatched_payments: int = 0
    snapshots: int = 0  # feature snapshots written (one per debtor with a balance, per day)
    snapshot_seconds: float = 0.0  # what writing them cost
    order: str | None = None  # "score", "random", or None: the planner's scores as they are
    daily_recipients: int | None = None  # the budget the run used, when overridden
    model_id: str | None = None  # the scoring model that scored the debtors each day
    scored: int = 0  # debtor scores written by that model
    # Each message experiment's results at the end of the run (ExperimentResults.as_dict()).
    experiments: list[dict[str, Any]] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def messages_sent(self) -> int:
        return sum(self.sent_by_campaign.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "notice": ASSUMPTIONS_NOTICE,
            "days": self.days,
            "debtors": self.debtors,
            "seed": self.seed,
            "start": self.start.isoformat(),
            "weekdays_only": self.weekdays_only,
            "zones": dict(sorted(self.zones.items())),
            "total": self.total.as_dict(),
            "by_bucket": {k: v.as_dict() for k, v in self.by_bucket.items()},
            "by_persona": {k: v.as_dict() for k, v in sorted(self.by_persona.items())},
            "messages_sent": self.messages_sent,
            "sent_by_campaign": dict(sorted(self.sent_by_campaign.items())),
            "blocked": dict(sorted(self.blocked.items())),
            "dropped": dict(sorted(self.dropped.items())),
            "follow_ups_after_broken": self.follow_ups_after_broken,
            "opt_outs": self.opt_outs,
            "payments": self.payments,
            "unmatched_payments": self.unmatched_payments,
            "snapshots": self.snapshots,
            "experiments": list(self.experiments),
            "violations": list(self.violations),
        } | self._experiment()

    def _experiment(self) -> dict[str, Any]:
        """The ordering experiment's settings, only when one was asked for (the default
        report keeps its shape)."""
        if self.order is None and self.daily_recipients is None:
            return {}
        return {
            "order": self.order,
            "daily_recipients": self.daily_recipients,
            "model_id": self.model_id,
            "scored": self.scored,
        }


# --- the schedule -----------------------------------------------------------------------------


def steps(start: datetime, days: int, step: timedelta) -> Iterator[tuple[datetime, bool]]:
    """The instants the clock stops at, and whether each is the first of its day."""
    first_day = start.astimezone(CDMX).date()
    end = datetime.combine(first_day + timedelta(days=days), DAY_FIRST_STEP, CDMX)
    for offset in range(days):
        opening = datetime.combine(first_day + timedelta(days=offset), DAY_FIRST_STEP, CDMX)
        first = True
        for k in range(int(DAY_SPAN / step) + 1):
            at = opening + k * step
            if at < start or at >= end:
                continue
            yield at.astimezone(timezone.utc), first
            first = False


# --- the run ----------------------------------------------------------------------------------


@dataclass(order=True)
class _Event:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    phone: str = field(compare=False)
    data: dict[str, Any] = field(compare=False, default_factory=dict)


class _Run:
    def __init__(
        self,
        app: App,
        clock: SimClock,
        behaviour: Mapping[str, Behaviour],
        seed: int,
        report: SimulationReport,
        scorer: TrainedModel | None = None,
        order: str | None = None,
    ) -> None:
        self.app = app
        self.scorer = scorer
        self.order = order
        # Its own generator: the random order never shifts the behaviour draws' sequence.
        self.order_rng = random.Random(f"orden-{seed}")
        self.last_planned_id = 0
        self.files = worker.load_files(app)
        self.clock = clock
        self.behaviour = behaviour
        self.rng = random.Random(seed)
        self.report = report
        self.events: list[_Event] = []
        self.seq = itertools.count()
        self.persona: dict[str, str] = {}
        self.right_party: set[str] = set()
        self.repliers: set[str] = set()
        self.opted_out: set[str] = set()
        self.promises: set[int] = set()  # ids of the promises the simulated debtors made
        self.batch: list[PaymentRow] = []
        # debt id → pesos already in this step's file
        self.batched: defaultdict[int, Decimal] = defaultdict(Decimal)
        self.payment_serial = itertools.count(1)
        self.seed = seed
        self.profiles = app.profiles

    def push(self, at: datetime, kind: str, phone: str, **data: Any) -> None:
        heapq.heappush(self.events, _Event(at, next(self.seq), kind, phone, data))

    def share(self, low_high: tuple[float, float]) -> Decimal:
        return Decimal(str(round(self.rng.uniform(*low_high), 4)))

    # --- events -------------------------------------------------------------------------------

    def run_events(self, until: datetime) -> None:
        """The events up to ``until``, in time order, in one transaction (a step's worth)."""
        if self.events and self.events[0].at <= until:
            with self.app.unit_of_work() as session:
                while self.events and self.events[0].at <= until:
                    event = heapq.heappop(self.events)
                    self.clock.at = event.at
                    getattr(self, f"_on_{event.kind}")(session, event)
        self.clock.at = until
        if self.batch:
            rows, self.batch = self.batch, []
            self.batched.clear()
            with self.app.unit_of_work() as session:
                result = reconciliation.import_payments(
                    session,
                    rows,
                    SOURCE,
                    self.app.settings,
                    self.clock,
                    self.app.profiles,
                    settle=False,
                )
            self.report.payments += result.imported
            self.report.unmatched_payments += result.unmatched

    def _on_status(self, session: Any, event: _Event) -> None:
        status, wamid = event.data["status"], event.data["wamid"]
        code = UNDELIVERABLE if status == "failed" else None
        session.add(
            WhatsAppStatus(
                message_id=wamid,
                wa_id=whatsapp_id(event.phone),
                status=status,
                occurred_at=event.at,
                error_code=code,
            )
        )
        session.flush()
        apply_callback(session, wamid, status, event.at, code)

    def _on_reply(self, session: Any, event: _Event) -> None:
        if record_reply(session, event.phone, event.at) is None:
            return
        self.repliers.add(event.phone)
        model = self.behaviour[self.persona[event.phone]]
        if self.rng.random() < model.opt_out_given_reply:
            revoke_consent(session, event.phone, "simulacion:baja", self.clock)
            self.opted_out.add(event.phone)
            self.report.opt_outs += 1
            return
        if self.rng.random() >= model.right_party_given_reply:
            return
        self.right_party.add(event.phone)
        self._verify(session, event.phone)
        if self.rng.random() >= model.promise_given_right_party:
            return
        self._promise(session, event.phone, model)

    def _verify(self, session: Any, phone: str) -> None:
        """The right party proves who they are, as a real conversation makes them do before
        any disclosure or promise: the date of birth on record, through the identity service
        (its attempt, audit row and verification), so the KPIs' right-party contact and
        promise rate have their base. It draws nothing: the seeds' runs stay the same."""
        verify_birth_date(
            session,
            phone,
            repo.get_debtor(session, phone).date_of_birth,
            self.clock,
            conversation_id=whatsapp_id(phone),
            channel="whatsapp",
            ttl=self.app.settings.verification_ttl,
        )

    def _promise(self, session: Any, phone: str, model: Behaviour) -> None:
        if session.execute(
            select(Promise.id).where(
                Promise.debtor_phone == phone, Promise.status == PromiseStatus.PENDING
            )
        ).first():
            return  # the conversation would remind them of the promise they have
        try:
            debt = primary_debt(session, phone)
        except repo.DebtorNotFound:
            return  # nothing left to pay
        debtor = debt.debtor
        zone = ZoneInfo(debtor.time_zone)
        today = self.clock.at.astimezone(zone).date()
        horizon = self.app.profiles[self.persona[phone]].promise_max_days_ahead
        due = today + timedelta(days=self.rng.randint(0, horizon))
        balance = Decimal(debt.current_balance)
        amount = max(CENT, (balance * self.share(model.promise_share_of_balance)).quantize(CENT))
        amount = min(amount, balance)
        try:
            promise = record_promise(
                session,
                phone,
                amount,
                due,
                self.app.profiles[self.persona[phone]],
                self.clock,
                "whatsapp",
                contract=debt.contract_number,
            )
        except PromiseRejected:
            return
        self.promises.add(promise.id)
        keep = self.rng.random() < model.keep_promise
        partial = not keep and self.rng.random() < model.partial_given_not_kept
        if not (keep or partial):
            return
        paid = amount if keep else (amount * self.share(model.partial_share)).quantize(CENT)
        # Paid at some moment between now and 20:00 of the due date, local.
        latest = datetime.combine(due, time(20, 0), zone).astimezone(timezone.utc)
        span = max(0.0, (latest - self.clock.at).total_seconds())
        at = self.clock.at + timedelta(seconds=int(self.rng.uniform(60, max(61.0, span))))
        self.push(at, "payment", phone, debt_id=promise.debt_id, amount=paid)

    def _on_payment(self, session: Any, event: _Event) -> None:
        debt = session.get(Debt, event.data["debt_id"])
        if debt is None or debt.status != DebtStatus.ACTIVE:
            return
        left = Decimal(debt.current_balance) - self.batched[debt.id]
        amount = min(Decimal(event.data["amount"]), left)
        if amount <= ZERO:
            return
        self.batched[debt.id] += amount
        serial = next(self.payment_serial)
        if self.rng.random() < 0.5:
            method, reference = "spei", debt.contract_number
        else:
            prefix = debt.creditor.convenience_store_reference_prefix
            method, reference = "oxxo", store_reference(prefix, debt.contract_number)
        self.batch.append(
            PaymentRow(
                line=serial,
                transaction_id=f"SIM-{self.seed}-{serial:07d}",
                method=method,
                amount=amount,
                paid_at=event.at,
                reference=reference,
                payer_phone=event.phone,
            )
        )

    # --- the day ------------------------------------------------------------------------------

    def start_of_day(self, day_start: datetime) -> None:
        worker.settle(self.app)
        with self.app.unit_of_work() as session:
            self.persona = dict(session.execute(select(Debtor.phone, Debtor.persona)).all())
            debts = session.execute(
                select(Debt.id, Debt.debtor_phone, Debt.current_balance)
                .where(Debt.status == DebtStatus.ACTIVE, Debt.current_balance > 0)
                .order_by(Debt.debtor_phone, Debt.days_past_due.desc(), Debt.id)
            ).all()
        first: dict[str, tuple[int, Decimal]] = {}
        for debt_id, phone, balance in debts:
            first.setdefault(phone, (debt_id, Decimal(balance)))
        for phone, (debt_id, balance) in sorted(first.items()):
            model = self.behaviour[self.persona[phone]]
            daily = 1 - math.pow(1 - model.spontaneous_payment_per_week, 1 / 7)
            if self.rng.random() < daily:
                amount = (balance * self.share(model.spontaneous_share_of_balance)).quantize(CENT)
                at = day_start + timedelta(seconds=self.rng.randint(3600, 18 * 3600))
                self.push(at, "payment", phone, debt_id=debt_id, amount=max(CENT, amount))

    def snapshot(self, day: date) -> None:
        """The feature snapshots of ``day`` (a local day that has ended in every zone)."""
        started = time_module.perf_counter()
        with self.app.unit_of_work() as session:
            self.report.snapshots += write_snapshots(
                session,
                day,
                self.clock,
                profiles=self.profiles,
                default_time_zone=self.app.settings.default_time_zone,
                grace_days=self.app.settings.promise_grace_days,
            )
        self.report.snapshot_seconds += time_module.perf_counter() - started

    def score(self, day: date) -> None:
        """Every debtor scored as of ``day`` (snapshots written if missing), so the planning
        that follows copies the scores onto its rows (``cobranza score run``'s path)."""
        if self.scorer is None:
            return
        with self.app.unit_of_work() as session:
            result = score_all(
                session,
                self.scorer,
                day,
                self.clock,
                profiles=self.profiles,
                default_time_zone=self.app.settings.default_time_zone,
                grace_days=self.app.settings.promise_grace_days,
            )
        self.report.scored += result.scored

    def plan(self) -> None:
        """The worker's planning; with ``order="random"``, each row it just planned gets a
        seeded random ``score`` instead of the debtor's (in id order: the same seed, the same
        numbers), so only the order within a priority changes."""
        worker.plan(self.app, self.files)
        if self.order != "random":
            return
        with self.app.unit_of_work() as session:
            new = (
                session.execute(
                    select(OutreachMessage)
                    .where(OutreachMessage.id > self.last_planned_id)
                    .order_by(OutreachMessage.id)
                )
                .scalars()
                .all()
            )
            if new:
                self.last_planned_id = new[-1].id
            for row in new:
                row.score = self.order_rng.random()

    def behave(self, row_id: int, phone: str, wamid: str, sent_at: datetime) -> None:
        """Meta's callbacks for one accepted message and the debtor's answer, drawn."""
        model = self.behaviour[self.persona[phone]]
        if self.rng.random() >= model.delivered:
            self.push(sent_at + timedelta(seconds=5), "status", phone, wamid=wamid, status="failed")
            return
        self.push(sent_at + timedelta(seconds=1), "status", phone, wamid=wamid, status="sent")
        delivered = sent_at + timedelta(seconds=self.rng.randint(2, 120))
        self.push(delivered, "status", phone, wamid=wamid, status="delivered")
        if self.rng.random() >= model.read_given_delivered:
            return
        read = delivered + timedelta(minutes=self.rng.uniform(1, 480))
        self.push(read, "status", phone, wamid=wamid, status="read")
        if self.rng.random() >= model.reply_given_read:
            return
        replied = read + timedelta(minutes=self.rng.uniform(*model.reply_delay_minutes))
        self.push(replied, "reply", phone, wamid=wamid, row_id=row_id)


def _no_sync(connection: Any, _: Any) -> None:
    connection.execute("PRAGMA synchronous=OFF")


def _settings(
    base: Settings, url: str, weekdays_only: bool, daily_recipients: int | None = None
) -> Settings:
    outreach = replace(base.outreach, weekdays_only=weekdays_only)
    if daily_recipients is not None:
        outreach = replace(outreach, daily_recipients=daily_recipients)
    return replace(base, database=Secret(url), outreach=outreach)


def _prepare(app: App, start: datetime, debtors: int) -> None:
    with app.unit_of_work() as session:
        if session.execute(select(func.count()).select_from(Debtor)).scalar_one():
            raise SimulationError("la base de datos de la simulación debe estar vacía")
        data = demo_data()
        data = replace(data, synthetic_count=min(data.synthetic_count, debtors - MIN_DEBTORS))
        load_demo(session, start.astimezone(CDMX).date(), data)
        views.reassign_personas(session, app.profiles, app.clock)
        # Marks the database as a simulation's: its reports say so (docs/vocabulary.md).
        audit.record(
            session,
            app.clock.now(),
            AuditAction.SIMULATION_STARTED,
            None,
            {"debtors": debtors, "start": start.isoformat()},
            actor=audit.SIMULATION_ACTOR,
        )


def _starting_point(app: App, report: SimulationReport) -> tuple[dict[str, str], dict[str, str]]:
    """Each debtor's bucket (most overdue active debt) and persona at the start."""
    with app.unit_of_work() as session:
        buckets: dict[str, str] = {}
        for phone, dpd in session.execute(
            select(Debt.debtor_phone, func.max(Debt.days_past_due))
            .where(Debt.status == DebtStatus.ACTIVE)
            .group_by(Debt.debtor_phone)
        ):
            buckets[phone] = bucket_for(dpd)
        personas: dict[str, str] = {}
        for debtor in session.execute(select(Debtor)).scalars():
            personas[debtor.phone] = debtor.persona
            buckets.setdefault(debtor.phone, "al corriente")
            zone = debtor_zone(debtor.phone, debtor, app.settings.default_time_zone).zone
            report.zones[zone] = report.zones.get(zone, 0) + 1
    return buckets, personas


def _funnels(
    app: App, run: _Run, start: datetime, buckets: dict[str, str], personas: dict[str, str]
) -> None:
    report = run.report
    with app.unit_of_work() as session:
        reached = set(
            session.execute(
                select(OutreachMessage.debtor_phone).where(
                    OutreachMessage.status.in_((OutreachStatus.DELIVERED, OutreachStatus.READ))
                )
            ).scalars()
        )
        promises = session.execute(
            select(Promise.debtor_phone, Promise.status).where(Promise.id.in_(run.promises))
        ).all()
        recovered = session.execute(
            select(Debt.debtor_phone, func.sum(Payment.amount))
            .join(Payment, Payment.debt_id == Debt.id)
            .where(Payment.source == SOURCE)
            .group_by(Debt.debtor_phone)
        ).all()
        sent = session.execute(
            select(OutreachMessage.campaign, func.count())
            .where(OutreachMessage.wamid.is_not(None))
            .group_by(OutreachMessage.campaign)
        ).all()
    report.sent_by_campaign = {campaign: count for campaign, count in sent}
    follow_up = {
        name
        for name, campaign in run.files.campaigns.items()
        if any(step.anchor == BROKEN_PROMISE for step in campaign.steps)
    }
    report.follow_ups_after_broken = sum(
        count for campaign, count in report.sent_by_campaign.items() if campaign in follow_up
    )
    per_phone: dict[str, Funnel] = defaultdict(Funnel)
    for phone in personas:
        funnel = per_phone[phone]
        funnel.debtors = 1
        funnel.reached = int(phone in reached)
        funnel.replied = int(phone in run.repliers)
        funnel.right_party = int(phone in run.right_party)
    for phone, status in promises:
        per_phone[phone].promises += 1
        per_phone[phone].kept += int(status == PromiseStatus.KEPT)
        per_phone[phone].broken += int(status == PromiseStatus.BROKEN)
    for phone, amount in recovered:
        per_phone[phone].recovered += Decimal(amount)
    order = ["al corriente", "1-30", "31-60", "61-90", "90+"]
    for phone, funnel in sorted(per_phone.items()):
        for table, key in (
            (report.by_bucket, buckets.get(phone, "al corriente")),
            (report.by_persona, personas.get(phone, "?")),
        ):
            _add(table.setdefault(key, Funnel()), funnel)
        _add(report.total, funnel)
    report.by_bucket = {k: report.by_bucket[k] for k in order if k in report.by_bucket}


def _add(into: Funnel, funnel: Funnel) -> None:
    for name in ("debtors", "reached", "replied", "right_party", "promises", "kept", "broken"):
        setattr(into, name, getattr(into, name) + getattr(funnel, name))
    into.recovered += funnel.recovered


async def _loop(app: App, run: _Run, days: int, start: datetime, step: timedelta) -> DispatchReport:
    files = run.files
    total = DispatchReport()
    with FakeGraphAPI(TOKEN, PHONE_ID, templates=registered(files.templates)) as graph:
        client = graph.client()
        dispatcher = Dispatcher(
            app.sessions,
            app.settings,
            app.clock,
            client,
            files.templates,
            pacer=Pacer(1e9),  # the simulated clock does not wait
            experiments=files.experiments.values(),
        )
        seen = 0
        try:
            for at, first in steps(start, days, step):
                run.run_events(at)
                local = at.astimezone(CDMX)
                if first:
                    run.start_of_day(at)
                    yesterday = local.date() - timedelta(days=1)
                    if yesterday >= start.astimezone(CDMX).date():
                        run.snapshot(yesterday)
                    run.score(yesterday)
                if first or (local.minute == 0 and local.hour in PLAN_HOURS):
                    run.plan()
                total.add(await dispatcher.drain())
                ids = graph.message_ids
                if len(ids) > seen:
                    new, seen = ids[seen:], len(ids)
                    with app.unit_of_work() as session:
                        rows = session.execute(
                            select(
                                OutreachMessage.id,
                                OutreachMessage.debtor_phone,
                                OutreachMessage.wamid,
                                OutreachMessage.sent_at,
                            )
                            .where(OutreachMessage.wamid.in_(new))
                            .order_by(OutreachMessage.id)
                        ).all()
                    for row_id, phone, wamid, sent_at in rows:
                        run.behave(row_id, phone, wamid, sent_at)
            run.run_events(app.clock.now())
            run.snapshot(start.astimezone(CDMX).date() + timedelta(days=days - 1))
        finally:
            await client.close()
        received = [
            Received(wamid, payload)
            for wamid, payload in zip(graph.message_ids, graph.messages, strict=True)
        ]
        refused = [f"{r.status} {r.message}" for r in graph.rejected]
    with app.unit_of_work() as session:
        run.report.violations = violations(
            session, received, app.settings, since=start, refused=refused
        )
        run.report.experiments = [
            results(session, experiment, app.clock.now()).as_dict()
            for _name, experiment in sorted(files.experiments.items())
        ]
    return total


def simulate(
    days: int,
    debtors: int,
    seed: int,
    *,
    start: datetime = DEFAULT_START,
    weekdays_only: bool = False,
    database_url: str | None = None,
    settings: Settings | None = None,
    step: timedelta = DEFAULT_STEP,
    behaviour_path: Path | None = None,
    daily_recipients: int | None = None,
    model: TrainedModel | None = None,
    order: str | None = None,
) -> SimulationReport:
    """Run ``days`` simulated days over ``debtors`` demo debtors; the report holds the funnels
    and the invariant violations (empty when every rule held). ``database_url``: an empty
    database to use instead of a temporary SQLite file (left as the run leaves it).
    ``daily_recipients``, ``model``, ``order``: the ordering experiment (module docstring)."""
    if order is not None and order not in ORDERS:
        raise SimulationError(f"--order debe ser uno de: {', '.join(ORDERS)}")
    if order == "score" and model is None:
        raise SimulationError(
            "--order score necesita --model: sin un modelo no hay puntajes que ordenar"
        )
    if daily_recipients is not None and daily_recipients < 1:
        raise SimulationError("--daily-recipients debe ser al menos 1")
    if days < 1:
        raise SimulationError("--days debe ser al menos 1")
    if debtors < MIN_DEBTORS:
        raise SimulationError(f"--debtors debe ser al menos {MIN_DEBTORS} (los documentados)")
    if start.tzinfo is None:
        raise SimulationError("el inicio necesita zona horaria")
    if timedelta(minutes=1) > step or step > timedelta(hours=1) or timedelta(hours=1) % step:
        raise SimulationError("el paso debe dividir la hora (1 a 60 minutos)")
    base = settings or bootstrap.build().settings
    workdir = None if database_url else Path(tempfile.mkdtemp(prefix="cobranza-simulate-"))
    url = database_url or f"sqlite:///{workdir}/simulacion.db"
    engine = db.make_engine(url)
    if workdir is not None:
        # A throwaway file: no need to wait for the disk at every commit.
        sa_event.listen(engine, "connect", _no_sync)
    clock = SimClock(start)
    try:
        db.upgrade(engine)
        app = bootstrap.build(
            _settings(base, url, weekdays_only, daily_recipients), clock=clock, engine=engine
        )
        behaviours = load_behaviour(
            app.profiles.keys(), *([behaviour_path] if behaviour_path else [])
        )
        _prepare(app, start, debtors)
        report = SimulationReport(days, debtors, seed, start, weekdays_only)
        report.order = order or ("score" if model is not None else None)
        report.daily_recipients = daily_recipients
        report.model_id = model.model_id if model is not None else None
        buckets, personas = _starting_point(app, report)
        report.debtors = len(personas)
        run = _Run(app, clock, behaviours, seed, report, model, order)
        dispatched = asyncio.run(_loop(app, run, days, start, step))
        report.blocked = dict(dispatched.blocked)
        report.dropped = dict(dispatched.dropped)
        _funnels(app, run, start, buckets, personas)
        return report
    finally:
        engine.dispose()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)


__all__ = [
    "ASSUMPTIONS_NOTICE",
    "DEFAULT_START",
    "ORDERS",
    "Funnel",
    "SimClock",
    "SimulationError",
    "SimulationReport",
    "simulate",
    "steps",
]
