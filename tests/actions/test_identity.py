"""Identity before disclosure."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from actions.answers import ActionProcesarRespuesta
from actions.balance import ActionInformarSaldo
from actions.identity import ActionSolicitarIdentidad
from cobranza import db
from cobranza.bootstrap import App
from cobranza.db.models import AuditLog, HandoffTicket
from cobranza.domain.vocabulary import AuditAction
from cobranza.services.identity import lock_status
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
    for attempts_left, text in ((2, "01/01/1990"), (1, "nací el 5 de mayo del 90")):
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


WAITING = {**FOUND, "esperando": "fecha_nacimiento", "intencion_pendiente": "consultar_saldo"}


def failures(rt: App) -> int:
    """Failed verifications on record (audit rows) for the demo debtor."""
    with db.session_scope(rt.sessions) as session:
        return session.execute(
            select(func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == AuditAction.IDENTITY_FAILED.value)
        ).scalar_one()


def attempts_left(rt: App) -> int:
    with db.session_scope(rt.sessions) as session:
        return lock_status(session, "+525512345678", rt.clock, "5215512345678").attempts_left


def test_birth_date_right_after_the_greeting_verifies(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """Nothing asked yet: the debtor answers the greeting's request for the date of birth."""
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(
            slots=FOUND, text="12/03/1985", intent="informar", previous_intents=["saludar"]
        ),
        domain,
    )
    assert slots(events)["identidad_verificada"] is True
    assert responses(messages) == ["utter_identidad_confirmada"]
    assert slots(events)["esperando"] is None


def test_a_birth_date_turn_run_again_after_a_crash_verifies_again(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """A replica died after this turn's verification was stored but before Rasa saved the
    turn; another replica runs the same message on the same tracker. The database says
    verified, the conversation has not seen it: the date is still the identity answer (not a
    promise's day), and the slot comes true this time."""
    tracker = tracker_factory(
        slots=FOUND,
        text="12/03/1985",
        intent="informar",
        previous_intents=["saludar"],
        server_verified=True,
    )
    events, messages = run_action(ActionProcesarRespuesta(), tracker, domain)
    assert slots(events)["identidad_verificada"] is True
    assert responses(messages) == ["utter_identidad_confirmada"]


@pytest.mark.parametrize(
    ("text", "intent", "waiting"),
    [
        ("soy Juan, nací el 12 de marzo del 85", "informar", False),
        ("soy Juan, nací el 12 de marzo del 85", "nlu_fallback", True),
        ("doce de marzo de mil novecientos ochenta y cinco", "informar", True),
        ("nací el doce de marzo del 85", "nlu_fallback", False),
    ],
)
def test_birth_date_inside_a_sentence_and_in_words_verifies(
    action_app: App,
    tracker_factory: TrackerFactory,
    domain: Domain,
    text: str,
    intent: str,
    waiting: bool,
) -> None:
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(slots=WAITING if waiting else FOUND, text=text, intent=intent),
        domain,
    )
    assert slots(events).get("identidad_verificada") is True
    assert responses(messages)[0] == "utter_identidad_confirmada"
    assert failures(action_app) == 0


def test_debt_topic_with_the_birth_date_in_the_same_message_is_answered(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _events, messages = run_action(
        ActionSolicitarIdentidad(),
        tracker_factory(
            slots=FOUND, text="cuanto debo? naci el 12/03/1985", intent="consultar_saldo"
        ),
        domain,
    )
    assert responses(messages)[:2] == ["utter_identidad_confirmada", "utter_saldo"]


def test_promise_while_waiting_is_no_failure_and_is_resumed_after_verification(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state = dict(WAITING)
    # the same promise, however the model classifies it
    for action, intent in (
        (ActionProcesarRespuesta(), "informar"),
        (ActionSolicitarIdentidad(), "prometer_pago"),
    ):
        events, messages = run_action(
            action,
            tracker_factory(slots=WAITING, text="te pago 2000 el viernes", intent=intent),
            domain,
        )
        assert responses(messages) == ["utter_pedir_fecha_nacimiento"], intent
        kept = slots(events)
        assert kept["intencion_pendiente"] == "prometer_pago"
        assert kept["promesa_monto"] == "2000.00" and kept["promesa_fecha"] == "2026-11-27"
        assert "identidad_verificada" not in kept
        state.update(kept)
    assert failures(action_app) == 0 and attempts_left(action_app) == 3
    # a "sí" meanwhile keeps the promise
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(slots=state, text="sí", intent="afirmar"),
        domain,
    )
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]
    state.update(slots(events))
    assert state["intencion_pendiente"] == "prometer_pago"
    assert failures(action_app) == 0
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(slots=state, text="12/03/1985", intent="informar"),
        domain,
    )
    assert responses(messages) == ["utter_identidad_confirmada", "utter_confirmar_promesa"]
    confirm = message(messages, "utter_confirmar_promesa")
    assert confirm["monto"] == "$2,000.00" and confirm["fecha"] == "viernes 27 de noviembre"
    assert slots(events)["esperando"] == "confirmacion_promesa"


def test_answers_that_are_not_a_birth_date_never_count_as_failures(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    for text, intent in (
        ("sí", "afirmar"),
        ("no", "negar"),
        ("no sé", "informar"),
        ("12 de marzo", "informar"),  # no year: asked again, not a wrong date
        ("¿y eso para qué?", "nlu_fallback"),
        ("es un abuso, ya no me estén molestando", "nlu_fallback"),
    ):
        events, messages = run_action(
            ActionProcesarRespuesta(),
            tracker_factory(slots=WAITING, text=text, intent=intent),
            domain,
        )
        assert responses(messages) in (["utter_pedir_fecha_nacimiento"], ["utter_no_entendi"])
        assert "identidad_verificada" not in slots(events)
        assert slots(events).get("intencion_pendiente", "consultar_saldo") == "consultar_saldo"
    assert failures(action_app) == 0 and attempts_left(action_app) == 3


def test_only_wrong_birth_dates_lock_even_between_other_answers(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    answers = (  # the answer, its intent, the failures on record after it
        ("01/01/1990", "informar", 1),
        ("sí", "afirmar", 1),
        ("te pago 2000 el viernes", "informar", 1),
        ("02/02/1980", "informar", 2),
        ("no", "negar", 2),
        ("3 de marzo de 1975", "informar", 3),
    )
    for text, intent, failed in answers:
        _, messages = run_action(
            ActionProcesarRespuesta(),
            tracker_factory(slots=WAITING, text=text, intent=intent),
            domain,
        )
        assert failures(action_app) == failed, text
    assert responses(messages) == ["utter_identidad_bloqueada"]
    _events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(slots=WAITING, text="12/03/1985", intent="informar"),
        domain,
    )
    assert responses(messages) == ["utter_identidad_bloqueada"]


def test_two_requests_before_verification_are_both_answered_after_it(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """ "cuanto debo y me hacen descuento?" as the first message: both are kept through the
    date of birth and answered, the balance first."""
    ana = {**FOUND, "persona": "negociador", "zona_horaria": "America/Cancun"}
    tracker = tracker_factory(
        sender_id="5219981234567",
        slots=ana,
        text="cuanto debo y me hacen descuento?",
        intent="solicitar_descuento",
    )
    events, messages = run_action(ActionInformarSaldo(), tracker, domain)
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]
    kept = slots(events)["intencion_pendiente"]
    assert kept == "solicitar_descuento consultar_saldo"
    state = {**ana, **slots(events)}
    _, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(
            sender_id="5219981234567", slots=state, text="25/07/1992", intent="informar"
        ),
        domain,
    )
    said = responses(messages)
    assert said[:2] == ["utter_identidad_confirmada", "utter_saldo"], said
    assert "utter_descuento_disponible" in said


def test_a_question_in_the_message_that_verifies_is_answered(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    tracker = tracker_factory(
        slots=FOUND, text="soy maria, naci el 12 de marzo del 85. cuanto debo??", intent="informar"
    )
    _, messages = run_action(ActionProcesarRespuesta(), tracker, domain)
    assert responses(messages)[:2] == ["utter_identidad_confirmada", "utter_saldo"]
