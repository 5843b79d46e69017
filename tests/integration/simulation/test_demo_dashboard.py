"""`make demo-dashboard` (scripts/demo_dashboard.py), short: a 3-day simulation over 30 demo
debtors ending the day before the ``--today`` given, a supervisor account whose password is
printed once (the database keeps its hash only), and ``--reuse`` adding a second account to the
same simulation. The console itself is not started here (tests/e2e/test_console_dashboard.py
runs it on a simulation's database)."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from cobranza import db
from cobranza.config import PROJECT_ROOT
from cobranza.db.audit import simulated_database
from cobranza.db.models import Agent, AuditLog, ContactAttempt
from cobranza.services import agents

SCRIPT = PROJECT_ROOT / "scripts" / "demo_dashboard.py"
CDMX = ZoneInfo("America/Mexico_City")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--no-console", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=PROJECT_ROOT,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def _login(output: str) -> tuple[str, str]:
    found = re.search(r"usuario:\s+(\S+)\n\s+contraseña:\s+(\S+)\n", output)
    assert found, output
    return found.group(1), found.group(2)


def test_the_demo_simulates_up_to_yesterday_and_prints_a_supervisors_login(
    tmp_path: Path,
) -> None:
    database = tmp_path / "demo.db"
    common = ("--days", "3", "--debtors", "30", "--database", str(database))
    first = _run(*common, "--today", "2026-11-22")
    assert "Simulando 3 días (2026-11-19 a 2026-11-21) sobre 30 deudores" in first.stdout
    assert "datos simulados, no son de ningún acreedor" in first.stdout
    assert "http://127.0.0.1:5007/" in first.stdout
    username, password = _login(first.stdout)
    assert username == "supervisor.demo" and len(password) >= 20
    assert password not in first.stderr
    second = _run(*common, "--reuse")
    assert "Reutilizando la simulación" in second.stdout and "Simulando" not in second.stdout
    username2, password2 = _login(second.stdout)
    assert (username2, password2 != password) == ("supervisor.demo.2", True)

    engine = db.make_engine(f"sqlite:///{database}")
    try:
        with db.make_session_factory(engine)() as session:
            assert simulated_database(session)
            accounts = {a.username: a for a in session.execute(select(Agent)).scalars()}
            assert {name: a.role for name, a in accounts.items()} == {
                "supervisor.demo": "supervisor",
                "supervisor.demo.2": "supervisor",
            }
            stored = accounts["supervisor.demo"].password_hash
            assert password not in stored and agents.password_matches(password, stored)
            last = session.execute(select(func.max(ContactAttempt.attempted_at))).scalar_one()
            # the demo portfolio's history is older; the run's last contact is on its last day
            assert isinstance(last, datetime)
            assert date(2026, 11, 19) <= last.astimezone(CDMX).date() <= date(2026, 11, 21)
            logged = " ".join(
                str(row.details) for row in session.execute(select(AuditLog)).scalars()
            )
            assert password not in logged and password2 not in logged
    finally:
        engine.dispose()
