"""The outreach worker: one round settles promises against payments, plans today's steps and
sends what is due (real campaign files, a real database, the fake Graph API); without a
WhatsApp number it plans and sends nothing; a broken campaign file stops it with its name."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from cobranza import bootstrap
from cobranza.bootstrap import App
from cobranza.config import PROJECT_ROOT, load_settings
from cobranza.db.models import Debt, ExperimentExposure, OutreachMessage, Promise
from cobranza.outreach import worker
from cobranza.outreach.dispatcher import DispatchReport
from cobranza.outreach.graph import GraphClient
from cobranza.personas.profiles import PersonaProfile
from cobranza.simulation.fake_graph import FakeGraphAPI, registered
from tests.support import outreach as data
from tests.support.clock import SteppingClock

CDMX = ZoneInfo("America/Mexico_City")
LATE_MORNING = datetime(2026, 11, 23, 10, 30, tzinfo=CDMX)  # a Monday, after the 10:00 step


@pytest.fixture
def app(migrated_sqlite: Engine, profiles: dict[str, PersonaProfile]) -> Iterator[App]:
    settings = load_settings({"DATABASE_URL": str(migrated_sqlite.url)})
    clock = SteppingClock(LATE_MORNING.astimezone(timezone.utc))
    yield bootstrap.build(settings, engine=migrated_sqlite, clock=clock, profiles=profiles)


def one_round(app: App, sender: GraphClient | None) -> DispatchReport:
    files = worker.load_files(app)
    reports: list[DispatchReport] = []

    async def go() -> None:
        stop = asyncio.Event()

        def after(report: DispatchReport) -> None:
            reports.append(report)
            stop.set()

        try:
            await worker.work(app, files, sender, stop, interval=0, on_round=after)
        finally:
            if sender is not None:
                await sender.close()

    asyncio.run(go())
    return reports[0]


def test_one_round_settles_plans_and_sends(app: App) -> None:
    with app.unit_of_work() as session:
        data.debtor(session, "+525511140001", days_past_due=1, as_of=date(2026, 11, 23))
        data.debtor(session, "+525511140002", days_past_due=20)
        debt = session.execute(
            select(Debt).where(Debt.debtor_phone == "+525511140002")
        ).scalar_one()
        session.add(
            Promise(
                folio="PP-20261101-AAAA",
                debt_id=debt.id,
                debtor_phone="+525511140002",
                amount=Decimal("1000.00"),
                due_date=date(2026, 11, 10),
                channel="whatsapp",
                status="pending",
                created_at=datetime(2026, 11, 1, tzinfo=timezone.utc),
                updated_at=datetime(2026, 11, 1, tzinfo=timezone.utc),
            )
        )
    templates = registered(worker.load_files(app).templates)
    with FakeGraphAPI(data.TOKEN, data.PHONE_ID, templates=templates) as graph:
        report = one_round(app, graph.client())
        assert report.sent == 1
        [message] = graph.messages
    assert message["to"] == "5215511140001"
    # The first notice is under the shipped experiment (experiments/primer_aviso_asistente.yml):
    # this debtor's arm sends Cobi's version, and the exposure is recorded.
    experiment = worker.load_files(app).experiments["primer_aviso_asistente"]
    arm = experiment.assign("+525511140001")
    assert (arm.name, message["template"]["name"]) == ("asistente", "aviso_cuenta_asistente")
    with app.unit_of_work() as session:
        promise = session.execute(select(Promise)).scalar_one()
        assert promise.status == "broken"  # due the 10th, grace 2 days: settled this round
        rows = session.execute(select(OutreachMessage)).scalars().all()
        assert [(r.debtor_phone, r.status, r.template) for r in rows] == [
            ("+525511140001", "sent", "aviso_cuenta_asistente")
        ]
        exposure = session.execute(select(ExperimentExposure)).scalar_one()
        assert (exposure.experiment, exposure.arm, exposure.outreach_message_id) == (
            "primer_aviso_asistente",
            "asistente",
            rows[0].id,
        )


def test_without_whatsapp_it_plans_and_sends_nothing(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    with app.unit_of_work() as session:
        data.debtor(session, "+525511140003", days_past_due=1, as_of=date(2026, 11, 23))
    with caplog.at_level(logging.WARNING, logger="cobranza.outreach.worker"):
        report = one_round(app, None)
    assert report.claimed == 0
    assert "no WhatsApp number configured" in caplog.text
    with app.unit_of_work() as session:
        assert session.execute(select(OutreachMessage.status)).scalars().all() == ["planned"]


def test_a_broken_campaign_file_stops_the_worker_naming_it(tmp_path: Path) -> None:
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    (campaigns / "rota.yml").write_text("name: rota\nsteps: [\n", encoding="utf-8")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "CAMPAIGNS_DIR": str(campaigns),
    }
    result = subprocess.run(
        [sys.executable, "-m", "cobranza.outreach"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "error: outreach worker:" in result.stderr and "rota.yml" in result.stderr
    assert "Traceback" not in result.stderr
