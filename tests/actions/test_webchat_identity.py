"""The web chat has no phone number: the visitor gives number and date of birth, and nothing is
disclosed (not even whether the number is a debtor's) before both match."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker

from actions.answers import ActionProcesarRespuesta
from actions.identity import ActionSolicitarIdentidad
from cobranza.bootstrap import App
from tests.support.actions import (
    Domain,
    TrackerFactory,
    message,
    responses,
    run_action,
    slots,
    verify_on_server,
)

WEB = "web-AbCdEfGhIjKlMnOpQrStUv"
ASKED = {"esperando": "telefono", "intencion_pendiente": "consultar_saldo"}


def _web(tracker_factory: TrackerFactory, **kwargs: Any) -> Tracker:
    return tracker_factory(sender_id=WEB, channel="webchat", **kwargs)


def test_a_debt_question_asks_for_the_phone_first(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, messages = run_action(
        ActionSolicitarIdentidad(),
        _web(tracker_factory, text="cuanto debo", intent="consultar_saldo"),
        domain,
    )
    assert responses(messages) == ["utter_pedir_telefono"]
    assert slots(events) == {"esperando": "telefono", "intencion_pendiente": "consultar_saldo"}


def test_phone_then_birth_date_then_the_answer(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(tracker_factory, slots=ASKED, text="mi cel es 55 1234 5678", intent="informar"),
        domain,
    )
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]
    got = slots(events)
    assert got["telefono"] == "+525512345678" and got["deudor_encontrado"] is True
    assert got["persona"] == "olvidadizo" and got["esperando"] == "fecha_nacimiento"
    assert not any("$" in str(m) for m in messages)

    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(
            tracker_factory,
            slots={
                "telefono": "+525512345678",
                "deudor_encontrado": True,
                "persona": "olvidadizo",
                "esperando": "fecha_nacimiento",
                "intencion_pendiente": "consultar_saldo",
            },
            text="12/03/1985",
            intent="informar",
        ),
        domain,
    )
    assert responses(messages)[:2] == ["utter_identidad_confirmada", "utter_saldo"]
    assert message(messages, "utter_saldo")["saldo"] == "$8,450.00"
    assert slots(events)["identidad_verificada"] is True


def test_the_number_before_it_was_asked_for(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """ "hola" → "55 1234 5678": the number is taken, then the date of birth is asked (it used
    to be answered "Entendido" and asked for again at the first debt question)."""
    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(tracker_factory, text="55 1234 5678", intent="informar"),
        domain,
    )
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]
    got = slots(events)
    assert got["telefono"] == "+525512345678" and got["esperando"] == "fecha_nacimiento"
    assert not any("$" in str(m) for m in messages)


def test_an_unknown_number_is_not_revealed(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(tracker_factory, slots=ASKED, text="5599990000", intent="informar"),
        domain,
    )
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"], "same as a known number"
    assert slots(events)["deudor_encontrado"] is False
    after = {
        "telefono": "+525599990000",
        "esperando": "fecha_nacimiento",
        "intencion_pendiente": "consultar_saldo",
    }
    for left in (2, 1):
        _, messages = run_action(
            ActionProcesarRespuesta(),
            _web(tracker_factory, slots=after, text="01/01/1990", intent="informar"),
            domain,
        )
        assert message(messages, "utter_fecha_nacimiento_incorrecta")["intentos"] == left
    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(tracker_factory, slots=after, text="01/01/1990", intent="informar"),
        domain,
    )
    assert "utter_identidad_bloqueada" in responses(messages)


def test_something_that_is_not_a_phone(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(tracker_factory, slots=ASKED, text="no me acuerdo", intent="nlu_fallback"),
        domain,
    )
    assert responses(messages) == ["utter_telefono_no_entendido"]
    assert "telefono" not in slots(events)


# --- a stranger who types a debtor's number cannot harm the debtor (issue #10) -------------

TYPED_MARIA = {"telefono": "+525512345678", "deudor_encontrado": True, "persona": "olvidadizo"}


def _blocks_and_revocations(action_app: App) -> tuple[int, int]:
    from sqlalchemy import func, select

    from cobranza import db
    from cobranza.db.models import Consent, ContactBlock

    with db.session_scope(action_app.sessions) as session:
        blocks = session.scalar(
            select(func.count())
            .select_from(ContactBlock)
            .where(ContactBlock.phone == "+525512345678")
        )
        revoked = session.scalar(
            select(func.count())
            .select_from(Consent)
            .where(Consent.debtor_phone == "+525512345678", Consent.status == "revoked")
        )
    return int(blocks or 0), int(revoked or 0)


def _tickets(action_app: App) -> list[tuple[object, ...]]:
    from sqlalchemy import select

    from cobranza import db
    from cobranza.db.models import HandoffTicket

    with db.session_scope(action_app.sessions) as session:
        return [
            (t.reason, t.debtor_phone, t.debt_id, t.priority, t.context.get("persona"))
            for t in session.execute(select(HandoffTicket)).scalars()
        ]


def test_wrong_number_for_a_typed_number_is_only_a_report(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    from actions.consent import ActionNumeroEquivocado

    before = _blocks_and_revocations(action_app)
    tracker = _web(
        tracker_factory, slots=TYPED_MARIA, text="numero equivocado", intent="numero_equivocado"
    )
    events, messages = run_action(ActionNumeroEquivocado(), tracker, domain)
    assert responses(messages) == ["utter_numero_equivocado_por_revisar"]
    assert any(e["event"] == "pause" for e in events), "the conversation stops"
    assert _blocks_and_revocations(action_app) == before, "the debtor is not blocked"
    assert _tickets(action_app) == [("reporte_sin_verificar", "+525512345678", None, 25, None)]


def test_baja_for_a_typed_number_is_only_a_report(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    from actions.consent import ActionNoContactar

    before = _blocks_and_revocations(action_app)
    tracker = _web(tracker_factory, slots=TYPED_MARIA, text="BAJA", intent="no_contactar")
    events, messages = run_action(ActionNoContactar(), tracker, domain)
    assert responses(messages) == ["utter_baja_por_revisar"]
    assert any(e["event"] == "pause" for e in events)
    assert _blocks_and_revocations(action_app) == before, "consent is not revoked"
    assert [t[0] for t in _tickets(action_app)] == ["reporte_sin_verificar"]


def test_baja_from_a_verified_web_debtor_is_honoured_at_once(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    from actions.consent import ActionNoContactar

    tracker = _web(
        tracker_factory,
        slots={**TYPED_MARIA, "identidad_verificada": True},
        text="BAJA",
        intent="no_contactar",
    )
    _, messages = run_action(ActionNoContactar(), tracker, domain)
    assert responses(messages) == ["utter_baja_confirmada"]
    assert _blocks_and_revocations(action_app)[1] > 0


def test_three_wrong_dates_lock_the_conversation_not_the_number(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    asking = {
        **TYPED_MARIA,
        "esperando": "fecha_nacimiento",
        "intencion_pendiente": "consultar_saldo",
    }
    for _ in range(3):
        _, messages = run_action(
            ActionProcesarRespuesta(),
            _web(tracker_factory, slots=asking, text="01/01/1990", intent="informar"),
            domain,
        )
    assert "utter_identidad_bloqueada" in responses(messages)
    # The stranger's conversation is locked, and its ticket shows nothing of María's file.
    again = _web(tracker_factory, slots=asking, text="12/03/1985", intent="informar")
    _, messages = run_action(ActionProcesarRespuesta(), again, domain)
    assert "utter_identidad_bloqueada" in responses(messages)
    assert _tickets(action_app) == [("identidad_bloqueada", "+525512345678", None, 20, None)]
    # María, on her own WhatsApp, is not locked out.
    mine = tracker_factory(
        slots={
            "deudor_encontrado": True,
            "esperando": "fecha_nacimiento",
            "intencion_pendiente": "consultar_saldo",
        },
        text="12/03/1985",
        intent="informar",
    )
    _, messages = run_action(ActionProcesarRespuesta(), mine, domain)
    assert responses(messages)[:2] == ["utter_identidad_confirmada", "utter_saldo"]


def test_birth_date_before_the_number_is_not_asked_again(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """ "hola" → "12/03/1985": the number is asked for, then the date already given is checked."""
    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(tracker_factory, text="12/03/1985", intent="informar", previous_intents=["saludar"]),
        domain,
    )
    assert responses(messages) == ["utter_pedir_telefono"]
    assert slots(events) == {"esperando": "telefono"}
    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(
            tracker_factory,
            slots={"esperando": "telefono"},
            text="55 1234 5678",
            intent="informar",
            previous_intents=["saludar", "informar"],
            previous_texts=["hola", "12/03/1985"],
        ),
        domain,
    )
    assert responses(messages) == ["utter_identidad_confirmada"]
    got = slots(events)
    assert got["identidad_verificada"] is True and got["esperando"] is None


def test_number_and_birth_date_in_one_message(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(
            tracker_factory,
            slots=ASKED,
            text="mi cel es 55 1234 5678 y naci el 12 de marzo de 1985",
            intent="informar",
        ),
        domain,
    )
    assert responses(messages)[:2] == ["utter_identidad_confirmada", "utter_saldo"]
    assert message(messages, "utter_saldo")["saldo"] == "$8,450.00"


def test_a_wrong_birth_date_with_the_number_counts_once(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(tracker_factory, slots=ASKED, text="5512345678, 01/01/1990", intent="informar"),
        domain,
    )
    assert responses(messages) == ["utter_fecha_nacimiento_incorrecta"]
    assert messages[0]["intentos"] == 2
    assert slots(events)["esperando"] == "fecha_nacimiento"


def test_number_and_birth_date_before_either_was_asked(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """ "5512345678 y nací el 12/03/1985" with nothing asked: both are taken and what the
    visitor asked earlier is answered (the date of birth used to be seen first, and the number
    in the same message asked for again)."""
    tracker = _web(
        tracker_factory,
        slots={"intencion_pendiente": "consultar_saldo"},
        text="5512345678 y naci el 12/03/1985",
        intent="informar",
        previous_intents=["saludar"],
    )
    events, messages = run_action(ActionProcesarRespuesta(), tracker, domain)
    assert responses(messages)[:2] == ["utter_identidad_confirmada", "utter_saldo"]
    assert slots(events)["telefono"] == "+525512345678"


def test_a_typed_number_turn_run_again_after_a_crash_verifies_again(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """The same message, run again on another replica after the first died between storing the
    verification and Rasa saving the turn. The tracker has no number yet, so the engine cannot
    allow disclosure (no number, no debtor) whatever the database holds: unlike a bare date of
    birth (actions/answers.py: verified_here), this turn cannot be misread as a promise; the
    number is taken and the date checked again."""
    verify_on_server(action_app, WEB, "+525512345678")
    tracker = _web(
        tracker_factory,
        text="5512345678 y naci el 12/03/1985",
        intent="informar",
        previous_intents=["saludar"],
    )
    events, messages = run_action(ActionProcesarRespuesta(), tracker, domain)
    assert responses(messages) == ["utter_identidad_confirmada"]
    got = slots(events)
    assert got["telefono"] == "+525512345678" and got["identidad_verificada"] is True
