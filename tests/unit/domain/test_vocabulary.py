"""Stored codes (cobranza/domain/vocabulary.py): one list each, plain strings in the database,
English snake_case except the two documented Spanish exceptions."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any

import pytest

from cobranza.config import PROJECT_ROOT
from cobranza.db import audit, models
from cobranza.domain import vocabulary as v

SNAKE = re.compile(r"^[a-z]+(_[a-z]+)*$")
SPANISH_EXCEPTIONS = {v.HandoffReason, v.TicketOutcome}
ENUMS = [
    value
    for value in vars(v).values()
    if isinstance(value, type) and issubclass(value, v.Code) and value is not v.Code
]


class _Collecting:
    def __init__(self) -> None:
        self.rows: list[Any] = []

    def add(self, row: Any) -> None:
        self.rows.append(row)


def test_every_code_is_snake_case_and_unique_within_its_enum() -> None:
    assert len(ENUMS) == 22
    for enum in ENUMS:
        values = enum.values()
        assert len(values) == len(set(values)), enum
        assert all(SNAKE.match(value) for value in values), enum


def test_members_read_as_their_stored_value() -> None:
    member = v.TicketStatus.OPEN
    assert str(member) == f"{member}" == format(member) == "open"
    assert member == "open" and json.dumps({"s": member}) == '{"s": "open"}'


def test_the_check_constraints_list_the_enums() -> None:
    assert models.PROMISE_STATUSES == ("pending", "kept", "broken", "cancelled")
    assert models.AGREEMENT_STATUSES == ("active", "completed", "broken", "cancelled")
    assert models.INSTALLMENT_STATUSES == ("pending", "paid", "missed", "cancelled")
    assert models.DEBT_STATUSES == ("active", "disputed", "paused", "paid", "written_off")
    assert models.CONSENT_STATUSES == ("granted", "revoked")
    assert models.CONTACT_DIRECTIONS == ("outbound", "inbound")
    assert models.TICKET_STATUSES == ("open", "claimed", "closed")
    assert models.BLOCK_REASONS == ("wrong_number", "third_party")
    assert models.REMINDER_STATUSES == ("pending", "sent", "cancelled")
    assert models.LOGIN_OUTCOMES == ("pending", "failed", "succeeded", "refused", "forgiven")
    assert models.LOCKOUT_SCOPES == ("user", "address")
    assert models.INBOUND_STATUSES == ("pending", "done", "failed")
    assert all(type(value) is str for value in models.TICKET_STATUSES)


def test_the_audit_log_stores_the_plain_value() -> None:
    session = _Collecting()
    at = datetime(2026, 11, 22, 12, tzinfo=timezone.utc)
    audit.record(session, at, v.AuditAction.CONSENT_GRANTED, None)
    audit.record(session, at, "contact_decision", None)
    assert [row.action for row in session.rows] == ["consent_granted", "contact_decision"]
    assert all(type(row.action) is str for row in session.rows)


def test_the_audit_log_refuses_an_unlisted_action() -> None:
    with pytest.raises(ValueError, match="consent_given"):
        audit.record(
            _Collecting(),
            datetime(2026, 11, 22, 12, tzinfo=timezone.utc),
            "consent_given",
            None,
        )


def test_docs_list_every_enum_and_value_and_the_exceptions() -> None:

    text = (PROJECT_ROOT / "docs" / "vocabulary.md").read_text(encoding="utf-8")
    for enum in ENUMS:
        assert f"`{enum.__name__}`" in text, enum
        for value in enum.values():
            assert f"`{value}`" in text, (enum, value)
    exceptions = text.split("## Deliberate exceptions", 1)[1].split("\n## ", 1)[0]
    for spanish in SPANISH_EXCEPTIONS:
        assert f"`{spanish.__name__}`" in exceptions
