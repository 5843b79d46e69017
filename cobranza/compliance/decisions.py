"""The compliance engine: every rule that decides whether we may contact a debtor, or show the
debt in a conversation, is applied here — and every decision is written to the audit log.

Each question runs the same three steps: gather the facts (cobranza/compliance/facts.py, the
only module here that reads the database), apply the pure rules (cobranza/compliance/rules.py,
no database, no clock: the instant is a parameter), write the decision to the audit log.

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
``weekday``         Monday to Friday only, local day (when COBRANZA_CONTACT_WEEKDAYS_ONLY is on)
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

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.compliance import facts, rules
from cobranza.compliance.rules import (
    GRANTED,
    NONE,
    REVOKED,
    Block,
    Check,
    ConversationFlags,
    Decision,
    debtor_zone,
    in_contact_window,
)
from cobranza.config import Settings
from cobranza.db import audit, verifications
from cobranza.db.models import ContactAttempt
from cobranza.domain.vocabulary import AuditAction

__all__ = [
    "CONTACT",
    "DISCLOSURE",
    "GRANTED",
    "NONE",
    "PROACTIVE_CHANNEL",
    "REVOKED",
    "Check",
    "ConversationFlags",
    "Decision",
    "blocks_for",
    "consent_state",
    "conversation_flags",
    "debtor_zone",
    "decide_contact",
    "decide_disclosure",
    "in_contact_window",
    "outbound_contacts_since",
    "record_contact",
]

CONTACT = AuditAction.CONTACT_DECISION
DISCLOSURE = AuditAction.DISCLOSURE_DECISION

# Business-initiated messages go out on WhatsApp: the consent the dialogue asks for and shows.
PROACTIVE_CHANNEL = "whatsapp"


def blocks_for(session: Session, phone: str) -> list[Block]:
    """Wrong-number / third-party flags on this number (for its debtor or for anyone)."""
    return list(facts.blocks(session, phone))


def consent_state(session: Session, phone: str, channel: str) -> tuple[str, dict[str, Any]]:
    """``otorgado``, ``revocado`` or ``sin_registro`` for a channel, with the record used
    (:func:`cobranza.compliance.rules.consent_state` over the debtor's consent history)."""
    return rules.consent_state(facts.consents(session, phone), channel)


def outbound_contacts_since(session: Session, phone: str, since: datetime) -> int:
    return len(facts.outbound_contacts(session, phone, since))


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
    decision = rules.contact_decision(
        facts.for_contact(session, phone, now),
        settings,
        now,
        channel=channel,
        initiated_by=initiated_by,
        reply_to=reply_to,
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
    snapshot = facts.for_disclosure(session, phone, conversation_id, now)
    decision = rules.disclosure_decision(snapshot, settings, now, channel=channel, actor=actor)
    if phone:
        _audit(session, decision, actor)
    if decision.allowed and snapshot.verification is not None:
        verifications.extend(session, snapshot.verification.id, now, settings.verification_ttl)
    return decision


def conversation_flags(
    session: Session, phone: str | None, settings: Settings, clock: Clock, channel: str
) -> ConversationFlags:
    snapshot = facts.for_flags(session, phone) if phone else None
    return rules.conversation_flags(snapshot, settings, clock.now(), channel)


def record_contact(
    session: Session,
    phone: str,
    channel: str,
    initiated_by: str,
    at: datetime,
    outcome: str = "sent",
    notes: str | None = None,
) -> ContactAttempt:
    """Count a business-initiated message once it is sent, or about to be (the caps read
    these; an outcome of ``not_sent`` stops counting)."""
    attempt = ContactAttempt(
        debtor_phone=phone,
        channel=channel,
        direction="outbound",
        initiated_by=initiated_by,
        attempted_at=at,
        outcome=outcome,
        notes=notes,
    )
    session.add(attempt)
    session.flush()
    return attempt
