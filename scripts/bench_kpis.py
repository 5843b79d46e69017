"""`make bench-kpis`: a manager's dashboard load over 100,000 debtors and about a million events,
on SQLite and on PostgreSQL (docs/kpis.md).

For each database: a fresh schema, then a synthetic portfolio written in bulk — debtors in six
zones with one or two debts at three creditors, and 180 days of events (campaign messages with
their contact attempts and allowed compliance decisions, replies, verifications, promises,
payments, opt-outs, hand-off tickets, blocked decisions) plus the two feature-snapshot days the
range reads, with every feature in the JSON as `cobranza score run` writes it. ANALYZE, then a
dashboard load, timed: the KPIs of the last 30 days (the total and one split) and the same
30 days day by day (cobranza/services/kpis/). The first load warms the caches and is not
counted; the median of the next ones is printed, with the slowest statements of one load.
Then the same loads through the console's HTTP API, as the Tablero asks for them (``GET
/api/supervisor/kpis``: the queries, the JSON and HTTP on loopback, a supervisor logged in).
Target: under 1 s on PostgreSQL.

PostgreSQL from COBRANZA_TEST_POSTGRES_URL, else
scripts/ensure_postgres.sh."""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import requests
from aiohttp import web
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import Engine, make_url

from cobranza import bootstrap, db
from cobranza.clock import SystemClock
from cobranza.config import load_console_settings, load_settings
from cobranza.console.server import Console
from cobranza.db.models import (
    AuditLog,
    Consent,
    ContactAttempt,
    Debt,
    Debtor,
    FeatureSnapshot,
    HandoffTicket,
    IdentityVerification,
    OutreachMessage,
    Payment,
    Promise,
)
from cobranza.domain.delinquency import bucket_for
from cobranza.domain.kpis import DIMENSIONS
from cobranza.domain.vocabulary import ConsoleRole
from cobranza.scoring.features import FEATURE_NAMES
from cobranza.services import agents
from cobranza.services.kpis import kpis, trend
from cobranza.testing import synthetic_portfolio
from cobranza.testing.databases import postgres_admin_url
from cobranza.testing.synthetic_portfolio import (
    Rows,
    consent_row,
    debt_row,
    debtor_row,
    message_row,
)

CDMX = ZoneInfo("America/Mexico_City")
# The dashboard's range: the 30 days before TODAY; events cover the 180 days before it.
TODAY = date(2026, 12, 1)
START, END = TODAY - timedelta(days=30), TODAY - timedelta(days=1)
HISTORY_DAYS = 180
ZONES = (
    "America/Mexico_City",
    "America/Tijuana",
    "America/Cancun",
    "America/Hermosillo",
    "America/Monterrey",
    "America/Mazatlan",
)
PERSONAS = ("estandar", "olvidadizo", "en_apuros", "negociador", "reincidente", None)
CREDITORS = ("banco_norte", "financiera_sur", "tienda_centro")
CAMPAIGNS = ("temprana_1_30", "media_31_60", "tardia_61_90", "recuperacion_90", "promesa")
RULES = ("daily_cap", "weekly_cap", "contact_window", "consent", "open_handoff", "dispute")
STATUSES = ("delivered",) * 12 + ("read",) * 5 + ("sent",) * 2 + ("failed",)
CHUNK = 2000  # debtors whose events are generated and inserted together


@contextmanager
def _timed(label: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    print(f"  {label}: {time.perf_counter() - started:.1f} s", flush=True)


class Portfolio:
    """A seeded synthetic portfolio: every call to :meth:`debtor` adds one debtor's history. The
    rows' columns are cobranza/testing/synthetic_portfolio.py's; the draws are this bench's."""

    def __init__(self, seed: int, creditor_ids: list[int]) -> None:
        self.rng = random.Random(seed)
        self.creditors = creditor_ids
        self.counter = 0
        self.first = datetime.combine(
            TODAY - timedelta(days=HISTORY_DAYS), datetime.min.time(), CDMX
        )

    def _moment(self, after: datetime | None = None, within_hours: float = 0) -> datetime:
        if after is not None:
            return after + timedelta(minutes=self.rng.uniform(5, within_hours * 60))
        day = self.first + timedelta(days=self.rng.randrange(HISTORY_DAYS))
        return day + timedelta(hours=self.rng.uniform(8, 21))

    def _next(self) -> int:
        self.counter += 1
        return self.counter

    def debtor(self, n: int, out: Rows) -> None:
        rng = self.rng
        phone = synthetic_portfolio.phone(n)
        since = self.first - timedelta(days=400)
        zone, persona = ZONES[n % len(ZONES)], rng.choice(PERSONAS)
        out.add(Debtor, **debtor_row(phone, "Ciudad de México", zone, persona=persona, since=since))
        out.add(Consent, **consent_row(phone, recorded_at=since))
        debts = self._debts(n, phone, out)
        dpd = rng.randrange(0, 150)
        for day, days_past_due in ((START - timedelta(days=1), dpd), (END, dpd + 30)):
            if rng.random() < 0.95:
                self._snapshot(phone, day, days_past_due, out)
        for _ in range(rng.choice((0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5))):
            self._message(phone, debts, out)
        for _ in range(rng.choice((0, 0, 0, 0, 1))):
            self._blocked(phone, out)
        if rng.random() < 0.2:
            debt, _ = rng.choice(debts)
            amount = Decimal(rng.randrange(200, 3000))
            out.add(Payment, debt_id=debt, amount=amount, paid_at=self._moment(), method="oxxo")

    def _debts(self, n: int, phone: str, out: Rows) -> list[tuple[int, int]]:
        count = 2 if self.rng.random() < 0.2 else 1
        creditors = self.rng.sample(self.creditors, count)
        debts = []
        for k, creditor in enumerate(creditors):
            debt_id = n * 2 + k + 1
            row = debt_row(
                phone,
                creditor,
                f"B-{n:08d}-{k}",
                TODAY,
                id=debt_id,
                original_amount=Decimal("20000.00"),
                current_balance=Decimal(self.rng.randrange(500, 20000)),
                days_past_due=self.rng.randrange(0, 150),
            )
            out.add(Debt, **row)
            debts.append((debt_id, creditor))
        return debts

    def _snapshot(self, phone: str, day: date, dpd: int, out: Rows) -> None:
        rng = self.rng
        features: dict[str, Any] = {name: round(rng.uniform(0, 100), 2) for name in FEATURE_NAMES}
        features.update(
            days_past_due=float(dpd),
            bucket=bucket_for(dpd),
            persona=rng.choice(PERSONAS[:-1]),
            time_zone="America/Mexico_City",
            product="Préstamo personal",
            creditor=rng.choice(CREDITORS),
            last_contact_channel="whatsapp",
        )
        out.add(
            FeatureSnapshot,
            debtor_phone=phone,
            as_of=day,
            features=features,
            balance=Decimal(rng.randrange(500, 20000)),
            created_at=datetime.combine(day + timedelta(days=1), datetime.min.time(), CDMX),
        )

    def _decision(
        self, phone: str, at: datetime, campaign: str, rule: str, allowed: bool
    ) -> dict[str, Any]:
        checks = [
            {"rule": r, "passed": allowed or r != rule, "reason": "…", "inputs": {"valor": 1}}
            for r in RULES
        ]
        return dict(
            occurred_at=at,
            actor="system",
            action="contact_decision",
            debtor_phone=phone,
            details={
                "allowed": allowed,
                "rule": "all_rules_met" if allowed else rule,
                "reason": "Se cumplen todas las reglas." if allowed else "Regla incumplida.",
                "blocked_by": [] if allowed else [rule],
                "kind": "contact",
                "channel": "whatsapp",
                "initiated_by": f"campaign:{campaign}",
                "at": at.isoformat(),
                "local_time": at.isoformat(),
                "time_zone": "America/Mexico_City",
                "zone_source": "address",
                "checks": checks,
            },
        )

    def _blocked(self, phone: str, out: Rows) -> None:
        at = self._moment()
        out.add(
            AuditLog,
            **self._decision(phone, at, self.rng.choice(CAMPAIGNS), self.rng.choice(RULES), False),
        )

    def _message(self, phone: str, debts: list[tuple[int, int]], out: Rows) -> None:
        rng = self.rng
        campaign = rng.choice(CAMPAIGNS)
        sent = self._moment()
        status = rng.choice(STATUSES)
        replied = sent + timedelta(minutes=rng.uniform(5, 600)) if rng.random() < 0.2 else None
        number = self._next()
        row = message_row(
            phone,
            campaign,
            f"s{number}",
            sent,
            "read" if replied else status,
            claimed_at=sent,
            sent_at=sent,
            replied_at=replied,
        )
        out.add(OutreachMessage, **row)
        for direction, at, outcome in (("outbound", sent, "sent"), ("inbound", replied, "reply")):
            if at is not None:
                out.add(
                    ContactAttempt,
                    debtor_phone=phone,
                    channel="whatsapp",
                    direction=direction,
                    initiated_by=f"campaign:{campaign}",
                    attempted_at=at,
                    outcome=outcome,
                    notes=f"outreach:{number}",
                )
        out.add(AuditLog, **self._decision(phone, sent, campaign, "all_rules_met", True))
        if replied is not None:
            self._conversation(phone, debts, replied, out)

    def _conversation(
        self, phone: str, debts: list[tuple[int, int]], replied: datetime, out: Rows
    ) -> None:
        rng = self.rng
        if rng.random() < 0.01:
            opt_out = consent_row(
                phone, "revoked", source="conversacion whatsapp", recorded_at=replied
            )
            out.add(Consent, **opt_out)
            return
        if rng.random() < 0.1:
            created = self._moment(replied, 1)
            closed = self._moment(created, 48) if rng.random() < 0.8 else None
            out.add(
                HandoffTicket,
                debtor_phone=phone,
                sender_id=f"{phone}:{self._next()}",
                channel="whatsapp",
                reason="solicitud_agente",
                priority=0,
                status="closed" if closed else "claimed",
                context={},
                created_at=created,
                claimed_by="ana",
                claimed_at=created,
                closed_at=closed,
                outcome="sin_acuerdo" if closed else None,
            )
        if rng.random() >= 0.6:
            return
        verified = self._moment(replied, 0.5)
        out.add(
            IdentityVerification,
            conversation_id=f"{phone}:{self._next()}",
            channel="whatsapp",
            phone=phone,
            verified_at=verified,
            expires_at=verified + timedelta(minutes=30),
        )
        if rng.random() >= 0.5:
            return
        debt, _ = rng.choice(debts)
        created = self._moment(verified, 0.2)
        due = created.date() + timedelta(days=rng.randrange(1, 15))
        status = "pending" if due >= TODAY else rng.choice(("kept", "kept", "broken"))
        amount = Decimal(rng.randrange(300, 5000))
        out.add(
            Promise,
            folio=f"PB-{self._next()}",
            debt_id=debt,
            debtor_phone=phone,
            amount=amount,
            due_date=due,
            channel="whatsapp",
            status=status,
            created_at=created,
            updated_at=created,
        )
        if status == "kept":
            paid = datetime.combine(due, datetime.min.time(), CDMX) + timedelta(hours=10)
            out.add(Payment, debt_id=debt, amount=amount, paid_at=paid, method="spei")


def load(engine: Engine, debtors: int, seed: int) -> None:
    creditor_ids = [
        synthetic_portfolio.add_creditor(
            engine, code, code.replace("_", " ").title(), f"{code} S.A. de C.V."
        )
        for code in CREDITORS
    ]
    portfolio = Portfolio(seed, creditor_ids)
    written = synthetic_portfolio.load_each(engine, debtors, portfolio.debtor, CHUNK)
    if engine.dialect.name == "postgresql":  # the debts were given their ids
        with engine.begin() as conn:
            conn.execute(text("SELECT setval('debts_id_seq', (SELECT max(id) FROM debts))"))
    print(f"  {written:,} rows written")


EVENT_TABLES = (
    OutreachMessage,
    ContactAttempt,
    AuditLog,
    IdentityVerification,
    Promise,
    Payment,
    HandoffTicket,
)


def census(engine: Engine) -> None:
    sessions = db.make_session_factory(engine)
    with sessions() as session:
        counts = {
            m.__tablename__: int(session.execute(select(func.count()).select_from(m)).scalar_one())
            for m in EVENT_TABLES
        }
        revoked = session.execute(
            select(func.count()).select_from(Consent).where(Consent.status == "revoked")
        ).scalar_one()
        debtors = session.execute(select(func.count()).select_from(Debtor)).scalar_one()
        snapshots = session.execute(select(func.count()).select_from(FeatureSnapshot)).scalar_one()
    events = sum(counts.values()) + int(revoked)
    detail = ", ".join(f"{name} {n:,}" for name, n in counts.items())
    print(f"  {debtors:,} debtors; {events:,} events ({detail}, opt-outs {revoked:,})")
    print(f"  {snapshots:,} feature snapshots (the range's start and end days)")


class Statements:
    """Each statement's duration during one dashboard load."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.timings: list[tuple[float, str]] = []

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *exc: Any) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def _before(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        conn.info["kpi_started"] = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        elapsed = time.perf_counter() - conn.info.pop("kpi_started")
        self.timings.append((elapsed, " ".join(statement.split())[:110]))


def _server_seconds(session: Any) -> float | None:
    """CPU seconds the PostgreSQL backend serving ``session`` has used, when the server runs
    on this machine (/proc); None otherwise."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    pid = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def dashboard(engine: Engine, split: str) -> dict[str, float]:
    """One dashboard load: the range's KPIs (total and split), then the per-day trend. Wall
    time, and the CPU time it took (this process and, on a local PostgreSQL, the backend):
    on a machine busy with other work the wall time includes waiting for a core."""
    sessions = db.make_session_factory(engine)
    with sessions() as session:
        if engine.dialect.name == "postgresql":  # the backend's CPU is then the whole query's
            session.execute(text("SET max_parallel_workers_per_gather = 0"))
        server = _server_seconds(session)
        cpu = time.process_time()
        started = time.perf_counter()
        report = kpis(session, START, END, split)
        middle = time.perf_counter()
        days = trend(session, START, END)
        ended = time.perf_counter()
        cpu = time.process_time() - cpu
        after = _server_seconds(session)
    assert len(days) == 30 and report.total.funnel.contacted > 0
    if server is not None and after is not None:
        cpu += after - server
    return {"kpis": middle - started, "trend": ended - middle, "total": ended - started, "cpu": cpu}


class ConsoleOver:
    """The console's aiohttp app over ``engine``'s database, on a loopback port, in a thread of
    its own; a supervisor account (a random password, not kept; disabled when done) logged in."""

    def __init__(self, engine: Engine) -> None:
        url = engine.url.render_as_string(hide_password=False)
        settings = load_settings({"DATABASE_URL": url})
        config = load_console_settings(
            {"RASA_URL": "http://127.0.0.1:9", "RASA_API_TOKEN": secrets.token_urlsafe(24)}
        )
        self.app = bootstrap.build(settings, clock=SystemClock(), engine=engine)
        self.username = f"bench.{secrets.token_hex(4)}"
        username, password = self.username, secrets.token_urlsafe(18)
        with self.app.unit_of_work() as session:
            agents.add_agent(
                session, username, "Bench", password, SystemClock(), ConsoleRole.SUPERVISOR
            )
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.runner = web.AppRunner(Console(self.app, config).app())
        self._run(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self._run(site.start())
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        self.client = requests.Session()
        login = self.client.post(
            f"{self.url}/api/login",
            json={"username": username, "password": password},
            headers={"X-Consola": "1"},
            timeout=60,
        )
        login.raise_for_status()

    def _run(self, work: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=60)

    def load(self, split: str) -> float:
        """One Tablero load (seconds): the range's KPIs with the split and the trend."""
        started = time.perf_counter()
        reply = self.client.get(
            f"{self.url}/api/supervisor/kpis",
            params={"from": START.isoformat(), "to": END.isoformat(), "by": split},
            timeout=120,
        )
        elapsed = time.perf_counter() - started
        reply.raise_for_status()
        assert len(reply.json()["trend"]) == 30
        return elapsed

    def close(self) -> None:
        self._run(self.runner.cleanup())
        with self.app.unit_of_work() as session:
            agents.set_active(session, self.username, False, SystemClock())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


def over_http(engine: Engine, args: argparse.Namespace) -> dict[str, float]:
    """The median Tablero load over HTTP per split (seconds)."""
    console = ConsoleOver(engine)
    medians = {}
    try:
        for split in args.split:
            console.load(split)  # warm-up
            loads = [console.load(split) for _ in range(args.loads)]
            medians[split] = statistics.median(loads)
            print(
                f"  over HTTP (GET /api/supervisor/kpis, by={split}): median of {args.loads} = "
                f"{medians[split]:.3f} s (slowest {max(loads):.3f} s)",
                flush=True,
            )
    finally:
        console.close()
    return medians


def prepare(engine: Engine, args: argparse.Namespace) -> None:
    """Migrate, write the portfolio unless the database has one, and gather statistics (on
    PostgreSQL a VACUUM too, as autovacuum would have done: it lets index-only scans skip the
    table)."""
    db.upgrade(engine)
    with engine.connect() as conn:
        loaded = conn.execute(select(func.count()).select_from(Debtor)).scalar_one()
    if loaded:
        print(f"  reusing the {loaded:,} debtors already in the database")
    else:
        with _timed(f"{args.debtors:,} debtors and their events written"):
            load(engine, args.debtors, args.seed)
    command = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
    with _timed(command), engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text(command))


def bench(name: str, engine: Engine, args: argparse.Namespace) -> dict[str, float]:
    """The median dashboard load per split (seconds)."""
    print(f"\n[{name}]")
    prepare(engine, args)
    census(engine)
    medians = {}
    for split in args.split:
        dashboard(engine, split)  # warm-up
        loads = [dashboard(engine, split) for _ in range(args.loads)]
        median = {k: statistics.median(load[k] for load in loads) for k in loads[0]}
        medians[f"--by {split}"] = median["total"]
        print(
            f"  dashboard load, total + --by {split} + per-day trend: median of {args.loads} = "
            f"{median['total']:.3f} s (KPIs {median['kpis']:.3f} s, trend {median['trend']:.3f} s; "
            f"slowest {max(load['total'] for load in loads):.3f} s); CPU {median['cpu']:.3f} s",
            flush=True,
        )
    medians.update({f"--by {split} over HTTP": t for split, t in over_http(engine, args).items()})
    if engine.dialect.name == "postgresql":  # (SQLite's cursor returns at the first row)
        with Statements(engine) as statements:
            dashboard(engine, args.split[0])
        print(f"  {len(statements.timings)} statements in a load with --by {args.split[0]}:")
        for elapsed, sql in sorted(statements.timings, reverse=True)[: args.show]:
            print(f"    {elapsed * 1000:7.1f} ms  {sql}")
    return medians


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--debtors", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--split",
        nargs="+",
        default=list(DIMENSIONS),
        choices=DIMENSIONS,
        help="the splits to time (each: a load with the total, that split and the trend)",
    )
    parser.add_argument("--loads", type=int, default=5, help="timed dashboard loads (median)")
    parser.add_argument("--show", type=int, default=8, help="slowest statements shown")
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument(
        "--database",
        metavar="URL",
        help="bench this database only, kept afterwards (written first when it has no debtors)",
    )
    args = parser.parse_args()
    results = {}
    if args.database:
        engine = db.make_engine(args.database)
        try:
            print(bench(engine.dialect.name, engine, args))
        finally:
            engine.dispose()
        return 0
    if args.only != "postgres":
        path = Path(tempfile.mkdtemp(prefix="cobranza-bench-kpis-")) / "bench.db"
        engine = db.make_engine(f"sqlite:///{path}")
        try:
            results["sqlite"] = bench("sqlite", engine, args)
        finally:
            engine.dispose()
            shutil.rmtree(path.parent, ignore_errors=True)
    if args.only != "sqlite":
        admin_url = make_url(postgres_admin_url())
        name = f"cobranza_bench_{uuid.uuid4().hex[:8]}"
        admin = db.make_engine(str(admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = db.make_engine(str(admin_url.set(database=name)))
        try:
            results["postgres"] = bench("postgres", engine, args)
        finally:
            engine.dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    print(f"\nload average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, medians in results.items():
        slowest = max(medians.values())
        verdict = ""
        if name == "postgres":
            verdict = " (target < 1 s: " + ("met" if slowest < 1 else "NOT met") + ")"
        loads = ", ".join(f"{split} {seconds:.3f} s" for split, seconds in medians.items())
        print(f"dashboard load on {name}: {loads}{verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
