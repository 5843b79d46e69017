"""Plans as buttons (≤3, titles ≤20) or a list, the agreement with its folio, discounts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from actions.answers import ActionProcesarRespuesta
from actions.plans import ActionOfrecerPlanes, ActionSolicitarDescuento
from cobranza import db
from cobranza.bootstrap import App
from cobranza.db.models import Debtor, PaymentAgreement
from tests.support.actions import Domain, TrackerFactory, message, responses, run_action, slots

MARIA = {
    "deudor_encontrado": True,
    "identidad_verificada": True,
    "persona": "olvidadizo",
    "zona_horaria": "America/Mexico_City",
}
ANA = {**MARIA, "persona": "negociador", "zona_horaria": "America/Cancun"}


def test_few_offers_go_out_as_buttons(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _, messages = run_action(
        ActionOfrecerPlanes(),
        tracker_factory(slots=MARIA, intent="solicitar_opciones_pago"),
        domain,
    )
    assert responses(messages) == [
        "utter_opciones_intro",
        "utter_oferta_pay_in_full",
        "utter_oferta_installments",
        "utter_elige_opcion",
    ]
    buttons = message(messages, "utter_elige_opcion")["buttons"]
    assert [b["title"] for b in buttons] == ["Pago total", "2 pagos"]
    assert buttons[1]["payload"] == '/informar{"plan_elegido": "plan_2_quincenal"}'
    plan = message(messages, "utter_oferta_installments")
    assert (plan["primer_pago"], plan["fecha"], plan["fecha_final"]) == (
        "$4,225.00",
        "domingo 29 de noviembre",
        "martes 15 de diciembre",
    )


def test_many_offers_also_go_out_as_a_list(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _, messages = run_action(
        ActionOfrecerPlanes(), tracker_factory(sender_id="5219981234567", slots=ANA), domain
    )
    choice = message(messages, "utter_elige_opcion")
    assert len(choice["buttons"]) == 4 and all(len(b["title"]) <= 20 for b in choice["buttons"])
    rows = choice["custom"]["rows"]
    assert choice["custom"]["type"] == "list" and len(rows) == 4
    assert all(len(r["title"]) <= 24 for r in rows)
    settlement = message(messages, "utter_oferta_settlement")
    assert (settlement["total"], settlement["descuento"]) == ("$10,800.00", "$1,200.00")


def test_choosing_an_offer_stores_the_agreement(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state = {**MARIA, "plan_elegido": "plan_2_quincenal"}
    events, messages = run_action(
        ActionProcesarRespuesta(), tracker_factory(slots=state, intent="informar"), domain
    )
    confirmed = message(messages, "utter_plan_confirmado")
    assert confirmed["folio"].startswith("CV-20261122-") and confirmed["total"] == "$8,450.00"
    assert "$4,225.00" in confirmed["terminos"]
    assert slots(events) == {"plan_elegido": None}
    with db.session_scope(action_app.sessions) as session:
        agreement = session.execute(
            select(PaymentAgreement).where(PaymentAgreement.folio == confirmed["folio"])
        ).scalar_one()
        assert agreement.plan_type == "installments" and agreement.total_amount == Decimal(
            "8450.00"
        )
        assert [i.amount for i in agreement.installments] == [
            Decimal("4225.00"),
            Decimal("4225.00"),
        ]


def _agreements(action_app: App) -> list[PaymentAgreement]:
    with db.session_scope(action_app.sessions) as session:
        found = session.execute(select(PaymentAgreement)).scalars().all()
        session.expunge_all()
        return list(found)


def test_a_plan_named_in_words_is_chosen_as_its_button_would(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """ "quiero el de 2 pagos" asks for the plans by name: the plan is stored, not the list shown
    again (on WhatsApp many people type instead of pressing a button)."""
    before = len(_agreements(action_app))
    tracker = tracker_factory(
        slots=MARIA, text="quiero el de 2 pagos", intent="solicitar_opciones_pago"
    )
    _, messages = run_action(ActionOfrecerPlanes(), tracker, domain)
    assert responses(messages) == ["utter_plan_confirmado"]
    assert "$4,225.00" in message(messages, "utter_plan_confirmado")["terminos"]
    agreements = _agreements(action_app)
    assert len(agreements) == before + 1 and agreements[-1].plan_type == "installments"


def test_asking_for_the_plans_without_naming_one_lists_them(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    tracker = tracker_factory(
        slots=MARIA, text="que opciones tengo", intent="solicitar_opciones_pago"
    )
    _, messages = run_action(ActionOfrecerPlanes(), tracker, domain)
    assert responses(messages)[-1] == "utter_elige_opcion"


@pytest.mark.parametrize(
    ("text", "intent", "plan_type"),
    [
        ("la segunda", "nlu_fallback", "installments"),
        ("la primera opcion", "nlu_fallback", "pay_in_full"),
        ("pago total", "informar", "pay_in_full"),
    ],
)
def test_a_typed_answer_to_which_option_chooses_it(
    action_app: App,
    tracker_factory: TrackerFactory,
    domain: Domain,
    text: str,
    intent: str,
    plan_type: str,
) -> None:
    tracker = tracker_factory(slots=MARIA, text=text, intent=intent, bot_said="utter_elige_opcion")
    _, messages = run_action(ActionProcesarRespuesta(), tracker, domain)
    assert responses(messages) == ["utter_plan_confirmado"], text
    assert _agreements(action_app)[-1].plan_type == plan_type


def test_an_ordinal_means_nothing_when_no_options_were_shown(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    before = len(_agreements(action_app))
    tracker = tracker_factory(slots=MARIA, text="la segunda", intent="nlu_fallback")
    _, messages = run_action(ActionProcesarRespuesta(), tracker, domain)
    assert "utter_plan_confirmado" not in responses(messages)
    assert len(_agreements(action_app)) == before


def test_an_offer_that_is_not_allowed_is_refused(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state = {**MARIA, "plan_elegido": "liquidacion_90"}
    _, messages = run_action(
        ActionProcesarRespuesta(), tracker_factory(slots=state, intent="informar"), domain
    )
    assert responses(messages)[0] == "utter_plan_no_disponible"
    assert "utter_plan_confirmado" not in responses(messages)


def test_discount_only_what_the_persona_allows(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _, messages = run_action(
        ActionSolicitarDescuento(), tracker_factory(sender_id="5219981234567", slots=ANA), domain
    )
    offer = message(messages, "utter_descuento_disponible")
    assert (offer["porcentaje"], offer["total"]) == ("10", "$10,800.00")
    _, messages = run_action(ActionSolicitarDescuento(), tracker_factory(slots=MARIA), domain)
    assert responses(messages)[0] == "utter_sin_descuento"
    with db.session_scope(action_app.sessions) as session:
        assert session.get(Debtor, "+525512345678").discount_requests == 1


@pytest.mark.parametrize(
    ("text", "intent"),
    [("orale va, lo liquido con el descuento", "solicitar_descuento"), ("va", "afirmar")],
)
def test_taking_the_discount_offered_stores_the_settlement_and_asks_no_more(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain, text: str, intent: str
) -> None:
    """After "puedo ofrecerte hasta 10% de descuento si liquidas", taking it is no second
    discount request (which would change the persona and the discount)."""
    tracker = tracker_factory(
        sender_id="5219981234567",
        slots=ANA,
        text=text,
        intent=intent,
        bot_said="utter_descuento_disponible",
    )
    action = (
        ActionSolicitarDescuento() if intent == "solicitar_descuento" else ActionProcesarRespuesta()
    )
    _, messages = run_action(action, tracker, domain)
    assert responses(messages) == ["utter_plan_confirmado"]
    stored = _agreements(action_app)[-1]
    assert (stored.plan_type, stored.total_amount) == ("settlement", Decimal("10800.00"))
    with db.session_scope(action_app.sessions) as session:
        assert session.get(Debtor, "+529981234567").discount_requests == 2, "as seeded"
