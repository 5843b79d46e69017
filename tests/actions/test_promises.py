"""Promise to pay: read-back, validation, correction, recorded once with a folio."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from actions.answers import ActionProcesarRespuesta
from actions.promises import ActionProcesarPromesa
from cobranza import db
from cobranza.bootstrap import App
from cobranza.db.models import Promise
from tests.support.actions import (
    Domain,
    TrackerFactory,
    entity,
    message,
    responses,
    run_action,
    slots,
)

VERIFIED = {
    "deudor_encontrado": True,
    "identidad_verificada": True,
    "persona": "olvidadizo",
    "zona_horaria": "America/Mexico_City",
}


def step(
    tracker_factory: TrackerFactory,
    domain: Domain,
    state: dict[str, Any],
    text: str,
    intent: str,
    entities: list[dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    events, messages = run_action(
        ActionProcesarPromesa(),
        tracker_factory(slots=state, text=text, intent=intent, entities=entities),
        domain,
    )
    return {**state, **slots(events)}, messages


def promises_of(action_app: App) -> list[Promise]:
    with db.session_scope(action_app.sessions) as session:
        return list(
            session.execute(
                select(Promise).where(
                    Promise.debtor_phone == "+525512345678", Promise.status == "pending"
                )
            ).scalars()
        )


def test_promise_in_one_message_confirmed_once(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    text = "te pago 2 mil el viernes"
    ents = [entity("monto", text, "2 mil", 2000), entity("fecha", text, "el viernes", "2026-11-27")]
    state, messages = step(tracker_factory, domain, VERIFIED, text, "prometer_pago", ents)
    confirm = message(messages, "utter_confirmar_promesa")
    assert (confirm["monto"], confirm["fecha"]) == ("$2,000.00", "viernes 27 de noviembre")
    assert state["esperando"] == "confirmacion_promesa"
    done, messages = step(tracker_factory, domain, state, "si", "afirmar")
    recorded = message(messages, "utter_promesa_registrada")
    assert recorded["folio"].startswith("PP-20261122-")
    assert done["esperando"] is None
    # a repeated "sí" (duplicate delivery) does not store a second promise
    step(tracker_factory, domain, state, "si", "afirmar")
    stored = promises_of(action_app)
    assert [(p.amount, p.due_date.isoformat(), p.folio) for p in stored] == [
        (Decimal("2000.00"), "2026-11-27", recorded["folio"])
    ]


def test_in_steps_with_a_correction(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state, messages = step(
        tracker_factory, domain, VERIFIED, "quiero hacer una promesa de pago", "prometer_pago"
    )
    assert responses(messages) == ["utter_pedir_monto_promesa"]
    state, messages = step(tracker_factory, domain, state, "mil quinientos", "informar")
    assert message(messages, "utter_pedir_fecha_promesa")["monto"] == "$1,500.00"
    state, messages = step(tracker_factory, domain, state, "pasado manana", "informar")
    assert message(messages, "utter_confirmar_promesa")["fecha"] == "martes 24 de noviembre"
    state, messages = step(tracker_factory, domain, state, "no, mejor el viernes", "negar")
    assert message(messages, "utter_confirmar_promesa")["fecha"] == "viernes 27 de noviembre"
    state, messages = step(tracker_factory, domain, state, "sale", "afirmar")
    assert "utter_promesa_registrada" in responses(messages)
    assert [p.amount for p in promises_of(action_app)] == [Decimal("1500.00")]


@pytest.mark.parametrize(
    ("text", "response"),
    [
        ("te pago 20 mil el viernes", "utter_promesa_monto_excede"),
        ("te pago 0 pesos el viernes", "utter_promesa_monto_invalido"),
        ("te pago mil el 15 de enero", "utter_promesa_fecha_lejana"),
    ],
)
def test_invalid_promises_are_explained_not_recorded(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain, text: str, response: str
) -> None:
    state, messages = step(tracker_factory, domain, VERIFIED, text, "prometer_pago")
    assert response in responses(messages)
    assert "utter_confirmar_promesa" not in responses(messages)
    assert promises_of(action_app) == []
    assert state["esperando"] == ("fecha_promesa" if "fecha" in response else "monto_promesa")


def test_no_without_a_correction_starts_over(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state, _ = step(tracker_factory, domain, VERIFIED, "te pago mil el viernes", "prometer_pago")
    state, messages = step(tracker_factory, domain, state, "no", "negar")
    assert responses(messages) == ["utter_promesa_cancelada"]
    assert state["promesa_monto"] is None and state["promesa_fecha"] is None
    assert promises_of(action_app) == []


def test_an_unclear_correction_mid_promise_still_corrects(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    state, _ = step(tracker_factory, domain, VERIFIED, "te pago 2 mil el viernes", "prometer_pago")
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(slots=state, text="no mejor pasado manana", intent="nlu_fallback"),
        domain,
    )
    assert message(messages, "utter_confirmar_promesa")["fecha"] == "martes 24 de noviembre"
    assert not any(e["event"] == "pause" for e in events)
