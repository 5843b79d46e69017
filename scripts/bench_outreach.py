"""`make bench-outreach`: plan and dispatch for 100,000 debtors on SQLite and on PostgreSQL.

For each database: a fresh schema with a synthetic portfolio (one debt and a WhatsApp consent
per debtor, days past due spread so that the shipped campaigns' steps fall today), then

* planning time, and the time of a second planning run (idempotent: it must plan nothing);
* dispatch paced at WhatsApp's 80 messages/s for ``--paced-seconds``, against the local fake
  Graph API: the rate achieved (it must keep up with the pacing, i.e. stay ≥ 76/s);
* dispatch unpaced for ``--unpaced`` messages: how far above 80/s the claim → check → send →
  record loop goes on this machine (the headroom);
* peak memory of the process (ru_maxrss).

Loopback only; PostgreSQL from COBRANZA_TEST_POSTGRES_URL or scripts/ensure_postgres.sh."""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine, make_url

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.config import PROJECT_ROOT, OutreachSettings, load_settings
from cobranza.db.models import OutreachMessage
from cobranza.outreach import planner
from cobranza.outreach.campaigns import load_outreach
from cobranza.outreach.dispatcher import Dispatcher, DispatchReport
from cobranza.outreach.pacing import Pacer
from cobranza.outreach.templates import domain_intents
from cobranza.personas.profiles import load_profiles
from cobranza.simulation.fake_graph import FakeGraphAPI, registered
from cobranza.testing import synthetic_portfolio
from cobranza.testing.databases import postgres_admin_url

TOKEN, PHONE_ID = "EAAG-bench", "109876543210987"
# Tuesday 1 December 2026, 12:00 in Mexico City: inside the window in every Mexican zone.
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=ZoneInfo("America/Mexico_City")).astimezone(timezone.utc)
TODAY = date(2026, 12, 1)
# Days past due that fall on a step of the shipped campaigns today (first notice, weekly ones).
STEP_DAYS = (1, 5, 12, 31, 38, 61, 68, 91, 105)
PLACES = (  # states in six of Mexico's zones, with their zone
    ("Ciudad de México", "America/Mexico_City"),
    ("Baja California", "America/Tijuana"),
    ("Quintana Roo", "America/Cancun"),
    ("Sonora", "America/Hermosillo"),
    ("Nuevo León", "America/Monterrey"),
    ("Sinaloa", "America/Mazatlan"),
)


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def portfolio(engine: Engine, debtors: int) -> None:
    synthetic_portfolio.load(
        engine,
        debtors,
        balance_as_of=TODAY,
        place=lambda n: PLACES[n % len(PLACES)],
        debt=lambda n: {"days_past_due": STEP_DAYS[n % len(STEP_DAYS)]},
    )


def dispatch(
    engine: Engine,
    templates: dict[str, Any],
    graph: FakeGraphAPI,
    *,
    rate: float,
    seconds: float | None,
    limit: int | None,
) -> tuple[int, float, float]:
    base = load_settings({})
    settings = type(base)(
        **{
            **base.__dict__,
            "outreach": OutreachSettings(daily_recipients=10**7),
        }
    )
    client = graph.client()
    dispatcher = Dispatcher(
        db.make_session_factory(engine),
        settings,
        FixedClock(NOW),
        client,
        templates,
        batch=100,
        concurrency=16,
        pacer=Pacer(rate),
    )

    sent_at: list[float] = []
    send_once = client.send_once

    async def timed(payload: dict[str, Any]) -> Any:
        result = await send_once(payload)
        sent_at.append(time.perf_counter())
        return result

    client.send_once = timed  # type: ignore[method-assign]

    async def loop() -> tuple[int, float, float]:
        started = time.perf_counter()

        def enough(report: DispatchReport) -> bool:
            elapsed = time.perf_counter() - started
            return bool((seconds and elapsed >= seconds) or (limit and report.sent >= limit))

        try:
            report = await dispatcher.drain(enough)
        finally:
            await client.close()
        elapsed = time.perf_counter() - started
        # The steady rate: from the first answer to the last (the first claim is start-up).
        steady = (len(sent_at) - 1) / (sent_at[-1] - sent_at[0]) if len(sent_at) > 1 else 0.0
        return report.sent, elapsed, steady

    return asyncio.run(loop())


def bench(name: str, engine: Engine, args: argparse.Namespace) -> None:
    db.upgrade(engine)
    started = time.perf_counter()
    portfolio(engine, args.debtors)
    print(f"\n[{name}] {args.debtors:,} debtors loaded in {time.perf_counter() - started:.1f} s")
    campaigns, templates = load_outreach(
        PROJECT_ROOT / "campaigns",
        PROJECT_ROOT / "templates",
        personas=load_profiles(PROJECT_ROOT / "persona_profiles").keys(),
        intents=domain_intents(),
    )
    sessions = db.make_session_factory(engine)
    for run in ("first", "second"):
        started = time.perf_counter()
        with db.session_scope(sessions) as session:
            report = planner.plan(session, campaigns, templates, FixedClock(NOW))
        print(
            f"[{name}] plan ({run} run): {time.perf_counter() - started:.1f} s, "
            f"{report.planned:,} rows planned, {report.already_planned:,} already planned"
        )
    with FakeGraphAPI(TOKEN, PHONE_ID, templates=registered(templates)) as graph:
        sent, elapsed, steady = dispatch(
            engine, templates, graph, rate=80, seconds=args.paced_seconds, limit=None
        )
        print(
            f"[{name}] paced at 80/s: {sent:,} sent in {elapsed:.1f} s = {sent / elapsed:.1f}/s "
            f"overall, {steady:.1f}/s steady (first to last answer)"
        )
        sent, elapsed, steady = dispatch(
            engine, templates, graph, rate=100_000, seconds=None, limit=args.unpaced
        )
        print(
            f"[{name}] unpaced: {sent:,} sent in {elapsed:.1f} s = {sent / elapsed:.1f}/s "
            f"overall, {steady:.1f}/s steady"
        )
        assert not graph.rejected, graph.rejected[:3]
    with sessions() as session:
        counts = dict(
            session.execute(
                select(OutreachMessage.status, func.count()).group_by(OutreachMessage.status)
            ).all()
        )
    print(f"[{name}] rows by status: {counts}; peak memory {peak_mib():.0f} MiB")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--debtors", type=int, default=100_000)
    parser.add_argument("--paced-seconds", type=float, default=20.0)
    parser.add_argument("--unpaced", type=int, default=3000)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    args = parser.parse_args()
    if args.only != "postgres":
        path = Path(tempfile.mkdtemp(prefix="cobranza-bench-outreach-")) / "bench.db"
        bench("sqlite", db.make_engine(f"sqlite:///{path}"), args)
    if args.only != "sqlite":
        admin_url = make_url(postgres_admin_url())
        name = f"cobranza_bench_{uuid.uuid4().hex[:8]}"
        admin = db.make_engine(str(admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = db.make_engine(str(admin_url.set(database=name)))
        try:
            bench("postgres", engine, args)
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
