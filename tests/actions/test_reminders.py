""" "Recuérdame": the reminder is announced at the moment the campaign for that kind of
commitment writes to the debtor (its message fulfils the reminder), and when no campaign will,
the debtor is told so and nothing is scheduled. The campaign files are read once per process;
broken ones do not stop the conversation."""

from __future__ import annotations

import logging
import shutil
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select

from actions.consent import ActionProgramarRecordatorio
from cobranza import db
from cobranza.bootstrap import App
from cobranza.config import PROJECT_ROOT
from cobranza.db.models import AuditLog, Reminder
from cobranza.services.plans import accept_offer
from cobranza.services.promises import record_promise
from tests.support.actions import (
    Domain,
    TrackerFactory,
    message,
    responses,
    run_action,
)

PHONE = "+525512345678"  # María, documented demo debtor (olvidadizo, consent on record)
VERIFIED = {
    "deudor_encontrado": True,
    "identidad_verificada": True,
    "persona": "olvidadizo",
    "zona_horaria": "America/Mexico_City",
}
CDMX = ZoneInfo("America/Mexico_City")


@pytest.fixture
def campaigns_dir(tmp_path: Path) -> Path:
    """A copy of the shipped campaigns the test may change before the first action runs."""
    directory = tmp_path / "campaigns"
    shutil.copytree(PROJECT_ROOT / "campaigns", directory)
    return directory


@pytest.fixture
def app_environment(campaigns_dir: Path) -> dict[str, str]:
    """The actions' app (tests/actions/conftest.py) reads the campaigns of ``campaigns_dir``."""
    return {"CAMPAIGNS_DIR": str(campaigns_dir)}


def disable(campaigns_dir: Path, name: str) -> None:
    path = campaigns_dir / f"{name}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["enabled"] = False
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")


def agreement(app: App) -> tuple[str, date]:
    """María accepts two fortnightly payments: the agreement's folio and its first due date."""
    with db.session_scope(app.sessions) as session:
        row, _ = accept_offer(
            session, PHONE, "plan_2_quincenal", app.profiles["olvidadizo"], app.clock, "whatsapp"
        )
        return str(row.folio), row.installments[0].due_date


def ask(tracker_factory: TrackerFactory, domain: Domain) -> list[dict[str, object]]:
    _, messages = run_action(
        ActionProgramarRecordatorio(),
        tracker_factory(slots=VERIFIED, text="recuerdame", intent="pedir_recordatorio"),
        domain,
    )
    return messages


def reminders_and_audit(app: App) -> tuple[list[tuple[str, datetime]], int]:
    with db.session_scope(app.sessions) as session:
        rows = [(r.reference, r.scheduled_for) for r in session.execute(select(Reminder)).scalars()]
        audited = session.execute(
            select(AuditLog).where(AuditLog.action == "reminder_scheduled")
        ).scalars()
        return rows, len(audited.all())


def test_an_instalment_is_announced_when_its_campaign_writes_three_days_before(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    folio, due = agreement(action_app)
    assert due == date(2026, 11, 29)  # a week after the demo's today
    messages = ask(tracker_factory, domain)
    assert responses(messages) == ["utter_recordatorio_programado"]
    said = message(messages, "utter_recordatorio_programado")
    # recordatorio_parcialidad: tres_dias_antes at 10:00, not the day before.
    assert said["cuando"] == "jueves 26 de noviembre a las 10:00"
    assert (said["fecha"], said["folio"]) == ("domingo 29 de noviembre", folio)
    moment = datetime(2026, 11, 26, 10, 0, tzinfo=CDMX)
    assert reminders_and_audit(action_app) == ([(folio, moment)], 1)


def test_no_reminder_is_promised_when_the_campaign_for_it_is_disabled(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain, campaigns_dir: Path
) -> None:
    disable(campaigns_dir, "recordatorio_parcialidad")
    folio, _ = agreement(action_app)
    messages = ask(tracker_factory, domain)
    assert responses(messages) == ["utter_recordatorio_no_disponible"]
    said = message(messages, "utter_recordatorio_no_disponible")
    assert (said["fecha"], said["folio"]) == ("domingo 29 de noviembre", folio)
    assert reminders_and_audit(action_app) == ([], 0)


def test_a_promise_still_has_its_campaign_when_the_other_one_is_disabled(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain, campaigns_dir: Path
) -> None:
    disable(campaigns_dir, "recordatorio_parcialidad")
    with db.session_scope(action_app.sessions) as session:
        promise = record_promise(
            session,
            PHONE,
            Decimal("500.00"),
            date(2026, 11, 25),
            action_app.profiles["olvidadizo"],
            action_app.clock,
            "whatsapp",
        )
        folio = str(promise.folio)
    said = message(ask(tracker_factory, domain), "utter_recordatorio_programado")
    assert (said["cuando"], said["folio"]) == ("martes 24 de noviembre a las 10:00", folio)


def test_broken_campaign_files_promise_no_reminder_and_are_read_once(
    action_app: App,
    tracker_factory: TrackerFactory,
    domain: Domain,
    campaigns_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (campaigns_dir / "rota.yml").write_text("name: [\n", encoding="utf-8")
    agreement(action_app)
    with caplog.at_level(logging.ERROR):
        first = ask(tracker_factory, domain)
        again = ask(tracker_factory, domain)
    assert responses(first) == responses(again) == ["utter_recordatorio_no_disponible"]
    [logged] = [r for r in caplog.records if r.name == "actions.outreach_files"]
    assert "1 problem(s)" in logged.getMessage()
    assert "5512345678" not in caplog.text and "María" not in caplog.text
    assert reminders_and_audit(action_app) == ([], 0)


def test_nothing_to_remind(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    assert responses(ask(tracker_factory, domain)) == ["utter_recordatorio_sin_compromiso"]


def test_too_late_when_every_moment_has_passed(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    today = action_app.clock.now().astimezone(CDMX)  # 12:00: 09:00 on the day has passed
    with db.session_scope(action_app.sessions) as session:
        record_promise(
            session,
            PHONE,
            Decimal("500.00"),
            today.date(),
            action_app.profiles["olvidadizo"],
            action_app.clock,
            "whatsapp",
        )
    messages = ask(tracker_factory, domain)
    assert responses(messages) == ["utter_recordatorio_muy_tarde"]
    assert message(messages, "utter_recordatorio_muy_tarde")["fecha"] == "domingo 22 de noviembre"
    assert reminders_and_audit(action_app) == ([], 0)
