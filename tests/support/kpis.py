"""A hand-built portfolio whose KPIs for November 2026 (Mexico City days) are known by hand
(docs/kpis.md). The tests of cobranza/services/kpis/ and of ``cobranza kpis`` read it; the
expected numbers, and how each is derived, are in tests/integration/services/test_kpis.py.

Seven debtors and a stranger:

======  ==========  ==================  ================================  =======================
debtor  persona     debts (creditor)    snapshot 29 Oct → 30 Nov           what happens in November
======  ==========  ==================  ================================  =======================
D1      estandar    d1 acme             1-30 → al_corriente               campaign temprana: sent,
                                                                          read, replied, verified,
                                                                          promise kept, paid 1,000
D2      estandar    d2 acme, d2b bravo  31-60 → 61-90                     temprana: delivered,
                                                                          replied, verified, a
                                                                          superseded promise only,
                                                                          hand-off (6 h), opt-out
D3      evasivo     d3 bravo            61-90 → (none: paid off)          an agent writes; pays
                                                                          6,000 at 00:30 on 1 Nov;
                                                                          verified on the web chat;
                                                                          its October promise due
                                                                          2 Nov is kept
D4      (none)      d4 acme             al_corriente → 1-30               campaign tardia: two
                                                                          sends (one failed later),
                                                                          two blocks; an October
                                                                          ticket closed (120 h)
D5      evasivo     d5 bravo (paid)     (none) → 1-30                     temprana; replies at
                                                                          23:30 on 30 Nov, hand-off
D6      estandar    d6 acme             90+ → 90+                         an agent by SMS, reply by
                                                                          SMS, verified on
                                                                          WhatsApp, promise broken,
                                                                          hand-off (2 h), a block
D7      estandar    d7 bravo            90+ → 90+                         nothing; an October
                                                                          promise due 30 Nov pending
stranger —          —                   —                                 a block (debtor_known)
======  ==========  ==================  ================================  =======================

Decoys the range must leave out: D3's reply at 23:30 on 31 Oct (05:30 UTC on 1 Nov), a payment
at 23:50 on 31 Oct, D1's payment on 1 Dec, a send Meta refused (``not_sent``), cancelled
promises, a ticket with no debtor, an allowed decision, a what-if from the CLI, an
``agent_reply_blocked`` row (the desk's copy of a decision), snapshots of other days.

The creditors', debtors', debts', consents' and campaign messages' columns are those of
cobranza/testing/synthetic_portfolio.py (the benches' and tests/support/outreach.py's too).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from cobranza.db.models import (
    AuditLog,
    Consent,
    ContactAttempt,
    Creditor,
    Debt,
    Debtor,
    ExperimentExposure,
    FeatureSnapshot,
    HandoffTicket,
    IdentityVerification,
    OutreachMessage,
    Payment,
    Promise,
)
from cobranza.testing.synthetic_portfolio import (
    consent_row,
    creditor_row,
    debt_row,
    debtor_row,
    message_row,
)

CDMX = ZoneInfo("America/Mexico_City")
START, END = date(2026, 11, 1), date(2026, 11, 30)
D1, D2, D3, D4, D5, D6, D7 = (f"+5255110000{n:02d}" for n in range(1, 8))
STRANGER = "+525599999999"


def local(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CDMX)


def _creditor(session: Session, code: str, name: str) -> int:
    row = Creditor(**creditor_row(code, name, f"{name} S.A. de C.V."))
    session.add(row)
    session.flush()
    return int(row.id)


def _debtor(session: Session, phone: str, persona: str | None) -> None:
    since = local(1, 1, 12, year=2025)
    row = debtor_row(
        phone,
        "Ciudad de México",
        "America/Mexico_City",
        municipality="Coyoacán",
        persona=persona,
        since=since,
    )
    session.add(Debtor(**row))
    session.flush()


def _debt(
    session: Session, phone: str, creditor: int, contract: str, balance: str, **kw: Any
) -> int:
    owed = {
        "original_amount": Decimal("20000.00"),
        "current_balance": Decimal(balance),
        "days_past_due": 10,
    }
    row = Debt(**debt_row(phone, creditor, contract, date(2026, 12, 1), **(owed | kw)))
    session.add(row)
    session.flush()
    return int(row.id)


@dataclass(frozen=True)
class Rows:
    """The one row builder of this portfolio: ``rows(session, *values, **given)`` adds one row
    of ``model`` from the ``fields`` named by the positional values (in order), the
    ``defaults``, then the keywords; ``columns`` turns what was given into the row's columns
    (the ones that follow from others, e.g. a ticket's status from its closing time)."""

    model: type[Any]
    fields: tuple[str, ...]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    columns: Callable[[dict[str, Any]], dict[str, Any]] = dict

    def __call__(self, session: Session, *values: Any, **given: Any) -> None:
        positional = dict(zip(self.fields[: len(values)], values, strict=True))
        named = {**self.defaults, **positional, **given}
        session.add(self.model(**self.columns(named)))


def _money(given: dict[str, Any]) -> dict[str, Any]:
    return {**given, "amount": Decimal(given["amount"])}


def _message_columns(given: dict[str, Any]) -> dict[str, Any]:
    sent, status = given["sent"], given["status"]
    moment = sent or given["planned"]
    assert moment is not None
    step = f"paso_{moment:%m%d%H%M}"
    return message_row(
        given["phone"],
        given["campaign"],
        step,
        moment,
        status,
        sent_at=sent,
        replied_at=given["replied"],
    )


def _verification_columns(given: dict[str, Any]) -> dict[str, Any]:
    at, channel = given["verified_at"], given["channel"]
    return {
        **given,
        "conversation_id": f"{channel}:{given['phone']}",
        "expires_at": at + timedelta(minutes=30),
    }


def _ticket_columns(given: dict[str, Any]) -> dict[str, Any]:
    phone, created, closed, channel = (given[k] for k in ("phone", "created", "closed", "channel"))
    return {
        "debtor_phone": phone,
        "sender_id": f"{channel}:{phone}:{created:%m%d%H%M}",
        "channel": channel,
        "reason": "solicitud_agente",
        "priority": 0,
        "status": "closed" if closed else "open",
        "context": {},
        "created_at": created,
        "claimed_by": "ana" if closed else None,
        "claimed_at": created + timedelta(minutes=5) if closed else None,
        "closed_at": closed,
        "outcome": "sin_acuerdo" if closed else None,
    }


def _decision_columns(given: dict[str, Any]) -> dict[str, Any]:
    rule, allowed, action = given["rule"], given["allowed"], given["action"]
    return {
        "occurred_at": given["at"],
        "actor": given["actor"],
        "action": action,
        "debtor_phone": given["phone"],
        "details": {
            "allowed": allowed,
            "rule": rule,
            "reason": "…",
            "blocked_by": [] if allowed else [rule],
            "kind": "contact" if action == "contact_decision" else "disclosure",
            "channel": given["channel"],
            "initiated_by": given["by"],
            "checks": [{"rule": rule, "passed": allowed, "reason": "…", "inputs": {}}],
        },
    }


def _snapshot_columns(given: dict[str, Any]) -> dict[str, Any]:
    day = given["as_of"]
    return {
        "debtor_phone": given["debtor_phone"],
        "as_of": day,
        "features": {"days_past_due": 0.0, "bucket": given["bucket"], "persona": "estandar"},
        "balance": Decimal("100.00"),
        "created_at": datetime.combine(day + timedelta(days=1), datetime.min.time(), CDMX),
    }


_attempt = Rows(
    ContactAttempt,
    ("debtor_phone", "attempted_at"),
    {
        "direction": "outbound",
        "channel": "whatsapp",
        "initiated_by": "campaign:temprana",
        "outcome": "sent",
    },
)
_message = Rows(
    OutreachMessage,
    ("phone", "campaign", "sent", "status", "replied", "planned"),
    {"replied": None, "planned": None},
    _message_columns,
)
_promise = Rows(
    Promise,
    ("folio", "debtor_phone", "debt_id", "amount", "created_at", "due_date", "status", "channel"),
    {"channel": "whatsapp"},
    lambda given: {**_money(given), "updated_at": given["created_at"]},
)
_paid = Rows(
    Payment, ("debt_id", "amount", "paid_at", "transaction_id"), {"method": "spei"}, _money
)
_verified = Rows(
    IdentityVerification,
    ("phone", "verified_at", "channel"),
    {"channel": "whatsapp"},
    _verification_columns,
)
_ticket = Rows(
    HandoffTicket,
    ("phone", "created", "closed", "channel"),
    {"closed": None, "channel": "whatsapp"},
    _ticket_columns,
)
_decision = Rows(
    AuditLog,
    ("phone", "at", "rule"),
    {
        "allowed": False,
        "channel": "whatsapp",
        "by": "campaign:temprana",
        "action": "contact_decision",
        "actor": "system",
    },
    _decision_columns,
)
_snapshot = Rows(FeatureSnapshot, ("debtor_phone", "as_of", "bucket"), {}, _snapshot_columns)
_exposed = Rows(
    ExperimentExposure,
    ("debtor_phone", "arm", "exposed_at"),
    {"experiment": "saludo"},
    lambda given: {**given, "conversation_id": given["debtor_phone"]},
)


def build(session: Session) -> None:
    """The portfolio above, with its November and its decoys."""
    acme = _creditor(session, "acme", "Acme Financiera")
    bravo = _creditor(session, "bravo", "Bravo Crédito")
    for phone, persona in (
        (D1, "estandar"),
        (D2, "estandar"),
        (D3, "evasivo"),
        (D4, None),
        (D5, "evasivo"),
        (D6, "estandar"),
        (D7, "estandar"),
    ):
        _debtor(session, phone, persona)
    # Balances today; at the start of November add back the payments from 1 Nov on.
    d1 = _debt(session, D1, acme, "C-1", "3500.00")  # 3,500 + 1,000 + 500 = 5,000 on 1 Nov
    d2 = _debt(session, D2, acme, "C-2", "3000.00")  # paid 250 on 31 Oct: 3,000
    _debt(session, D2, bravo, "C-2B", "2000.00")
    d3 = _debt(session, D3, bravo, "C-3", "0.00", status="paid")  # 0 + 6,000 = 6,000
    _debt(session, D4, acme, "C-4", "10000.00")
    _debt(session, D5, bravo, "C-5", "0.00", status="paid")  # paid in October: 0, not counted
    d6 = _debt(session, D6, acme, "C-6", "8000.00")
    d7 = _debt(session, D7, bravo, "C-7", "2500.00")

    # D1: campaign temprana, the whole funnel, a promise kept, a block.
    _attempt(session, D1, local(11, 3, 10))
    _message(session, D1, "temprana", local(11, 3, 10), "read", replied=local(11, 3, 11))
    _attempt(session, D1, local(11, 3, 11), direction="inbound", outcome="reply")
    _verified(session, D1, local(11, 3, 11, 5))
    _promise(session, "P-1", D1, d1, "1000.00", local(11, 3, 11, 10), date(2026, 11, 10), "kept")
    _paid(session, d1, "1000.00", local(11, 9, 12), "T-1")
    _paid(session, d1, "500.00", local(12, 1, 7), "T-2")  # after the range
    _paid(session, d1, "700.00", local(10, 15, 12), "T-3")  # before the range
    _decision(session, D1, local(11, 3, 10), "all_rules_met", allowed=True)
    _decision(session, D1, local(11, 3, 15), "daily_cap")
    _decision(session, D1, local(10, 31, 23), "weekly_cap")  # 05:00 UTC on 1 Nov: October

    # D2: temprana, a refused send, reply, verification, a superseded promise, hand-off, opt-out.
    _attempt(session, D2, local(11, 5, 9))
    _message(session, D2, "temprana", local(11, 5, 9), "delivered")
    _attempt(session, D2, local(11, 6, 9), outcome="not_sent")
    _message(session, D2, "temprana", None, "failed", planned=local(11, 6, 9))
    _attempt(session, D2, local(11, 5, 20), direction="inbound", outcome="reply")
    _verified(session, D2, local(11, 5, 20, 5))
    _promise(session, "P-2", D2, d2, "900.00", local(11, 5, 20, 6), date(2026, 11, 20), "cancelled")
    _ticket(session, D2, local(11, 5, 20, 10), closed=local(11, 6, 2, 10))  # 6 hours
    opt_out = consent_row(
        D2, "revoked", source="conversacion whatsapp", recorded_at=local(11, 7, 10)
    )
    session.add(Consent(**opt_out))
    _paid(session, d2, "250.00", local(10, 31, 23, 50), "T-4")  # 05:50 UTC on 1 Nov: October

    # D3: an agent writes on WhatsApp; paid off at 00:30 on 1 Nov; verified on the web chat.
    _attempt(session, D3, local(10, 31, 23, 30), direction="inbound", outcome="reply")  # October
    _attempt(session, D3, local(11, 2, 10), initiated_by="agent:ana")
    _paid(session, d3, "6000.00", local(11, 1, 0, 30), "T-5")
    _verified(session, D3, local(11, 2, 12), channel="webchat")
    _promise(
        session, "P-3", D3, d3, "6000.00", local(10, 20, 12), date(2026, 11, 2), "kept", "webchat"
    )

    # D4: campaign tardia, two sends (the second failed after Meta accepted it), two blocks.
    _attempt(session, D4, local(11, 10, 10), initiated_by="campaign:tardia")
    _message(session, D4, "tardia", local(11, 10, 10), "sent")
    _attempt(session, D4, local(11, 20, 10), initiated_by="campaign:tardia")
    _message(session, D4, "tardia", local(11, 20, 10), "failed")
    for night in (15, 16):
        _decision(session, D4, local(11, night, 22, 30), "contact_window", by="campaign:tardia")
    _ticket(session, D4, local(10, 28, 10), closed=local(11, 2, 10))  # 120 hours

    # D5: temprana, a reply at 23:30 on 30 Nov (05:30 UTC on 1 Dec: still November), hand-off.
    _attempt(session, D5, local(11, 25, 10))
    _message(session, D5, "temprana", local(11, 25, 10), "read", replied=local(11, 30, 23, 30))
    _attempt(session, D5, local(11, 30, 23, 30), direction="inbound", outcome="reply")
    _ticket(session, D5, local(11, 30, 23, 40))

    # D6: an agent by SMS, a reply by SMS, verified on WhatsApp, promise broken, hand-off.
    _attempt(session, D6, local(11, 12, 11), channel="sms", initiated_by="agent:luis")
    _attempt(
        session,
        D6,
        local(11, 12, 11, 30),
        direction="inbound",
        channel="sms",
        initiated_by="agent:luis",
        outcome="reply",
    )
    _decision(
        session,
        D6,
        local(11, 12, 11, 40),
        "identity",
        channel="sms",
        by="bot",
        action="disclosure_decision",
        actor="bot",
    )
    _verified(session, D6, local(11, 12, 12))
    _promise(session, "P-6A", D6, d6, "1500.00", local(11, 12, 12), date(2026, 11, 20), "cancelled")
    _promise(session, "P-6B", D6, d6, "2000.00", local(11, 12, 12, 5), date(2026, 11, 20), "broken")
    _ticket(session, D6, local(11, 12, 13), closed=local(11, 12, 15))  # 2 hours

    # D7: nothing in November but an October promise due on the 30th, still pending.
    _promise(session, "P-7", D7, d7, "800.00", local(10, 25, 12), date(2026, 11, 30), "pending")
    _message(session, D7, "tardia", None, "planned", planned=local(12, 2, 10))

    # A number that is no debtor's; noise the range or the definitions leave out.
    _decision(session, STRANGER, local(11, 20, 10), "debtor_known", by="bot", actor="bot")
    _decision(session, D4, local(11, 21, 10), "contact_window", actor="cli")  # a what-if
    _decision(
        session,
        D6,
        local(11, 12, 11, 41),
        "open_handoff",
        action="agent_reply_blocked",
        actor="agent:luis",
    )
    _ticket(session, None, local(11, 15, 10), closed=local(11, 15, 11))

    # Snapshots: 29 Oct is the start (the latest of the week before 1 Nov), 30 Nov the end.
    start = {D1: "1-30", D2: "31-60", D3: "61-90", D4: "al_corriente", D6: "90+", D7: "90+"}
    end = {D1: "al_corriente", D2: "61-90", D4: "1-30", D5: "1-30", D6: "90+", D7: "90+"}
    decoy = {D1: "90+", D2: "90+", D3: "al_corriente", D4: "90+", D5: "90+", D6: "1-30", D7: "1-30"}
    for day, buckets in (
        (date(2026, 10, 20), decoy),
        (date(2026, 10, 29), start),
        (date(2026, 11, 15), decoy),
        (date(2026, 11, 30), end),
        (date(2026, 12, 1), decoy),
    ):
        for phone, bucket in buckets.items():
            _snapshot(session, phone, day, bucket)

    # Experiment arms (experiment "saludo"): D4 control, D3 and D5 the variant; D1's first
    # exposure comes after the range, so in November D1 is in no arm.
    _exposed(session, D4, "control", local(11, 5, 10))
    _exposed(session, D3, "directo", local(11, 6, 10))
    _exposed(session, D5, "directo", local(11, 7, 10))
    _exposed(session, D1, "control", local(12, 2, 10))
    session.flush()
