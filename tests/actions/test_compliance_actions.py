"""The dialogue asks the compliance engine: the disclosure gate, a flagged number, consent
captured with the privacy notice before a reminder, and the slots refreshed after every action."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select

from actions.answers import ActionProcesarRespuesta
from actions.balance import ActionInformarSaldo
from actions.consent import (
    ActionContactoBloqueado,
    ActionNoContactar,
    ActionNumeroEquivocado,
    ActionProgramarRecordatorio,
    ActionSolicitarConsentimiento,
)
from actions.identity import ActionSolicitarIdentidad
from actions.promises import ActionProcesarPromesa
from cobranza import db
from cobranza.bootstrap import App
from cobranza.compliance import decisions
from cobranza.db.models import AuditLog, Consent, Reminder
from cobranza.services.consent import block_number
from cobranza.services.promises import record_promise
from tests.support.actions import Domain, TrackerFactory, all_slots, message, responses, run_action

PHONE = "+525512345678"
FOUND = {"deudor_encontrado": True, "persona": "olvidadizo", "zona_horaria": "America/Mexico_City"}
VERIFIED = {**FOUND, "identidad_verificada": True}


def _decisions(runtime: App, action: str) -> list[AuditLog]:
    with db.session_scope(runtime.sessions) as session:
        rows = session.execute(
            select(AuditLog).where(AuditLog.debtor_phone == PHONE, AuditLog.action == action)
        )
        return list(rows.scalars().all())


def _no_consent(runtime: App) -> None:
    with db.session_scope(runtime.sessions) as session:
        session.execute(delete(Consent).where(Consent.debtor_phone == PHONE))


def _pending_promise(runtime: App, due: date) -> str:
    from decimal import Decimal

    with db.session_scope(runtime.sessions) as session:
        promise = record_promise(
            session,
            PHONE,
            Decimal("500.00"),
            due,
            runtime.profiles["olvidadizo"],
            runtime.clock,
            "whatsapp",
        )
        return str(promise.folio)


def test_the_gate_is_audited_both_ways(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    run_action(ActionInformarSaldo(), tracker_factory(slots=FOUND), domain)
    run_action(ActionInformarSaldo(), tracker_factory(slots=VERIFIED), domain)
    rows = _decisions(action_app, decisions.DISCLOSURE)
    assert [(r.details["allowed"], r.details["rule"]) for r in rows] == [
        (False, "identity"),
        (True, "all_rules_met"),
    ]


def test_a_flagged_number_gets_nothing_even_if_verified(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    with db.session_scope(action_app.sessions) as session:
        block_number(session, PHONE, PHONE, "third_party", "prueba", action_app.clock)
    events, messages = run_action(
        ActionInformarSaldo(), tracker_factory(slots=VERIFIED, intent="consultar_saldo"), domain
    )
    assert responses(messages) == ["utter_contacto_bloqueado"]
    assert not any("$" in str(m) for m in messages)
    refreshed = all_slots(events)
    assert refreshed["contacto_bloqueado"] is True
    assert refreshed["identidad_verificada"] is False


def test_rule_branches_for_identity_and_flagged_number(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _, messages = run_action(
        ActionSolicitarIdentidad(), tracker_factory(slots=FOUND, intent="consultar_saldo"), domain
    )
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]
    _, messages = run_action(ActionContactoBloqueado(), tracker_factory(slots=FOUND), domain)
    assert responses(messages) == ["utter_contacto_bloqueado"]


def test_wrong_number_and_opt_out_refresh_the_slots(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, _ = run_action(
        ActionNoContactar(), tracker_factory(slots=FOUND, intent="no_contactar"), domain
    )
    assert all_slots(events)["consentimiento"] == decisions.REVOKED
    events, _ = run_action(
        ActionNumeroEquivocado(),
        tracker_factory(slots=FOUND, text="numero equivocado", intent="numero_equivocado"),
        domain,
    )
    assert all_slots(events)["contacto_bloqueado"] is True


def test_reminder_without_consent_shows_the_notice_then_records_consent(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _no_consent(action_app)
    folio = _pending_promise(action_app, date(2026, 11, 27))
    events, messages = run_action(
        ActionSolicitarConsentimiento(),
        tracker_factory(slots=VERIFIED, text="recuerdame", intent="pedir_recordatorio"),
        domain,
    )
    notice = message(messages, "utter_solicitar_consentimiento")
    assert notice["aviso_url"] == action_app.settings.privacy_notice_url
    assert all_slots(events)["esperando"] == "consentimiento"
    assert _decisions(action_app, "consent_granted") == []

    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(
            slots={**VERIFIED, "esperando": "consentimiento"}, text="si", intent="afirmar"
        ),
        domain,
    )
    assert responses(messages) == [
        "utter_consentimiento_registrado",
        "utter_recordatorio_programado",
    ]
    scheduled = message(messages, "utter_recordatorio_programado")
    assert scheduled["folio"] == folio
    assert scheduled["cuando"] == "jueves 26 de noviembre a las 10:00"
    assert all_slots(events)["consentimiento"] == decisions.GRANTED
    with db.session_scope(action_app.sessions) as session:
        consent = session.execute(select(Consent).where(Consent.debtor_phone == PHONE)).scalar_one()
        assert (consent.channel, consent.status) == ("whatsapp", "granted")
        assert "aviso de privacidad" in consent.source and "whatsapp" in consent.source
        assert consent.recorded_at == action_app.clock.now()
        reminder = session.execute(select(Reminder)).scalar_one()
        assert reminder.reference == folio and reminder.status == "pending"
    granted = _decisions(action_app, "consent_granted")
    assert granted[0].details["privacy_notice"] == action_app.settings.privacy_notice_url


def test_saying_no_records_nothing(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _no_consent(action_app)
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(
            slots={**VERIFIED, "esperando": "consentimiento"}, text="no", intent="negar"
        ),
        domain,
    )
    assert responses(messages) == ["utter_consentimiento_rechazado"]
    assert all_slots(events)["esperando"] is None
    with db.session_scope(action_app.sessions) as session:
        query = select(Consent).where(Consent.debtor_phone == PHONE)
        assert session.execute(query).scalars().all() == []


def test_reminder_with_consent_is_scheduled_once(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    folio = _pending_promise(action_app, date(2026, 11, 25))
    for _ in range(2):
        _, messages = run_action(
            ActionProgramarRecordatorio(),
            tracker_factory(slots=VERIFIED, text="recuerdame", intent="pedir_recordatorio"),
            domain,
        )
        assert message(messages, "utter_recordatorio_programado")["folio"] == folio
    with db.session_scope(action_app.sessions) as session:
        assert len(session.execute(select(Reminder)).scalars().all()) == 1


def test_reminder_needs_verification(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _, messages = run_action(
        ActionProgramarRecordatorio(),
        tracker_factory(slots=FOUND, text="recuerdame", intent="pedir_recordatorio"),
        domain,
    )
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]


def test_another_topic_drops_the_pending_consent_question(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, _ = run_action(
        ActionInformarSaldo(),
        tracker_factory(slots={**VERIFIED, "esperando": "consentimiento"}),
        domain,
    )
    assert all_slots(events)["esperando"] is None


def test_a_new_question_replaces_the_pending_consent_question(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """One pending question at a time: the promise's question is the one the debtor sees last,
    so a later "sí" is not read as consent."""
    events, messages = run_action(
        ActionProcesarPromesa(),
        tracker_factory(
            slots={**VERIFIED, "esperando": "consentimiento"},
            text="quiero prometer un pago",
            intent="prometer_pago",
        ),
        domain,
    )
    assert responses(messages) == ["utter_pedir_monto_promesa"]
    assert all_slots(events)["esperando"] == "monto_promesa"
    assert [e["value"] for e in events if e.get("name") == "esperando"] == ["monto_promesa"]
