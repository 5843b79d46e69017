"""A debtor with two debts (the demo's Roberto: a card and a personal loan with CrediFácil):
the balance lists each and the total; plans and promises ask which debt first, then apply to
the one chosen, by button or typed."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import event, select

from actions.answers import ActionProcesarRespuesta
from actions.balance import ActionInformarSaldo, ActionMetodosPago
from actions.base import Turn
from actions.plans import ActionOfrecerPlanes
from actions.promises import ActionProcesarPromesa
from cobranza import db
from cobranza.bootstrap import App
from cobranza.db.models import Debt, Promise
from tests.support.actions import (
    Domain,
    TrackerFactory,
    entity,
    message,
    responses,
    run_action,
    run_turn,
)

ROBERTO_ID = "5214421234567"
ROBERTO = {
    "deudor_encontrado": True,
    "identidad_verificada": True,
    "persona": "estandar",
    "zona_horaria": "America/Mexico_City",
}


def _contracts(action_app: App) -> dict[str, str]:
    """Product → contract number of Roberto's debts."""
    with db.session_scope(action_app.sessions) as session:
        debts = session.execute(select(Debt).where(Debt.debtor_phone == "+524421234567")).scalars()
        return {d.product: d.contract_number for d in debts}


def _run(
    tracker_factory: TrackerFactory,
    domain: Domain,
    action: Any,
    state: dict[str, Any],
    text: str,
    intent: str,
    **conversation: Any,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    return run_turn(
        action, tracker_factory, domain, state, text, intent, sender_id=ROBERTO_ID, **conversation
    )


def test_the_balance_lists_each_debt_and_the_total(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    _, messages = _run(
        tracker_factory, domain, ActionInformarSaldo(), ROBERTO, "cuanto debo", "consultar_saldo"
    )
    said = [r for r in responses(messages) if r != "utter_saldo_ultimo_pago"]
    assert said == ["utter_saldo_varios", "utter_saldo", "utter_saldo", "utter_saldo_total"]
    saldos = [m for m in messages if m["response"] == "utter_saldo"]
    assert [m["producto"] for m in saldos] == ["tarjeta de crédito", "préstamo personal"]
    assert message(messages, "utter_saldo_total")["total"] == "$16,200.00"


def test_plans_ask_which_debt_then_offer_for_the_one_chosen_by_button(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    contracts = _contracts(action_app)
    state, messages = _run(
        tracker_factory,
        domain,
        ActionOfrecerPlanes(),
        ROBERTO,
        "que opciones tengo",
        "solicitar_opciones_pago",
    )
    question = message(messages, "utter_elige_credito")
    assert [b["payload"] for b in question["buttons"]] == [
        f'/informar{{"credito": "{contracts["Tarjeta de crédito"]}"}}',
        f'/informar{{"credito": "{contracts["Préstamo personal"]}"}}',
    ]
    assert all(len(b["title"]) <= 20 for b in question["buttons"])
    assert state["intencion_pendiente"] == "solicitar_opciones_pago"

    loan = contracts["Préstamo personal"]
    chosen = entity("credito", f'/informar{{"credito": "{loan}"}}', loan, loan)
    state, messages = _run(
        tracker_factory,
        domain,
        ActionProcesarRespuesta(),
        {**state, "credito": loan},
        f'/informar{{"credito": "{loan}"}}',
        "informar",
        entities=[chosen],
    )
    assert message(messages, "utter_oferta_pay_in_full")["total"] == "$6,400.00"
    assert state["credito"] == loan and state["intencion_pendiente"] is None


def test_a_promise_keeps_its_amount_while_the_debt_is_chosen_by_name(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    contracts = _contracts(action_app)
    state, messages = _run(
        tracker_factory,
        domain,
        ActionProcesarPromesa(),
        ROBERTO,
        "te pago 1000 el miercoles",
        "prometer_pago",
    )
    assert responses(messages) == ["utter_elige_credito"]
    assert state["promesa_monto"] == "1000.00"
    state, messages = _run(
        tracker_factory,
        domain,
        ActionProcesarRespuesta(),
        state,
        "la tarjeta",
        "nlu_fallback",
        bot_said="utter_elige_credito",
    )
    assert responses(messages) == ["utter_confirmar_promesa"]
    state, messages = _run(
        tracker_factory, domain, ActionProcesarRespuesta(), state, "si", "afirmar"
    )
    folio = message(messages, "utter_promesa_registrada")["folio"]
    with db.session_scope(action_app.sessions) as session:
        promise = session.execute(select(Promise).where(Promise.folio == folio)).scalar_one()
        assert promise.debt.contract_number == contracts["Tarjeta de crédito"]
        assert Decimal(promise.amount) == Decimal("1000.00")


def test_a_contract_that_is_not_theirs_is_no_choice(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """The slot is set by a button payload anyone can type: another debtor's contract is
    ignored and the question asked again."""
    with db.session_scope(action_app.sessions) as session:
        other = session.execute(
            select(Debt.contract_number).where(Debt.debtor_phone == "+525512345678")
        ).scalar_one()
    _, messages = _run(
        tracker_factory,
        domain,
        ActionOfrecerPlanes(),
        {**ROBERTO, "credito": other},
        "que opciones tengo",
        "solicitar_opciones_pago",
    )
    assert responses(messages) == ["utter_elige_credito"]


def test_one_debt_asks_nothing(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    maria = {**ROBERTO, "persona": "olvidadizo"}
    tracker = tracker_factory(
        slots=maria, text="que opciones tengo", intent="solicitar_opciones_pago"
    )
    _, messages = run_action(ActionOfrecerPlanes(), tracker, domain)
    assert "utter_elige_credito" not in responses(messages)
    _, messages = run_action(ActionInformarSaldo(), tracker, domain)
    assert responses(messages)[0] == "utter_saldo"


def test_the_debt_named_is_the_answer_whatever_the_model_read(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """ "la tarjeta" after "¿De cuál de tus créditos?" may be read as a question about paying
    by card: it is the answer, and the plans asked for come for the card."""
    state, _ = _run(
        tracker_factory,
        domain,
        ActionOfrecerPlanes(),
        ROBERTO,
        "que planes me das",
        "solicitar_opciones_pago",
    )
    state, messages = _run(
        tracker_factory,
        domain,
        ActionMetodosPago(),
        state,
        "la tarjeta",
        "consultar_metodos_pago",
        bot_said="utter_elige_credito",
    )
    assert "utter_metodos_pago" not in responses(messages)
    assert message(messages, "utter_oferta_pay_in_full")["total"] == "$9,800.00"
    assert state["credito"] == _contracts(action_app)["Tarjeta de crédito"]


def _debt_reads(action_app: App) -> tuple[list[str], Any]:
    """The statements that read debts from now on, and how to stop listening."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "FROM debts" in statement:
            seen.append(statement)

    event.listen(action_app.engine, "before_cursor_execute", record)
    return seen, lambda: event.remove(action_app.engine, "before_cursor_execute", record)


def test_the_debts_are_read_once_per_action_run(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """ "Which debt?" asks whether one was chosen, then lists them: one read of the debts."""
    seen, stop = _debt_reads(action_app)
    _, messages = _run(
        tracker_factory,
        domain,
        ActionProcesarPromesa(),
        ROBERTO,
        "te pago 1000 el miercoles",
        "prometer_pago",
    )
    stop()
    assert responses(messages) == ["utter_elige_credito"]
    assert len(seen) == 1


def test_a_change_made_in_the_run_is_seen_by_the_next_step(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """The debts read once are the session's own objects, filtered and sorted at every step: a
    debt this run disputed is no longer open, with no second read; the next run reads afresh."""
    tracker = tracker_factory(ROBERTO_ID, ROBERTO, "cuanto debo", "consultar_saldo")
    with action_app.unit_of_work() as session:
        turn = Turn(tracker, CollectingDispatcher(), domain, session, action_app)
        first = turn.open_debts()
        assert [d.product for d in first] == ["Tarjeta de crédito", "Préstamo personal"]
        seen, stop = _debt_reads(action_app)
        first[0].status = "disputed"
        assert [d.product for d in turn.open_debts()] == ["Préstamo personal"]
        assert turn.primary_debt().product == "Préstamo personal"
        stop()
        assert seen == []
        session.rollback()
    with action_app.unit_of_work() as session:
        again = Turn(tracker, CollectingDispatcher(), domain, session, action_app)
        assert len(again.open_debts()) == 2


def test_plans_for_a_chosen_debt_read_the_debts_once(
    action_app: App, tracker_factory: TrackerFactory, domain: Domain
) -> None:
    """The services the action calls (the offers, the promise) read the debtor of the action's
    own unit of work: one read of the debts per run, not one per service."""
    loan = _contracts(action_app)["Préstamo personal"]
    seen, stop = _debt_reads(action_app)
    _, messages = _run(
        tracker_factory,
        domain,
        ActionOfrecerPlanes(),
        {**ROBERTO, "credito": loan},
        "que opciones tengo",
        "solicitar_opciones_pago",
    )
    stop()
    assert "utter_elige_credito" not in responses(messages)
    assert len(seen) == 1
