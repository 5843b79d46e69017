"""The compliance engine: every rule that decides whether we may contact a debtor, or show the
debt in a conversation, lives here — and every decision is written to the audit log.

Who asks:

* :func:`decide_contact` — before any business-initiated message (a campaign, a reminder, an
  agent writing first) and before an agent's reply (``reply_to`` = when the debtor last wrote).
* :func:`decide_disclosure` — before the assistant or an agent shows debt details.
* :func:`conversation_flags` — at session start and after every action, for the dialogue's
  slots (``en_horario``, ``consentimiento``, ``contacto_bloqueado``); a read, not audited.

Rules (codes are stable; they appear in the audit log and in ``cobranza can-contact``):

==================  ===========================================================================
``debtor_known``    we only contact numbers that belong to a debtor in the portfolio
``contact_window``  business-initiated contact only 07:00–21:59 in the debtor's local time
``third_party``     a number flagged as wrong number / third party is never contacted again
``opt_out``         a revocation on any channel stops all business-initiated contact
``consent``         the channel needs a consent record in force (latest record = granted)
``daily_cap``       at most N business-initiated contacts per local calendar day (default 1)
``weekly_cap``      at most N in the last 7 days (default 3)
``dispute``         none while a debt is disputed (automated contact; agents may follow up)
``open_handoff``    none while a hand-off ticket is open (automated contact; agents may)
``reply``           a reply to a message the debtor just sent is not a new contact
``identity``        debt details only to a debtor verified in this conversation
``identity_lock``   none while verification is locked after failed attempts
==================  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.config import Settings
from cobranza.db import audit, verifications
from cobranza.db.models import (
    Consent,
    ContactAttempt,
    ContactBlock,
    Debt,
    Debtor,
    HandoffTicket,
)
from cobranza.domain.geography import ZoneResolution, resolve_zone
from cobranza.domain.phones import area_code
from cobranza.services.identity import lock_status

CONTACT = "contact_decision"
DISCLOSURE = "disclosure_decision"

# Business-initiated messages go out on WhatsApp: the consent the dialogue asks for and shows.
PROACTIVE_CHANNEL = "whatsapp"

# Consent state of a channel as the dialogue sees it (slot ``consentimiento``).
GRANTED, REVOKED, NONE = "otorgado", "revocado", "sin_registro"


@dataclass(frozen=True)
class Check:
    rule: str
    passed: bool
    reason: str
    inputs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """The answer, why, and everything it was based on."""

    kind: str  # "contact" or "disclosure"
    phone: str
    channel: str
    initiated_by: str
    at: datetime
    time_zone: str
    zone_source: str  # address, area_code or default
    checks: tuple[Check, ...]

    @property
    def allowed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def blocked_by(self) -> list[str]:
        return [c.rule for c in self.checks if not c.passed]

    @property
    def rule(self) -> str:
        """The first rule that blocked, or ``reply`` / ``all_rules_met`` when allowed."""
        failed = self.blocked_by
        if failed:
            return failed[0]
        return "reply" if any(c.rule == "reply" for c in self.checks) else "all_rules_met"

    @property
    def reason(self) -> str:
        failed = [c for c in self.checks if not c.passed]
        if failed:
            return failed[0].reason
        replies = [c for c in self.checks if c.rule == "reply"]
        return replies[0].reason if replies else "Se cumplen todas las reglas."

    @property
    def local_time(self) -> datetime:
        return self.at.astimezone(ZoneInfo(self.time_zone))

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "rule": self.rule,
            "reason": self.reason,
            "blocked_by": self.blocked_by,
            "kind": self.kind,
            "phone": self.phone,
            "channel": self.channel,
            "initiated_by": self.initiated_by,
            "at": self.at.isoformat(),
            "local_time": self.local_time.isoformat(),
            "time_zone": self.time_zone,
            "zone_source": self.zone_source,
            "checks": [
                {"rule": c.rule, "passed": c.passed, "reason": c.reason, "inputs": c.inputs}
                for c in self.checks
            ],
        }


# --- the rules, each a small pure-ish function -----------------------------------------------


def debtor_zone(phone: str, debtor: Debtor | None, default: str) -> ZoneResolution:
    """Address first (state, municipality), then the phone's area code, then ``default``."""
    state = debtor.state if debtor else ""
    municipality = debtor.municipality if debtor else ""
    return resolve_zone(state, municipality, area_code(phone), default)


def in_contact_window(local: datetime, hours: tuple[time, time]) -> bool:
    """07:00 ≤ local time < 22:00 (or the narrower configured window)."""
    return hours[0] <= local.time().replace(tzinfo=None) < hours[1]


def _window_check(local: datetime, hours: tuple[time, time]) -> Check:
    ok = in_contact_window(local, hours)
    opening, closing = (h.strftime("%H:%M") for h in hours)
    shown = local.strftime("%H:%M")
    reason = (
        f"Son las {shown} en la zona del deudor, dentro del horario {opening}–{closing}."
        if ok
        else f"Son las {shown} en la zona del deudor: fuera del horario permitido "
        f"({opening}–{closing})."
    )
    return Check(
        "contact_window",
        ok,
        reason,
        {"local_time": local.isoformat(), "window": [opening, closing]},
    )


def blocks_for(session: Session, phone: str) -> list[ContactBlock]:
    """Wrong-number / third-party flags on this number (for its debtor or for anyone)."""
    return list(
        session.execute(
            select(ContactBlock)
            .where(
                ContactBlock.phone == phone,
                (ContactBlock.debtor_phone == phone) | ContactBlock.debtor_phone.is_(None),
            )
            .order_by(ContactBlock.created_at)
        )
        .scalars()
        .all()
    )


def _third_party_check(session: Session, phone: str) -> Check:
    blocks = blocks_for(session, phone)
    if not blocks:
        return Check("third_party", True, "El número no está marcado como equivocado ni tercero.")
    first = blocks[0]
    label = "número equivocado" if first.reason == "wrong_number" else "un tercero"
    return Check(
        "third_party",
        False,
        f"El número quedó marcado como {label} el {first.created_at:%Y-%m-%d}: "
        "no se vuelve a contactar por esta deuda.",
        {"reason": first.reason, "source": first.source, "since": first.created_at.isoformat()},
    )


def consent_state(session: Session, phone: str, channel: str) -> tuple[str, dict[str, Any]]:
    """``otorgado``, ``revocado`` or ``sin_registro`` for a channel, with the record used.

    A revocation on any channel at or after this channel's latest record counts as a revocation
    here: opting out anywhere stops business-initiated contact everywhere, and only a new grant
    on this very channel lifts it (re-granting another channel does not)."""
    records = list(
        session.execute(
            select(Consent)
            .where(Consent.debtor_phone == phone)
            .order_by(Consent.recorded_at, Consent.id)
        )
        .scalars()
        .all()
    )
    own = [r for r in records if r.channel == channel]
    latest = own[-1] if own else None
    since = (latest.recorded_at, latest.id) if latest else None
    revocations = [
        r
        for r in records
        if r.status == "revoked" and (since is None or (r.recorded_at, r.id) >= since)
    ]
    if revocations:
        newest = revocations[-1]
        return REVOKED, {
            "channel": newest.channel,
            "source": newest.source,
            "recorded_at": newest.recorded_at.isoformat(),
        }
    if latest is not None and latest.status == "granted":
        return GRANTED, {
            "channel": channel,
            "source": latest.source,
            "recorded_at": latest.recorded_at.isoformat(),
        }
    return NONE, {"channel": channel}


def _consent_checks(session: Session, phone: str, channel: str) -> list[Check]:
    state, inputs = consent_state(session, phone, channel)
    opt_out = Check(
        "opt_out",
        state != REVOKED,
        "El deudor pidió no ser contactado (revocación vigente)."
        if state == REVOKED
        else "No hay revocación vigente.",
        inputs if state == REVOKED else {},
    )
    consent = Check(
        "consent",
        state == GRANTED,
        f"Hay consentimiento vigente para {channel}."
        if state == GRANTED
        else f"No hay consentimiento vigente para contactar por {channel}.",
        inputs,
    )
    return [opt_out, consent]


def outbound_contacts_since(session: Session, phone: str, since: datetime) -> int:
    return int(
        session.execute(
            select(func.count())
            .select_from(ContactAttempt)
            .where(
                ContactAttempt.debtor_phone == phone,
                ContactAttempt.direction == "outbound",
                ContactAttempt.attempted_at >= since,
            )
        ).scalar_one()
    )


def _cap_checks(session: Session, phone: str, local: datetime, settings: Settings) -> list[Check]:
    start_of_day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    today = outbound_contacts_since(session, phone, start_of_day)
    # 7 × 24 real hours (wall-clock arithmetic would give 167 or 169 across a DST change)
    week = outbound_contacts_since(
        session, phone, local.astimezone(timezone.utc) - timedelta(days=7)
    )
    daily, weekly = settings.daily_contact_cap, settings.weekly_contact_cap
    return [
        Check(
            "daily_cap",
            today < daily,
            f"{today} contacto(s) hoy (hora local); el límite diario es {daily}.",
            {"count": today, "cap": daily, "since": start_of_day.isoformat()},
        ),
        Check(
            "weekly_cap",
            week < weekly,
            f"{week} contacto(s) en los últimos 7 días; el límite semanal es {weekly}.",
            {"count": week, "cap": weekly},
        ),
    ]


def _case_checks(session: Session, phone: str) -> list[Check]:
    disputed = (
        session.execute(
            select(Debt.contract_number).where(
                Debt.debtor_phone == phone, Debt.status == "disputed"
            )
        )
        .scalars()
        .all()
    )
    tickets = (
        session.execute(
            select(HandoffTicket.id).where(
                HandoffTicket.debtor_phone == phone, HandoffTicket.status != "closed"
            )
        )
        .scalars()
        .all()
    )
    return [
        Check(
            "dispute",
            not disputed,
            "Hay una aclaración (disputa) pendiente: solo un asesor puede dar seguimiento."
            if disputed
            else "Sin disputas pendientes.",
            {"disputed_debts": len(disputed)},
        ),
        Check(
            "open_handoff",
            not tickets,
            "La conversación está con un asesor (ticket abierto)."
            if tickets
            else "Sin tickets de atención abiertos.",
            {"open_tickets": list(tickets)},
        ),
    ]


def _audit(
    session: Session, decision: Decision, actor: str, recorded_at: datetime | None = None
) -> None:
    """``recorded_at``: when the question was asked, if not at the instant evaluated (a
    what-if from the CLI); ``details.at`` always holds the instant evaluated."""
    details = decision.as_dict()
    del details["phone"]  # the audit row carries it in its own column
    action = CONTACT if decision.kind == "contact" else DISCLOSURE
    when = recorded_at or decision.at
    audit.record(session, when, action, decision.phone, details, actor=actor)
    session.flush()


# --- the questions the rest of the system asks -----------------------------------------------


def decide_contact(
    session: Session,
    phone: str,
    settings: Settings,
    clock: Clock,
    *,
    channel: str = "whatsapp",
    initiated_by: str = "bot",
    reply_to: datetime | None = None,
    actor: str | None = None,
    recorded_at: datetime | None = None,
) -> Decision:
    """May we send a message to ``phone`` now? Recorded in the audit log either way.

    ``initiated_by``: ``bot``, ``campaign:<name>`` or ``agent:<name>``. ``reply_to``: when the
    debtor last wrote; within ``settings.reply_window`` the message is a reply, which is not a
    new contact (allowed at any hour, outside the caps and without a consent record)."""
    now = clock.now()
    debtor = session.get(Debtor, phone)
    zone = debtor_zone(phone, debtor, settings.default_time_zone)
    local = now.astimezone(ZoneInfo(zone.zone))
    checks: list[Check] = []
    if debtor is None:
        checks.append(
            Check("debtor_known", False, "El número no corresponde a ningún deudor registrado.")
        )
    if reply_to is not None and timedelta(0) <= now - reply_to <= settings.reply_window:
        minutes = int((now - reply_to).total_seconds() // 60)
        checks.append(
            Check(
                "reply",
                True,
                f"Respuesta a un mensaje que el deudor envió hace {minutes} min: "
                "no es un contacto nuevo.",
                {"debtor_wrote_at": reply_to.isoformat()},
            )
        )
    elif debtor is not None:
        checks.append(_window_check(local, settings.contact_hours))
        checks.append(_third_party_check(session, phone))
        checks.extend(_consent_checks(session, phone, channel))
        checks.extend(_cap_checks(session, phone, local, settings))
        if not initiated_by.startswith("agent:"):
            checks.extend(_case_checks(session, phone))
    decision = Decision(
        "contact", phone, channel, initiated_by, now, zone.zone, zone.source, tuple(checks)
    )
    _audit(session, decision, actor or initiated_by, recorded_at)
    return decision


def decide_disclosure(
    session: Session,
    phone: str | None,
    conversation_id: str | None,
    settings: Settings,
    clock: Clock,
    *,
    channel: str,
    actor: str = "bot",
) -> Decision:
    """May debt details be shown in this conversation? Only to the debtor on record whose date
    of birth was verified *in this conversation* — the server-side record, never a slot the
    tracker carries — on a number not flagged as a third party, with no verification lock.
    An allowed decision keeps the verification alive for another ``verification_ttl``."""
    now = clock.now()
    number = phone or ""
    debtor = session.get(Debtor, phone) if phone else None
    zone = debtor_zone(number, debtor, settings.default_time_zone) if phone else None
    verification = verifications.current(session, conversation_id, now) if conversation_id else None
    verified = verification is not None and verification.phone == phone
    checks = [
        Check(
            "debtor_known",
            debtor is not None,
            "Deudor registrado." if debtor else "El número no corresponde a ningún deudor.",
        ),
        Check(
            "identity",
            verified,
            "Identidad verificada en esta conversación."
            if verified
            else "La identidad no se ha verificado en esta conversación.",
        ),
    ]
    if debtor is not None:
        checks.append(_third_party_check(session, number))
        lock = lock_status(session, number, clock, conversation_id)
        checks.append(
            Check(
                "identity_lock",
                not lock.locked,
                f"Verificación bloqueada hasta {lock.locked_until:%Y-%m-%d %H:%M} UTC."
                if lock.locked_until
                else "Sin bloqueo de verificación.",
            )
        )
    decision = Decision(
        "disclosure",
        number,
        channel,
        actor,
        now,
        zone.zone if zone else settings.default_time_zone,
        zone.source if zone else "default",
        tuple(checks),
    )
    if phone:
        _audit(session, decision, actor)
    if decision.allowed and verification is not None:
        verifications.extend(verification, now, settings.verification_ttl)
    return decision


@dataclass(frozen=True)
class ConversationFlags:
    """What the dialogue branches on (slots). Read at session start and after every action."""

    en_horario: bool
    consentimiento: str
    contacto_bloqueado: bool
    zona_horaria: str

    def as_slots(self) -> dict[str, Any]:
        return {
            "en_horario": self.en_horario,
            "consentimiento": self.consentimiento,
            "contacto_bloqueado": self.contacto_bloqueado,
            "zona_horaria": self.zona_horaria,
        }


def conversation_flags(
    session: Session, phone: str | None, settings: Settings, clock: Clock, channel: str
) -> ConversationFlags:
    if not phone:
        return ConversationFlags(False, NONE, False, settings.default_time_zone)
    debtor = session.get(Debtor, phone)
    zone = debtor_zone(phone, debtor, settings.default_time_zone).zone
    local = clock.now().astimezone(ZoneInfo(zone))
    state = consent_state(session, phone, channel)[0] if debtor else NONE
    return ConversationFlags(
        en_horario=in_contact_window(local, settings.contact_hours),
        consentimiento=state,
        contacto_bloqueado=bool(blocks_for(session, phone)),
        zona_horaria=zone,
    )


def record_contact(
    session: Session,
    phone: str,
    channel: str,
    initiated_by: str,
    at: datetime,
    outcome: str = "sent",
) -> None:
    """Count a business-initiated message once it is sent (the caps read these)."""
    session.add(
        ContactAttempt(
            debtor_phone=phone,
            channel=channel,
            direction="outbound",
            initiated_by=initiated_by,
            attempted_at=at,
            outcome=outcome,
        )
    )
    session.flush()
