"""The payments file, read with no database: every column's rules, the encodings, and the hostile
files (oversized, too many rows, binary, broken quoting, repeated transaction ids)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from cobranza.config import PROJECT_ROOT
from cobranza.domain import payment_files as pf
from cobranza.domain.payment_files import PaymentFileError, parse_payment_file

HEADER = "transaction_id,method,amount,paid_at,reference,payer_phone,concept\n"
NOW = datetime(2026, 11, 22, 18, 0, tzinfo=timezone.utc)


def _parse(body: str, encoding: str = "utf-8") -> pf.ParsedPayments:
    return parse_payment_file((HEADER + body).encode(encoding), now=NOW)


def test_a_good_row_with_every_column() -> None:
    parsed = _parse(
        'CLAVE1,SPEI,"1,250.50",2026-11-20T10:15:00,CF-0000001,'
        "+52 55 1234 5678,Pago promesa pp-20261113-epa74q\n"
    )
    assert parsed.errors == () and parsed.read == 1
    row = parsed.rows[0]
    assert row.line == 2 and row.transaction_id == "CLAVE1" and row.method == "spei"
    assert row.amount == Decimal("1250.50")
    # a naive time is Mexico City's (UTC-6 all year since 2022)
    assert row.paid_at == datetime(2026, 11, 20, 16, 15, tzinfo=timezone.utc)
    assert row.reference == "CF-0000001" and row.payer_phone == "+525512345678"
    assert row.folios == ("PP-20261113-EPA74Q",)


@pytest.mark.parametrize(
    ("written", "instant"),
    [
        ("2026-11-20", datetime(2026, 11, 20, 18, 0, tzinfo=timezone.utc)),  # noon CDMX
        ("2026-11-20T23:30:00Z", datetime(2026, 11, 20, 23, 30, tzinfo=timezone.utc)),
        ("2026-11-20T09:00:00-08:00", datetime(2026, 11, 20, 17, 0, tzinfo=timezone.utc)),
        ("2026-11-20 09:00", datetime(2026, 11, 20, 15, 0, tzinfo=timezone.utc)),
    ],
)
def test_paid_at_forms(written: str, instant: datetime) -> None:
    assert pf.parse_paid_at(written) == instant


@pytest.mark.parametrize(
    ("written", "amount"),
    [
        ("1250", "1250.00"),
        ("1250.5", "1250.50"),
        ("1,250.00", "1250.00"),
        ("$ 12,345,678.9", "12345678.90"),
    ],
)
def test_amount_forms(written: str, amount: str) -> None:
    assert pf.parse_amount(written) == Decimal(amount)


@pytest.mark.parametrize(
    ("column", "row", "reason"),
    [
        ("amount", "T,spei,12.345,2026-11-20,,,", "más de dos decimales"),
        ("amount", "T,spei,0,2026-11-20,,,", "mayor a cero"),
        ("amount", "T,spei,-5,2026-11-20,,,", "no es un monto"),
        ("amount", "T,spei,1.250,00,2026-11-20,,", "más de dos decimales"),  # 1.250,00 European
        ("amount", "T,spei,12,50,2026-11-20,,,", "columnas"),
        ("amount", "T,spei,1e3,2026-11-20,,,", "no es un monto"),
        ("amount", "T,spei,NaN,2026-11-20,,,", "no es un monto"),
        ("amount", "T,spei,1000000000000.00,2026-11-20,,,", "demasiado grande"),
        ("paid_at", "T,spei,10,20/11/2026,,,", "no es una fecha ISO"),
        ("paid_at", "T,spei,10,2026-11-24,,,", "posterior a hoy"),
        ("paid_at", "T,spei,10,1999-12-31,,,", "anterior a 2000"),
        ("method", "T,cheque,10,2026-11-20,,,", "método desconocido"),
        ("transaction_id", ",spei,10,2026-11-20,,,", "falta el valor"),
        ("transaction_id", "X" * 81 + ",spei,10,2026-11-20,,,", "más de 80"),
        ("reference", "T,spei,10,2026-11-20," + "R" * 61 + ",,", "más de 60"),
        ("concept", "T,spei,10,2026-11-20,,," + "c" * 501, "más de 500"),
        ("payer_phone", "T,spei,10,2026-11-20,,12345,", "teléfono"),
    ],
)
def test_row_errors_name_line_column_and_reason(column: str, row: str, reason: str) -> None:
    parsed = _parse("OK1,oxxo,10,2026-11-20,,,\n" + row + "\nOK2,card,20,2026-11-20,,,\n")
    assert [r.transaction_id for r in parsed.rows] == ["OK1", "OK2"], "the other rows survive"
    assert len(parsed.errors) == 1 and parsed.read == 3
    error = parsed.errors[0]
    assert error.line == 3 and reason in error.reason
    assert error.column == (None if reason == "columnas" else column)


def test_duplicate_transaction_ids_first_wins() -> None:
    parsed = _parse("A,spei,10,2026-11-20,,,\nA,spei,99,2026-11-21,,,\nB,spei,5,2026-11-20,,,\n")
    assert [(r.transaction_id, r.amount) for r in parsed.rows] == [
        ("A", Decimal("10.00")),
        ("B", Decimal("5.00")),
    ]
    assert parsed.errors[0].line == 3 and "línea 2" in parsed.errors[0].reason


def test_bom_latin1_header_case_column_order_and_blank_lines() -> None:
    body = "Concept,AMOUNT,paid_at,Method,transaction_id\nAbono cuota ñandú,10,2026-11-20,tienda,X1\n\n"
    assert parse_payment_file(b"\xef\xbb\xbf" + body.encode("utf-8")).rows[0].concept == (
        "Abono cuota ñandú"
    )
    latin = parse_payment_file(body.encode("latin-1"))
    assert latin.rows[0].concept == "Abono cuota ñandú" and latin.read == 1


def test_quoted_fields_with_commas_and_newlines_keep_line_numbers() -> None:
    parsed = _parse('A,spei,10,2026-11-20,,,"dos\nlíneas, con coma"\nB,spei,x,2026-11-20,,,\n')
    assert parsed.rows[0].concept == "dos\nlíneas, con coma"
    assert parsed.errors[0].line == 4


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "vacío"),
        (b"transaction_id,method,amount\n", "paid_at"),
        (b"transaction_id,method,amount,paid_at,monto\n", "desconocida"),
        (b"transaction_id,method,amount,paid_at,amount\n", "repetida"),
        ("transaction_id,method\n".encode("utf-16"), "bytes nulos"),
        (HEADER.encode() + b"A,spei,10,2026-11-20,,,\x01\n", "control"),
        (HEADER.encode() + b'A,spei,10,2026-11-20,,,"sin cerrar\n', "CSV mal formado"),
        (b"PK\x03\x04\x14\x00\x06\x00", "bytes nulos"),  # an .xlsx
    ],
)
def test_file_level_refusals(data: bytes, message: str) -> None:
    with pytest.raises(PaymentFileError, match=message):
        parse_payment_file(data)


def test_size_and_row_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PaymentFileError, match="20 MB"):
        parse_payment_file(HEADER.encode() + b" " * pf.MAX_FILE_BYTES)
    monkeypatch.setattr(pf, "MAX_ROWS", 3)
    rows = "".join(f"T{n},spei,10,2026-11-20,,,\n" for n in range(4))
    with pytest.raises(PaymentFileError, match="más de 3 filas"):
        _parse(rows)
    assert len(_parse(rows[: rows.index("T3")]).rows) == 3


def test_folios_survive_what_banks_do_to_them() -> None:
    assert pf.find_folios("PAGO PP 20261113 EPA74Q y cv20261115-2mfhr7") == (
        "PP-20261113-EPA74Q",
        "CV-20261115-2MFHR7",
    )
    assert pf.find_folios("XPP-20261113-EPA74Q1") == ()  # inside a longer code: not a folio
    assert pf.find_folios("PP-20261113-EPA70Q") == ()  # 0 is not in the folio alphabet


def test_json_records_share_the_rules() -> None:
    parsed = pf.parse_payment_records(
        [
            {"transaction_id": "J1", "method": "spei", "amount": "10.50", "paid_at": "2026-11-20"},
            {"transaction_id": "J2", "method": "spei", "amount": 10.5, "paid_at": "2026-11-20"},
            {"transaction_id": "J3", "method": "spei", "amount": 7, "paid_at": "2026-11-20"},
            {"transaction_id": "J4", "monto": "1"},
            "no es objeto",
        ],
        now=NOW,
    )
    assert [r.transaction_id for r in parsed.rows] == ["J1", "J3"]
    assert [(e.line, e.column) for e in parsed.errors] == [(2, "amount"), (4, "monto"), (5, None)]


def test_the_sample_file_parses_as_documented() -> None:
    parsed = parse_payment_file((PROJECT_ROOT / "docs/samples/pagos_ejemplo.csv").read_bytes(), NOW)
    assert parsed.read == 8 and len(parsed.rows) == 7
    assert [(e.line, e.column) for e in parsed.errors] == [(9, "amount")]
    assert {r.method for r in parsed.rows} == {"spei", "oxxo", "card"}
