"""Payment plans offered as buttons, the agreement the debtor picks, and discount requests."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rasa_sdk.events import EventType, SlotSet

from actions.base import DbAction, Turn, money, spoken_date
from actions.debts import ask_which_debt, debt_choice_needed
from actions.negotiation import FREQUENCY_WORDS, pending_terms, proposal_in, reply_to, terms_text
from actions.slots import PAGO_REPORTADO, PERSONA, PLAN_ELEGIDO
from cobranza.domain.requests import is_question
from cobranza.domain.text import shorten
from cobranza.personas.negotiation import choose_offer, render_lines, schedule_lines
from cobranza.personas.offers import PLAN_INSTALLMENTS, PLAN_PAY_IN_FULL, PLAN_SETTLEMENT, Offer
from cobranza.services.hardship import register_discount_request
from cobranza.services.plans import (
    UnknownOffer,
    accept_offer,
    current_offers,
    latest_agreement,
    stored_terms,
)

MAX_BUTTONS = 3  # WhatsApp reply buttons; more choices go out as a list


CHOOSE = "utter_elige_opcion"  # "¿Cuál opción prefieres?" with the offers as buttons
ASK_FOR_PLANS = "solicitar_opciones_pago"
ASK_FOR_DISCOUNT = "solicitar_descuento"
DISCOUNT_OFFERED = "utter_descuento_disponible"  # the settlement the persona allows, in words
PLAN_NAMES = {
    PLAN_PAY_IN_FULL: "utter_plan_pago_total",
    PLAN_SETTLEMENT: "utter_plan_liquidacion",
    PLAN_INSTALLMENTS: "utter_plan_parcialidades",
}


def _offer_values(turn: Turn, offer: Offer) -> dict[str, Any]:
    first, last = offer.installments[0], offer.installments[-1]
    return {
        "terminos": terms_text(turn, offer),
        "total": money(offer.total),
        "saldo": money(offer.balance),
        "descuento": money(offer.discount),
        "fecha": spoken_date(first.due_date),
        "pagos": len(offer.installments),
        "frecuencia": FREQUENCY_WORDS.get(offer.frequency or "", ""),
        "primer_pago": money(first.amount),
        "ultimo_pago": money(last.amount),
        "fecha_final": spoken_date(last.due_date),
    }


def offer_plans(turn: Turn) -> list[EventType]:
    if turn.slot(PAGO_REPORTADO):
        turn.say("utter_sin_presion")
        return []
    assert turn.phone is not None
    if debt_choice_needed(turn):
        return ask_which_debt(turn, ASK_FOR_PLANS)
    offers = current_offers(turn.session, turn.phone, turn.profile, turn.app.clock, turn.contract)
    if not offers:
        turn.say("utter_sin_opciones")
        return []
    choosing = turn.intent == ASK_FOR_PLANS and not is_question(turn.text)
    named = choose_offer(turn.text, offers) if choosing else None
    if named is not None:  # "quiero el de 6 pagos": the plan it names, as its button would
        return register_offer(turn, named.code)
    proposal = proposal_in(turn) if turn.intent == ASK_FOR_PLANS else None
    if proposal is not None:  # "lo quiero en 12 pagos" when 12 is not among them
        return reply_to(turn, proposal)
    turn.say("utter_opciones_intro")
    for offer in offers:
        turn.say(f"utter_oferta_{offer.plan_type}", **_offer_values(turn, offer))
    choices = [
        {
            "title": shorten(
                turn.response_text(f"utter_titulo_{offer.plan_type}", **_offer_values(turn, offer)),
                20,
            ),
            "payload": f'/informar{{"plan_elegido": "{offer.code}"}}',
        }
        for offer in offers
    ]
    if len(choices) <= MAX_BUTTONS:
        turn.say(CHOOSE, buttons=choices)
    else:
        rows = [{"id": c["payload"], "title": shorten(c["title"], 24)} for c in choices[:10]]
        turn.say(CHOOSE, buttons=choices, json_message={"type": "list", "rows": rows})
    return []


class ActionOfrecerPlanes(DbAction):
    requires_identity = True
    answers_other_requests = True

    def name(self) -> str:
        return "action_ofrecer_planes"

    def handle(self, turn: Turn) -> list[EventType]:
        return offer_plans(turn)


def register_plan(turn: Turn) -> list[EventType]:
    """The debtor picked an offer (button or list row): store the agreement, read back its
    terms and folio."""
    return register_offer(turn, str(turn.slot(PLAN_ELEGIDO)))


def register_offer(turn: Turn, code: str) -> list[EventType]:
    """Store the agreement for offer ``code`` and read back its terms and folio."""
    assert turn.phone is not None
    try:
        agreement, _ = accept_offer(
            turn.session,
            turn.phone,
            code,
            turn.profile,
            turn.app.clock,
            turn.channel,
            contract=turn.contract,
        )
    except UnknownOffer:
        turn.say("utter_plan_no_disponible")
        return [SlotSet(PLAN_ELEGIDO, None), *offer_plans(turn)]
    turn.say(
        "utter_plan_confirmado",
        folio=agreement.folio,
        terminos=terms_text(turn, stored_terms(agreement)),
        total=money(Decimal(agreement.total_amount)),
    )
    return [SlotSet(PLAN_ELEGIDO, None)]


def plans_just_offered(turn: Turn) -> bool:
    """Was the assistant's last message the question "which option?" (``utter_elige_opcion``)?
    Then "la segunda" or "el de 12" answers it."""
    return turn.last_response == CHOOSE


def typed_choice(turn: Turn) -> str | None:
    """The code of the offer a typed answer to "which option?" names, as its button would."""
    if turn.phone is None:
        return None
    chosen = choose_offer(
        turn.text,
        current_offers(turn.session, turn.phone, turn.profile, turn.app.clock, turn.contract),
    )
    return None if chosen is None else chosen.code


def handle_discount(turn: Turn) -> list[EventType]:
    assert turn.phone is not None
    if debt_choice_needed(turn):
        return ask_which_debt(turn, ASK_FOR_DISCOUNT)
    taken = settlement_taken(turn)
    if taken is not None:  # "órale va, lo liquido con el descuento" after the offer
        return register_offer(turn, taken)
    proposal = proposal_in(turn) if turn.intent == ASK_FOR_DISCOUNT else None
    if proposal is not None:  # "¿me lo dejan en 10 mil?"
        return reply_to(turn, proposal)
    persona = register_discount_request(turn.session, turn.phone, turn.app.profiles, turn.app.clock)
    profile = turn.app.profiles[persona]
    settlement = next(
        (
            o
            for o in current_offers(
                turn.session, turn.phone, profile, turn.app.clock, turn.contract
            )
            if o.plan_type == PLAN_SETTLEMENT
        ),
        None,
    )
    events: list[EventType] = [turn.set_slot(PERSONA, persona)]
    if settlement is None:
        turn.say("utter_sin_descuento")
        return events + offer_plans(turn)
    turn.say(
        DISCOUNT_OFFERED,
        porcentaje=format(settlement.discount_pct.normalize(), "f"),
        total=money(settlement.total),
        saldo=money(settlement.balance),
        fecha=spoken_date(settlement.installments[0].due_date),
    )
    return events


def settlement_taken(turn: Turn) -> str | None:
    """Right after the discount offer or the options, "va, lo liquido con el descuento" (or a
    "sí" to the discount offer) takes the settlement as offered: its code, else ``None``."""
    if turn.last_response not in (DISCOUNT_OFFERED, CHOOSE) or is_question(turn.text):
        return None
    assert turn.phone is not None
    offers = current_offers(turn.session, turn.phone, turn.profile, turn.app.clock, turn.contract)
    settlement = next((o for o in offers if o.plan_type == PLAN_SETTLEMENT), None)
    if settlement is None:
        return None
    if turn.intent == "afirmar" and turn.last_response == DISCOUNT_OFFERED:
        return settlement.code
    chosen = choose_offer(turn.text, offers)
    return settlement.code if chosen == settlement else None


def offer_plans_for(turn: Turn, profile_name: str) -> list[EventType]:
    """Offer plans right after the persona changed in this run, under the new persona."""
    return [turn.set_slot(PERSONA, profile_name), *offer_plans(turn)]


class ActionSolicitarDescuento(DbAction):
    requires_identity = True
    answers_other_requests = True

    def name(self) -> str:
        return "action_solicitar_descuento"

    def handle(self, turn: Turn) -> list[EventType]:
        return handle_discount(turn)


def _calendar(turn: Turn, name: str, offer: Offer) -> None:
    lines = render_lines(schedule_lines(offer), turn.template("utter_calendario_linea"))
    turn.say("utter_calendario", plan=name, lineas="\n".join(lines))


def show_calendar(turn: Turn) -> list[EventType]:
    """ "ver calendario": every payment of the terms waiting for a "sí", else of the debtor's
    agreement as stored, else of each plan on offer."""
    assert turn.phone is not None
    pending = pending_terms(turn)
    if pending is not None:
        _calendar(turn, _plan_name(turn, pending), pending)
        return []
    agreement = latest_agreement(turn.session, turn.phone)
    if agreement is not None:
        name = turn.response_text("utter_plan_convenio", folio=agreement.folio)
        _calendar(turn, name, stored_terms(agreement))
        return []
    offers = current_offers(turn.session, turn.phone, turn.profile, turn.app.clock, turn.contract)
    plans = [o for o in offers if len(o.installments) > 1]
    if not plans:
        turn.say("utter_sin_calendario")
    for offer in plans:
        _calendar(turn, _plan_name(turn, offer), offer)
    return []


def _plan_name(turn: Turn, offer: Offer) -> str:
    return turn.response_text(PLAN_NAMES[offer.plan_type], pagos=len(offer.installments))


class ActionVerCalendario(DbAction):
    requires_identity = True

    def name(self) -> str:
        return "action_ver_calendario"

    def handle(self, turn: Turn) -> list[EventType]:
        return show_calendar(turn)
