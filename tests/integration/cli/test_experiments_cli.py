"""``cobranza experiments list|report|validate`` on a database with exposures and payments: «EN
CURSO» with per-arm rates until every arm has its plan, then the comparison and the verdict;
``--json`` carries the same numbers; ``--at`` reads as of another moment; an unknown or hostile
name is refused in one line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.engine import Engine

from cobranza import db
from cobranza.cli import commands
from cobranza.db.models import Debt, Payment
from cobranza.services.experiments import record_exposure
from tests.support import outreach as data

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
AT = "2026-12-01T12:00:00+00:00"
EXPERIMENT = {
    "name": "aviso_prueba",
    "description": "¿Pagan más con el aviso del asistente?",
    "enabled": True,
    "target": {"campaign": "temprana_1_30", "step": "primer_aviso"},
    "arms": [
        {"name": "control", "variant": "aviso_cuenta", "weight": 50},
        {"name": "asistente", "variant": "aviso_cuenta_asistente", "weight": 50},
    ],
    "metric": "payment_rate",
    "window_days": 7,
    "baseline_rate": 0.1,
    "minimum_effect": 0.4,  # 20 debtors an arm
}


@pytest.fixture
def env(migrated_sqlite: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Engine:
    directory = tmp_path / "experiments"
    directory.mkdir()
    (directory / "aviso_prueba.yml").write_text(
        yaml.safe_dump(EXPERIMENT, allow_unicode=True), encoding="utf-8"
    )
    monkeypatch.setenv("DATABASE_URL", str(migrated_sqlite.url))
    monkeypatch.setenv("EXPERIMENTS_DIR", str(directory))
    return migrated_sqlite


def enrol(engine: Engine, arm: str, count: int, paying: int, start: int = 0) -> None:
    """``count`` debtors exposed an hour apart from T0 (two hours for the second arm), the
    first ``paying`` of them paying a day later."""
    step = timedelta(hours=1 if arm == "control" else 2)
    with db.session_scope(db.make_session_factory(engine)) as session:
        for n in range(start, start + count):
            phone = f"+5255116{0 if arm == 'control' else 1}{n:04d}"
            data.debtor(session, phone)
            at = T0 + n * step
            record_exposure(session, "aviso_prueba", arm, phone, at, conversation_id=phone)
            if n < start + paying:
                debt = session.query(Debt).filter_by(debtor_phone=phone).one()
                session.add(
                    Payment(
                        debt_id=debt.id,
                        amount=Decimal("100.00"),
                        paid_at=at + timedelta(days=1),
                        method="spei",
                    )
                )


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = commands.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def report(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    code, out, err = cli(capsys, "experiments", "report", "aviso_prueba", "--json", *extra)
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def test_running_until_every_arm_has_its_plan(
    env: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    enrol(env, "control", 20, 2)
    enrol(env, "asistente", 19, 19)  # every one pays, one short of the plan
    code, out, err = cli(capsys, "experiments", "report", "aviso_prueba", "--at", AT)
    assert code == 0, err
    assert "Veredicto: EN CURSO (faltan 1 deudor; asistente: 1)." in out
    assert "Sin comparación ni prueba hasta llegar al plan" in out
    assert "diferencia" not in out and "gana" not in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("control", "asist"))]
    assert rows[0][:9] == ["control", "aviso_cuenta", "50%", "20", "20", "20", "/", "20", "2"]
    assert rows[0][9:] == ["10.0%", "2.8%", "–", "30.1%"]  # Wilson 95%
    assert rows[1][3:10] == ["19", "19", "19", "/", "20", "19", "100.0%"]
    as_json = report(capsys, "--at", AT)
    assert as_json["outcome"] == "running" and as_json["comparisons"] == []
    assert as_json["missing"] == {"asistente": 1}


def test_an_arm_without_a_base_shows_no_interval(
    env: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    """An arm nobody was exposed to has no rate and no interval: «—» for both, as the console
    shows a rate without a base, not a Wilson interval of 0%–100%."""
    enrol(env, "control", 3, 1)
    code, out, err = cli(capsys, "experiments", "report", "aviso_prueba", "--at", AT)
    assert code == 0, err
    rows = [line.split() for line in out.splitlines() if line.startswith(("control", "asist"))]
    assert rows[0][-4:] == ["33.3%", "6.1%", "–", "79.2%"]
    assert rows[1][3:] == ["0", "0", "0", "/", "20", "0", "—", "—"]


def test_the_verdict_once_the_plan_is_reached(
    env: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    enrol(env, "control", 25, 5)
    enrol(env, "asistente", 22, 15)
    code, out, err = cli(capsys, "experiments", "report", "aviso_prueba", "--at", AT)
    assert code == 0, err
    assert "Veredicto (plan alcanzado): gana asistente." in out
    assert "Cada variante contra el control (diferencia con IC 95% de Newcombe" in out
    assert "Analizados los expuestos hasta 2026-11-04T02:00:00+00:00" in out
    [row] = [line.split() for line in out.splitlines() if line.startswith("asistente  +")]
    assert row[1:3] == ["+55.0", "pts"] and row[-1] == "gana"
    as_json = report(capsys, "--at", AT)
    assert as_json["outcome"] == "wins" and as_json["winner"] == "asistente"
    assert [(a["analysed"], a["successes"]) for a in as_json["arms"]] == [(25, 5), (20, 15)]
    assert as_json["comparisons"][0]["difference"] == pytest.approx(0.55)


def test_at_reads_as_of_another_moment(env: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    enrol(env, "control", 3, 3)
    early = report(capsys, "--at", "2026-11-05T12:00:00+00:00")  # 3 days in: windows open
    assert early["as_of"] == "2026-11-05T12:00:00+00:00"
    assert [(a["exposed"], a["window_closed"]) for a in early["arms"]] == [(3, 0), (0, 0)]
    later = report(capsys, "--at", AT)
    assert [(a["window_closed"], a["successes"]) for a in later["arms"]] == [(3, 3), (0, 0)]


def test_list_and_validate(env: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    enrol(env, "control", 3, 0)
    code, out, err = cli(capsys, "experiments", "list", "--at", AT)
    assert code == 0, err
    assert out.splitlines()[2].split()[:7] == [
        "aviso_prueba",
        "activo",
        "paso",
        "temprana_1_30.primer_aviso",
        "payment_rate",
        "3",
        "/",
    ]
    code, out, _ = cli(capsys, "experiments", "list", "--json")
    assert [r["experiment"] for r in json.loads(out)] == ["aviso_prueba"]
    code, out, _ = cli(capsys, "experiments", "validate")
    assert code == 0 and out.startswith("1 experimentos válidos en ")


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("no_existe", "'no_existe'"),
        ("x" * 5000, "'" + "x" * 59 + "…'"),
        ("a\nb'; DROP TABLE x", '"a\\nb\'; DROP TABLE x"'),
    ],
)
def test_an_unknown_name_is_refused_in_one_line(
    env: Engine, capsys: pytest.CaptureFixture[str], name: str, shown: str
) -> None:
    code, out, err = cli(capsys, "experiments", "report", name)
    assert (code, out) == (1, "")
    assert err == f"error: no hay experimento {shown}; hay: aviso_prueba\n"


def test_usage_errors_exit_2(env: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        commands.main(["experiments", "report"])
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        commands.main(["experiments", "borrar", "x"])
    assert exited.value.code == 2
