"""What every database-backed action shares: a worker thread (no blocking call in ``async``),
a unit of work, the sender's phone and persona, and reading amounts and dates off the message."""

from __future__ import annotations

import asyncio
import logging
from abc import ABCMeta, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, ClassVar

from babel.dates import format_date
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from actions.experiments import response_experiments
from actions.slots import (
    CREDITO,
    ESPERANDO,
    IDENTIDAD_VERIFICADA,
    PERSONA,
    TELEFONO,
    ZONA_HORARIA,
    Esperando,
    waiting_for,
)
from cobranza import bootstrap
from cobranza.bootstrap import App
from cobranza.clock import local_today
from cobranza.compliance import decisions
from cobranza.db import repository as repo
from cobranza.db.models import Debt, Debtor
from cobranza.domain.amounts import extract_amount
from cobranza.domain.dates import extract_date, resolve_date
from cobranza.domain.money import format_mxn
from cobranza.domain.phones import InvalidPhone, mask_phone, normalize_phone
from cobranza.errors import CobranzaError
from cobranza.personas.profiles import PersonaProfile
from cobranza.services.experiments import response_variant
from cobranza.services.identity import PROVEN_CHANNELS
from cobranza.services.promises import open_debts_of, primary_of

logger = logging.getLogger(__name__)

ACTION_LISTEN = "action_listen"  # Rasa's: wait for the debtor's next message

CHANNEL_NAMES = {
    "rest": "rest",
    "whatsapp": "whatsapp",
    "socketio": "webchat",
    "webchat": "webchat",
    "twilio": "whatsapp",
    "twilio_whatsapp": "whatsapp",
}


def channel_name(input_channel: str | None) -> str:
    """Our name for a Rasa input channel; anything unknown is treated as REST (unproven)."""
    return CHANNEL_NAMES.get(input_channel or "rest", "rest")


@dataclass
class Turn:
    """One action run: the tracker, the dispatcher, a database session and the app."""

    tracker: Tracker
    dispatcher: CollectingDispatcher
    domain: dict[str, Any]
    session: Session
    app: App
    disclosure: decisions.Decision | None = field(default=None, init=False)
    # Slots set earlier in this action run: Rasa applies the SlotSet events only after the
    # action, so the later steps of the same run read them here (never by editing the tracker).
    updates: dict[str, Any] = field(default_factory=dict, init=False)
    # The debtor (with debts and creditors) read once per run and number: see open_debts().
    _debtors: dict[str, Debtor] = field(default_factory=dict, init=False, repr=False)
    _phones: dict[str, str | None] = field(default_factory=dict, init=False, repr=False)

    def slot(self, name: str) -> Any:
        """A slot as this run has left it so far: what it set wins over the tracker."""
        return self.updates[name] if name in self.updates else self.tracker.get_slot(name)

    def set_slot(self, name: str, value: Any) -> SlotSet:
        """Set a slot for the rest of this run and return the event that sets it in Rasa."""
        self.updates[name] = value
        return SlotSet(name, value)

    @property
    def number_proven(self) -> bool:
        """Does the channel prove the sender holds the number in the sender id (WhatsApp,
        Twilio)? Elsewhere (web chat, REST) a number is only what the visitor typed."""
        return self.channel in PROVEN_CHANNELS

    @property
    def phone(self) -> str | None:
        """The sender's own number on WhatsApp and Twilio; on other channels the number the
        visitor typed (slot ``telefono``), which proves nothing until the date of birth
        matches it. A sender id is never read as a number on a channel that does not prove it."""
        candidate = str(
            (self.tracker.sender_id if self.number_proven else self.slot(TELEFONO)) or ""
        )
        if candidate not in self._phones:  # asked a dozen times a run; phonenumbers is not free
            try:
                self._phones[candidate] = normalize_phone(candidate)
            except InvalidPhone:
                self._phones[candidate] = None
        return self._phones[candidate]

    @property
    def contract(self) -> str | None:
        """The contract of the debt the debtor chose (slot ``credito``), if they chose one. A
        button sets it, so it proves nothing: the services only take it when it is one of the
        debtor's own debts."""
        value = self.slot(CREDITO)
        return str(value) if value else None

    @property
    def conversation_id(self) -> str:
        return str(self.tracker.sender_id)

    @property
    def channel(self) -> str:
        return channel_name(self.tracker.get_latest_input_channel())

    @property
    def time_zone(self) -> str:
        return self.slot(ZONA_HORARIA) or self.app.settings.default_time_zone

    @property
    def today(self) -> date:
        return local_today(self.app.clock, self.time_zone)

    @property
    def profile(self) -> PersonaProfile:
        name = self.slot(PERSONA)
        profiles = self.app.profiles
        if name in profiles:
            return profiles[name]
        return next(p for p in profiles.values() if p.fallback)

    def open_debts(self) -> list[Debt]:
        """The debtor's active debts (:func:`cobranza.services.promises.open_debts`), read from
        the database once per action run: the debt steps ask up to four times in one run
        ("which debt?", "was one chosen?", the promise's debt...). Only this run's unit of work
        keeps it, and the same ORM objects are filtered and sorted again at every call, so a
        change this run made to a debt is seen; the next run reads afresh."""
        phone = self.phone
        assert phone is not None
        if phone not in self._debtors:
            self._debtors[phone] = repo.get_debtor(self.session, phone)
        return open_debts_of(self._debtors[phone])

    def primary_debt(self) -> Debt:
        """The debt this conversation is about (:func:`cobranza.services.promises.primary_debt`,
        for the chosen ``credito``), from :meth:`open_debts`."""
        assert self.phone is not None
        return primary_of(self.open_debts(), self.phone, self.contract)

    @property
    def text(self) -> str:
        return str(self.tracker.latest_message.get("text") or "")

    @property
    def intent(self) -> str:
        return str((self.tracker.latest_message.get("intent") or {}).get("name") or "")

    @property
    def last_response(self) -> str | None:
        """The response the assistant sent last (``utter_elige_opcion``…): what a short answer
        such as "la segunda" or "va" answers. An experiment's variant reads as the response it
        stands for."""
        said = [e for e in self.tracker.events if e.get("event") == "bot"]
        name = (said[-1].get("metadata") or {}).get("utter_action") if said else None
        return response_experiments(self.app).canonical(name) if name else name

    def say(self, response: str, **values: Any) -> None:
        """Say a response of domain.yml with its values. Under an enabled experiment on it, the
        known debtor hears their arm's variant and their exposure is recorded in this unit of
        work (docs/experiments.md); anyone else hears the response itself."""
        experiments = response_experiments(self.app)
        if response in experiments.by_target:
            response = response_variant(
                self.session,
                experiments,
                response,
                conversation_id=self.conversation_id,
                phone=self.phone,
                number_proven=self.number_proven,
                now=self.app.clock.now(),
            )
        self.dispatcher.utter_message(response=response, **values)

    def template(self, name: str) -> str:
        """A response's text from domain.yml as written (its first variation)."""
        variants = self.domain.get("responses", {}).get(name) or [{"text": name}]
        return str(variants[0].get("text", name))

    def response_text(self, name: str, **values: Any) -> str:
        """A response's text from domain.yml, filled in (for button titles and parts of a
        message)."""
        return self.template(name).format(**values)

    def _entities(self, name: str) -> list[dict[str, Any]]:
        return [
            e for e in self.tracker.latest_message.get("entities") or [] if e.get("entity") == name
        ]

    def amount(self) -> Decimal | None:
        """The amount in this message: the normalised ``monto`` entity, else our own reading."""
        for entity in self._entities("monto"):
            try:
                value = Decimal(str(entity.get("value")))
            except ArithmeticError:
                continue
            if value.is_finite():
                return value.quantize(Decimal("0.01"))
        match = extract_amount(self.text)
        return match.value if match else None

    def date(self) -> date | None:
        """The date in this message, resolved against the debtor's local today."""
        for entity in self._entities("fecha"):
            start, end = entity.get("start"), entity.get("end")
            if isinstance(start, int) and isinstance(end, int):
                resolved = resolve_date(self.text[start:end], self.today)
                if resolved:
                    return resolved
            try:
                return date.fromisoformat(str(entity.get("value")))
            except ValueError:
                continue
        match = extract_date(self.text, self.today)
        return match.value if match else None


def spoken_date(day: date) -> str:
    """``viernes 27 de noviembre``."""
    return str(format_date(day, "EEEE d 'de' MMMM", locale="es_MX"))


def money(amount: Decimal | int) -> str:
    return format_mxn(amount)


def disclosure_allowed(turn: Turn) -> bool:
    """May debt details be shown in this conversation? Asks the compliance engine once per turn
    (known debtor, verified in this session, number not flagged, no verification lock); the
    decision is in the audit log."""
    if turn.disclosure is None:
        turn.disclosure = decisions.decide_disclosure(
            turn.session,
            turn.phone,
            turn.conversation_id,
            turn.app.settings,
            turn.app.clock,
            channel=turn.channel,
        )
    return turn.disclosure.allowed


def compliance_slots(turn: Turn, events: list[EventType]) -> list[EventType]:
    """The compliance slots as the engine sees them after this action (only those that
    change): ``en_horario``, ``consentimiento``, ``contacto_bloqueado``; a flagged number also
    loses ``identidad_verificada``."""
    flags = decisions.conversation_flags(
        turn.session,
        turn.phone,
        turn.app.settings,
        turn.app.clock,
        decisions.PROACTIVE_CHANNEL,
    )
    current = dict(turn.tracker.slots)
    for event in events:
        if event.get("event") == "slot":
            current[event["name"]] = event.get("value")
    wanted = flags.as_slots()
    del wanted[ZONA_HORARIA]  # set at session start; actions re-read it from the slot
    if flags.contacto_bloqueado:
        wanted[IDENTIDAD_VERIFICADA] = False
    return [SlotSet(name, value) for name, value in wanted.items() if current.get(name) != value]


def end_of_turn(events: list[EventType]) -> list[EventType]:
    """Every action of ours ends the debtor's turn: the stories and rules follow each one with
    the debtor's next message (``cobranza data validate`` refuses any that does not). Saying so
    spares Rasa the policies' second prediction of the turn, which could only be
    ``action_listen`` (docs/latency.md). A hand-off pauses the conversation instead: a pending
    follow-up would outlive the pause and swallow the first message after it."""
    if any(event.get("event") == "pause" for event in events):
        return events
    return [*events, FollowupAction(ACTION_LISTEN)]


class DbAction(Action, metaclass=ABCMeta):
    """Subclasses implement :meth:`handle`; it runs in a worker thread inside a unit of work.
    Abstract, so the action server does not register it as an action of its own.

    Actions about a debt set ``requires_identity``: before :meth:`handle` runs, an unknown
    number is told no account was found and an unverified debtor is asked for the date of
    birth (the request is remembered and answered after verification). The rules already
    branch on ``identidad_verificada``; this gate asks the compliance engine again, so a stale
    slot can never disclose anything. After every action the compliance slots are refreshed."""

    requires_identity = False
    # actions/identity.py: ask_for_identity, handed over by actions/__init__.py. The gate needs
    # the capabilities (to answer what was asked once verified) and they need this module, so
    # this module does not import it.
    identity_gate: ClassVar[Callable[[Turn], list[EventType]]]
    # Debt topics set ``answers_other_requests``: the message's other request ("¿cuánto debo y
    # me hacen descuento?") is answered too, by actions/capabilities.py: answer_requests, handed
    # over by actions/__init__.py for the same reason as the gate.
    answers_other_requests = False
    # A short answer to a question of ours ("la tarjeta" after "¿De cuál de tus créditos?") is
    # that answer whatever intent the model read (it may read "tarjeta" as payment methods):
    # actions/answers.py: answer_to_our_question, handed over by actions/__init__.py.
    answer_to_our_question: ClassVar[Callable[[Turn], list[EventType] | None]]
    second_pass: ClassVar[Callable[[Turn, str, Callable[[Turn], list[EventType]]], list[EventType]]]
    # Anything but an answer drops a pending consent question (a "sí" later must not be read
    # as consent to something the debtor no longer sees).
    answers_consent_question = False

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    def handle(self, turn: Turn) -> list[EventType]: ...

    def _drops_consent_question(self, tracker: Tracker, events: list[EventType]) -> bool:
        """A pending consent question is forgotten by any action that does not answer it,
        unless the action just asked a question of its own."""
        asked = any(e.get("event") == "slot" and e.get("name") == ESPERANDO for e in events)
        return (
            not self.answers_consent_question
            and not asked
            and waiting_for(tracker) is Esperando.CONSENTIMIENTO
        )

    def _run_sync(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        """Messages are held back until the unit of work has committed: a folio, "registrado",
        a consent or an opt-out acknowledgement never goes out for something not stored."""
        app = bootstrap.app()
        held = CollectingDispatcher()
        with app.action_run() as session:
            turn = Turn(tracker, held, domain, session, app)
            if self.requires_identity and not disclosure_allowed(turn):
                events = DbAction.identity_gate(turn)
            elif (answered := DbAction.answer_to_our_question(turn)) is not None:
                events = answered
            elif self.answers_other_requests:
                events = DbAction.second_pass(turn, turn.intent, self.handle)
            else:
                events = self.handle(turn)
            if self._drops_consent_question(tracker, events):
                events = [*events, SlotSet(ESPERANDO, None)]
            events += compliance_slots(turn, events)
        dispatcher.messages.extend(held.messages)  # committed: now they may be sent
        return events

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return end_of_turn(await self._answer(dispatcher, tracker, domain))

    async def _answer(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        try:
            return await asyncio.to_thread(self._run_sync, dispatcher, tracker, domain)
        except SQLAlchemyError:
            # Nothing was stored, so nothing that was said about it goes out.
            logger.exception(
                "%s: database error for %s", self.name(), mask_phone(tracker.sender_id)
            )
            dispatcher.utter_message(response="utter_no_registrado")
            return []
        except CobranzaError as exc:
            # One of ours the action does not handle (it handles the ones it expects): nothing
            # was stored. Its message may be the debtor's number, so only its kind is logged.
            logger.warning(
                "%s: unhandled %s for %s",
                self.name(),
                type(exc).__name__,
                mask_phone(tracker.sender_id),
            )
            dispatcher.utter_message(response="utter_error_tecnico")
            return []
        except Exception:
            # A bug, never read as "not found" or "refused": the traceback goes to the log.
            logger.exception("%s failed for %s", self.name(), mask_phone(tracker.sender_id))
            dispatcher.utter_message(response="utter_error_tecnico")
            return []
