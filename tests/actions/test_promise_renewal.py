"""Coming back another day about a pending promise: "no voy a poder pagar el viernes" renews it
(the old one counts as broken), "ya pagué lo que prometí" is a claim for its amount. The
action tests' today is Sunday 2026-11-22 (Mexico City)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import select

from actions.answers import ActionProcesarRespuesta
from actions.promises import ActionProcesarPromesa, ActionReprogramarPromesa
from actions.situations import ActionPagoRealizado
from cobranza import db
from cobranza.bootstrap import App
from cobranza.db.models import AuditLog, Promise
from cobranza.services.promises import record_promise
from tests.support.actions import Domain, TrackerFactory, message, responses, run_turn

MARIA = {
    "deudor_encontrado": True,
    "identidad_verificada": True,
    "persona": "olvidadizo",
    "zona_horaria": "America/Mexico_City",
}
FRIDAY = date(2026, 11, 27)


def _promise_on_friday(action_app: App) -> str:
    """Yesterday's conversation: $2,000.00 for Friday."""
    with db.session_scope(action_app.sessions) as session:
        promise = record_promise(
            session,
            "+525512345678",
            Decimal("2000.00"),
            FRIDAY,
            action_app.profiles["olvidadizo"],
            action_app.clock,
            "whatsapp",
        )
        return str(promise.folio)


def _promises(action_app: App) -> dict[str, tuple[str, date, Decimal]]:
    with db.session_scope(action_app.sessions) as session:
        rows = session.execute(
            select(Promise).where(Promise.debtor_phone == "+525512345678")
        ).scalars()
        return {p.folio: (p.status, p.due_date, Decimal(p.amount)) for p in rows}


def test_cannot_pay_on_friday_asks_a_new_day_then_renews_the_promise(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    old = _promise_on_friday(action_app)
    state, messages = run_turn(
        ActionReprogramarPromesa(),
        tracker_factory,
        domain,
        MARIA,
        "no voy a poder pagar el viernes",
        "reprogramar_promesa",
    )
    asked = message(messages, "utter_reprogramar_pedir_fecha")
    assert (asked["monto"], asked["fecha"]) == ("$2,000.00", "viernes 27 de noviembre")
    assert state["esperando"] == "fecha_promesa" and state["promesa_anterior"] == old

    state, messages = run_turn(
        ActionProcesarRespuesta(), tracker_factory, domain, state, "el domingo", "informar"
    )
    assert responses(messages) == ["utter_confirmar_promesa"]
    state, messages = run_turn(
        ActionProcesarRespuesta(), tracker_factory, domain, state, "si", "afirmar"
    )
    renewed = message(messages, "utter_promesa_reprogramada")
    assert renewed["fecha_anterior"] == "viernes 27 de noviembre"
    promises = _promises(action_app)
    assert promises[old] == ("broken", FRIDAY, Decimal("2000.00"))
    assert promises[renewed["folio"]] == ("pending", date(2026, 11, 29), Decimal("2000.00"))
    assert state["promesa_anterior"] is None
    with db.session_scope(action_app.sessions) as session:
        audited = session.execute(
            select(AuditLog).where(AuditLog.action == "promise_rescheduled")
        ).scalar_one()
        assert audited.details["folio"] == old


def test_a_new_day_in_the_same_message_is_read_back_at_once(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    old = _promise_on_friday(action_app)
    state, messages = run_turn(
        ActionReprogramarPromesa(),
        tracker_factory,
        domain,
        MARIA,
        "lo del viernes no voy a poder, puede ser el domingo?",
        "reprogramar_promesa",
    )
    assert responses(messages) == ["utter_confirmar_promesa"]
    assert (state["promesa_fecha"], state["promesa_anterior"]) == ("2026-11-29", old)


def test_a_day_beyond_the_persona_horizon_is_refused(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """Renewing is no way around the horizon: olvidadizo promises reach 7 days at most."""
    old = _promise_on_friday(action_app)
    _, messages = run_turn(
        ActionReprogramarPromesa(),
        tracker_factory,
        domain,
        MARIA,
        "no llego el viernes, mejor el 20 de diciembre",
        "reprogramar_promesa",
    )
    assert responses(messages) == ["utter_promesa_fecha_lejana"]
    assert _promises(action_app)[old][0] == "pending", "nothing changes before a valid sí"


def test_without_a_pending_promise_it_is_a_new_promise(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state, messages = run_turn(
        ActionReprogramarPromesa(),
        tracker_factory,
        domain,
        MARIA,
        "puedo cambiar la fecha de mi pago?",
        "reprogramar_promesa",
    )
    assert responses(messages) == ["utter_pedir_monto_promesa"]
    assert state.get("promesa_anterior") is None


def test_paid_what_i_promised_is_a_claim_for_the_promise(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    old = _promise_on_friday(action_app)
    _, messages = run_turn(
        ActionPagoRealizado(),
        tracker_factory,
        domain,
        MARIA,
        "ya pague lo que prometi",
        "informar_pago_realizado",
    )
    thanks = message(messages, "utter_gracias_pago_promesa")
    assert (thanks["monto"], thanks["folio"]) == ("$2,000.00", old)
    with db.session_scope(action_app.sessions) as session:
        claim = session.execute(
            select(AuditLog).where(AuditLog.action == "payment_claimed")
        ).scalar_one()
        assert (claim.details["promise"], claim.details["amount"]) == (old, "2000.00")
    assert _promises(action_app)[old][0] == "pending", "kept only when the bank confirms it"


def test_the_payment_details_asked_for_complete_the_claim(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """ "fueron 8450 ayer" after "¿me dices el monto y la fecha en que pagaste?" is those
    details, not a promise with a past date."""
    _, messages = run_turn(
        ActionProcesarPromesa(),
        tracker_factory,
        domain,
        MARIA,
        "fueron 8450 ayer",
        "prometer_pago",
        bot_said="utter_pedir_datos_pago",
    )
    assert responses(messages) == ["utter_gracias_pago"]
    with db.session_scope(action_app.sessions) as session:
        claim = session.execute(
            select(AuditLog).where(AuditLog.action == "payment_claimed")
        ).scalar_one()
        assert (claim.details["amount"], claim.details["paid_on"]) == ("8450.00", "2026-11-21")
