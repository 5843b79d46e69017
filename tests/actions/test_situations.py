"""Already paid, hardship, dispute, payment methods."""

from __future__ import annotations

from sqlalchemy import select

from actions.balance import ActionMetodosPago
from actions.plans import ActionOfrecerPlanes
from actions.situations import ActionDificultad, ActionDisputa, ActionPagoRealizado
from cobranza import db
from cobranza.bootstrap import App
from cobranza.db.models import AuditLog, Debt, Debtor, HandoffTicket
from tests.support.actions import Domain, TrackerFactory, message, responses, run_action, slots

VERIFIED = {
    "deudor_encontrado": True,
    "identidad_verificada": True,
    "persona": "olvidadizo",
    "zona_horaria": "America/Mexico_City",
}


def test_already_paid_records_the_claim_and_stops_pressure(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, messages = run_action(
        ActionPagoRealizado(),
        tracker_factory(
            slots=VERIFIED, text="ya pague 8450 ayer", intent="informar_pago_realizado"
        ),
        domain,
    )
    assert responses(messages) == ["utter_gracias_pago"]
    assert slots(events)["pago_reportado"] is True
    with db.session_scope(action_app.sessions) as session:
        claim = session.execute(
            select(AuditLog).where(AuditLog.action == "payment_claimed")
        ).scalar_one()
        assert claim.details["amount"] == "8450.00" and claim.details["paid_on"] == "2026-11-21"
    _, messages = run_action(
        ActionOfrecerPlanes(), tracker_factory(slots={**VERIFIED, "pago_reportado": True}), domain
    )
    assert responses(messages) == ["utter_sin_presion"]
    _, messages = run_action(
        ActionPagoRealizado(),
        tracker_factory(slots=VERIFIED, text="ya pague", intent="informar_pago_realizado"),
        domain,
    )
    assert responses(messages) == ["utter_gracias_pago", "utter_pedir_datos_pago"]


def test_hardship_switches_persona_and_offers_gentler_plans(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, messages = run_action(
        ActionDificultad(),
        tracker_factory(
            slots=VERIFIED, text="me corrieron del trabajo", intent="dificultad_economica"
        ),
        domain,
    )
    assert slots(events)["persona"] == "en_apuros"
    assert responses(messages)[:2] == ["utter_empatia_dificultad", "utter_opciones_intro"]
    assert len(message(messages, "utter_elige_opcion")["buttons"]) > 2
    with db.session_scope(action_app.sessions) as session:
        debtor = session.get(Debtor, "+525512345678")
        assert debtor.persona == "en_apuros" and debtor.hardship_declared_at is not None


def test_hardship_with_what_the_debtor_can_pay_weighs_that_under_the_new_persona(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """«No me alcanza, puedo dar 300 a la quincena»: the empathy, then the debtor's own terms
    weighed (the closest plan that fits, asking for a "sí"), not the standard plans."""
    events, messages = run_action(
        ActionDificultad(),
        tracker_factory(
            slots=VERIFIED,
            text="no me alcanza, puedo dar 300 a la quincena",
            intent="dificultad_economica",
        ),
        domain,
    )
    assert slots(events)["persona"] == "en_apuros"
    assert responses(messages) == [
        "utter_empatia_dificultad",
        "utter_propuesta_no_cabe",
        "utter_confirmar_propuesta",
    ]
    assert slots(events)["esperando"] == "propuesta" and slots(events)["propuesta"]


def test_dispute_pauses_collection_and_opens_a_ticket(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, messages = run_action(
        ActionDisputa(),
        tracker_factory(slots=VERIFIED, text="yo no debo eso", intent="disputar_deuda"),
        domain,
    )
    assert responses(messages) == ["utter_disputa_recibida"]
    assert any(e["event"] == "pause" for e in events)
    with db.session_scope(action_app.sessions) as session:
        debt = session.execute(
            select(Debt).where(Debt.debtor_phone == "+525512345678")
        ).scalar_one()
        ticket = session.execute(select(HandoffTicket)).scalar_one()
    assert debt.status == "disputed" and ticket.reason == "disputa" and ticket.status == "open"


def test_payment_methods_are_the_creditors_own(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _, messages = run_action(ActionMetodosPago(), tracker_factory(slots=VERIFIED), domain)
    methods = message(messages, "utter_metodos_pago")
    assert methods["clabe"] == "012180001234567897" and methods["referencia"] == "CF0000000001"
    assert "utter_pagos_solo_acreedor" in responses(messages)
