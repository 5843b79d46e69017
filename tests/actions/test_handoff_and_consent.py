"""Hand-off (request, repeated fallback, insults), opt-out and wrong number."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from actions.answers import ActionProcesarRespuesta
from actions.consent import ActionNoContactar, ActionNumeroEquivocado
from actions.handoff import ActionHandoff, ActionInsulto
from cobranza import db
from cobranza.bootstrap import App
from cobranza.db import repository as repo
from cobranza.db.models import ContactBlock, HandoffTicket
from tests.support.actions import Domain, TrackerFactory, message, responses, run_action

FOUND = {"deudor_encontrado": True, "persona": "olvidadizo", "zona_horaria": "America/Mexico_City"}


def _paused(events: list[dict[str, Any]]) -> bool:
    return any(e["event"] == "pause" for e in events)


def test_human_request_opens_one_ticket_and_pauses(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    verified = {**FOUND, "identidad_verificada": True}
    for _ in range(2):
        events, messages = run_action(
            ActionHandoff(), tracker_factory(slots=verified, intent="solicitar_agente"), domain
        )
        assert _paused(events)
    # Sunday noon: agents start again on Monday
    assert message(messages, "utter_handoff_despues")["dia"] == "lunes 23 de noviembre"
    with db.session_scope(action_app.sessions) as session:
        tickets = session.execute(select(HandoffTicket)).scalars().all()
        assert len(tickets) == 1
        assert tickets[0].reason == "solicitud_agente" and tickets[0].priority > 0
        assert tickets[0].context["messages"][-1]["from"] == "deudor"
        assert tickets[0].context["persona"] == "olvidadizo"


def test_an_unverified_ticket_carries_nothing_of_the_file(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """A tracker that only *says* verified (forged slot) opens a ticket with no balance-based
    priority, no debt and no persona."""
    forged = {**FOUND, "identidad_verificada": True}
    tracker = tracker_factory(slots=forged, intent="solicitar_agente", server_verified=False)
    events, _ = run_action(ActionHandoff(), tracker, domain)
    assert _paused(events)
    with db.session_scope(action_app.sessions) as session:
        ticket = session.execute(select(HandoffTicket)).scalar_one()
        assert (ticket.priority, ticket.debt_id, ticket.context["persona"]) == (0, None, None)
        assert ticket.context["identity_verified"] is False
        assert ticket.context["claimed_phone"] == "+525512345678"


def test_second_misunderstanding_in_a_row_hands_off(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, messages = run_action(
        ActionProcesarRespuesta(), tracker_factory(slots=FOUND, intent="nlu_fallback"), domain
    )
    assert responses(messages) == ["utter_no_entendi"] and not _paused(events)
    events, messages = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(
            slots=FOUND, intent="nlu_fallback", previous_intents=["saludar", "nlu_fallback"]
        ),
        domain,
    )
    assert _paused(events)
    events, _ = run_action(
        ActionProcesarRespuesta(),
        tracker_factory(
            slots=FOUND, intent="nlu_fallback", previous_intents=["nlu_fallback", "saludar"]
        ),
        domain,
    )
    assert not _paused(events)


def test_insults_get_a_calm_answer_then_a_person(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, messages = run_action(
        ActionInsulto(), tracker_factory(slots=FOUND, intent="insulto"), domain
    )
    assert responses(messages) == ["utter_calma_insulto"] and not _paused(events)
    events, _ = run_action(
        ActionInsulto(),
        tracker_factory(slots=FOUND, intent="insulto", previous_intents=["insulto"]),
        domain,
    )
    assert _paused(events)


def test_opt_out_revokes_consent_on_every_channel(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _, messages = run_action(
        ActionNoContactar(),
        tracker_factory(slots=FOUND, text="BAJA", intent="no_contactar"),
        domain,
    )
    assert responses(messages) == ["utter_baja_confirmada"]
    with db.session_scope(action_app.sessions) as session:
        consents = repo.latest_consents(session, "+525512345678")
    assert {c.status for c in consents.values()} == {"revoked"}
    assert {"whatsapp", "sms", "voice", "email", "webchat"} <= set(consents)


def test_wrong_number_is_blocked_and_nothing_disclosed(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _, messages = run_action(
        ActionNumeroEquivocado(),
        tracker_factory(slots=FOUND, text="numero equivocado", intent="numero_equivocado"),
        domain,
    )
    assert responses(messages) == ["utter_numero_equivocado"]
    with db.session_scope(action_app.sessions) as session:
        block = session.execute(select(ContactBlock)).scalar_one()
        assert (block.phone, block.reason) == ("+525512345678", "wrong_number")
        assert session.execute(select(func.count()).select_from(HandoffTicket)).scalar_one() == 0
