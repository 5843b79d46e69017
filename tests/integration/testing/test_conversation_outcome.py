"""What the whole-conversation evaluation reads from a real database: the debtor's baseline and
secrets, the rows a conversation added (written here by the services the actions call), and
the restore that gives the next conversation the database as seeded."""

from __future__ import annotations

import shutil
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import make_url

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.db.models import Promise
from cobranza.personas.profiles import PersonaProfile
from cobranza.services import reminders
from cobranza.services.consent import block_number, grant_consent
from cobranza.services.disputes import open_dispute
from cobranza.services.handoff import open_ticket
from cobranza.services.hardship import declare_hardship, register_discount_request
from cobranza.services.identity import verify_birth_date
from cobranza.services.payments import record_payment_claim
from cobranza.services.plans import accept_offer
from cobranza.services.promises import record_promise
from cobranza.testing.conversations import (
    AgreementRow,
    PromiseRow,
    baseline,
    compare,
    last_ids,
    parse_file,
    read_outcome,
    restore,
    snapshot,
)
from tests.support.clock import DEMO_TODAY, NOW

MARIA = "+525512345678"


def the_day_before_at_ten(commitment: reminders.Commitment) -> list[datetime]:
    """The campaigns' moments as the reminder is told them (outreach reads them from files)."""
    day = commitment.due_on - timedelta(days=1)
    return [datetime.combine(day, time(10, 0), tzinfo=ZoneInfo("America/Mexico_City"))]


CONVERSATION = "rest:eval-maria"
EXPECT = """
conversations:
  - id: todo-a-la-vez
    channel: rest
    debtor: "+525512345678"
    turns: ["hola"]
    expect:
      verified: true
      promise: {amount: "2000.00", due: today+3}
      agreement: {plan_type: installments, payments: 2, total: "8450.00"}
      consent: granted
      block: third_party
      handoff: solicitud_agente
      dispute: true
      hardship: true
      discount_request: true
      payment_report: {amount: "500.00", paid_on: today-1}
      reminder: {due: today+3}
      persona: en_apuros
"""


def test_a_conversations_rows_are_read_and_the_restore_removes_them(
    seeded_sqlite_url: str, profiles: dict[str, PersonaProfile], tmp_path: Path
) -> None:
    database, saved = tmp_path / "eval.db", tmp_path / "seeded.db"
    shutil.copyfile(make_url(seeded_sqlite_url).database or "", database)
    snapshot(database, saved)
    before = last_ids(saved)
    engine = db.make_engine(f"sqlite:///{database}")
    base = baseline(engine, MARIA)
    assert base.known and base.persona == "olvidadizo"
    assert base.time_zone == "America/Mexico_City"
    found = {(s.what, s.text) for s in base.secrets}
    assert {
        ("full name", "María Fernanda López Hernández"),
        ("name", "Fernanda"),
        ("balance", "8,450.00"),
        ("creditor", "CrediFácil Demo"),
        ("CLABE", "012180001234567897"),
        ("store reference", "CF0000000001"),
        ("card link", "https://pagos.credifacil.example/tarjeta"),
    } <= found
    assert not baseline(engine, "+525500001111").known

    clock = FixedClock(NOW)
    with db.session_scope(db.make_session_factory(engine)) as session:
        verify_birth_date(
            session,
            MARIA,
            date(1985, 3, 12),
            clock,
            conversation_id=CONVERSATION,
            channel="rest",
            ttl=timedelta(minutes=30),
        )
        profile = profiles["olvidadizo"]
        record_promise(
            session,
            MARIA,
            Decimal("2000.00"),
            DEMO_TODAY + timedelta(days=3),
            profile,
            clock,
            "rest",
        )
        accept_offer(session, MARIA, "plan_2_quincenal", profile, clock, "rest")
        grant_consent(session, MARIA, "whatsapp", "conversación rest", "https://aviso", clock)
        reminders.schedule(
            session, MARIA, "whatsapp", "America/Mexico_City", clock, the_day_before_at_ten
        )
        record_payment_claim(
            session, MARIA, Decimal("500.00"), DEMO_TODAY - timedelta(days=1), "rest", clock
        )
        register_discount_request(session, MARIA, profiles, clock)
        declare_hardship(session, MARIA, "me quedé sin trabajo", profiles, clock)
        open_dispute(session, MARIA, "no reconozco la deuda", clock)
        open_ticket(session, CONVERSATION, MARIA, "rest", "solicitud_agente", {}, clock, True)
        block_number(session, "+525588887777", MARIA, "third_party", "conversación", clock)

    outcome = read_outcome(engine, CONVERSATION, MARIA, before, base)
    assert outcome.verified and outcome.identity_failures == 0
    assert outcome.promises == [
        PromiseRow(MARIA, Decimal("2000.00"), DEMO_TODAY + timedelta(days=3), "pending")
    ]
    (agreement,) = outcome.agreements
    assert agreement == AgreementRow(
        MARIA, "installments", 2, Decimal("8450.00"), Decimal("0.00"), agreement.first_due
    )
    assert outcome.consents == ["granted"] and outcome.blocks == ["third_party"]
    assert outcome.handoffs == ["solicitud_agente"] and outcome.disputed
    assert outcome.reminders == [DEMO_TODAY + timedelta(days=3)]
    assert (outcome.persona_before, outcome.persona_after) == ("olvidadizo", "en_apuros")
    (conversation,), problems = parse_file(Path("todo.yml"), EXPECT)
    assert problems == []
    assert compare(conversation.expect, outcome, MARIA, DEMO_TODAY) == []

    restore(database, saved)
    again = read_outcome(engine, CONVERSATION, MARIA, before, base)
    assert not again.verified and again.promises == [] and again.agreements == []
    assert again.audit == [] and again.consents == [] and not again.disputed
    assert again.persona_after == "olvidadizo"
    assert compare(conversation.expect, again, MARIA, DEMO_TODAY) != []
    with db.session_scope(db.make_session_factory(engine)) as session:
        promise = record_promise(
            session,
            MARIA,
            Decimal("100.00"),
            DEMO_TODAY + timedelta(days=1),
            profiles["olvidadizo"],
            clock,
            "rest",
        )
        assert session.get(Promise, promise.id) is not None
    assert [p.amount for p in read_outcome(engine, CONVERSATION, MARIA, before, base).promises] == [
        Decimal("100.00")
    ]
    engine.dispose()
