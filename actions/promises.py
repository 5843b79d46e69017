"""Promise to pay, one action for every step: amount and date (in one message or in steps),
validation, read-back, confirmation, corrections. State lives in slots."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from rasa_sdk.events import EventType, SlotSet

from actions.base import DbAction, Turn, money, spoken_date
from actions.debts import ask_which_debt, debt_choice_needed
from actions.negotiation import proposal_in, reply_to
from actions.slots import (
    ESPERANDO,
    PROMESA_ANTERIOR,
    PROMESA_FECHA,
    PROMESA_MONTO,
    Esperando,
    ask,
    promise_state,
    waiting_for,
)
from cobranza.domain.dates import extract_dates
from cobranza.domain.money import to_pesos
from cobranza.personas.negotiation import Kind
from cobranza.services.promises import (
    AMOUNT_ABOVE_BALANCE,
    AMOUNT_NOT_POSITIVE,
    DATE_BEYOND_HORIZON,
    DATE_IN_PAST,
    PromiseRejected,
    check_promise,
    pending_promise,
    record_promise,
)

RESET = [
    SlotSet(ESPERANDO, None),
    SlotSet(PROMESA_MONTO, None),
    SlotSet(PROMESA_FECHA, None),
    SlotSet(PROMESA_ANTERIOR, None),
]


def process_promise(turn: Turn, read_message: bool = True) -> list[EventType]:
    """Advance the promise with this message (``read_message=False`` right after identity
    verification, when the message is the birth date and the promise came before it)."""
    assert turn.phone is not None
    amount = Decimal(turn.slot(PROMESA_MONTO)) if turn.slot(PROMESA_MONTO) else None
    due = date.fromisoformat(turn.slot(PROMESA_FECHA)) if turn.slot(PROMESA_FECHA) else None
    confirming = waiting_for(turn.tracker) is Esperando.CONFIRMACION_PROMESA
    new_amount = turn.amount() if read_message else None
    new_date = turn.date() if read_message else None

    if confirming and turn.intent == "afirmar" and new_amount is None and new_date is None:
        assert amount is not None and due is not None
        renewed = pending_promise(turn.session, turn.phone)
        replaces = turn.slot(PROMESA_ANTERIOR)
        try:
            promise = record_promise(
                turn.session,
                turn.phone,
                amount,
                due,
                turn.profile,
                turn.app.clock,
                turn.channel,
                replaces=replaces,
                contract=turn.contract,
            )
        except PromiseRejected as rejected:  # the balance or the day changed meanwhile
            return _explain(turn, rejected.reason, amount, due)
        values = {"monto": money(amount), "fecha": spoken_date(due), "folio": promise.folio}
        if renewed is not None and renewed.folio == replaces and renewed.folio != promise.folio:
            turn.say(
                "utter_promesa_reprogramada", fecha_anterior=spoken_date(renewed.due_date), **values
            )
        else:
            turn.say("utter_promesa_registrada", **values)
        return RESET
    if confirming and turn.intent == "negar" and new_amount is None and new_date is None:
        turn.say("utter_promesa_cancelada")
        return [*RESET, ask(Esperando.MONTO_PROMESA)]

    if not confirming and debt_choice_needed(turn):  # which debt first; what was said is kept
        kept_amount = new_amount if new_amount is not None else amount
        kept_due = new_date if new_date is not None else due
        asked = ask_which_debt(turn, "prometer_pago")
        return [*promise_state(kept_amount, kept_due, False), *asked]
    proposal = proposal_in(turn) if read_message else None
    if proposal is not None and proposal.kind is not Kind.PROMISE:
        return reply_to(turn, proposal)  # "500 cada quincena": a plan, not a promise
    if proposal is not None:  # "la mitad el 15"
        new_amount = to_pesos(proposal.total or 0)
    amount = new_amount if new_amount is not None else amount
    due = new_date if new_date is not None else due
    if amount is None:
        turn.say("utter_pedir_monto_promesa")
        return promise_state(None, due, False)
    if due is None:
        turn.say("utter_pedir_fecha_promesa", monto=money(amount))
        return promise_state(amount, None, False)
    debt = turn.primary_debt()
    reason = check_promise(
        amount, due, Decimal(debt.current_balance), turn.today, turn.profile.promise_max_days_ahead
    )
    if reason:
        return _explain(turn, reason, amount, due)
    turn.say("utter_confirmar_promesa", monto=money(amount), fecha=spoken_date(due))
    return promise_state(amount, due, True)


def _explain(turn: Turn, reason: str, amount: Decimal, due: date) -> list[EventType]:
    """Say why, and forget the part that has to change."""
    assert turn.phone is not None
    if reason in (AMOUNT_NOT_POSITIVE, AMOUNT_ABOVE_BALANCE):
        debt = turn.primary_debt()
        turn.say(f"utter_promesa_{reason}", saldo=money(Decimal(debt.current_balance)))
        return promise_state(None, due, False)
    limit = turn.today + timedelta(days=turn.profile.promise_max_days_ahead)
    assert reason in (DATE_IN_PAST, DATE_BEYOND_HORIZON)
    turn.say(f"utter_promesa_{reason}", fecha_limite=spoken_date(limit))
    return promise_state(amount, None, False)


def reschedule(turn: Turn, read_message: bool = True) -> list[EventType]:
    """ "No voy a poder pagar el viernes": the pending promise is renewed for a new day within
    the persona's horizon (it then counts as broken and renewed); a new day in the message is
    read back at once, else asked for. Without a pending promise this is a new promise."""
    assert turn.phone is not None
    pending = pending_promise(turn.session, turn.phone)
    if pending is None:
        return process_promise(turn, read_message)
    said = extract_dates(turn.text, turn.today) if read_message else []
    # the day they cannot make is not the new one ("lo del lunes no voy a poder, ¿el miércoles?")
    new_date = next((m.value for m in said if m.value != pending.due_date), None)
    events = [
        turn.set_slot(PROMESA_ANTERIOR, pending.folio),
        turn.set_slot(PROMESA_MONTO, str(Decimal(pending.amount))),
        turn.set_slot(PROMESA_FECHA, None if new_date is None else new_date.isoformat()),
    ]
    if new_date is None:
        limit = turn.today + timedelta(days=turn.profile.promise_max_days_ahead)
        turn.say(
            "utter_reprogramar_pedir_fecha",
            monto=money(Decimal(pending.amount)),
            fecha=spoken_date(pending.due_date),
            fecha_limite=spoken_date(limit),
        )
        return [*events, ask(Esperando.FECHA_PROMESA)]
    return [*events, *process_promise(turn, read_message=False)]


class ActionReprogramarPromesa(DbAction):
    requires_identity = True

    def name(self) -> str:
        return "action_reprogramar_promesa"

    def handle(self, turn: Turn) -> list[EventType]:
        return reschedule(turn)


class ActionProcesarPromesa(DbAction):
    requires_identity = True
    answers_other_requests = True

    def name(self) -> str:
        return "action_procesar_promesa"

    def handle(self, turn: Turn) -> list[EventType]:
        return process_promise(turn)
