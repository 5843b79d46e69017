"""Counter-proposals in the dialogue: read, weighed against the persona, read back, stored on
"sí" exactly as read back; and "ver calendario". The action tests' today is 2026-11-22."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from actions.answers import ActionProcesarRespuesta
from actions.plans import ActionOfrecerPlanes, ActionSolicitarDescuento, ActionVerCalendario
from actions.promises import ActionProcesarPromesa
from cobranza import db
from cobranza.bootstrap import App
from cobranza.db.models import PaymentAgreement
from tests.support.actions import Domain, TrackerFactory, message, responses, run_action, slots

MARIA = {  # $8,450.00, 12 days past due
    "deudor_encontrado": True,
    "identidad_verificada": True,
    "persona": "olvidadizo",
    "zona_horaria": "America/Mexico_City",
}
ANA = {**MARIA, "persona": "negociador", "zona_horaria": "America/Cancun"}  # $12,000.00, 75 days
ANA_ID = "5219981234567"


def _agreements(action_app: App) -> list[PaymentAgreement]:
    with db.session_scope(action_app.sessions) as session:
        found = session.execute(select(PaymentAgreement)).scalars().all()
        for agreement in found:
            _ = agreement.installments
        session.expunge_all()
        return list(found)


def _propose(
    tracker_factory: TrackerFactory,
    domain: Domain,
    text: str,
    intent: str = "prometer_pago",
    state: dict[str, Any] | None = None,
    sender_id: str = "5215512345678",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    action = {
        "prometer_pago": ActionProcesarPromesa(),
        "solicitar_opciones_pago": ActionOfrecerPlanes(),
        "solicitar_descuento": ActionSolicitarDescuento(),
    }[intent]
    tracker = tracker_factory(sender_id=sender_id, slots=state or MARIA, text=text, intent=intent)
    events, messages = run_action(action, tracker, domain)
    return slots(events), messages


def _answer(
    tracker_factory: TrackerFactory,
    domain: Domain,
    state: dict[str, Any],
    intent: str,
    sender_id: str = "5215512345678",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tracker = tracker_factory(sender_id=sender_id, slots=state, text="si", intent=intent)
    events, messages = run_action(ActionProcesarRespuesta(), tracker, domain)
    return slots(events), messages


def test_500_every_quincena_gets_the_closest_plan_and_why_then_yes_stores_it(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    before = len(_agreements(action_app))
    state, messages = _propose(tracker_factory, domain, "puedo dar 500 cada quincena")
    assert responses(messages) == ["utter_propuesta_no_cabe", "utter_confirmar_propuesta"]
    counter = message(messages, "utter_propuesta_no_cabe")
    assert "el primer pago tiene que ser de al menos" in counter["razones"]
    assert state["esperando"] == "propuesta"
    payments = json.loads(state["propuesta"])["pagos"]
    assert sum(amount for amount, _ in payments) == 845_000
    assert len(_agreements(action_app)) == before, "nothing is stored before the sí"

    answered, messages = _answer(tracker_factory, domain, {**MARIA, **state}, "afirmar")
    assert responses(messages) == ["utter_plan_confirmado"]
    assert answered == {"esperando": None, "propuesta": None}
    stored = _agreements(action_app)[-1]
    assert len(_agreements(action_app)) == before + 1
    assert [
        [int(i.amount * 100), i.due_date.isoformat()]
        for i in sorted(stored.installments, key=lambda i: i.number)
    ] == payments, "exactly the terms read back"
    assert message(messages, "utter_plan_confirmado")["folio"] == stored.folio


def test_a_proposal_that_fits_is_read_back_as_said(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state, messages = _propose(
        tracker_factory, domain, "pago la mitad el 25 y el resto el 10 de diciembre"
    )
    assert responses(messages) == ["utter_propuesta_aceptable", "utter_confirmar_propuesta"]
    terms = message(messages, "utter_propuesta_aceptable")["terminos"]
    assert "$4,225.00 el 25 de noviembre" in terms and "$4,225.00 el 10 de diciembre" in terms
    assert json.loads(state["propuesta"])["pagos"] == [
        [422_500, "2026-11-25"],
        [422_500, "2026-12-10"],
    ]


def test_no_keeps_nothing(action_app: App, tracker_factory: TrackerFactory, domain: Domain) -> None:
    before = len(_agreements(action_app))
    state, _ = _propose(tracker_factory, domain, "puedo dar 500 cada quincena")
    answered, messages = _answer(tracker_factory, domain, {**MARIA, **state}, "negar")
    assert responses(messages) == ["utter_propuesta_rechazada"]
    assert answered == {"esperando": None, "propuesta": None}
    assert len(_agreements(action_app)) == before


def test_a_settlement_below_the_bucket_is_countered_with_the_bucket_never_less(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state, messages = _propose(
        tracker_factory,
        domain,
        "me lo dejan en 8 mil?",
        intent="solicitar_descuento",
        state=ANA,
        sender_id=ANA_ID,
    )
    counter = message(messages, "utter_propuesta_no_cabe")
    assert "$10,800.00" in counter["razones"] and "$10,800.00" in counter["terminos"]
    assert json.loads(state["propuesta"])["tipo"] == "settlement"


def test_a_forged_token_is_weighed_again_and_never_stored(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """The slot is only what the dialogue kept: a settlement of $1.00 put there is weighed
    again on "sí" and answered with what the persona allows."""
    before = len(_agreements(action_app))
    forged = json.dumps({"tipo": "settlement", "pagos": [[100, "2026-11-25"]], "frecuencia": None})
    state = {**ANA, "esperando": "propuesta", "propuesta": forged}
    answered, messages = _answer(tracker_factory, domain, state, "afirmar", sender_id=ANA_ID)
    assert responses(messages) == ["utter_propuesta_no_cabe", "utter_confirmar_propuesta"]
    assert json.loads(answered["propuesta"])["pagos"][0][0] == 1_080_000
    assert len(_agreements(action_app)) == before


def test_half_on_the_15th_is_a_promise_of_half(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state, messages = _propose(tracker_factory, domain, "y si pago la mitad el 25?")
    assert responses(messages) == ["utter_confirmar_promesa"]
    assert message(messages, "utter_confirmar_promesa")["monto"] == "$4,225.00"
    assert state["esperando"] == "confirmacion_promesa"
    assert (state["promesa_monto"], state["promesa_fecha"]) == ("4225.00", "2026-11-25")


def test_twelve_payments_when_the_plans_stop_short_is_weighed(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state, messages = _propose(
        tracker_factory, domain, "la quiero en 12 pagos", intent="solicitar_opciones_pago"
    )
    assert responses(messages) == ["utter_propuesta_no_cabe", "utter_confirmar_propuesta"]
    assert "el plan puede tener hasta" in message(messages, "utter_propuesta_no_cabe")["razones"]
    assert state["esperando"] == "propuesta"


def test_the_calendar_lists_every_payment(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state, _ = _propose(tracker_factory, domain, "puedo dar 500 cada quincena")
    payments = json.loads(state["propuesta"])["pagos"]
    tracker = tracker_factory(
        slots={**MARIA, **state}, text="ver calendario", intent="ver_calendario"
    )
    events, messages = run_action(ActionVerCalendario(), tracker, domain)
    calendar = message(messages, "utter_calendario")
    assert len(calendar["lineas"].splitlines()) == len(payments)
    assert calendar["lineas"].splitlines()[0].startswith("1. ")
    assert slots(events) == {}, "the terms still wait for the sí"

    _answer(tracker_factory, domain, {**MARIA, **state}, "afirmar")
    tracker = tracker_factory(slots=MARIA, text="ver calendario", intent="ver_calendario")
    _, messages = run_action(ActionVerCalendario(), tracker, domain)
    stored = _agreements(action_app)[-1]
    calendar = message(messages, "utter_calendario")
    assert stored.folio in calendar["plan"]
    assert (
        calendar["lineas"]
        .splitlines()[-1]
        .endswith(
            f"${max(i.amount for i in stored.installments if i.number == len(payments)):,.2f}"
        )
    )


def test_the_confirmation_repeats_the_stored_schedule(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state = {**ANA, "plan_elegido": "plan_6_quincenal"}
    _, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(sender_id=ANA_ID, slots=state, intent="informar"),
        domain,
    )
    terms = message(messages, "utter_plan_confirmado")["terminos"]
    stored = _agreements(action_app)[-1]
    amounts = sorted({i.amount for i in stored.installments})
    assert all(f"${a:,.2f}" in terms for a in amounts), terms
    assert f"${Decimal(stored.total_amount):,.2f}" in terms


def test_a_proposal_before_verification_is_weighed_right_after_it(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """ "puedo dar 500 cada quincena" as the first message on WhatsApp: kept as written
    through the date of birth, then weighed (not read as a promise of $500)."""
    unverified = {k: v for k, v in MARIA.items() if k != "identidad_verificada"}
    tracker = tracker_factory(
        slots=unverified, text="puedo dar 500 cada quincena", intent="prometer_pago"
    )
    events, messages = run_action(ActionProcesarPromesa(), tracker, domain)
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]
    state = {**unverified, **slots(events)}
    assert state["propuesta_pendiente"] == "puedo dar 500 cada quincena"
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(slots=state, text="12/03/1985", intent="informar"),
        domain,
    )
    said = responses(messages)
    assert said == [
        "utter_identidad_confirmada",
        "utter_propuesta_no_cabe",
        "utter_confirmar_propuesta",
    ]
    after = slots(events)
    assert after["esperando"] == "propuesta" and after["propuesta_pendiente"] is None


def test_a_second_yes_stores_nothing_more(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """A double tap on "Sí, registrar" (or a resent message) reaches the action with the state
    the first one left: no terms wait any more, so nothing is stored twice."""
    state, _ = _propose(tracker_factory, domain, "puedo dar 500 cada quincena")
    after, _ = _answer(tracker_factory, domain, {**MARIA, **state}, "afirmar")
    stored = len(_agreements(action_app))
    _, messages = _answer(tracker_factory, domain, {**MARIA, **state, **after}, "afirmar")
    assert "utter_plan_confirmado" not in responses(messages)
    assert len(_agreements(action_app)) == stored
