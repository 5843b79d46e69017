"""The payments file banks and collectors deliver (docs/payments.md): parsed and checked row by
row, with no database, so ``cobranza payments import`` and ``POST /api/payments`` read the same
format and a unit test covers every hostile input.

One documented format, a CSV with a header row (any order, names case-insensitive)::

    transaction_id,method,amount,paid_at,reference,payer_phone,concept

A bad row becomes a :class:`RowError` (line, column, reason in Spanish) and never stops the
others; only a file that cannot be read as a whole (too big, too many rows, not text, no header,
broken quoting) raises :class:`PaymentFileError`. Why so strict on amounts and dates: a payment
recorded with the wrong amount or day changes a debtor's balance and whether a promise was kept,
so a doubtful row is reported for a person to fix, never guessed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from cobranza.domain.folios import AGREEMENT_PREFIX, ALPHABET, PROMISE_PREFIX
from cobranza.domain.phones import InvalidPhone, normalize_phone
from cobranza.errors import Rejected

# A date or naive time in the file is the payment's local time in Mexico City (where SPEI and
# the convenience-store chains report); a date alone is noon there, which is the same calendar
# day in every Mexican time zone (Tijuana 10:00/11:00, Cancún 13:00).
FILE_TIME_ZONE = ZoneInfo("America/Mexico_City")
DATE_ONLY_TIME = time(12, 0)

MAX_FILE_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MAX_TRANSACTION_ID = 80  # payments.transaction_id
MAX_REFERENCE = 60  # payments.reference
MAX_CONCEPT = 500
MAX_FIELD = 500  # any other field
# payments.amount is NUMERIC(14, 2): twelve digits of pesos.
MAX_AMOUNT = Decimal("999999999999.99")
EARLIEST_PAYMENT = date(2000, 1, 1)

COLUMNS = ("transaction_id", "method", "amount", "paid_at", "reference", "payer_phone", "concept")
REQUIRED = ("transaction_id", "method", "amount", "paid_at")
METHODS = ("spei", "oxxo", "tienda", "card", "branch")

_AMOUNT = re.compile(r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?")
_FOLIO = re.compile(
    rf"(?<![A-Z0-9])({PROMISE_PREFIX}|{AGREEMENT_PREFIX})[-\s]?(\d{{8}})[-\s]?([{ALPHABET}]{{6}})"
    r"(?![A-Z0-9])"
)
# C0 controls but tab, CR and LF, and the C1 range: not in any text a bank exports.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class PaymentFileError(Rejected):
    """The file as a whole cannot be read; the message says why, in Spanish."""


@dataclass(frozen=True)
class PaymentRow:
    """One payment as the file states it, checked. ``paid_at`` is aware UTC; ``folios`` are the
    promise and agreement folios written in the reference or the concept, canonical."""

    line: int
    transaction_id: str
    method: str
    amount: Decimal
    paid_at: datetime
    reference: str | None = None
    payer_phone: str | None = None
    concept: str | None = None
    folios: tuple[str, ...] = ()


@dataclass(frozen=True)
class RowError:
    """A row that was not imported: where (line, column) and why, for the person who fixes it."""

    line: int
    column: str | None
    reason: str
    transaction_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "column": self.column,
            "reason": self.reason,
            "transaction_id": self.transaction_id,
        }


@dataclass(frozen=True)
class ParsedPayments:
    """What a file held: the good rows, the bad ones, and how many data rows were read."""

    rows: tuple[PaymentRow, ...]
    errors: tuple[RowError, ...] = field(default=())
    read: int = 0


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 (Latin-1 as Excel writes it). NUL bytes
    (UTF-16, a spreadsheet's binary format) and control characters are refused."""
    if len(data) > MAX_FILE_BYTES:
        raise PaymentFileError(
            f"el archivo pesa más de {MAX_FILE_BYTES // (1024 * 1024)} MB; divídelo en partes"
        )
    if b"\x00" in data:
        raise PaymentFileError(
            "el archivo tiene bytes nulos: no es un CSV de texto (¿UTF-16 o un .xlsx?); "
            "guárdalo como CSV UTF-8"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError as exc:
            raise PaymentFileError(
                "el archivo no es texto UTF-8 ni Latin-1; guárdalo como CSV UTF-8"
            ) from exc
    bad = _CONTROL.search(text)
    if bad:
        line = text.count("\n", 0, bad.start()) + 1
        raise PaymentFileError(f"línea {line}: carácter de control no permitido en un CSV")
    return text


def parse_payment_file(data: bytes, now: datetime | None = None) -> ParsedPayments:
    """Read a payments CSV. ``now`` (aware) refuses payments dated after it (a day's slack for
    clocks and zones)."""
    text = decode(data)
    if not text.strip():
        raise PaymentFileError("el archivo está vacío: falta el encabezado")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
        columns = _header(header)
        records: list[tuple[int, dict[str, str] | RowError]] = []
        read = 0
        for raw in reader:
            if not any(cell.strip() for cell in raw):
                continue  # blank line
            read += 1
            if read > MAX_ROWS:
                raise PaymentFileError(f"el archivo tiene más de {MAX_ROWS:,} filas; divídelo")
            line = reader.line_num
            if len(raw) != len(columns):
                records.append(
                    (
                        line,
                        RowError(
                            line,
                            None,
                            f"la fila tiene {len(raw)} columnas y el encabezado {len(columns)}",
                            _cell(raw, columns, "transaction_id"),
                        ),
                    )
                )
                continue
            records.append((line, dict(zip(columns, raw, strict=True))))
    except csv.Error as exc:
        raise PaymentFileError(f"línea {reader.line_num}: CSV mal formado ({exc})") from exc
    return _checked(records, read, now)


def parse_payment_records(records: Iterable[Any], now: datetime | None = None) -> ParsedPayments:
    """The same checks for records pushed as JSON (``{"payments": [{...}, ...]}``); a record's
    "line" is its position, from 1. Values may be strings or, for amounts, JSON numbers written
    as integers or strings (a float is refused: it is not exact money)."""
    items: list[tuple[int, dict[str, str] | RowError]] = []
    for number, record in enumerate(records, start=1):
        if number > MAX_ROWS:
            raise PaymentFileError(f"más de {MAX_ROWS:,} pagos en una solicitud; divídela")
        if not isinstance(record, Mapping):
            items.append((number, RowError(number, None, "el pago no es un objeto JSON")))
            continue
        unknown = sorted(str(k) for k in record if k not in COLUMNS)
        if unknown:
            items.append(
                (number, RowError(number, unknown[0], "campo desconocido (ver docs/payments.md)"))
            )
            continue
        values: dict[str, str] = {}
        problem: RowError | None = None
        for key, value in record.items():
            if value is None:
                continue
            if isinstance(value, bool) or isinstance(value, float):
                problem = RowError(
                    number, str(key), 'escribe el valor como texto, p. ej. "1250.00"'
                )
                break
            if not isinstance(value, str | int):
                problem = RowError(number, str(key), "el valor debe ser texto")
                break
            values[str(key)] = str(value)
        items.append((number, problem or values))
    return _checked(items, len(items), now)


def _header(header: list[str]) -> list[str]:
    columns = [name.strip().lower() for name in header]
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown:
        raise PaymentFileError(
            f"columna desconocida en el encabezado: {unknown[0][:40]!r}; "
            f"las columnas son {', '.join(COLUMNS)}"
        )
    repeated = sorted({name for name in columns if columns.count(name) > 1})
    if repeated:
        raise PaymentFileError(f"columna repetida en el encabezado: {repeated[0]}")
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        raise PaymentFileError(f"falta la columna obligatoria {missing[0]} en el encabezado")
    return columns


def _cell(raw: list[str], columns: list[str], name: str) -> str | None:
    if name in columns and columns.index(name) < len(raw):
        value = raw[columns.index(name)].strip()
        return value[:MAX_TRANSACTION_ID] or None
    return None


def _checked(
    records: list[tuple[int, dict[str, str] | RowError]], read: int, now: datetime | None
) -> ParsedPayments:
    """Check each record; the first row with a transaction id wins, later ones are reported."""
    rows: list[PaymentRow] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for line, record in records:
        if isinstance(record, RowError):
            errors.append(record)
            continue
        outcome = check_row(line, record, now)
        if isinstance(outcome, RowError):
            errors.append(outcome)
            continue
        earlier = first_line.get(outcome.transaction_id)
        if earlier is not None:
            errors.append(
                RowError(
                    line,
                    "transaction_id",
                    f"transacción repetida en el archivo (ya está en la línea {earlier})",
                    outcome.transaction_id,
                )
            )
            continue
        first_line[outcome.transaction_id] = line
        rows.append(outcome)
    return ParsedPayments(tuple(rows), tuple(errors), read)


def check_row(
    line: int, record: Mapping[str, str], now: datetime | None = None
) -> PaymentRow | RowError:
    """One row's values (strings by column name) → a :class:`PaymentRow`, or the first problem."""
    values = {k: (v or "").strip() for k, v in record.items()}
    transaction_id = values.get("transaction_id", "")

    def fail(column: str, reason: str) -> RowError:
        return RowError(line, column, reason, transaction_id[:MAX_TRANSACTION_ID] or None)

    limits = {"transaction_id": MAX_TRANSACTION_ID, "reference": MAX_REFERENCE}
    limits["concept"] = MAX_CONCEPT
    for column in COLUMNS:
        limit = limits.get(column, MAX_FIELD)
        if len(values.get(column, "")) > limit:
            return fail(column, f"más de {limit} caracteres")
    for column in REQUIRED:
        if not values.get(column):
            return fail(column, "falta el valor (columna obligatoria)")
    method = values["method"].lower()
    if method not in METHODS:
        return fail("method", f"método desconocido; usa uno de: {', '.join(METHODS)}")
    amount = parse_amount(values["amount"])
    if isinstance(amount, str):
        return fail("amount", amount)
    paid_at = parse_paid_at(values["paid_at"])
    if isinstance(paid_at, str):
        return fail("paid_at", paid_at)
    if paid_at.astimezone(FILE_TIME_ZONE).date() < EARLIEST_PAYMENT:
        return fail("paid_at", f"fecha anterior a {EARLIEST_PAYMENT.isoformat()}")
    if now is not None and paid_at.astimezone(FILE_TIME_ZONE).date() > (
        now.astimezone(FILE_TIME_ZONE).date()
    ):
        return fail("paid_at", "la fecha de pago es posterior a hoy")
    phone: str | None = None
    if values.get("payer_phone"):
        try:
            phone = normalize_phone(values["payer_phone"])
        except InvalidPhone:
            return fail("payer_phone", "no es un teléfono de 10 dígitos de México")
    reference = values.get("reference") or None
    concept = values.get("concept") or None
    return PaymentRow(
        line=line,
        transaction_id=transaction_id,
        method=method,
        amount=amount,
        paid_at=paid_at,
        reference=reference,
        payer_phone=phone,
        concept=concept,
        folios=find_folios(" ".join(v for v in (reference, concept) if v)),
    )


def parse_amount(text: str) -> Decimal | str:
    """Pesos as the file writes them: ``1250``, ``1250.5``, ``1,250.00``, ``$1,250.00``; a
    reason (Spanish) when it is not a positive amount with at most two decimals."""
    cleaned = text.strip().removeprefix("$").strip()
    if not _AMOUNT.fullmatch(cleaned):
        return "no es un monto (usa 1250.00 o 1,250.00)"
    try:
        amount = Decimal(cleaned.replace(",", ""))
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        return "no es un monto (usa 1250.00 o 1,250.00)"
    if len(cleaned.partition(".")[2]) > 2:  # "1.250" is not 1.25 written oddly: a doubt
        return "más de dos decimales"
    if amount <= 0:
        return "el monto debe ser mayor a cero"
    if amount > MAX_AMOUNT:
        return "monto demasiado grande"
    return amount.quantize(Decimal("0.01"))


def parse_paid_at(text: str) -> datetime | str:
    """ISO date or date-time → aware UTC. A date alone is noon in Mexico City; a time without an
    offset is Mexico City local time; ``Z`` or ``±HH:MM`` are honoured."""
    raw = text.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            return datetime.combine(day, DATE_ONLY_TIME, FILE_TIME_ZONE).astimezone(timezone.utc)
        if raw[-1:] in ("Z", "z"):
            raw = raw[:-1] + "+00:00"
        instant = datetime.fromisoformat(raw)
    except ValueError:
        return "no es una fecha ISO (AAAA-MM-DD o AAAA-MM-DDTHH:MM[:SS][±HH:MM])"
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=FILE_TIME_ZONE)
    return instant.astimezone(timezone.utc)


def find_folios(text: str) -> tuple[str, ...]:
    """Promise (``PP-…``) and agreement (``CV-…``) folios in free text, as the bank keeps them
    (a SPEI concept loses hyphens, a clerk types spaces or lower case), in canonical form."""
    found: list[str] = []
    for prefix, day, suffix in _FOLIO.findall(text.upper()):
        folio = f"{prefix}-{day}-{suffix}"
        if folio not in found:
            found.append(folio)
    return tuple(found)
