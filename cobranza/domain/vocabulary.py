"""The stored codes, each in one place: audit actions, statuses and reasons.

Rule (docs/vocabulary.md): a code the database stores and the software compares is English
``snake_case``; what a debtor or a designer reads — intents, slots and their values, responses,
entity values — is Spanish. Hand-off reasons are the one deliberate exception (Spanish codes,
stored since the first migration; see :class:`HandoffReason`).

Python 3.10 has no ``StrEnum``: every enum here is a ``str`` whose ``str()``, ``format()`` and
JSON form are the plain stored value, so a member can be compared with, and stored as, the
string a column holds. Columns stay ``String``; rows read back are plain strings and compare
equal to the members. No SQLAlchemy here: anything may import it."""

from __future__ import annotations

from enum import Enum


class Code(str, Enum):
    """A stored code: behaves as its value everywhere a string is expected."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """Every value, in declaration order (the CHECK constraints list them so)."""
        return tuple(str(member.value) for member in cls)


class AuditAction(Code):
    """``audit_log.action``: what happened. ``audit.record`` accepts nothing else."""

    # identity and disclosure
    IDENTITY_VERIFIED = "identity_verified"
    IDENTITY_FAILED = "identity_failed"
    CONTACT_DECISION = "contact_decision"
    DISCLOSURE_DECISION = "disclosure_decision"
    UNVERIFIED_REQUEST = "unverified_request"
    # consent and blocks
    CONSENT_GRANTED = "consent_granted"
    CONSENT_REVOKED = "consent_revoked"
    NUMBER_BLOCKED = "number_blocked"
    NUMBER_UNBLOCKED = "number_unblocked"
    # what the debtor said or agreed
    PROMISE_RECORDED = "promise_recorded"
    PROMISE_SUPERSEDED = "promise_superseded"
    PROMISE_RESCHEDULED = "promise_rescheduled"
    AGREEMENT_RECORDED = "agreement_recorded"
    PAYMENT_CLAIMED = "payment_claimed"
    HARDSHIP_DECLARED = "hardship_declared"
    DISCOUNT_REQUESTED = "discount_requested"
    DISPUTE_OPENED = "dispute_opened"
    REMINDER_SCHEDULED = "reminder_scheduled"
    # payments the bank or collector reports, and what they settle
    PAYMENT_IMPORTED = "payment_imported"
    PAYMENT_UNMATCHED = "payment_unmatched"
    PROMISE_KEPT = "promise_kept"
    PROMISE_BROKEN = "promise_broken"
    INSTALLMENT_PAID = "installment_paid"
    INSTALLMENT_MISSED = "installment_missed"
    # outreach: business-initiated messages from campaigns
    OUTREACH_SENT = "outreach_sent"
    OUTREACH_BLOCKED = "outreach_blocked"
    OUTREACH_DROPPED = "outreach_dropped"
    OUTREACH_FAILED = "outreach_failed"
    OUTREACH_REPLIED = "outreach_replied"
    # hand-off and the agents' console
    HANDOFF_OPENED = "handoff_opened"
    TICKET_CLAIMED = "ticket_claimed"
    TICKET_CLOSED = "ticket_closed"
    TICKET_REASSIGNED = "ticket_reassigned"  # by a supervisor, to another agent
    TICKET_RELEASED = "ticket_released"  # by a supervisor, back to the queue
    AGENT_VIEWED_DEBTOR = "agent_viewed_debtor"
    AGENT_REPLY = "agent_reply"
    AGENT_REPLY_BLOCKED = "agent_reply_blocked"
    # agents' accounts (CLI) and console log-in
    AGENT_ADDED = "agent_added"
    AGENT_ENABLED = "agent_enabled"
    AGENT_DISABLED = "agent_disabled"
    AGENT_ROLE_CHANGED = "agent_role_changed"
    AGENT_LOGIN = "agent_login"
    AGENT_LOGIN_FAILED = "agent_login_failed"
    AGENT_LOGIN_REFUSED = "agent_login_refused"
    AGENT_LOGIN_LOCKED = "agent_login_locked"
    # operations
    DEMO_PORTFOLIO_LOADED = "demo_portfolio_loaded"
    SCORING_MODEL_TRAINED = "scoring_model_trained"
    DEBTORS_SCORED = "debtors_scored"
    FEATURES_SNAPSHOTTED = "features_snapshotted"
    SIMULATION_STARTED = "simulation_started"  # `cobranza simulate` ran on this (new) database


class DebtStatus(Code):
    ACTIVE = "active"
    DISPUTED = "disputed"
    PAUSED = "paused"
    PAID = "paid"
    WRITTEN_OFF = "written_off"


class PromiseStatus(Code):
    PENDING = "pending"
    KEPT = "kept"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class AgreementStatus(Code):
    ACTIVE = "active"
    COMPLETED = "completed"
    BROKEN = "broken"
    CANCELLED = "cancelled"


class InstallmentStatus(Code):
    PENDING = "pending"
    PAID = "paid"
    MISSED = "missed"
    CANCELLED = "cancelled"


class ConsentStatus(Code):
    """``consents.status``. The dialogue's slot ``consentimiento`` says the same in Spanish
    (otorgado / revocado / sin_registro): a slot value, read by designers."""

    GRANTED = "granted"
    REVOKED = "revoked"


class TicketStatus(Code):
    OPEN = "open"
    CLAIMED = "claimed"
    CLOSED = "closed"


class ReminderStatus(Code):
    PENDING = "pending"
    SENT = "sent"
    CANCELLED = "cancelled"


class CommitmentKind(Code):
    """What the debtor committed to pay: a promise or an agreement's instalment. The
    ``anchor`` of a campaign step that reminds of it (``campaigns/*.yml``), and the kind of a
    reminder the debtor asks for (cobranza/services/reminders.py)."""

    PROMISE = "promise"
    INSTALLMENT = "installment"


class OutreachStatus(Code):
    """``outreach_messages.status`` (cobranza/outreach/). ``planned`` rows wait for their
    moment; the dispatcher marks a row ``sending`` *before* the HTTP call, so a crash leaves it
    there and it is never sent again (``unknown`` after a while, unless a status callback
    settles it). ``sent`` → ``delivered`` → ``read`` follow Meta's status callbacks;
    ``failed`` is final (Meta refused it or reported it undeliverable); ``dropped`` rows were
    never sent (a final compliance rule, or the reason for the message went away)."""

    PLANNED = "planned"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNKNOWN = "unknown"
    DROPPED = "dropped"


class PaymentMatch(Code):
    """``payments.matched_by``: how an imported payment found its debt."""

    REFERENCE = "reference"  # the convenience-store reference or the contract number
    FOLIO = "folio"  # a promise or agreement folio in the concept
    DEBTOR_AMOUNT = "debtor_amount"  # the payer's phone + an expected amount in the window
    MANUAL = "manual"  # recorded by the seed or an operator, not by an import


class InboundStatus(Code):
    """``whatsapp_inbound.status``: a durable inbound message, processed or not."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class LoginOutcome(Code):
    """``console_login_attempts.outcome``."""

    PENDING = "pending"
    FAILED = "failed"
    SUCCEEDED = "succeeded"
    REFUSED = "refused"
    FORGIVEN = "forgiven"


class LockoutScope(Code):
    """``console_lockouts.scope``: what a log-in lockout holds, a user name or an address."""

    USER = "user"
    ADDRESS = "address"


class ConsoleRole(Code):
    """``agents.role``: what a console user may do. Agents work the queue; supervisors also see
    every agent's queue and activity and reassign or release tickets (cobranza/console/routes.py
    says which role may call each endpoint). People read "agente" and "supervisor"."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"


class ContactOutcome(Code):
    """``contact_attempts.outcome`` of the attempts outreach writes. An outbound attempt counts
    towards the caps unless it is ``not_sent`` (Meta refused it or throttled it before sending);
    ``unknown`` counts, since it may have gone out. ``reply``: an inbound answer to a campaign
    message (a contact for the KPIs)."""

    SENDING = "sending"
    SENT = "sent"
    NOT_SENT = "not_sent"
    UNKNOWN = "unknown"
    REPLY = "reply"


class ContactDirection(Code):
    OUTBOUND = "outbound"
    INBOUND = "inbound"


class BlockReason(Code):
    """``contact_blocks.reason``: why a number gets no debt talk."""

    WRONG_NUMBER = "wrong_number"
    THIRD_PARTY = "third_party"


class Rule(Code):
    """The compliance rules a decision names (``checks[].rule`` and ``rule`` in the audit
    details of ``contact_decision`` and ``disclosure_decision``; cobranza/compliance/rules.py).
    ``all_rules_met`` is the rule of a decision nothing blocked."""

    CONTACT_WINDOW = "contact_window"
    WEEKDAY = "weekday"
    REPLY = "reply"
    THIRD_PARTY = "third_party"
    OPT_OUT = "opt_out"
    CONSENT = "consent"
    DAILY_CAP = "daily_cap"
    WEEKLY_CAP = "weekly_cap"
    DISPUTE = "dispute"
    OPEN_HANDOFF = "open_handoff"
    IDENTITY = "identity"
    IDENTITY_LOCK = "identity_lock"
    DEBTOR_KNOWN = "debtor_known"
    ALL_RULES_MET = "all_rules_met"


class HandoffReason(Code):
    """``handoff_tickets.reason``: why a person takes over. The deliberate exception to the
    English rule: these codes are Spanish, stored in every ticket since the first schema and
    shown (through labels) in the agents' console; renaming them needs a data migration and
    the console's labels together (docs/vocabulary.md)."""

    SOLICITUD_AGENTE = "solicitud_agente"
    DISPUTA = "disputa"
    DIFICULTAD = "dificultad"
    NO_ENTENDIDO = "no_entendido"
    INSULTOS = "insultos"
    IDENTIDAD_BLOQUEADA = "identidad_bloqueada"
    DESCUENTO_FUERA_DE_POLITICA = "descuento_fuera_de_politica"
    REPORTE_SIN_VERIFICAR = "reporte_sin_verificar"


class TicketOutcome(Code):
    """``handoff_tickets.outcome``: how an agent closed a ticket. Spanish, the second deliberate
    exception, for the same reason as :class:`HandoffReason` (agents pick them in the console)."""

    PROMESA_REGISTRADA = "promesa_registrada"
    CONVENIO_REGISTRADO = "convenio_registrado"
    ACLARACION_RESUELTA = "aclaracion_resuelta"
    SIN_ACUERDO = "sin_acuerdo"
    NUMERO_EQUIVOCADO = "numero_equivocado"
    DEVUELTO_AL_ASISTENTE = "devuelto_al_asistente"


class TurnKind(Code):
    """``conversation_turns.kind``: who wrote the message, as Rasa names the event."""

    USER = "user"
    BOT = "bot"
