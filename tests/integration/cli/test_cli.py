"""The `cobranza` command as an operator runs it: a real process against a real database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from cobranza import db
from cobranza.config import PROJECT_ROOT

AT = "2026-11-22T12:00:00-06:00"
COBRANZA = str(Path(sys.executable).with_name("cobranza"))


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COBRANZA, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def cli_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    db_path = tmp_path_factory.mktemp("cli") / "cli.db"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{db_path}"}
    env.pop("PERSONA_PROFILES_DIR", None)
    first = run(env, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert f"migrada de vacía a {db.head_revision()}" in first.stdout
    assert "al día" in run(env, "db", "upgrade").stdout
    seed = run(env, "seed", "--today", "2026-11-22", "--at", AT)
    assert seed.returncode == 0, seed.stderr
    assert "1007 deudores nuevos" in seed.stdout
    again = run(env, "seed", "--today", "2026-11-22", "--at", AT)
    assert "nada que hacer" in again.stdout
    return env


@pytest.mark.parametrize("phone", ["5215512345678", "+525512345678", "55 1234 5678"])
def test_debtor_json_accepts_every_phone_format(cli_env: dict[str, str], phone: str) -> None:
    result = run(cli_env, "debtor", phone, "--json", "--at", AT)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["phone"] == "+525512345678"
    assert data["full_name"] == "María Fernanda López Hernández"
    assert data["persona"] == "olvidadizo" and data["balance"] == "8450.00"
    assert data["days_past_due"] == 12 and data["time_zone"] == "America/Mexico_City"
    assert data["local_time"] == "2026-11-22T12:00-06:00"
    assert data["consent"]["whatsapp"]["status"] == "granted"
    assert any(
        line.startswith("olvidadizo (prioridad 50): aplica") for line in data["persona_explanation"]
    )


def test_debtor_table(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "debtor", "664 123 4567", "--at", AT)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for expected in (
        "Juan Carlos Pérez Ramírez",
        "America/Tijuana",
        "en_apuros",
        "$23,900.50",
        "47 (tramo 31-60)",
        "perdió su empleo",
        "Por qué esta persona:",
        "en_apuros (prioridad 100): aplica",
        "whatsapp  granted",
    ):
        assert expected in out, expected


def test_patricia_has_no_consent(cli_env: dict[str, str]) -> None:
    out = run(cli_env, "debtor", "5213312345678", "--at", AT).stdout
    assert "sin registro de consentimiento" in out and "$31,250.75" in out


def test_offers(cli_env: dict[str, str]) -> None:
    result = run(cli_env, "offers", "5219981234567", "--json", "--at", AT)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["persona"] == "negociador" and data["today"] == "2026-11-22"
    [debt] = data["debts"]
    codes = [o["code"] for o in debt["offers"]]
    assert codes == ["pago_total", "liquidacion_10", "plan_3_quincenal", "plan_6_quincenal"]
    for offer in debt["offers"]:
        assert sum(Decimal(i["amount"]) for i in offer["installments"]) == Decimal(offer["total"])
        assert Decimal(offer["total"]) + Decimal(offer["discount"]) == Decimal("12000.00")
    table = run(cli_env, "offers", "+529981234567", "--at", AT).stdout
    assert "liquidacion_10" in table and "$10,800.00" in table and "$1,200.00" in table


def test_promises(cli_env: dict[str, str]) -> None:
    data = json.loads(run(cli_env, "promises", "--phone", "5218112345678", "--json").stdout)
    assert [p["status"] for p in data].count("broken") == 3
    assert all(p["folio"].startswith("PP-") for p in data)
    table = run(cli_env, "promises", "--phone", "81 1234 5678").stdout
    assert "broken" in table and "folio" in table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("debtor", "5550000000"), "no hay deudor con el teléfono ********0000"),
        (("debtor", "123"), "no es un número de 10 dígitos de México"),
        (("offers", "5215512345678", "--at", "ayer"), "--at no es una fecha y hora ISO-8601"),
        (("offers", "5215512345678", "--at", "2026-11-22T10:00"), "--at necesita zona horaria"),
        (("promises", "--phone", "5215500000000"), "no hay deudor"),
    ],
)
def test_errors_are_clear_and_exit_1(
    cli_env: dict[str, str], args: tuple[str, ...], message: str
) -> None:
    result = run(cli_env, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2(cli_env: dict[str, str]) -> None:
    assert run(cli_env, "promises").returncode == 2
    assert run(cli_env).returncode == 2


def test_personas_validate_names_file_and_field(cli_env: dict[str, str], tmp_path: Path) -> None:
    ok = run(cli_env, "personas", "validate")
    assert ok.returncode == 0 and "5 perfiles válidos" in ok.stdout
    broken = tmp_path / "persona_profiles"
    shutil.copytree(PROJECT_ROOT / "persona_profiles", broken)
    path = broken / "negociador.yml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("max_days_ahead: 10", "max_days_ahead: cero"),
        encoding="utf-8",
    )
    result = run({**cli_env, "PERSONA_PROFILES_DIR": str(broken)}, "personas", "validate")
    assert result.returncode == 1
    assert (
        "persona_profiles/negociador.yml: promise.max_days_ahead: 'cero' is not of type 'integer'"
        in result.stderr
    )


def test_personas_assign(cli_env: dict[str, str]) -> None:
    counts = json.loads(run(cli_env, "personas", "assign", "--json", "--at", AT).stdout)
    assert sum(counts.values()) == 1007 and set(counts) == {
        "en_apuros",
        "estandar",
        "negociador",
        "olvidadizo",
        "reincidente",
    }


def test_seed_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'new.db'}"}
    result = run(env, "seed")
    assert result.returncode == 1 and "cobranza db upgrade" in result.stderr


def test_bad_database_url_fails_fast(tmp_path: Path) -> None:
    result = run({**os.environ, "DATABASE_URL": "cobranza.db"}, "debtor", "5215512345678")
    assert result.returncode == 1 and "DATABASE_URL" in result.stderr


@pytest.mark.parametrize(
    ("at", "code", "rule", "local"),
    [
        ("2026-11-22T12:00:00-06:00", 0, "all_rules_met", "2026-11-22 12:00"),
        ("2026-11-22T22:00:00-06:00", 3, "contact_window", "2026-11-22 22:00"),
        ("2026-11-23T12:59:00+00:00", 3, "contact_window", "2026-11-23 06:59"),
    ],
)
def test_can_contact_prints_the_decision_and_exits_by_it(
    cli_env: dict[str, str], at: str, code: int, rule: str, local: str
) -> None:
    result = run(cli_env, "can-contact", "55 1234 5678", "--at", at)
    assert result.returncode == code, result.stderr
    assert result.stdout.startswith("PERMITIDO" if code == 0 else "BLOQUEADO")
    assert f"regla: {rule}" in result.stdout
    assert f"hora local: {local} (America/Mexico_City, zona por address)" in result.stdout
    assert "+525512345678" not in result.stdout, "the phone is masked in the table"


def test_can_contact_json_and_audit_trail(cli_env: dict[str, str]) -> None:
    # Tijuana on Pacific Standard Time (UTC-8) in November: 06:30 local is blocked
    result = run(cli_env, "can-contact", "6641234567", "--json", "--at", "2026-11-24T14:30Z")
    assert result.returncode == 3
    data = json.loads(result.stdout)
    assert (data["allowed"], data["rule"]) == (False, "contact_window")
    assert data["time_zone"] == "America/Tijuana"
    assert data["local_time"] == "2026-11-24T06:30:00-08:00"
    assert {c["rule"] for c in data["checks"]} >= {"contact_window", "consent", "daily_cap"}

    audit = run(cli_env, "audit", "--phone", "6641234567", "--json", "--action", "contact_decision")
    assert audit.returncode == 0, audit.stderr
    entries = json.loads(audit.stdout)
    last = entries[-1]
    assert last["actor"] == "cli" and last["details"]["rule"] == "contact_window"
    assert last["details"]["at"] == "2026-11-24T14:30:00+00:00"
    table = run(cli_env, "audit", "--phone", "6641234567")
    assert "contact_decision" in table.stdout and "bloqueado (contact_window)" in table.stdout


def test_can_contact_opted_out_and_unknown(cli_env: dict[str, str]) -> None:
    revoked = run(cli_env, "can-contact", "6561234567", "--json", "--at", AT)
    assert json.loads(revoked.stdout)["rule"] == "opt_out"
    unknown = run(cli_env, "can-contact", "5599999999", "--json", "--at", AT)
    assert unknown.returncode == 3 and json.loads(unknown.stdout)["rule"] == "debtor_known"
    bad = run(cli_env, "can-contact", "12345")
    assert bad.returncode == 1 and bad.stderr.startswith("error:")


def test_conduct_and_reminders_commands(cli_env: dict[str, str]) -> None:
    conduct = run(cli_env, "conduct")
    assert conduct.returncode == 0, conduct.stderr
    reminders = run(cli_env, "reminders", "--json", "--at", AT)
    assert reminders.returncode == 0 and json.loads(reminders.stdout) == []


def test_block_list_and_remove_are_audited(cli_env: dict[str, str]) -> None:
    """A false "número equivocado" is undone by a person, with a reason, in the audit log."""
    from sqlalchemy import create_engine, text

    engine = create_engine(cli_env["DATABASE_URL"])
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO contact_blocks (phone, debtor_phone, reason, source, created_at) "
                "VALUES ('+528112345678', '+528112345678', 'wrong_number', 'prueba', "
                "'2026-11-22 18:00:00.000000')"
            )
        )
    engine.dispose()
    listed = run(cli_env, "block", "list", "8112345678", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [b["reason"] for b in json.loads(listed.stdout)] == ["wrong_number"]
    assert run(cli_env, "can-contact", "8112345678", "--json", "--at", AT).returncode == 3
    no_reason = run(cli_env, "block", "remove", "8112345678")
    assert no_reason.returncode == 2 and "--reason" in no_reason.stderr
    removed = run(cli_env, "block", "remove", "8112345678", "--reason", "era el titular")
    assert removed.returncode == 0, removed.stderr
    assert "1 bloqueo(s)" in removed.stdout and "8112345678" not in removed.stdout
    assert json.loads(run(cli_env, "block", "list", "8112345678", "--json").stdout) == []
    again = run(cli_env, "block", "remove", "8112345678", "--reason", "otra vez")
    assert again.returncode == 1 and "no tenía bloqueos" in again.stderr
    audit = json.loads(
        run(
            cli_env, "audit", "--phone", "8112345678", "--json", "--action", "number_unblocked"
        ).stdout
    )
    assert audit[-1]["details"] == {"removed": 1, "reason": "era el titular"}
    assert audit[-1]["actor"].startswith("cli:")


def test_a_bug_is_a_technical_error_not_a_missing_debtor(
    cli_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A KeyError inside a service is a bug, not "no such debtor": one line on stderr saying
    so, exit 1, and the traceback in the log without the debtor's number."""
    import logging

    from cobranza.cli import commands
    from cobranza.services import views

    def broken(*args: object, **kwargs: object) -> dict[str, object]:
        raise KeyError("full_name")

    monkeypatch.setattr(views, "debtor_report", broken)
    monkeypatch.setenv("DATABASE_URL", cli_env["DATABASE_URL"])
    with caplog.at_level(logging.ERROR):
        code = commands.main(["debtor", "5215512345678", "--at", AT])
    err = capsys.readouterr().err
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:") and "técnico" in last, err
    assert "no hay deudor" not in err
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)
    assert "5512345678" not in err + caplog.text
