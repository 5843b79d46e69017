"""A debtor answers a campaign message: the reply counts as a contact, and once identity is
verified the conversation says why we wrote (the promise, instalment or account) and keeps it
in ``motivo_contacto``. Before verification nothing about it is said."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from actions.answers import ActionProcesarRespuesta
from actions.identity import ActionSolicitarIdentidad
from cobranza.bootstrap import App
from cobranza.channels.whatsapp.parse import Inbound
from cobranza.channels.whatsapp.store import WhatsAppStore
from cobranza.db.models import AuditLog, ContactAttempt, OutreachMessage, Promise
from cobranza.domain.vocabulary import OutreachStatus, PromiseStatus
from tests.support.actions import Domain, TrackerFactory, message, responses, run_action, slots

PHONE = "+525512345678"  # María Fernanda, the first documented debtor
WA_ID = "5215512345678"
FOUND = {"deudor_encontrado": True, "telefono": PHONE}


def _sent_campaign_message(app: App, reference: str | None, hours_ago: int = 2) -> int:
    now = app.clock.now()
    with app.unit_of_work() as session:
        row = OutreachMessage(
            debtor_phone=PHONE,
            campaign="recordatorio_promesa",
            step="dia_anterior",
            planned_on=now.date(),
            reference=reference,
            template="recordatorio_fecha_proxima",
            parameters=["María"],
            priority=0,
            not_before=now - timedelta(hours=hours_ago),
            expires_at=now + timedelta(hours=20),
            status=OutreachStatus.DELIVERED,
            attempts=0,
            wamid=f"wamid.campaign-{hours_ago}",
            created_at=now - timedelta(hours=hours_ago + 1),
            sent_at=now - timedelta(hours=hours_ago),
        )
        session.add(row)
        session.flush()
        return int(row.id)


def _promise(app: App, status: str = PromiseStatus.PENDING) -> str:
    now = app.clock.now()
    with app.unit_of_work() as session:
        debt_id = session.execute(
            select(Promise.debt_id).where(Promise.debtor_phone == PHONE).limit(1)
        ).scalar()
        if debt_id is None:
            from cobranza.services.promises import primary_debt

            debt_id = primary_debt(session, PHONE).id
        promise = Promise(
            folio="PRM-20261122-AB12",
            debt_id=debt_id,
            debtor_phone=PHONE,
            amount=Decimal("2000.00"),
            due_date=date(2026, 11, 23),
            channel="whatsapp",
            status=status,
            created_by="bot",
            created_at=now - timedelta(days=3),
            updated_at=now,
        )
        session.add(promise)
    return "PRM-20261122-AB12"


def _reply(app: App, text: str = "hola") -> None:
    store = WhatsAppStore.from_app(app)
    message_in = Inbound("wamid.reply-1", WA_ID, "text", app.clock.now(), text, "")
    assert asyncio.run(store.accept(message_in))
    assert not asyncio.run(store.accept(message_in))  # a retried delivery counts once


def test_the_reply_counts_once_and_verification_says_which_promise_we_wrote_about(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    folio = _promise(action_app)
    row_id = _sent_campaign_message(action_app, folio)
    _reply(action_app)
    with action_app.unit_of_work() as session:
        row = session.get(OutreachMessage, row_id)
        assert row.replied_at == action_app.clock.now() and row.status == "read"
        replies = (
            session.execute(select(ContactAttempt).where(ContactAttempt.direction == "inbound"))
            .scalars()
            .all()
        )
        assert [(r.outcome, r.initiated_by) for r in replies] == [
            ("reply", "campaign:recordatorio_promesa")
        ]
        assert session.execute(
            select(AuditLog.details).where(AuditLog.action == "outreach_replied")
        ).scalar_one() == {
            "campaign": "recordatorio_promesa",
            "step": "dia_anterior",
            "reference": folio,
        }

    # Before verification: only the date of birth is asked; nothing about the promise.
    events, messages = run_action(
        ActionSolicitarIdentidad(), tracker_factory(slots=FOUND, intent="saludar"), domain
    )
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]
    state = {**FOUND, "esperando": "fecha_nacimiento"}
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(slots=state, text="12/03/1985", intent="informar"),
        domain,
    )
    assert responses(messages)[:2] == ["utter_identidad_confirmada", "utter_motivo_promesa"]
    said = message(messages, "utter_motivo_promesa")
    assert (said["folio"], said["monto"], said["fecha"]) == (
        folio,
        "$2,000.00",
        "lunes 23 de noviembre",
    )
    assert slots(events)["motivo_contacto"] == "promesa"


def test_a_broken_promise_follow_up_says_so_and_an_account_message_says_the_account(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    folio = _promise(action_app, PromiseStatus.BROKEN)
    _sent_campaign_message(action_app, folio)
    _reply(action_app)
    state = {**FOUND, "esperando": "fecha_nacimiento"}
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(slots=state, text="12/03/1985", intent="informar"),
        domain,
    )
    assert "utter_motivo_promesa_incumplida" in responses(messages)
    assert slots(events)["motivo_contacto"] == "promesa_incumplida"


def test_no_campaign_message_no_motive_and_an_old_one_is_not_an_answer(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _sent_campaign_message(action_app, None, hours_ago=24 * 8)  # eight days ago
    _reply(action_app)
    state = {**FOUND, "esperando": "fecha_nacimiento"}
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(slots=state, text="12/03/1985", intent="informar"),
        domain,
    )
    assert not [r for r in responses(messages) if r.startswith("utter_motivo_")]
    assert "motivo_contacto" not in slots(events)
