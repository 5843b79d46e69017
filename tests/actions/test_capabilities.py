"""Two requests in one message: both answered, in a sensible order (the second pass)."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Action

from actions.balance import ActionInformarSaldo
from actions.plans import ActionOfrecerPlanes, ActionSolicitarDescuento
from actions.promises import ActionProcesarPromesa
from actions.situations import ActionDificultad, ActionPagoRealizado
from cobranza.bootstrap import App
from tests.support.actions import Domain, TrackerFactory, responses, run_action

ANA = {  # $12,000.00, 75 days past due: a discount is allowed
    "deudor_encontrado": True,
    "identidad_verificada": True,
    "persona": "negociador",
    "zona_horaria": "America/Cancun",
}
ANA_ID = "5219981234567"


def _run(
    tracker_factory: TrackerFactory, domain: Domain, action: Action, text: str, intent: str
) -> list[str]:
    tracker = tracker_factory(sender_id=ANA_ID, slots=ANA, text=text, intent=intent)
    _, messages = run_action(action, tracker, domain)
    return responses(messages)


@pytest.mark.parametrize(
    ("action", "intent"),
    [
        (ActionInformarSaldo(), "consultar_saldo"),
        (ActionSolicitarDescuento(), "solicitar_descuento"),
    ],
)
def test_balance_and_discount_both_answered_balance_first(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain, action: Any, intent: str
) -> None:
    """Whichever of the two the model recognised, the balance comes first."""
    said = _run(tracker_factory, domain, action, "cuanto debo y me hacen descuento?", intent)
    assert said.index("utter_descuento_disponible") > said.index("utter_saldo"), said


def test_a_payment_reported_and_a_plan_for_the_rest(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    said = _run(
        tracker_factory,
        domain,
        ActionPagoRealizado(),
        "ya pague 500 pero quiero un plan para el resto",
        "informar_pago_realizado",
    )
    assert said[0] == "utter_gracias_pago" and "utter_elige_opcion" in said, said


def test_a_promise_and_where_to_pay(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    said = _run(
        tracker_factory,
        domain,
        ActionProcesarPromesa(),
        "te pago 2000 el 25, a que cuenta deposito?",
        "prometer_pago",
    )
    assert said[0] == "utter_confirmar_promesa" and "utter_metodos_pago" in said, said


def test_hardship_already_offers_the_plans_once(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    said = _run(
        tracker_factory,
        domain,
        ActionDificultad(),
        "no tengo trabajo, me dan mas plazo?",
        "dificultad_economica",
    )
    assert said.count("utter_elige_opcion") == 1, said


def test_plans_cover_a_discount_asked_with_them(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    said = _run(
        tracker_factory,
        domain,
        ActionOfrecerPlanes(),
        "que planes tienen, hay descuento?",
        "solicitar_opciones_pago",
    )
    assert "utter_descuento_disponible" not in said and said.count("utter_elige_opcion") == 1


def test_one_request_gets_one_answer(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    said = _run(tracker_factory, domain, ActionInformarSaldo(), "cuanto debo", "consultar_saldo")
    assert "utter_descuento_disponible" not in said and "utter_elige_opcion" not in said
