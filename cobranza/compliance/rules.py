"""The compliance rules as pure functions: a snapshot of facts (cobranza/compliance/facts.py),
the settings and the instant in, checks and a decision out.

Nothing here reads the database, the clock or the environment: the instant is a parameter and
every input is a frozen value. That is what lets the legal guarantees be tested over any
combination of facts (tests/unit/compliance/test_rules.py) and what keeps the reasons in the
audit log a function of the inputs they list. The orchestration — gather the facts, apply these
rules, write the audit row — is cobranza/compliance/decisions.py.

Rule codes are stable: they appear in the audit log and in ``cobranza can-contact``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from cobranza.config import Settings
from cobranza.domain.geography import ZoneResolution, resolve_zone
from cobranza.domain.phones import area_code
from cobranza.domain.vocabulary import BlockReason, ConsentStatus, Rule

# Consent state of a channel as the dialogue sees it (slot ``consentimiento``).
GRANTED, REVOKED, NONE = "otorgado", "revocado", "sin_registro"

# Identity: this many failures since the last success within LOCK_HOURS lock verification.
MAX_ATTEMPTS = 3
LOCK_HOURS = 24

# The rolling week of the weekly cap: 7 × 24 real hours (wall-clock arithmetic would give 167
# or 169 hours across a DST change).
WEEK = timedelta(days=7)
# How far back the contact history must reach for the caps: the rolling week and the debtor's
# local calendar day (which starts at most a day and a DST hour ago) both fit in it.
CONTACT_HISTORY = timedelta(days=8)


# --- the facts the rules read (gathered by cobranza/compliance/facts.py) --------------------


class HasAddress(Protocol):
    """Anything with a debtor's address: the facts snapshot or a ``Debtor`` row."""

    @property
    def state(self) -> str | None: ...

    @property
    def municipality(self) -> str | None: ...


@dataclass(frozen=True)
class DebtorFacts:
    """The debtor on record for a number; only the address is needed (zone resolution)."""

    phone: str
    state: str
    municipality: str


@dataclass(frozen=True)
class Block:
    """A wrong-number / third-party flag on a number."""

    reason: str  # wrong_number or third_party
    source: str
    created_at: datetime


@dataclass(frozen=True)
class ConsentRecord:
    """One row of the append-only consent history; ``id`` breaks ties between equal instants."""

    id: int
    channel: str
    status: str  # granted or revoked
    source: str
    recorded_at: datetime


@dataclass(frozen=True)
class IdentityAttempt:
    succeeded: bool
    attempted_at: datetime


@dataclass(frozen=True)
class IdentityFacts:
    """Date-of-birth answers, oldest first: on the number (proven channels only) and in the
    conversation. ``None``: that subject was not asked about (no number / no conversation)."""

    number: tuple[IdentityAttempt, ...] | None
    conversation: tuple[IdentityAttempt, ...] | None


@dataclass(frozen=True)
class Verification:
    """A server-side record that a conversation's sender gave the number's date of birth."""

    id: int
    conversation_id: str
    phone: str
    expires_at: datetime
    ended_at: datetime | None


@dataclass(frozen=True)
class ContactFacts:
    """Everything :func:`contact_decision` reads about a number. For a number that is no
    debtor's, nothing else is gathered: the rules stop at ``debtor_known``."""

    phone: str
    debtor: DebtorFacts | None
    blocks: tuple[Block, ...] = ()
    consents: tuple[ConsentRecord, ...] = ()  # every channel, oldest first
    outbound: tuple[datetime, ...] = ()  # business-initiated contacts in the CONTACT_HISTORY
    disputed_debts: tuple[str, ...] = ()  # contract numbers
    open_tickets: tuple[int, ...] = ()  # hand-off tickets not closed


@dataclass(frozen=True)
class DisclosureFacts:
    """Everything :func:`disclosure_decision` reads about a number and a conversation."""

    phone: str | None
    conversation_id: str | None
    debtor: DebtorFacts | None
    verification: Verification | None  # the conversation's newest one in force, if any
    blocks: tuple[Block, ...] = ()
    identity: IdentityFacts = IdentityFacts(None, None)


@dataclass(frozen=True)
class FlagFacts:
    """What :func:`conversation_flags` reads."""

    phone: str
    debtor: DebtorFacts | None
    blocks: tuple[Block, ...] = ()
    consents: tuple[ConsentRecord, ...] = ()


# --- what the rules answer ------------------------------------------------------------------


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
        return Rule.REPLY if any(c.rule == Rule.REPLY for c in self.checks) else Rule.ALL_RULES_MET

    @property
    def reason(self) -> str:
        failed = [c for c in self.checks if not c.passed]
        if failed:
            return failed[0].reason
        replies = [c for c in self.checks if c.rule == Rule.REPLY]
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


@dataclass(frozen=True)
class IdentityLock:
    """How many date-of-birth attempts are left, or until when verification is locked."""

    attempts_left: int
    locked_until: datetime | None

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


# --- time zone and contact window -----------------------------------------------------------


def debtor_zone(phone: str, debtor: HasAddress | None, default: str) -> ZoneResolution:
    """Address first (state, municipality), then the phone's area code, then ``default``."""
    state = debtor.state if debtor else ""
    municipality = debtor.municipality if debtor else ""
    return resolve_zone(state or "", municipality or "", area_code(phone), default)


def in_contact_window(local: datetime, hours: tuple[time, time]) -> bool:
    """07:00 ≤ local time < 22:00 (or the narrower configured window)."""
    return hours[0] <= local.time().replace(tzinfo=None) < hours[1]


WEEKDAYS = "lunes a viernes"


def weekday_check(local: datetime) -> Check:
    """``weekday``: business-initiated contact Monday to Friday only, the debtor's local day
    (on when the operator sets COBRANZA_CONTACT_WEEKDAYS_ONLY)."""
    ok = local.weekday() < 5
    reason = (
        "Es día hábil en la zona del deudor."
        if ok
        else f"Es fin de semana en la zona del deudor: solo se contacta de {WEEKDAYS}."
    )
    return Check(Rule.WEEKDAY, ok, reason, {"weekday": local.weekday()})


def next_opening(
    now: datetime, zone: str, hours: tuple[time, time], weekdays_only: bool, *, skip_today: bool
) -> datetime:
    """The first instant at or after ``now`` (after today, local, when ``skip_today``) at which
    a business-initiated message may go out: the window's opening, on a weekday if required."""
    local = now.astimezone(ZoneInfo(zone))
    day = local.date()
    for offset in range(0, 9):
        candidate_day = day + timedelta(days=offset)
        if (skip_today and offset == 0) or (weekdays_only and candidate_day.weekday() >= 5):
            continue
        opening = datetime.combine(candidate_day, hours[0], tzinfo=ZoneInfo(zone))
        closing = datetime.combine(candidate_day, hours[1], tzinfo=ZoneInfo(zone))
        if local < closing:
            return max(opening, now).astimezone(timezone.utc)
    raise ValueError("no opening within 9 days")  # unreachable: a weekday is always near


def window_check(local: datetime, hours: tuple[time, time]) -> Check:
    """``contact_window``: business-initiated contact only within the hours, local time."""
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
        Rule.CONTACT_WINDOW,
        ok,
        reason,
        {"local_time": local.isoformat(), "window": [opening, closing]},
    )


# --- who may be contacted -------------------------------------------------------------------


def unknown_debtor_check() -> Check:
    """``debtor_known`` (contact): only numbers of a debtor in the portfolio are contacted."""
    return Check(Rule.DEBTOR_KNOWN, False, "El número no corresponde a ningún deudor registrado.")


def reply_check(now: datetime, reply_to: datetime | None, window: timedelta) -> Check | None:
    """``reply``: within ``window`` of the debtor's last message, ours is a reply, not a new
    contact. ``None`` when it is a new contact."""
    if reply_to is None or not timedelta(0) <= now - reply_to <= window:
        return None
    minutes = int((now - reply_to).total_seconds() // 60)
    return Check(
        Rule.REPLY,
        True,
        f"Respuesta a un mensaje que el deudor envió hace {minutes} min: no es un contacto nuevo.",
        {"debtor_wrote_at": reply_to.isoformat()},
    )


def third_party_check(blocks: Sequence[Block]) -> Check:
    """``third_party``: a number flagged as wrong number / third party is never contacted
    again (``blocks`` oldest first; the first flag is the one shown)."""
    if not blocks:
        return Check(
            Rule.THIRD_PARTY, True, "El número no está marcado como equivocado ni tercero."
        )
    first = blocks[0]
    label = "número equivocado" if first.reason == BlockReason.WRONG_NUMBER else "un tercero"
    return Check(
        Rule.THIRD_PARTY,
        False,
        f"El número quedó marcado como {label} el {first.created_at:%Y-%m-%d}: "
        "no se vuelve a contactar por esta deuda.",
        {"reason": first.reason, "source": first.source, "since": first.created_at.isoformat()},
    )


def consent_state(records: Iterable[ConsentRecord], channel: str) -> tuple[str, dict[str, Any]]:
    """``otorgado``, ``revocado`` or ``sin_registro`` for a channel, with the record used.

    A revocation on any channel at or after this channel's latest record counts as a revocation
    here: opting out anywhere stops business-initiated contact everywhere, and only a new grant
    on this very channel lifts it (re-granting another channel does not)."""
    ordered = sorted(records, key=lambda r: (r.recorded_at, r.id))
    own = [r for r in ordered if r.channel == channel]
    latest = own[-1] if own else None
    since = (latest.recorded_at, latest.id) if latest else None
    revocations = [
        r
        for r in ordered
        if r.status == ConsentStatus.REVOKED and (since is None or (r.recorded_at, r.id) >= since)
    ]
    if revocations:
        newest = revocations[-1]
        return REVOKED, {
            "channel": newest.channel,
            "source": newest.source,
            "recorded_at": newest.recorded_at.isoformat(),
        }
    if latest is not None and latest.status == ConsentStatus.GRANTED:
        return GRANTED, {
            "channel": channel,
            "source": latest.source,
            "recorded_at": latest.recorded_at.isoformat(),
        }
    return NONE, {"channel": channel}


def opt_out_check(state: str, inputs: dict[str, Any]) -> Check:
    """``opt_out``: a revocation on any channel stops all business-initiated contact."""
    revoked = state == REVOKED
    return Check(
        Rule.OPT_OUT,
        not revoked,
        "El deudor pidió no ser contactado (revocación vigente)."
        if revoked
        else "No hay revocación vigente.",
        inputs if revoked else {},
    )


def consent_check(state: str, inputs: dict[str, Any], channel: str) -> Check:
    """``consent``: the channel needs a consent record in force (latest record = granted)."""
    granted = state == GRANTED
    return Check(
        Rule.CONSENT,
        granted,
        f"Hay consentimiento vigente para {channel}."
        if granted
        else f"No hay consentimiento vigente para contactar por {channel}.",
        inputs,
    )


def contacts_since(outbound: Iterable[datetime], since: datetime) -> int:
    return sum(1 for at in outbound if at >= since)


def daily_cap_check(outbound: Iterable[datetime], local: datetime, cap: int) -> Check:
    """``daily_cap``: at most ``cap`` business-initiated contacts per local calendar day."""
    start_of_day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    today = contacts_since(outbound, start_of_day)
    return Check(
        Rule.DAILY_CAP,
        today < cap,
        f"{today} contacto(s) hoy (hora local); el límite diario es {cap}.",
        {"count": today, "cap": cap, "since": start_of_day.isoformat()},
    )


def weekly_cap_check(outbound: Iterable[datetime], now: datetime, cap: int) -> Check:
    """``weekly_cap``: at most ``cap`` in the last 7 × 24 real hours."""
    week = contacts_since(outbound, now.astimezone(timezone.utc) - WEEK)
    return Check(
        Rule.WEEKLY_CAP,
        week < cap,
        f"{week} contacto(s) en los últimos 7 días; el límite semanal es {cap}.",
        {"count": week, "cap": cap},
    )


def dispute_check(disputed_debts: Sequence[str]) -> Check:
    """``dispute``: no automated contact while a debt is disputed."""
    return Check(
        Rule.DISPUTE,
        not disputed_debts,
        "Hay una aclaración (disputa) pendiente: solo un asesor puede dar seguimiento."
        if disputed_debts
        else "Sin disputas pendientes.",
        {"disputed_debts": len(disputed_debts)},
    )


def handoff_check(open_tickets: Sequence[int]) -> Check:
    """``open_handoff``: no automated contact while a hand-off ticket is open or claimed."""
    return Check(
        Rule.OPEN_HANDOFF,
        not open_tickets,
        "La conversación está con un asesor (ticket abierto)."
        if open_tickets
        else "Sin tickets de atención abiertos.",
        {"open_tickets": list(open_tickets)},
    )


def is_agent(initiated_by: str) -> bool:
    """An agent handling the case may follow up a dispute or a hand-off; automation may not."""
    return initiated_by.startswith("agent:")


def contact_decision(
    facts: ContactFacts,
    settings: Settings,
    now: datetime,
    *,
    channel: str,
    initiated_by: str,
    reply_to: datetime | None,
) -> Decision:
    """May we send a message to ``facts.phone`` at ``now``? Every rule that applies runs, so
    the decision names every reason at once."""
    zone = debtor_zone(facts.phone, facts.debtor, settings.default_time_zone)
    local = now.astimezone(ZoneInfo(zone.zone))
    checks: list[Check] = []
    if facts.debtor is None:
        checks.append(unknown_debtor_check())
    reply = reply_check(now, reply_to, settings.reply_window)
    if reply is not None:
        checks.append(reply)
    elif facts.debtor is not None:
        state, inputs = consent_state(facts.consents, channel)
        checks += [
            window_check(local, settings.contact_hours),
            *([weekday_check(local)] if settings.outreach.weekdays_only else []),
            third_party_check(facts.blocks),
            opt_out_check(state, inputs),
            consent_check(state, inputs, channel),
            daily_cap_check(facts.outbound, local, settings.daily_contact_cap),
            weekly_cap_check(facts.outbound, now, settings.weekly_contact_cap),
        ]
        if not is_agent(initiated_by):
            checks += [dispute_check(facts.disputed_debts), handoff_check(facts.open_tickets)]
    return Decision(
        "contact", facts.phone, channel, initiated_by, now, zone.zone, zone.source, tuple(checks)
    )


# --- identity and disclosure ----------------------------------------------------------------


def failures_since_success(attempts: Iterable[IdentityAttempt], since: datetime) -> list[datetime]:
    """The failures at or after ``since`` that no later success wiped out (oldest first)."""
    failures: list[datetime] = []
    for attempt in sorted(attempts, key=lambda a: a.attempted_at):  # stable: ties keep order
        if attempt.attempted_at < since:
            continue
        failures = [] if attempt.succeeded else [*failures, attempt.attempted_at]
    return failures


def lock_after(failures: Sequence[datetime]) -> IdentityLock:
    """MAX_ATTEMPTS failures lock until LOCK_HOURS after the one that reached the limit."""
    if len(failures) >= MAX_ATTEMPTS:
        return IdentityLock(0, failures[MAX_ATTEMPTS - 1] + timedelta(hours=LOCK_HOURS))
    return IdentityLock(MAX_ATTEMPTS - len(failures), None)


def identity_lock(facts: IdentityFacts, now: datetime) -> IdentityLock:
    """Locked if the number (failures from proven channels) or the conversation (any failure)
    has failed MAX_ATTEMPTS times since its last success in the last LOCK_HOURS; otherwise the
    attempts left, the fewer of the two."""
    since = now - timedelta(hours=LOCK_HOURS)
    results = [
        lock_after(failures_since_success(attempts, since))
        for attempts in (facts.number, facts.conversation)
        if attempts is not None
    ]
    locked = [r for r in results if r.locked]
    if locked:
        return max(locked, key=lambda r: r.locked_until or since)
    return min(results, key=lambda r: r.attempts_left, default=lock_after([]))


def is_verified(
    verification: Verification | None, phone: str | None, conversation_id: str | None, now: datetime
) -> bool:
    """Verified *in this conversation*, *for this number*, and still in force."""
    return (
        verification is not None
        and phone is not None
        and verification.phone == phone
        and verification.conversation_id == conversation_id
        and verification.ended_at is None
        and now < verification.expires_at
    )


def identity_check(verified: bool) -> Check:
    """``identity``: debt details only to a debtor verified in this conversation."""
    return Check(
        Rule.IDENTITY,
        verified,
        "Identidad verificada en esta conversación."
        if verified
        else "La identidad no se ha verificado en esta conversación.",
    )


def identity_lock_check(lock: IdentityLock) -> Check:
    """``identity_lock``: nothing is disclosed while verification is locked."""
    return Check(
        Rule.IDENTITY_LOCK,
        not lock.locked,
        f"Verificación bloqueada hasta {lock.locked_until:%Y-%m-%d %H:%M} UTC."
        if lock.locked_until
        else "Sin bloqueo de verificación.",
    )


def disclosure_decision(
    facts: DisclosureFacts, settings: Settings, now: datetime, *, channel: str, actor: str
) -> Decision:
    """May debt details be shown in this conversation? Only to the debtor on record verified in
    this conversation, on a number not flagged as a third party, with no verification lock."""
    number = facts.phone or ""
    zone = debtor_zone(number, facts.debtor, settings.default_time_zone) if facts.phone else None
    verified = is_verified(facts.verification, facts.phone, facts.conversation_id, now)
    checks = [
        Check(
            Rule.DEBTOR_KNOWN,
            facts.debtor is not None,
            "Deudor registrado." if facts.debtor else "El número no corresponde a ningún deudor.",
        ),
        identity_check(verified),
    ]
    if facts.debtor is not None:
        checks.append(third_party_check(facts.blocks))
        checks.append(identity_lock_check(identity_lock(facts.identity, now)))
    return Decision(
        "disclosure",
        number,
        channel,
        actor,
        now,
        zone.zone if zone else settings.default_time_zone,
        zone.source if zone else "default",
        tuple(checks),
    )


# --- the dialogue's flags -------------------------------------------------------------------


def conversation_flags(
    facts: FlagFacts | None, settings: Settings, now: datetime, channel: str
) -> ConversationFlags:
    """The slots: in the window now, the channel's consent state, flagged, the zone.
    ``facts`` is ``None`` when the conversation has no number."""
    if facts is None:
        return ConversationFlags(False, NONE, False, settings.default_time_zone)
    zone = debtor_zone(facts.phone, facts.debtor, settings.default_time_zone).zone
    local = now.astimezone(ZoneInfo(zone))
    state = consent_state(facts.consents, channel)[0] if facts.debtor else NONE
    return ConversationFlags(
        en_horario=in_contact_window(local, settings.contact_hours),
        consentimiento=state,
        contacto_bloqueado=bool(facts.blocks),
        zona_horaria=zone,
    )
