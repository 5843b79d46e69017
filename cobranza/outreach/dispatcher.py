"""The dispatcher: sends the due ``outreach_messages`` rows, each at most once.

One round (:meth:`Dispatcher.run_once`):

1. **Housekeeping.** A row still ``sending`` after ``sending_timeout`` without a ``wamid`` (the
   process died between marking it and storing Meta's answer) becomes ``unknown``: it may have
   gone out, so it is never sent again. A ``planned`` row past ``expires_at`` is ``dropped``.
2. **Claim** (one transaction). Due ``planned`` rows, the campaign's priority first, then the
   debtor's propensity-to-pay score when planned (highest first, unscored rows last: when the
   tier's daily budget binds, the debtors most likely to pay are reached first), then the
   oldest moment, each taken by an update guarded on ``status = 'planned'`` (two workers never
   both take a row; on SQLite the first write also queues the other worker) (PostgreSQL: ``FOR
   UPDATE SKIP LOCKED``, so several workers share the table; the debtor's row is locked too, so
   two workers never both pass the daily cap for one debtor). For each: the unique-recipient
   budget of the business's messaging tier (rolling 24 hours), then the compliance engine *at
   send time* (audited). A final rule (opt-out, no consent, third party) drops the row; any
   other rule leaves it ``planned`` with ``blocked_rule`` and ``not_before`` moved to the next
   moment the rule may allow it (the next window opening, the next day). An allowed row is
   marked ``sending`` and its contact attempt recorded *before* the transaction commits.
3. **Send**, paced (:class:`~cobranza.outreach.pacing.Pacer`), through
   :meth:`~cobranza.outreach.graph.GraphClient.send_once`, and record what Meta's answer proves:
   accepted → ``sent`` with the ``wamid``; throttled or never connected → ``planned`` again
   later (explicitly rescheduled; the attempt no longer counts); refused → ``failed``; a
   timeout or a 5xx → ``unknown``. Meta's status callbacks then settle ``sent`` rows
   (:mod:`cobranza.outreach.statuses`).

**Experiments** (docs/experiments.md). A row of a campaign step under an enabled experiment is
sent with the template of the debtor's arm (the stable assignment of
:mod:`cobranza.domain.experiments`): chosen in the claim, after the compliance engine allowed
the row, and written on the row (``template``, ``parameters``) in the same transaction that
marks it ``sending``, so the row always names what may have gone out. A variant's parameters
are taken from the planned ones by name (the experiment files guarantee the variant needs no
other). When Meta accepts the message, the debtor's exposure is recorded in the transaction that
stores the ``wamid`` (first exposure only: :func:`cobranza.services.experiments.record_exposure`);
a message Meta refused, or whose outcome is unknown, exposes nobody. A throttled row goes back to
``planned`` with its planned template and parameters, and is assigned again when next claimed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import case, func, select, update
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from cobranza import db
from cobranza.clock import Clock
from cobranza.compliance import decisions
from cobranza.compliance.rules import next_opening
from cobranza.config import Settings
from cobranza.db import audit
from cobranza.db.models import ContactAttempt, Debtor, OutreachMessage, Reminder
from cobranza.domain.experiments import CampaignStepTarget, Experiment
from cobranza.domain.phones import mask_phone, whatsapp_id
from cobranza.domain.vocabulary import (
    AuditAction,
    ContactOutcome,
    OutreachStatus,
    ReminderStatus,
    Rule,
)
from cobranza.outreach.graph import Outcome, SendResult
from cobranza.outreach.pacing import Pacer
from cobranza.outreach.statuses import apply_received
from cobranza.services.experiments import record_exposure

logger = logging.getLogger(__name__)

# Rules that waiting will not change: the row is dropped with the first of them that applies
# as its reason (an opt-out also leaves no consent: the opt-out is the reason).
FINAL_RULES = (Rule.OPT_OUT, Rule.THIRD_PARTY, Rule.CONSENT, Rule.DEBTOR_KNOWN)
# Rules that hold for the rest of the local day at least: retried from the next opening.
DAY_RULES = frozenset({Rule.DAILY_CAP, Rule.WEEKLY_CAP, Rule.DISPUTE, Rule.OPEN_HANDOFF})
DAILY_RECIPIENTS = "daily_recipients"  # the tier's budget: not a compliance rule, ours
MAX_THROTTLED = 5  # throttled this many times: failed, not rescheduled again
# Statuses whose recipient counts in the rolling 24-hour budget (it may have reached them).
REACHED = (
    OutreachStatus.SENDING,
    OutreachStatus.SENT,
    OutreachStatus.DELIVERED,
    OutreachStatus.READ,
    OutreachStatus.UNKNOWN,
)


class ButtonSpec(Protocol):
    @property
    def payload(self) -> str: ...


class TemplateSpec(Protocol):
    """What the dispatcher needs of a template (cobranza/outreach/templates.py)."""

    @property
    def name(self) -> str: ...

    @property
    def language(self) -> str: ...

    @property
    def parameters(self) -> Sequence[str]: ...

    @property
    def buttons(self) -> Sequence[ButtonSpec]: ...


class Sender(Protocol):
    async def send_once(self, payload: dict[str, Any]) -> SendResult: ...


@dataclass(frozen=True)
class Arm:
    """The experiment arm a claimed row is sent under, and what the row had planned (restored
    if the send is throttled)."""

    experiment: str
    name: str
    planned_template: str
    planned_parameters: list[str]


@dataclass(frozen=True)
class Claimed:
    row_id: int
    phone: str
    campaign: str
    payload: dict[str, Any]
    arm: Arm | None = None


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    rescheduled: int = 0
    failed: int = 0
    unknown: int = 0
    blocked: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)

    def add(self, other: DispatchReport) -> None:
        self.claimed += other.claimed
        self.sent += other.sent
        self.rescheduled += other.rescheduled
        self.failed += other.failed
        self.unknown += other.unknown
        self.blocked.update(other.blocked)
        self.dropped.update(other.dropped)

    def as_dict(self) -> dict[str, Any]:
        return {
            "claimed": self.claimed,
            "sent": self.sent,
            "rescheduled": self.rescheduled,
            "failed": self.failed,
            "unknown": self.unknown,
            "blocked": dict(sorted(self.blocked.items())),
            "dropped": dict(sorted(self.dropped.items())),
        }


def template_payload(phone: str, template: TemplateSpec, parameters: list[str]) -> dict[str, Any]:
    """The Graph API body of a template message: text parameters for its body, and each
    quick-reply button's payload (an intent, so a tap drives the conversation like a typed
    message would)."""
    components: list[dict[str, Any]] = []
    if parameters:
        components.append(
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
        )
    for index, button in enumerate(template.buttons):
        components.append(
            {
                "type": "button",
                "sub_type": "quick_reply",
                "index": str(index),
                "parameters": [{"type": "payload", "payload": button.payload}],
            }
        )
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if components:
        body["components"] = components
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": whatsapp_id(phone),
        "type": "template",
        "template": body,
    }


def step_experiments(
    experiments: Iterable[Experiment], templates: Mapping[str, TemplateSpec]
) -> dict[tuple[str, str], Experiment]:
    """The enabled experiments on campaign steps, by (campaign, step). Every arm's template must
    be registered and need no parameter the control lacks (the files are checked so; a
    dispatcher built otherwise is a bug, refused here rather than at send time)."""
    found: dict[tuple[str, str], Experiment] = {}
    for experiment in experiments:
        target = experiment.target
        if not experiment.enabled or not isinstance(target, CampaignStepTarget):
            continue
        control = templates.get(experiment.control.variant)
        for arm in experiment.arms:
            template = templates.get(arm.variant)
            if control is None or template is None:
                raise ValueError(f"{experiment.name}: template {arm.variant} is not registered")
            if not set(template.parameters) <= set(control.parameters):
                raise ValueError(f"{experiment.name}: {arm.variant} needs more than the control")
        found[(target.campaign, target.step)] = experiment
    return found


def arm_parameters(
    planned: TemplateSpec, parameters: Sequence[str], variant: TemplateSpec
) -> list[str]:
    """The variant's parameters, taken by name from those planned for ``planned``."""
    values = dict(zip(planned.parameters, parameters, strict=False))
    return [values[name] for name in variant.parameters]


def fulfil_requested_reminders(session: Session, row: OutreachMessage) -> None:
    """A reminder the debtor asked for in the conversation (``reminders``, "recuérdame") is
    fulfilled by the campaign message about the same promise or agreement."""
    folio = (row.reference or "").partition("#")[0]
    if folio:
        session.execute(
            update(Reminder)
            .where(
                Reminder.debtor_phone == row.debtor_phone,
                Reminder.reference == folio,
                Reminder.status == ReminderStatus.PENDING,
            )
            .values(status=ReminderStatus.SENT, status_reason=f"campaign:{row.campaign}"[:60])
            .execution_options(synchronize_session=False)
        )


class Dispatcher:
    """Claims, checks and sends due rows. ``templates``: the registered templates by name;
    ``experiments``: the experiments (those enabled on a campaign step take effect)."""

    def __init__(
        self,
        sessions: sessionmaker,
        settings: Settings,
        clock: Clock,
        sender: Sender,
        templates: Mapping[str, TemplateSpec],
        *,
        batch: int = 200,
        concurrency: int = 16,
        pacer: Pacer | None = None,
        experiments: Iterable[Experiment] = (),
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.sender = sender
        self.templates = templates
        self.experiments = step_experiments(experiments, templates)
        self.batch = batch
        self.concurrency = concurrency
        self.pacer = pacer or Pacer(settings.outreach.messages_per_second)

    # --- one round ------------------------------------------------------------------------

    async def run_once(self) -> DispatchReport:
        """Housekeeping, one claimed batch, its sends. The report says what happened."""
        report = DispatchReport()
        await asyncio.to_thread(self._housekeeping, report)
        claimed = await asyncio.to_thread(self.claim, report)
        if claimed:
            await self.send(claimed, report)
        return report

    async def drain(self, stop: Callable[[DispatchReport], bool] | None = None) -> DispatchReport:
        """Rounds until nothing due is left (or ``stop`` says so), pipelined: the next batch is
        claimed while the current one is being sent, so the checks never hold the pacing back
        (what ``cobranza outreach run`` and the worker do)."""
        total = DispatchReport()
        await asyncio.to_thread(self._housekeeping, total)
        batches: asyncio.Queue[list[Claimed] | None] = asyncio.Queue(maxsize=1)

        async def claim_batches() -> None:
            try:
                while not (stop and stop(total)):
                    report = DispatchReport()
                    claimed = await asyncio.to_thread(self.claim, report)
                    total.add(report)
                    if not claimed and not report.blocked and not report.dropped:
                        return
                    if claimed:
                        await batches.put(claimed)
            finally:
                await batches.put(None)

        async def send_batches() -> None:
            # Two batches in flight at most: the next one starts sending while the last
            # answers of the previous one are being recorded (the pacer keeps the rate).
            in_flight = asyncio.Semaphore(2)
            tasks = []

            async def send_one(batch: list[Claimed]) -> None:
                try:
                    await self.send(batch, total)
                finally:
                    in_flight.release()

            while (batch := await batches.get()) is not None:
                await in_flight.acquire()
                tasks.append(asyncio.create_task(send_one(batch)))
            await asyncio.gather(*tasks)

        await asyncio.gather(claim_batches(), send_batches())
        return total

    # --- housekeeping ---------------------------------------------------------------------

    def _housekeeping(self, report: DispatchReport) -> None:
        now = self.clock.now()
        with db.session_scope(self.sessions) as session:
            stale = session.execute(
                update(OutreachMessage)
                .where(
                    OutreachMessage.status == OutreachStatus.SENDING,
                    OutreachMessage.wamid.is_(None),
                    OutreachMessage.claimed_at < now - self.settings.outreach.sending_timeout,
                )
                .values(status=OutreachStatus.UNKNOWN, status_reason="no_answer_recorded")
                .execution_options(synchronize_session=False)
            )
            report.unknown += stale.rowcount or 0
            expired = session.execute(
                update(OutreachMessage)
                .where(
                    OutreachMessage.status == OutreachStatus.PLANNED,
                    OutreachMessage.expires_at <= now,
                )
                .values(status=OutreachStatus.DROPPED, status_reason="expired")
                .execution_options(synchronize_session=False)
            )
            if expired.rowcount:
                report.dropped["expired"] += expired.rowcount

    # --- claim ----------------------------------------------------------------------------

    def _due(self, session: Session, now: datetime) -> list[OutreachMessage]:
        query = (
            select(OutreachMessage)
            .where(
                OutreachMessage.status == OutreachStatus.PLANNED,
                OutreachMessage.not_before <= now,
            )
            .order_by(
                OutreachMessage.priority.desc(),
                # NULLS LAST written portably: SQLite puts NULLs first in DESC, PostgreSQL last.
                case((OutreachMessage.score.is_(None), 1), else_=0),
                OutreachMessage.score.desc(),
                OutreachMessage.not_before,
                OutreachMessage.id,
            )
            .limit(self.batch)
        )
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return list(session.execute(query).scalars())

    def _recipients_today(self, session: Session, now: datetime) -> set[str]:
        """Debtors reached (or possibly reached) in the last 24 hours: the tier's budget."""
        rows = session.execute(
            select(OutreachMessage.debtor_phone)
            .where(
                OutreachMessage.status.in_(REACHED) | (OutreachMessage.wamid.is_not(None)),
                OutreachMessage.claimed_at >= now - timedelta(hours=24),
            )
            .distinct()
        ).scalars()
        return set(rows)

    def _budget_reopens(self, session: Session, now: datetime) -> datetime:
        """When the oldest recipient of the last 24 hours leaves the rolling window."""
        oldest = session.execute(
            select(func.min(OutreachMessage.claimed_at)).where(
                OutreachMessage.status.in_(REACHED),
                OutreachMessage.claimed_at >= now - timedelta(hours=24),
            )
        ).scalar_one()
        return (oldest or now) + timedelta(hours=24, seconds=1)

    def claim(self, report: DispatchReport) -> list[Claimed]:
        """Phase 2 (one transaction): the due rows checked, and the allowed ones marked
        ``sending``. Once this returns, a crash can no longer make a row go out twice."""
        now = self.clock.now()
        claimed: list[Claimed] = []
        with db.session_scope(self.sessions) as session:
            rows = self._due(session, now)
            if not rows:
                return []
            recipients = self._recipients_today(session, now)
            budget_reopens: datetime | None = None
            for row in rows:
                if row.debtor_phone not in recipients and (
                    len(recipients) >= self.settings.outreach.daily_recipients
                ):
                    budget_reopens = budget_reopens or self._budget_reopens(session, now)
                    row.blocked_rule = DAILY_RECIPIENTS
                    row.not_before = budget_reopens
                    report.blocked[DAILY_RECIPIENTS] += 1
                    continue
                item = self._check(session, row, now, report)
                if item is not None:
                    recipients.add(row.debtor_phone)
                    claimed.append(item)
        report.claimed += len(claimed)
        return claimed

    def _check(
        self, session: Session, row: OutreachMessage, now: datetime, report: DispatchReport
    ) -> Claimed | None:
        """Take the row (a guarded update: if another worker took it first, leave it), ask the
        compliance engine, then drop it, hold it back, or keep it ``sending``."""
        taken = session.execute(
            update(OutreachMessage)
            .where(OutreachMessage.id == row.id, OutreachMessage.status == OutreachStatus.PLANNED)
            .values(status=OutreachStatus.SENDING, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            session.expunge(row)  # another worker's now; never written from here
            return None
        set_committed_value(row, "status", OutreachStatus.SENDING)  # what the row now holds
        set_committed_value(row, "claimed_at", now)
        template = self.templates.get(row.template)
        if template is None:
            self._drop(session, row, "unknown_template", now, report)
            return None
        if session.get_bind().dialect.name == "postgresql":  # one worker per debtor at a time
            session.execute(
                select(Debtor.phone).where(Debtor.phone == row.debtor_phone).with_for_update()
            )
        decision = decisions.decide_contact(
            session,
            row.debtor_phone,
            self.settings,
            self.clock,
            initiated_by=f"campaign:{row.campaign}",
            actor="system",
        )
        if not decision.allowed:
            blocked = [str(rule) for rule in decision.blocked_by]
            final = [rule for rule in FINAL_RULES if rule in blocked]
            if final:
                self._drop(session, row, final[0], now, report)
                return None
            rule = blocked[0]
            row.status, row.claimed_at = OutreachStatus.PLANNED, None
            row.blocked_rule = rule
            row.not_before = next_opening(
                now,
                decision.time_zone,
                self.settings.contact_hours,
                self.settings.outreach.weekdays_only,
                skip_today=bool(set(blocked) & DAY_RULES),
            )
            report.blocked[rule] += 1
            return None
        attempt = decisions.record_contact(
            session,
            row.debtor_phone,
            "whatsapp",
            f"campaign:{row.campaign}",
            now,
            outcome=ContactOutcome.SENDING,
        )
        row.contact_attempt_id = attempt.id
        arm = self._arm(row)
        template = self.templates[row.template]
        payload = template_payload(row.debtor_phone, template, list(row.parameters or []))
        return Claimed(row.id, row.debtor_phone, row.campaign, payload, arm)

    def _arm(self, row: OutreachMessage) -> Arm | None:
        """Under an enabled experiment, the row takes the template of the debtor's arm."""
        experiment = self.experiments.get((row.campaign, row.step))
        if experiment is None:
            return None
        chosen = experiment.assign(row.debtor_phone)
        planned = Arm(experiment.name, chosen.name, row.template, list(row.parameters or []))
        if chosen.variant != row.template:
            variant = self.templates[chosen.variant]
            row.parameters = arm_parameters(
                self.templates[row.template], planned.planned_parameters, variant
            )
            row.template = chosen.variant
        return planned

    @staticmethod
    def _drop(
        session: Session, row: OutreachMessage, reason: str, now: datetime, report: DispatchReport
    ) -> None:
        row.status = OutreachStatus.DROPPED
        row.status_reason = reason
        audit.record(
            session,
            now,
            AuditAction.OUTREACH_DROPPED,
            row.debtor_phone,
            {"campaign": row.campaign, "step": row.step, "reason": reason},
            actor="system",
        )
        report.dropped[reason] += 1

    # --- send -----------------------------------------------------------------------------

    async def send(self, claimed: list[Claimed], report: DispatchReport) -> None:
        """Phase 3: each claimed row sent once, paced, and its outcome recorded."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: Claimed) -> None:
            async with gate:
                await self.pacer.wait()
                result = await self.sender.send_once(item.payload)
            await asyncio.to_thread(self._record, item, result, report)

        await asyncio.gather(*(one(item) for item in claimed))

    def _record(self, item: Claimed, result: SendResult, report: DispatchReport) -> None:
        """What Meta's answer proves, written once: the row is still ``sending`` (only this
        dispatcher marked it), so the update is guarded on that."""
        now = self.clock.now()
        with db.session_scope(self.sessions) as session:
            row = session.get(OutreachMessage, item.row_id)
            if row is None or row.status != OutreachStatus.SENDING:
                return
            attempt = (
                session.get(ContactAttempt, row.contact_attempt_id)
                if row.contact_attempt_id is not None
                else None
            )
            outcome = self._apply(row, result, now, report)
            if attempt is not None and attempt.outcome == ContactOutcome.SENDING:
                attempt.outcome = outcome
            details = {
                "campaign": row.campaign,
                "step": row.step,
                "template": row.template,
                "outcome": result.outcome.value,
            }
            if result.code is not None:
                details["code"] = result.code
            if item.arm is not None:
                details |= {"experiment": item.arm.experiment, "arm": item.arm.name}
                self._expose(session, row, item.arm, result, now)
            action = (
                AuditAction.OUTREACH_SENT
                if result.outcome is Outcome.ACCEPTED
                else AuditAction.OUTREACH_FAILED
            )
            audit.record(session, now, action, row.debtor_phone, details, actor="system")
            if result.wamid:
                apply_received(session, row)  # a status callback may have come first
                fulfil_requested_reminders(session, row)

    @staticmethod
    def _expose(
        session: Session, row: OutreachMessage, arm: Arm, result: SendResult, now: datetime
    ) -> None:
        """Accepted: the debtor has seen the arm (recorded once). Throttled: the row is planned
        again as it was planned, and takes its arm when next claimed."""
        if row.status == OutreachStatus.PLANNED:
            row.template, row.parameters = arm.planned_template, arm.planned_parameters
        elif result.outcome is Outcome.ACCEPTED:
            record_exposure(
                session, arm.experiment, arm.name, row.debtor_phone, now, outreach_message_id=row.id
            )

    def _apply(
        self, row: OutreachMessage, result: SendResult, now: datetime, report: DispatchReport
    ) -> ContactOutcome:
        if result.outcome is Outcome.ACCEPTED:
            row.status, row.wamid, row.sent_at = OutreachStatus.SENT, result.wamid, now
            report.sent += 1
            return ContactOutcome.SENT
        if result.outcome is Outcome.THROTTLED and row.attempts + 1 < MAX_THROTTLED:
            row.attempts += 1
            wait = max(result.retry_after or 0.0, 30.0 * 2 ** (row.attempts - 1))
            row.status, row.blocked_rule = OutreachStatus.PLANNED, "throttled"
            row.not_before = now + timedelta(seconds=wait)
            report.rescheduled += 1
            return ContactOutcome.NOT_SENT
        if result.outcome is Outcome.UNKNOWN:
            row.status, row.status_reason = OutreachStatus.UNKNOWN, f"graph_{result.code}"
            report.unknown += 1
            logger.warning(
                "outreach %s to %s: unknown outcome", row.id, mask_phone(row.debtor_phone)
            )
            return ContactOutcome.UNKNOWN
        row.status, row.status_reason = OutreachStatus.FAILED, f"graph_{result.code}"
        row.settled_at = now
        report.failed += 1
        return ContactOutcome.NOT_SENT
