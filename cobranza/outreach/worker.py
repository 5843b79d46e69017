"""The long-running outreach worker (``cobranza outreach worker``, started by ``make run``).

Every ``interval`` seconds it settles promises and instalments against the payments received
(:mod:`cobranza.services.reconciliation`), plans the campaign steps falling today (idempotent:
every ``plan_every``), and sends what is due. Without a WhatsApp number configured it still
settles and plans; nothing is sent, and it says so once."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cobranza.bootstrap import App
from cobranza.config import ConfigError, load_whatsapp_settings
from cobranza.domain.experiments import Experiment
from cobranza.outreach import planner
from cobranza.outreach.campaigns import Campaign
from cobranza.outreach.dispatcher import Dispatcher, DispatchReport, Sender
from cobranza.outreach.experiments import load_designs
from cobranza.outreach.graph import GraphClient
from cobranza.outreach.templates import Template, domain_intents

logger = logging.getLogger(__name__)

PLAN_EVERY = timedelta(minutes=15)
INTERVAL = 30.0  # seconds between rounds


@dataclass(frozen=True)
class OutreachFiles:
    campaigns: dict[str, Campaign]
    templates: dict[str, Template]
    experiments: dict[str, Experiment] = field(default_factory=dict)


def load_files(app: App) -> OutreachFiles:
    """The designers' campaign, template and experiment files, checked against each other, the
    persona profiles and the domain (raises with every problem listed)."""
    settings = app.settings.outreach
    designs = load_designs(
        settings.campaigns_dir,
        settings.templates_dir,
        settings.experiments_dir,
        personas=app.profiles.keys(),
        intents=domain_intents(),
    )
    return OutreachFiles(designs.campaigns, designs.templates, designs.experiments)


def plan(app: App, files: OutreachFiles, days: int = 1) -> planner.PlanReport:
    with app.unit_of_work() as session:
        return planner.plan(session, files.campaigns, files.templates, app.clock, days)


def settle(app: App) -> dict[str, int]:
    from cobranza.services import reconciliation

    with app.unit_of_work() as session:
        report = reconciliation.settle_commitments(session, app.settings, app.clock, app.profiles)
        return report.as_dict()


def dispatcher(app: App, files: OutreachFiles, sender: Sender) -> Dispatcher:
    return Dispatcher(
        app.sessions,
        app.settings,
        app.clock,
        sender,
        files.templates,
        experiments=files.experiments.values(),
    )


async def work(
    app: App,
    files: OutreachFiles,
    sender: Sender | None,
    stop: asyncio.Event,
    *,
    interval: float = INTERVAL,
    plan_every: timedelta = PLAN_EVERY,
    on_round: Callable[[DispatchReport], None] | None = None,
) -> None:
    """Rounds until ``stop`` is set. A failing round is logged (its class only) and the next
    one runs: one bad row must not stop reminders for everyone."""
    if sender is None:
        logger.warning("outreach: no WhatsApp number configured; planning only, nothing is sent")
    send = dispatcher(app, files, sender) if sender is not None else None
    last_plan: datetime | None = None
    while not stop.is_set():
        report = DispatchReport()
        try:
            settled = await asyncio.to_thread(settle, app)
            if any(settled.values()):
                logger.info("outreach: settled %s", settled)
            now = app.clock.now()
            if last_plan is None or now - last_plan >= plan_every:
                planned = await asyncio.to_thread(plan, app, files)
                last_plan = now
                logger.info("outreach: planned %s", planned.as_dict())
            if send is not None:
                report = await send.drain()
                if report.claimed or report.blocked or report.dropped:
                    logger.info("outreach: %s", report.as_dict())
        except Exception as error:
            logger.error("outreach round failed: %s", type(error).__name__, exc_info=error)
        if on_round is not None:
            on_round(report)
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except asyncio.TimeoutError:
            pass


def sender_or_none() -> GraphClient | None:
    """The Graph API client when the WhatsApp number is configured (WHATSAPP_*), else None."""
    try:
        return GraphClient(load_whatsapp_settings())
    except ConfigError:
        return None


def serve(app: App, interval: float = INTERVAL) -> None:
    """The worker until SIGINT or SIGTERM (``make run`` starts it; Ctrl-C stops it)."""
    files = load_files(app)
    sender = sender_or_none()

    async def until_stopped() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await work(app, files, sender, stop, interval=interval)
        finally:
            if sender is not None:
                await sender.close()

    asyncio.run(until_stopped())
