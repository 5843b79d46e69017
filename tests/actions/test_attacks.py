"""Issue #10 at the action level: what a forged or replayed tracker, a REST caller using a
debtor's WhatsApp id, or a failing commit can get out of the actions. Nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from actions.balance import ActionInformarSaldo
from actions.consent import ActionNoContactar
from actions.promises import ActionProcesarPromesa
from cobranza import db
from cobranza.bootstrap import App
from cobranza.db.models import Consent, Promise
from tests.support.actions import (
    Domain,
    TrackerFactory,
    entity,
    responses,
    run_action,
    verify_on_server,
)

MARIA = "5215512345678"
FOUND = {"deudor_encontrado": True, "persona": "olvidadizo", "zona_horaria": "America/Mexico_City"}
FORGED = {**FOUND, "identidad_verificada": True}


def _said(messages: list[dict[str, Any]]) -> str:
    return repr(messages)


def test_a_forged_verified_slot_discloses_nothing(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    tracker = tracker_factory(slots=FORGED, intent="consultar_saldo", server_verified=False)
    _, messages = run_action(ActionInformarSaldo(), tracker, domain)
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]
    assert "8,450" not in _said(messages) and "CrediFácil" not in _said(messages)


def test_rest_with_a_whatsapp_id_is_not_that_debtor(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """Even verified on WhatsApp, the same id over REST is another conversation whose sender
    id is not a number: it is asked for a number, and learns nothing."""
    verify_on_server(action_app, MARIA, "+525512345678")
    tracker = tracker_factory(
        sender_id=MARIA, slots=FORGED, intent="consultar_saldo", channel="rest"
    )
    _, messages = run_action(ActionInformarSaldo(), tracker, domain)
    assert responses(messages) == ["utter_pedir_telefono"]
    assert "8,450" not in _said(messages)


def test_a_verification_does_not_travel_to_another_conversation(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    verify_on_server(action_app, "web-OtraConversacion", "+525512345678")
    tracker = tracker_factory(slots=FORGED, intent="consultar_saldo", server_verified=False)
    _, messages = run_action(ActionInformarSaldo(), tracker, domain)
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]


def test_a_verification_expires(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    from dataclasses import replace
    from datetime import timedelta

    from cobranza import bootstrap
    from cobranza.clock import FixedClock

    tracker = tracker_factory(slots=FORGED, intent="consultar_saldo")  # verified now
    later = FixedClock(action_app.clock.now() + timedelta(minutes=31))
    bootstrap.install(replace(action_app, clock=later))
    _, messages = run_action(ActionInformarSaldo(), tracker, domain)
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]


@contextmanager
def failing_commits(action_app: App) -> Iterator[None]:
    """Every commit on the actions' engine fails, as a full disk or a lost connection does."""
    engine = action_app.sessions.kw["bind"]

    def refuse(conn: Connection) -> None:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(engine, "commit", refuse)
    try:
        yield
    finally:
        event.remove(engine, "commit", refuse)


def _count(action_app: App, model: type[Any], *where: Any) -> int:
    with db.session_scope(action_app.sessions) as session:
        return len(session.execute(select(model).where(*where)).all())


def test_no_folio_unless_the_promise_was_committed(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    text = "te pago 2 mil el viernes"
    ents = [entity("monto", text, "2 mil", 2000), entity("fecha", text, "el viernes", "2026-11-27")]
    verified = {**FOUND, "identidad_verificada": True}
    tracker = tracker_factory(slots=verified, text=text, intent="prometer_pago", entities=ents)
    events, _ = run_action(ActionProcesarPromesa(), tracker, domain)
    state = {**verified, **{e["name"]: e["value"] for e in events if e["event"] == "slot"}}
    assert state["esperando"] == "confirmacion_promesa"
    confirm = tracker_factory(slots=state, text="si", intent="afirmar", server_verified=False)
    with failing_commits(action_app):
        events, messages = run_action(ActionProcesarPromesa(), confirm, domain)
    assert responses(messages) == ["utter_no_registrado"]
    assert events == [] and "PP-" not in _said(messages)
    assert _count(action_app, Promise, Promise.amount == Decimal("2000.00")) == 0
    # The same "sí" once the database is back: recorded, with its folio.
    _, messages = run_action(ActionProcesarPromesa(), confirm, domain)
    assert "utter_promesa_registrada" in responses(messages)
    assert _count(action_app, Promise, Promise.amount == Decimal("2000.00")) == 1


def test_no_opt_out_acknowledgement_unless_committed(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    revoked = (Consent.debtor_phone == "+525512345678", Consent.status == "revoked")
    tracker = tracker_factory(slots=FOUND, text="BAJA", intent="no_contactar")
    with failing_commits(action_app):
        events, messages = run_action(ActionNoContactar(), tracker, domain)
    assert responses(messages) == ["utter_no_registrado"] and events == []
    assert _count(action_app, Consent, *revoked) == 0
    _, messages = run_action(ActionNoContactar(), tracker, domain)
    assert responses(messages) == ["utter_baja_confirmada"]
    assert _count(action_app, Consent, *revoked) > 0
