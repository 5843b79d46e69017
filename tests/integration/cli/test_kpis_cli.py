"""``cobranza kpis`` on the hand-built portfolio of tests/support/kpis.py (the numbers are derived
in tests/integration/services/test_kpis.py): the table, JSON and CSV say the same thing, a rate
with no base is "—" (empty in CSV, null in JSON), and bad input is refused in Spanish."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from cobranza import db
from cobranza.cli import commands
from tests.support import kpis as data
from tests.support.db import sqlite_url

NOV = ("--from", "2026-11-01", "--to", "2026-11-30")


def _database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, built: bool) -> None:
    url = sqlite_url(tmp_path / "kpis.db")
    engine = db.make_engine(url)
    db.upgrade(engine)
    if built:
        with db.session_scope(db.make_session_factory(engine)) as session:
            data.build(session)
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("COBRANZA_DEFAULT_TIME_ZONE", "America/Mexico_City")


@pytest.fixture
def portfolio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _database(tmp_path, monkeypatch, built=True)


@pytest.fixture
def empty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _database(tmp_path, monkeypatch, built=False)


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = commands.main(["kpis", *args])
    out, err = capsys.readouterr()
    return code, out, err


def _row(table: str, label: str) -> list[str]:
    """A row of the table, its cells split on the runs of spaces between them."""
    for line in table.splitlines():
        if line.startswith(label + "  "):
            return [cell for cell in line[len(label) :].split("  ") if cell.strip()]
    raise AssertionError(f"no row {label!r} in:\n{table}")


def test_the_table_has_the_total_and_each_group(
    portfolio: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, *NOV, "--by", "creditor")
    assert code == 0, err
    assert out.startswith(
        "Indicadores del 2026-11-01 al 2026-11-30 (días de America/Mexico_City)\n"
        "Tramos: al inicio, corte del 2026-10-29; al final, corte del 2026-11-30.\n"
    )
    header = next(line for line in out.splitlines() if line.startswith("indicador"))
    assert header.split("  ")[0] == "indicador"
    assert "Acme Financiera (acme)" in header and "Bravo Crédito (bravo)" in header
    assert [c.strip() for c in _row(out, "deudores contactados")] == ["6", "4", "3", "0"]
    assert [c.strip() for c in _row(out, "tasa de respuesta")] == [
        "66.7 %",
        "75.0 %",
        "66.7 %",
        "—",
    ]
    assert [c.strip() for c in _row(out, "saldo asignado")] == [
        "$36,500.00",
        "$26,000.00",
        "$10,500.00",
        "$0.00",
    ]
    assert [c.strip() for c in _row(out, "bloqueos: debtor_known")] == ["1", "0", "0", "1"]
    assert [c.strip() for c in _row(out, "horas de resolución (mediana)")] == [
        "6.0",
        "6.0",
        "6.0",
        "—",
    ]
    assert out.rstrip().endswith("—: sin base (el denominador es 0). Definiciones: docs/kpis.md.")
    assert "5511" not in out  # no debtor's phone


def test_json_and_csv_say_what_the_table_says(
    portfolio: None, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = cli(capsys, *NOV, "--by", "bucket", "--format", "json")
    assert code == 0, err
    found = json.loads(out)
    assert found["split"] == "bucket" and found["start_snapshot"] == "2026-10-29"
    assert [g["key"] for g in found["groups"]] == [
        "al_corriente",
        "1-30",
        "31-60",
        "61-90",
        "90+",
        "sin saldo",
    ]
    total = found["total"]
    assert total["funnel"]["reply_rate"] == {"value": 4 / 6, "numerator": 4, "denominator": 6}
    assert total["money"]["balance_assigned"] == "36500.00"
    assert total["roll"]["cure_rate"] == {"value": 0.4, "numerator": 2, "denominator": 5}
    assert total["compliance"]["blocks_by_rule"]["contact_window"] == 2
    assert found["groups"][5]["funnel"]["promise_rate"]["value"] is None  # sin saldo: 0/0

    code, out, err = cli(capsys, *NOV, "--by", "bucket", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["tramo al inicio"] for r in rows] == [
        "total",
        "al_corriente",
        "1-30",
        "31-60",
        "61-90",
        "90+",
        "sin saldo",
    ]
    assert rows[0]["deudores contactados"] == "6"
    assert rows[0]["tasa de respuesta"] == "0.666667"
    assert rows[0]["saldo asignado"] == "36500.00"
    assert rows[0]["pesos cobrados"] == "7000.00"
    assert rows[0]["bloqueos: contact_window"] == "2"
    assert rows[1]["tasa de cura"] == ""  # al_corriente: nobody delinquent at the start
    assert rows[0]["horas de resolución (promedio)"] == "42.67"


def test_filters_and_days(portfolio: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(
        capsys, *NOV, "--creditor", "acme", "--campaign", "temprana", "--format", "json"
    )
    assert code == 0, err
    found = json.loads(out)
    assert found["filters"] == {"creditor": "acme", "campaign": "temprana"}
    assert found["total"]["funnel"]["contacted"] == 2  # D1 and D2
    code, out, err = cli(capsys, *NOV, "--by", "day", "--format", "csv")
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 31 and rows[1]["día"] == "2026-11-01"
    assert rows[1]["pesos cobrados"] == "6000.00" and rows[1]["saldo asignado"] == ""


def test_an_empty_portfolio_shows_no_rates(empty: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, *NOV)
    assert code == 0, err
    for label in ("tasa de respuesta", "tasa de entrega", "tasa de recuperación", "tasa de cura"):
        assert [c.strip() for c in _row(out, label)] == ["—"], label
    assert [c.strip() for c in _row(out, "deudores contactados")] == ["0"]
    assert "Sin cortes de tramo" in out
    code, out, err = cli(capsys, *NOV, "--format", "json")
    total = json.loads(out)["total"]
    assert total["funnel"]["reply_rate"]["value"] is None
    assert total["money"]["recovery_rate"] == {
        "value": None,
        "numerator": "0.00",
        "denominator": "0.00",
    }
    code, out, err = cli(capsys, *NOV, "--format", "csv")
    row = next(csv.DictReader(io.StringIO(out)))
    assert row["grupo"] == "total" and row["tasa de respuesta"] == "" and row["pagos"] == "0"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--from", "2026-13-01", "--to", "2026-11-30"), 2, "debe ser una fecha AAAA-MM-DD"),
        (("--from", "ayer", "--to", "2026-11-30"), 2, "debe ser una fecha AAAA-MM-DD"),
        (("--to", "2026-11-30"), 2, "--from"),
        (("--from", "2026-11-30", "--to", "2026-11-01"), 1, "el rango empieza después"),
        ((*NOV, "--by", "experimento"), 2, "invalid choice"),
        (("--from", "0001-01-01", "--to", "9999-12-31"), 1, "las fechas van del 1900-01-01"),
        (("--from", "2020-01-01", "--to", "2026-11-30", "--by", "day"), 1, "a lo más 366"),
        ((*NOV, "--format", "xml"), 2, "invalid choice"),
        ((*NOV, "--campaign", "x" * 81), 2, "de 1 a 80 caracteres"),
        ((*NOV, "--campaign", "temprana\x1b[2J"), 2, "de 1 a 80 caracteres"),
        ((*NOV, "--persona", "   "), 2, "de 1 a 80 caracteres"),
    ],
)
def test_bad_input_is_refused(
    portfolio: None,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    if code == 2:
        with pytest.raises(SystemExit) as exit_:
            cli(capsys, *args)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
    else:
        found, _, err = cli(capsys, *args)
        assert found == code
    assert message in err


def test_a_filter_is_a_value_not_sql(portfolio: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, *NOV, "--campaign", "x' OR '1'='1", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["total"]["funnel"]["contacted"] == 0
