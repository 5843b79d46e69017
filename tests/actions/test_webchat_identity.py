"""The web chat has no phone number: the visitor gives number and date of birth, and nothing is
disclosed (not even whether the number is a debtor's) before both match."""

from __future__ import annotations

from actions.answers import ActionProcesarRespuesta
from actions.identity import ActionSolicitarIdentidad
from tests.actions.helpers import message, responses, run_action, slots

WEB = "web-AbCdEfGhIjKlMnOpQrStUv"
ASKED = {"telefono_en_curso": True, "intencion_pendiente": "consultar_saldo"}


def _web(tracker_factory, **kwargs):  # type: ignore[no-untyped-def]
    return tracker_factory(sender_id=WEB, channel="webchat", **kwargs)


def test_a_debt_question_asks_for_the_phone_first(action_runtime, tracker_factory, domain) -> None:  # type: ignore[no-untyped-def]
    events, messages = run_action(
        ActionSolicitarIdentidad(),
        _web(tracker_factory, text="cuanto debo", intent="consultar_saldo"),
        domain,
    )
    assert responses(messages) == ["utter_pedir_telefono"]
    assert slots(events) == {"telefono_en_curso": True, "intencion_pendiente": "consultar_saldo"}


def test_phone_then_birth_date_then_the_answer(action_runtime, tracker_factory, domain) -> None:  # type: ignore[no-untyped-def]
    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(tracker_factory, slots=ASKED, text="mi cel es 55 1234 5678", intent="informar"),
        domain,
    )
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"]
    got = slots(events)
    assert got["telefono"] == "+525512345678" and got["deudor_encontrado"] is True
    assert got["persona"] == "olvidadizo" and got["verificacion_en_curso"] is True
    assert not any("$" in str(m) for m in messages)

    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(
            tracker_factory,
            slots={
                "telefono": "+525512345678",
                "deudor_encontrado": True,
                "persona": "olvidadizo",
                "verificacion_en_curso": True,
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


def test_an_unknown_number_is_not_revealed(action_runtime, tracker_factory, domain) -> None:  # type: ignore[no-untyped-def]
    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(tracker_factory, slots=ASKED, text="5599990000", intent="informar"),
        domain,
    )
    assert responses(messages) == ["utter_pedir_fecha_nacimiento"], "same as a known number"
    assert slots(events)["deudor_encontrado"] is False
    after = {
        "telefono": "+525599990000",
        "verificacion_en_curso": True,
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


def test_something_that_is_not_a_phone(action_runtime, tracker_factory, domain) -> None:  # type: ignore[no-untyped-def]
    events, messages = run_action(
        ActionProcesarRespuesta(),
        _web(tracker_factory, slots=ASKED, text="no me acuerdo", intent="nlu_fallback"),
        domain,
    )
    assert responses(messages) == ["utter_telefono_no_entendido"]
    assert "telefono" not in slots(events)
