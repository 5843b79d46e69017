"""Every slot the actions read or set, by name, and the questions the assistant waits on.

The names are the ones declared in domain.yml (a unit test keeps the two sets equal), so a typo
is an import error instead of a slot that silently stays empty. Slot names and values are
Spanish: designers read them in domain.yml, the stories and the rules."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from enum import Enum

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet

DEUDOR_ENCONTRADO = "deudor_encontrado"
PERSONA = "persona"
ZONA_HORARIA = "zona_horaria"
IDENTIDAD_VERIFICADA = "identidad_verificada"
CONTACTO_BLOQUEADO = "contacto_bloqueado"
CONSENTIMIENTO = "consentimiento"
EN_HORARIO = "en_horario"
MENSAJE_ASESOR = "mensaje_asesor"
AVISO_PRIVACIDAD_URL = "aviso_privacidad_url"
TELEFONO = "telefono"
ESPERANDO = "esperando"
INTENCION_PENDIENTE = "intencion_pendiente"
PROMESA_MONTO = "promesa_monto"
PROMESA_FECHA = "promesa_fecha"
PROMESA_ANTERIOR = "promesa_anterior"
PLAN_ELEGIDO = "plan_elegido"
PROPUESTA = "propuesta"
PROPUESTA_PENDIENTE = "propuesta_pendiente"
CREDITO = "credito"
PAGO_REPORTADO = "pago_reportado"
MOTIVO_CONTACTO = "motivo_contacto"

ALL = frozenset(
    {
        DEUDOR_ENCONTRADO,
        PERSONA,
        ZONA_HORARIA,
        IDENTIDAD_VERIFICADA,
        CONTACTO_BLOQUEADO,
        CONSENTIMIENTO,
        EN_HORARIO,
        MENSAJE_ASESOR,
        AVISO_PRIVACIDAD_URL,
        TELEFONO,
        ESPERANDO,
        INTENCION_PENDIENTE,
        PROMESA_MONTO,
        PROMESA_FECHA,
        PROMESA_ANTERIOR,
        PLAN_ELEGIDO,
        PROPUESTA,
        PROPUESTA_PENDIENTE,
        CREDITO,
        PAGO_REPORTADO,
        MOTIVO_CONTACTO,
    }
)


class Esperando(str, Enum):
    """Values of the slot ``esperando``: the question the assistant asked last and still waits
    on (none: nothing pending). One slot instead of a flag per question, so two questions can
    never be pending at once: a new question replaces the old one. The answer router
    (actions/answers.py) reads it."""

    TELEFONO = "telefono"  # web chat: the visitor's 10-digit number
    FECHA_NACIMIENTO = "fecha_nacimiento"  # identity verification
    CONSENTIMIENTO = "consentimiento"  # privacy notice shown: "sí" / "no"
    MONTO_PROMESA = "monto_promesa"  # promise: how much (the date may be known)
    FECHA_PROMESA = "fecha_promesa"  # promise: which day (the amount is known)
    CONFIRMACION_PROMESA = "confirmacion_promesa"  # promise read back: "sí" / "no" / correction
    PROPUESTA = "propuesta"  # terms from the debtor's own proposal read back: "sí" / "no"

    def __str__(self) -> str:
        return self.value


PROMISE_QUESTIONS = frozenset(
    {Esperando.MONTO_PROMESA, Esperando.FECHA_PROMESA, Esperando.CONFIRMACION_PROMESA}
)


def waiting_for(tracker: Tracker) -> Esperando | None:
    """The pending question, if any (an unknown value counts as none)."""
    value = tracker.get_slot(ESPERANDO)
    try:
        return Esperando(value) if value else None
    except ValueError:
        return None


def ask(question: Esperando) -> SlotSet:
    """The event that records the question just asked."""
    return SlotSet(ESPERANDO, question.value)


def stop_waiting(tracker: Tracker, *questions: Esperando) -> list[EventType]:
    """Forget the pending question when it is one of ``questions`` (all when none is given)."""
    pending = waiting_for(tracker)
    if pending is None or (questions and pending not in questions):
        return []
    return [SlotSet(ESPERANDO, None)]


def promise_state(amount: Decimal | None, due: date | None, confirming: bool) -> list[EventType]:
    """The promise so far, and the question just asked: the read-back when ``confirming``,
    else the amount when it is missing, else the date."""
    if confirming:
        question = Esperando.CONFIRMACION_PROMESA
    else:
        question = Esperando.MONTO_PROMESA if amount is None else Esperando.FECHA_PROMESA
    return [
        ask(question),
        SlotSet(PROMESA_MONTO, None if amount is None else str(amount)),
        SlotSet(PROMESA_FECHA, None if due is None else due.isoformat()),
    ]
