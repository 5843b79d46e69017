"""Identity before disclosure: ask for the birth date, check it, then continue with what the
debtor asked for in the first place."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

from rasa_sdk.events import EventType, SlotSet

from actions.base import DbAction, Turn, money, spoken_date
from actions.capabilities import (
    AFTER_VERIFICATION,
    answer_pending,
    first_pending,
    keep_proposal,
    pending_requests,
    with_requests_in_message,
)
from actions.handoff import hand_off
from actions.slots import (
    DEUDOR_ENCONTRADO,
    ESPERANDO,
    IDENTIDAD_VERIFICADA,
    INTENCION_PENDIENTE,
    MOTIVO_CONTACTO,
    PERSONA,
    PROMESA_FECHA,
    PROMESA_MONTO,
    PROPUESTA_PENDIENTE,
    TELEFONO,
    ZONA_HORARIA,
    Esperando,
    ask,
    stop_waiting,
    waiting_for,
)
from cobranza.compliance.decisions import blocks_for
from cobranza.domain.birth_dates import extract_birth_date
from cobranza.domain.phones import InvalidPhone, normalize_phone
from cobranza.domain.vocabulary import HandoffReason
from cobranza.outreach.replies import motive
from cobranza.services.identity import lock_status, verify_birth_date
from cobranza.services.views import session_context


def _locked(turn: Turn, until_utc: object) -> list[EventType]:
    local = until_utc.astimezone(ZoneInfo(turn.time_zone))  # type: ignore[attr-defined]
    turn.say("utter_identidad_bloqueada", hora_desbloqueo=local.strftime("%H:%M del %d/%m/%Y"))
    waiting = turn.slot(ESPERANDO) == Esperando.FECHA_NACIMIENTO.value
    forget = [SlotSet(INTENCION_PENDIENTE, None), SlotSet(PROPUESTA_PENDIENTE, None)]
    return [*([SlotSet(ESPERANDO, None)] if waiting else []), *forget]


def birth_date(turn: Turn) -> date | None:
    """The date of birth in this message, wherever it stands in it and however it is written;
    a relative or partial date ("el viernes", "12 de marzo") is not one."""
    return extract_birth_date(turn.text, turn.today)


def ask_for_identity(turn: Turn) -> list[EventType]:
    """A debt topic from a sender who is not verified: no account, locked, or ask the date of
    birth and remember what was asked. A date of birth in the same message is checked at once,
    whether or not it was asked for yet."""
    typed = not turn.number_proven  # web chat, REST: the visitor types the number
    if turn.phone is None and typed:
        turn.say("utter_pedir_telefono")
        return [ask(Esperando.TELEFONO), *_pending(turn)]
    if turn.phone is None or not (turn.slot(DEUDOR_ENCONTRADO) or typed):
        turn.say("utter_no_encontrado")
        return []
    if blocks_for(turn.session, turn.phone):
        turn.say("utter_contacto_bloqueado")
        return stop_waiting(turn.tracker, Esperando.FECHA_NACIMIENTO)
    pending = _pending(turn)
    if birth_date(turn) is not None:
        return [*pending, *verify_identity(turn)]
    status = lock_status(turn.session, turn.phone, turn.app.clock, turn.conversation_id)
    if status.locked:
        return _locked(turn, status.locked_until)
    turn.say("utter_pedir_fecha_nacimiento")
    return [ask(Esperando.FECHA_NACIMIENTO), *pending]


def keep_waiting(turn: Turn) -> list[EventType]:
    """Waiting for the date of birth, a message without one (a promise, "sí", a question): never
    a failed attempt. What it asks for is kept for after verification, and the question is
    asked again."""
    return ask_for_identity(turn)


def _pending(turn: Turn) -> list[EventType]:
    """Remember what was asked, to answer it right after verification. A message that asks
    for nothing ("sí", "no sé") leaves the earlier request as it was; a promise given in steps
    before verification ("te pago 2 mil", then "el viernes") keeps both parts; a proposal
    ("puedo dar 500 cada quincena") is kept as written, to be weighed once the balance may be
    read."""
    intent = turn.intent
    kept = keep_proposal(turn)
    if kept:
        return kept
    if intent in ("prometer_pago", "informar"):  # keep "te pago 2 mil el viernes" for later
        amount, due = turn.amount(), turn.date()
        if due is not None and due == birth_date(turn):
            due = None  # "te pago 2 mil, nací el 12/03/1985": 1985 is not the promise's day
        if intent == "informar" and (
            amount is None
            if waiting_for(turn.tracker) is Esperando.FECHA_NACIMIENTO
            else amount is None and due is None
        ):
            return []  # asked for the date of birth, "12 de marzo" is an incomplete one
        if first_pending(turn.slot(INTENCION_PENDIENTE)) == "prometer_pago":
            amount = amount if amount is not None else _decimal(turn.slot(PROMESA_MONTO))
            due = due if due is not None else _day(turn.slot(PROMESA_FECHA))
        return [
            turn.set_slot(INTENCION_PENDIENTE, pending_requests(turn, "prometer_pago")),
            turn.set_slot(PROMESA_MONTO, None if amount is None else str(amount)),
            turn.set_slot(PROMESA_FECHA, None if due is None else due.isoformat()),
        ]
    if intent in AFTER_VERIFICATION:
        return [turn.set_slot(INTENCION_PENDIENTE, pending_requests(turn, intent))]
    return []


def _decimal(value: object) -> Decimal | None:
    return Decimal(str(value)) if value else None


def _day(value: object) -> date | None:
    return date.fromisoformat(str(value)) if value else None


PHONE_IN_TEXT = re.compile(r"(?:\+?52\s*1?)?[\s-]*(?:\d[\s.-]*){10}")


def typed_phone(turn: Turn) -> bool:
    """Does the visitor give a number on a channel where numbers are typed (web chat, REST)?
    On WhatsApp the sender's own number is the one that counts."""
    return (
        not turn.number_proven
        and turn.slot(TELEFONO) is None
        and bool(PHONE_IN_TEXT.search(turn.text))
    )


def capture_phone(turn: Turn) -> list[EventType]:
    """Web chat: the number the visitor typed. Whether a debtor has it is not said (that would
    let anyone probe numbers): the date of birth is asked either way and fails the same way."""
    match = PHONE_IN_TEXT.search(turn.text)
    try:
        phone = normalize_phone(match.group(0)) if match else None
    except InvalidPhone:
        phone = None
    if phone is None:
        turn.say("utter_telefono_no_entendido")
        return []
    context = session_context(turn.session, phone, turn.app.settings.default_time_zone)
    events: list[EventType] = [
        turn.set_slot(TELEFONO, phone),
        SlotSet(ESPERANDO, None),
        turn.set_slot(DEUDOR_ENCONTRADO, context["found"]),
        turn.set_slot(PERSONA, context["persona"]),
        turn.set_slot(ZONA_HORARIA, context["time_zone"]),
    ]
    if blocks_for(turn.session, phone):
        turn.say("utter_contacto_bloqueado")
        return events
    assert match is not None
    given = _given_birth_date(turn, turn.text[: match.start()] + turn.text[match.end() :])
    if given is not None:  # already said: checked now, not asked again
        asked = turn.set_slot(ESPERANDO, Esperando.FECHA_NACIMIENTO.value)
        return [*events, asked, *verify_identity(turn, given)]
    status = lock_status(turn.session, phone, turn.app.clock, turn.conversation_id)
    if status.locked:
        return events + _locked(turn, status.locked_until)
    turn.say("utter_pedir_fecha_nacimiento")
    return [*events, ask(Esperando.FECHA_NACIMIENTO)]


def _given_birth_date(turn: Turn, rest: str) -> date | None:
    """A date of birth the visitor gave with the number (``rest``: the message without it) or
    in the message that made us ask for the number ("hola" → "12/03/1985" → the number)."""
    found = extract_birth_date(rest, turn.today)
    if found is not None:
        return found
    said = [e for e in turn.tracker.events if e.get("event") == "user"]
    if len(said) < 2:
        return None
    return extract_birth_date(str(said[-2].get("text") or ""), turn.today)


def session_started_at(turn: Turn) -> datetime | None:
    """When Rasa started this conversation's current session, if the tracker says."""
    starts = [e for e in turn.tracker.events if e.get("event") == "session_started"]
    stamp = starts[-1].get("timestamp") if starts else None
    return datetime.fromtimestamp(stamp, timezone.utc) if isinstance(stamp, (int, float)) else None


def verify_identity(turn: Turn, given: date | None = None) -> list[EventType]:
    """A date of birth given (in this message, or ``given``): verified (then continue), wrong,
    or locked. Only a message that holds one is an attempt; any other is answered by
    :func:`keep_waiting`."""
    assert turn.phone is not None
    claimed = given or birth_date(turn)
    if claimed is None:
        return keep_waiting(turn)
    result = verify_birth_date(
        turn.session,
        turn.phone,
        claimed,
        turn.app.clock,
        conversation_id=turn.conversation_id,
        channel=turn.channel,
        ttl=turn.app.settings.verification_ttl,
        session_started_at=session_started_at(turn),
    )
    if result.locked:
        return _locked(turn, result.locked_until) + hand_off(
            turn, HandoffReason.IDENTIDAD_BLOQUEADA, announce=False
        )
    if not result.verified:
        turn.say("utter_fecha_nacimiento_incorrecta", intentos=result.attempts_left)
        return [ask(Esperando.FECHA_NACIMIENTO)]
    turn.say("utter_identidad_confirmada")
    events: list[EventType] = [
        turn.set_slot(IDENTIDAD_VERIFICADA, True),
        SlotSet(ESPERANDO, None),
        SlotSet(INTENCION_PENDIENTE, None),
        *say_why_we_wrote(turn),
    ]
    asked = with_requests_in_message(turn, turn.slot(INTENCION_PENDIENTE))
    return [*events, *answer_pending(turn, asked)]


def say_why_we_wrote(turn: Turn) -> list[EventType]:
    """The debtor answered a campaign message: once verified, they hear what it was about
    (their promise, instalment, or account), and the dialogue knows it (``motivo_contacto``)."""
    assert turn.phone is not None
    found = motive(turn.session, turn.phone, turn.app.clock.now())
    if found is None:
        return []
    values: dict[str, object] = {"folio": (found.reference or "").partition("#")[0]}
    if found.amount is not None:
        values["monto"] = money(found.amount)
    if found.due_on is not None:
        values["fecha"] = spoken_date(found.due_on)
    if found.number is not None:
        values["numero"] = found.number
    turn.say(f"utter_motivo_{found.kind}", **values)
    return [turn.set_slot(MOTIVO_CONTACTO, found.kind)]


class ActionSolicitarIdentidad(DbAction):
    """Rule branch ``identidad_verificada`` = false: a debt topic before verification."""

    def name(self) -> str:
        return "action_solicitar_identidad"

    def handle(self, turn: Turn) -> list[EventType]:
        return ask_for_identity(turn)
