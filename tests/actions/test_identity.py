"""Identity before disclosure."""

from __future__ import annotations

from sqlalchemy import func, select

from actions.answers import ActionProcesarRespuesta
from actions.balance import ActionInformarSaldo
from cobranza import db
from cobranza.bootstrap import App
from cobranza.db.models import HandoffTicket
from tests.support.actions import Domain, TrackerFactory, message, responses, run_action, slots

FOUND = {"deudor_encontrado": True, "persona": "olvidadizo", "zona_horaria": "America/Mexico_City"}


def test_asks_for_birth_date_and_discloses_nothing(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    tracker = tracker_factory(slots=FOUND, text="cuanto debo", intent="consultar_saldo")
    events, messages = run_action(ActionInformarSaldo(), tracker, domain)
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]
    assert not any("$" in str(m) or "CrediFácil" in str(m) for m in messages)
    assert slots(events) == {
        "esperando": "fecha_nacimiento",
        "intencion_pendiente": "consultar_saldo",
    }


def test_correct_birth_date_in_any_format_verifies_and_answers_the_question(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    for text in ("12/03/1985", "naci el 12 de marzo de 1985", "12-03-85"):
        state = {**FOUND, "esperando": "fecha_nacimiento", "intencion_pendiente": "consultar_saldo"}
        events, messages = run_action(
            ActionProcesarRespuesta(),
            tracker_factory(slots=state, text=text, intent="informar"),
            domain,
        )
        assert slots(events)["identidad_verificada"] is True, text
        assert responses(messages)[:2] == ["utter_identidad_confirmada", "utter_saldo"]
        saldo = message(messages, "utter_saldo")
        assert saldo["saldo"] == "$8,450.00" and saldo["acreedor"] == "CrediFácil Demo"
        assert saldo["dias_atraso"] == 12 and saldo["fecha_calculo"] == "domingo 22 de noviembre"


def test_three_failures_lock_for_24_hours_and_open_a_ticket(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state = {**FOUND, "esperando": "fecha_nacimiento", "intencion_pendiente": "consultar_saldo"}
    for attempts_left, text in ((2, "01/01/1990"), (1, "no se")):
        events, messages = run_action(
            ActionProcesarRespuesta(),
            tracker_factory(slots=state, text=text, intent="informar"),
            domain,
        )
        assert "identidad_verificada" not in slots(events)
        assert messages[0]["intentos"] == attempts_left
        assert "saldo" not in messages[0]
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(slots=state, text="02/02/1980", intent="informar"),
        domain,
    )
    assert responses(messages) == ["utter_identidad_bloqueada"]
    assert any(e["event"] == "pause" for e in events)
    # locked even with the right date, and even when asking again later in a new session
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(slots=state, text="12/03/1985", intent="informar"),
        domain,
    )
    assert responses(messages) == ["utter_identidad_bloqueada"]
    events, messages = run_action(
        ActionInformarSaldo(),
        tracker_factory(slots=FOUND, text="saldo", intent="consultar_saldo"),
        domain,
    )
    assert responses(messages) == ["utter_identidad_bloqueada"]
    with db.session_scope(action_app.sessions) as session:
        tickets = session.execute(
            select(func.count())
            .select_from(HandoffTicket)
            .where(HandoffTicket.reason == "identidad_bloqueada")
        ).scalar_one()
    assert tickets == 1


def test_promise_said_before_verification_is_kept(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    text = "te pago 2 mil el viernes"
    events, _ = run_action(
        ActionInformarSaldo(),
        tracker_factory(slots=FOUND, text=text, intent="prometer_pago"),
        domain,
    )
    state = {**FOUND, **slots(events)}
    assert state["promesa_monto"] == "2000.00" and state["promesa_fecha"] == "2026-11-27"
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(slots=state, text="12/03/1985", intent="informar"),
        domain,
    )
    confirm = message(messages, "utter_confirmar_promesa")
    assert confirm["monto"] == "$2,000.00" and confirm["fecha"] == "viernes 27 de noviembre"
