"""Consent and its limits: opt-out and wrong number (honoured at once, in any state of the
conversation), a flagged number, and consent captured before a proactive flow (reminders)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from rasa_sdk.events import EventType, SlotSet

from actions.base import DbAction, Turn, disclosure_allowed, spoken_date
from actions.handoff import hand_off
from actions.outreach_files import outreach_files
from actions.slots import (
    CONSENTIMIENTO,
    DEUDOR_ENCONTRADO,
    ESPERANDO,
    IDENTIDAD_VERIFICADA,
    PROMISE_QUESTIONS,
    Esperando,
    ask,
    stop_waiting,
)
from cobranza.compliance import decisions
from cobranza.db import audit, verifications
from cobranza.domain.phones import mask_phone
from cobranza.domain.vocabulary import AuditAction, BlockReason, HandoffReason
from cobranza.outreach import planner
from cobranza.services import reminders
from cobranza.services.consent import block_number, grant_consent, revoke_consent


def _acts_for_the_number(turn: Turn) -> bool:
    """May this conversation change what happens to its number? Yes when the channel proves the
    sender holds it (WhatsApp, Twilio) or the date of birth was verified here; a number only
    typed on the web chat or REST proves nothing, so a stranger cannot block a debtor or
    revoke their consent."""
    return turn.number_proven or disclosure_allowed(turn)


def _for_review(turn: Turn, request: str, response: str) -> list[EventType]:
    """An unproven request about a typed number: recorded for an agent to review, and this
    conversation stops (paused until the agent hands it back)."""
    assert turn.phone is not None
    audit.record(
        turn.session,
        turn.app.clock.now(),
        AuditAction.UNVERIFIED_REQUEST,
        None,
        {"request": request, "channel": turn.channel, "claimed_phone": mask_phone(turn.phone)},
    )
    turn.say(response)
    return hand_off(turn, HandoffReason.REPORTE_SIN_VERIFICAR, announce=False)


def stop_flows(turn: Turn) -> list[EventType]:
    """An opt-out or a wrong number ends the promise, the verification and the consent question
    in progress (a number being asked for on the web chat stays asked)."""
    return stop_waiting(
        turn.tracker, Esperando.FECHA_NACIMIENTO, Esperando.CONSENTIMIENTO, *PROMISE_QUESTIONS
    )


class ActionNoContactar(DbAction):
    def name(self) -> str:
        return "action_no_contactar"

    def handle(self, turn: Turn) -> list[EventType]:
        known = turn.phone is not None and turn.slot(DEUDOR_ENCONTRADO)
        if known and not _acts_for_the_number(turn):
            return [*stop_flows(turn), *_for_review(turn, "baja", "utter_baja_por_revisar")]
        if known:
            assert turn.phone is not None
            revoke_consent(
                turn.session,
                turn.phone,
                f"solicitud en conversación ({turn.channel})",
                turn.app.clock,
            )
        turn.say("utter_baja_confirmada")
        return stop_flows(turn)


class ActionNumeroEquivocado(DbAction):
    def name(self) -> str:
        return "action_numero_equivocado"

    def handle(self, turn: Turn) -> list[EventType]:
        stop = [SlotSet(IDENTIDAD_VERIFICADA, False), *stop_flows(turn)]
        if turn.phone is not None and not _acts_for_the_number(turn):
            review = _for_review(turn, "numero_equivocado", "utter_numero_equivocado_por_revisar")
            return [*stop, *review]
        if turn.phone is not None:
            debtor = turn.phone if turn.slot(DEUDOR_ENCONTRADO) else None
            reason = (
                BlockReason.WRONG_NUMBER
                if "equivoc" in turn.text.lower()
                else BlockReason.THIRD_PARTY
            )
            block_number(
                turn.session,
                turn.phone,
                debtor,
                reason,
                f"conversación ({turn.channel})",
                turn.app.clock,
            )
        verifications.end(turn.session, turn.conversation_id, turn.app.clock.now())
        turn.say("utter_numero_equivocado")
        return stop


class ActionContactoBloqueado(DbAction):
    """A debt topic from a number flagged as wrong number / third party: nothing is disclosed."""

    def name(self) -> str:
        return "action_contacto_bloqueado"

    def handle(self, turn: Turn) -> list[EventType]:
        turn.say("utter_contacto_bloqueado")
        return []


def ask_consent(turn: Turn) -> list[EventType]:
    """The simplified privacy notice and the question; the answer goes through the router."""
    turn.say("utter_solicitar_consentimiento", aviso_url=turn.app.settings.privacy_notice_url)
    return [ask(Esperando.CONSENTIMIENTO)]


def answer_consent(turn: Turn) -> list[EventType]:
    """ "sí" records the consent (source, time, notice) and schedules the reminder asked for."""
    events: list[EventType] = [SlotSet(ESPERANDO, None)]
    if turn.intent != "afirmar" or turn.phone is None:
        turn.say("utter_consentimiento_rechazado")
        return events
    grant_consent(
        turn.session,
        turn.phone,
        decisions.PROACTIVE_CHANNEL,
        f"conversación {turn.channel}: aceptó el aviso de privacidad simplificado",
        turn.app.settings.privacy_notice_url,
        turn.app.clock,
    )
    turn.say("utter_consentimiento_registrado")
    return [*events, SlotSet(CONSENTIMIENTO, decisions.GRANTED), *schedule_reminder(turn)]


def schedule_reminder(turn: Turn) -> list[EventType]:
    """A reminder for the next promise or instalment, announced at the moment the campaign for
    that kind of commitment writes to this debtor (that message fulfils it); when no campaign
    will, the debtor is told so and nothing is scheduled."""
    assert turn.phone is not None
    campaigns = outreach_files(turn.app).campaigns
    now = turn.app.clock.now()
    result = reminders.schedule(
        turn.session,
        turn.phone,
        decisions.PROACTIVE_CHANNEL,
        turn.time_zone,
        turn.app.clock,
        planner.reminder_moments(turn.session, campaigns, turn.phone, now),
    )
    commitment = result.commitment
    if commitment is None:
        turn.say("utter_recordatorio_sin_compromiso")
    elif result.outcome is reminders.Outcome.NO_CAMPAIGN:
        turn.say(
            "utter_recordatorio_no_disponible",
            fecha=spoken_date(commitment.due_on),
            folio=commitment.reference,
        )
    elif result.reminder is None:
        turn.say("utter_recordatorio_muy_tarde", fecha=spoken_date(commitment.due_on))
    else:
        local = result.reminder.scheduled_for.astimezone(ZoneInfo(turn.time_zone))
        turn.say(
            "utter_recordatorio_programado",
            fecha=spoken_date(commitment.due_on),
            cuando=f"{spoken_date(local.date())} a las {local:%H:%M}",
            folio=commitment.reference,
        )
    return []


def reminder_or_consent(turn: Turn) -> list[EventType]:
    """After verification (CONTINUE): the same branch the rules make on ``consentimiento``."""
    state = decisions.consent_state(turn.session, turn.phone or "", decisions.PROACTIVE_CHANNEL)
    return schedule_reminder(turn) if state[0] == decisions.GRANTED else ask_consent(turn)


class ActionProgramarRecordatorio(DbAction):
    """Rule branch ``consentimiento`` = otorgado: schedule the reminder. The engine is asked
    again (the slot may be a turn old), so both branches run the same code."""

    requires_identity = True
    answers_consent_question = True

    def name(self) -> str:
        return "action_programar_recordatorio"

    def handle(self, turn: Turn) -> list[EventType]:
        return reminder_or_consent(turn)


class ActionSolicitarConsentimiento(ActionProgramarRecordatorio):
    """Rule branch ``consentimiento`` ≠ otorgado: privacy notice and consent first."""

    def name(self) -> str:
        return "action_solicitar_consentimiento"
