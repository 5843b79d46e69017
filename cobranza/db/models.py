"""The data model (SQLAlchemy 1.4 in 2.0 style). Money is Numeric(14, 2) → Decimal, never float.

Timestamps are stored in UTC; :class:`UTCDateTime` makes SQLite and PostgreSQL hand back the
same aware datetimes. Status columns are strings with named CHECK constraints so migrations are
identical on both databases. Rasa's own ``events`` table (SQL tracker store) is not ours and is
kept out of Alembic's autogenerate (see migrations/env.py).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Computed,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import declarative_base, relationship
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import TypeDecorator

from cobranza.domain.money import CENT
from cobranza.domain.vocabulary import (
    AgreementStatus,
    AuditAction,
    BlockReason,
    ConsentStatus,
    ConsoleRole,
    ContactDirection,
    DebtStatus,
    InboundStatus,
    InstallmentStatus,
    LockoutScope,
    LoginOutcome,
    OutreachStatus,
    PaymentMatch,
    PromiseStatus,
    ReminderStatus,
    TicketStatus,
    TurnKind,
)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
Base: Any = declarative_base(metadata=metadata)


# The stored codes live in cobranza/domain/vocabulary.py; the CHECK constraints list their values.
PROMISE_STATUSES = PromiseStatus.values()
AGREEMENT_STATUSES = AgreementStatus.values()
INSTALLMENT_STATUSES = InstallmentStatus.values()
PLAN_TYPES = ("pay_in_full", "settlement", "installments")
DEBT_STATUSES = DebtStatus.values()
CONSENT_STATUSES = ConsentStatus.values()
CHANNELS = ("whatsapp", "webchat", "sms", "voice", "email", "rest", "agent")
CONTACT_DIRECTIONS = ContactDirection.values()
TICKET_STATUSES = TicketStatus.values()
BLOCK_REASONS = BlockReason.values()
REMINDER_STATUSES = ReminderStatus.values()
LOGIN_OUTCOMES = LoginOutcome.values()
LOCKOUT_SCOPES = LockoutScope.values()
INBOUND_STATUSES = InboundStatus.values()
OUTREACH_STATUSES = OutreachStatus.values()
PAYMENT_MATCHES = PaymentMatch.values()
CONSOLE_ROLES = ConsoleRole.values()


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


DECISION_ACTIONS = (AuditAction.CONTACT_DECISION.value, AuditAction.DISCLOSURE_DECISION.value)


def blocked_decisions(dialect: str, table: str = "") -> str:
    """SQL: the audit rows of compliance decisions that said no, as each database reads a JSON
    ``false``. The partial index ``ix_audit_log_blocked_time`` holds exactly these rows; the
    KPIs (cobranza/services/kpis/) ask with the same predicate (``table``: ``audit_log.`` to
    qualify the columns in a join), so the database can use it."""
    allowed = (
        f"json_extract({table}details, '$.allowed') = 0"
        if dialect == "sqlite"
        else f"({table}details ->> 'allowed') = 'false'"
    )
    return f"{_in(table + 'action', DECISION_ACTIONS)} AND {allowed}"


class SnapshotBucket(ColumnElement):
    """SQL: the ``bucket`` feature of a feature snapshot's JSON, written as each database
    reflects it back (so Alembic's comparison of the computed column sees no change)."""

    type = String(16)
    inherit_cache = True


@compiles(SnapshotBucket)
def _snapshot_bucket_sqlite(element: SnapshotBucket, compiler: Any, **kw: Any) -> str:
    return "json_extract(features, '$.bucket')"


@compiles(SnapshotBucket, "postgresql")
def _snapshot_bucket_postgresql(element: SnapshotBucket, compiler: Any, **kw: Any) -> str:
    return "features ->> 'bucket'::text"


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Money(TypeDecorator):
    """Pesos as ``Decimal`` with two places. PostgreSQL stores NUMERIC(14, 2) exactly; SQLite
    has no exact decimal (NUMERIC columns hold floats), so there the column holds integer
    centavos. Queries through SQLAlchemy (sums included) see pesos on both."""

    impl = Numeric(14, 2, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Integer())
        return dialect.type_descriptor(self.impl)

    def process_bind_param(self, value: Decimal | int | None, dialect: Any) -> Decimal | int | None:
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError("money is never a float")
        amount = Decimal(value).quantize(CENT)
        if amount != Decimal(value):
            raise ValueError(f"more than two decimals: {value}")
        return int(amount * 100) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Any) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return (Decimal(int(value)) / 100).quantize(CENT)
        return Decimal(value).quantize(CENT)


MONEY = Money()


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Creditor(Base):
    __tablename__ = "creditors"

    id = Column(Integer, primary_key=True)
    code = Column(String(32), nullable=False, unique=True)
    name = Column(String(120), nullable=False)
    legal_name = Column(String(200), nullable=False)
    clabe = Column(String(18), nullable=False)
    bank = Column(String(60), nullable=False)
    convenience_store_reference_prefix = Column(String(12), nullable=False)
    card_payment_url = Column(String(300), nullable=True)
    customer_service_phone = Column(String(20), nullable=False)


class Debtor(Base):
    __tablename__ = "debtors"
    __table_args__ = (
        CheckConstraint("phone LIKE '+52%'", name="phone_e164_mx"),
        CheckConstraint("discount_requests >= 0", name="discount_requests_non_negative"),
    )

    phone = Column(String(16), primary_key=True)  # E.164: +52 and 10 digits
    full_name = Column(String(160), nullable=False)
    date_of_birth = Column(Date, nullable=False)
    state = Column(String(60), nullable=False)
    municipality = Column(String(100), nullable=False)
    time_zone = Column(String(40), nullable=False)
    persona = Column(String(40), nullable=True)
    hardship_declared_at = Column(UTCDateTime, nullable=True)
    hardship_reason = Column(String(200), nullable=True)
    discount_requests = Column(Integer, nullable=False, default=0)
    last_discount_request_at = Column(UTCDateTime, nullable=True)
    created_at = Column(UTCDateTime, nullable=False, default=_now)
    updated_at = Column(UTCDateTime, nullable=False, default=_now, onupdate=_now)

    debts = relationship("Debt", back_populates="debtor", order_by="Debt.id")


class Debt(Base):
    __tablename__ = "debts"
    __table_args__ = (
        CheckConstraint("current_balance >= 0", name="balance_non_negative"),
        CheckConstraint("original_amount > 0", name="original_amount_positive"),
        CheckConstraint("days_past_due >= 0", name="days_past_due_non_negative"),
        CheckConstraint(_in("status", DEBT_STATUSES), name="status"),
        # Who owes whom, in order (the KPIs' split by creditor).
        Index("ix_debts_debtor_creditor", "debtor_phone", "creditor_id"),
    )

    id = Column(Integer, primary_key=True)
    debtor_phone = Column(
        String(16), ForeignKey("debtors.phone", ondelete="CASCADE"), nullable=False, index=True
    )
    creditor_id = Column(Integer, ForeignKey("creditors.id"), nullable=False)
    product = Column(String(80), nullable=False)
    contract_number = Column(String(40), nullable=False, unique=True)
    opened_on = Column(Date, nullable=False)
    original_amount = Column(MONEY, nullable=False)
    current_balance = Column(MONEY, nullable=False)
    days_past_due = Column(Integer, nullable=False)
    balance_as_of = Column(Date, nullable=False)  # the date the balance was calculated
    last_payment_on = Column(Date, nullable=True)
    last_payment_amount = Column(MONEY, nullable=True)
    status = Column(String(16), nullable=False, default=DebtStatus.ACTIVE.value)

    debtor = relationship("Debtor", back_populates="debts")
    creditor = relationship("Creditor")
    payments = relationship("Payment", back_populates="debt", order_by="Payment.paid_at")


class Payment(Base):
    """A payment received. Imported ones (cobranza/services/reconciliation.py) carry the bank's
    or collector's transaction id (the SPEI *clave de rastreo*, the store's ticket), unique, so
    importing the same file twice records nothing twice."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(_in("matched_by", PAYMENT_MATCHES), name="matched_by"),
        Index("ix_payments_debt_time", "debt_id", "paid_at"),
        Index("ix_payments_time", "paid_at", "debt_id", "amount"),  # the KPIs' ranges
    )

    id = Column(Integer, primary_key=True)
    debt_id = Column(
        Integer, ForeignKey("debts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    amount = Column(MONEY, nullable=False)
    paid_at = Column(UTCDateTime, nullable=False)
    due_on = Column(Date, nullable=True)  # the due date this payment covered, when known
    method = Column(String(20), nullable=False)  # spei, oxxo, card, branch
    reference = Column(String(60), nullable=True)
    transaction_id = Column(String(80), nullable=True, unique=True)
    matched_by = Column(String(16), nullable=False, default=PaymentMatch.MANUAL.value)
    source = Column(String(120), nullable=True)  # the file or the endpoint it came from
    imported_at = Column(UTCDateTime, nullable=True)

    debt = relationship("Debt", back_populates="payments")


class UnmatchedPayment(Base):
    """An imported payment no debt could be matched to with certainty: reported, never guessed.
    The transaction id keeps a second import of the same file from reporting it twice."""

    __tablename__ = "unmatched_payments"

    id = Column(Integer, primary_key=True)
    transaction_id = Column(String(80), nullable=False, unique=True)
    method = Column(String(20), nullable=False)
    amount = Column(MONEY, nullable=False)
    paid_at = Column(UTCDateTime, nullable=False)
    reference = Column(String(60), nullable=True)
    reason = Column(String(40), nullable=False)  # no_match, ambiguous, debt_closed, ...
    source = Column(String(120), nullable=True)
    imported_at = Column(UTCDateTime, nullable=False)
    resolved_at = Column(UTCDateTime, nullable=True)


class Promise(Base):
    __tablename__ = "promises"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(_in("status", PROMISE_STATUSES), name="status"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        Index("ix_promises_debtor_status", "debtor_phone", "status"),
        Index("ix_promises_created_at", "created_at"),  # the KPIs' ranges
        Index("ix_promises_due_date", "due_date"),
        # One pending promise per debt and date: a second one supersedes the first
        # (cobranza/services/promises.py); the index makes a race between two requests harmless.
        Index(
            "uq_promises_pending_debt_date",
            "debt_id",
            "due_date",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id = Column(Integer, primary_key=True)
    folio = Column(String(24), nullable=False, unique=True)
    debt_id = Column(Integer, ForeignKey("debts.id", ondelete="CASCADE"), nullable=False)
    debtor_phone = Column(
        String(16), ForeignKey("debtors.phone", ondelete="CASCADE"), nullable=False
    )
    amount = Column(MONEY, nullable=False)
    due_date = Column(Date, nullable=False)
    channel = Column(String(16), nullable=False)
    status = Column(String(16), nullable=False, default=PromiseStatus.PENDING.value)
    created_by = Column(String(60), nullable=False, default="bot")
    created_at = Column(UTCDateTime, nullable=False, default=_now)
    updated_at = Column(UTCDateTime, nullable=False, default=_now, onupdate=_now)
    resolved_at = Column(UTCDateTime, nullable=True)

    debt = relationship("Debt")


class PaymentAgreement(Base):
    __tablename__ = "payment_agreements"
    __table_args__ = (
        CheckConstraint(_in("plan_type", PLAN_TYPES), name="plan_type"),
        CheckConstraint(_in("status", AGREEMENT_STATUSES), name="status"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint("total_amount > 0", name="total_positive"),
        CheckConstraint("discount_amount >= 0", name="discount_non_negative"),
    )

    id = Column(Integer, primary_key=True)
    folio = Column(String(24), nullable=False, unique=True)
    debt_id = Column(
        Integer, ForeignKey("debts.id", ondelete="CASCADE"), nullable=False, index=True
    )
    debtor_phone = Column(
        String(16), ForeignKey("debtors.phone", ondelete="CASCADE"), nullable=False
    )
    plan_type = Column(String(16), nullable=False)
    balance_at_agreement = Column(MONEY, nullable=False)
    discount_amount = Column(MONEY, nullable=False, default=0)
    total_amount = Column(MONEY, nullable=False)
    channel = Column(String(16), nullable=False)
    status = Column(String(16), nullable=False, default=AgreementStatus.ACTIVE.value)
    created_by = Column(String(60), nullable=False, default="bot")
    created_at = Column(UTCDateTime, nullable=False, default=_now)

    debt = relationship("Debt")
    installments = relationship(
        "AgreementInstallment", back_populates="agreement", order_by="AgreementInstallment.number"
    )


class AgreementInstallment(Base):
    __tablename__ = "agreement_installments"
    __table_args__ = (
        UniqueConstraint("agreement_id", "number", name="uq_agreement_installments_number"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(_in("status", INSTALLMENT_STATUSES), name="status"),
    )

    id = Column(Integer, primary_key=True)
    agreement_id = Column(
        Integer, ForeignKey("payment_agreements.id", ondelete="CASCADE"), nullable=False
    )
    number = Column(Integer, nullable=False)
    amount = Column(MONEY, nullable=False)
    due_date = Column(Date, nullable=False)
    status = Column(String(16), nullable=False, default=InstallmentStatus.PENDING.value)
    paid_at = Column(UTCDateTime, nullable=True)

    agreement = relationship("PaymentAgreement", back_populates="installments")


class Consent(Base):
    """Append-only: the latest record per (debtor, channel) is the consent in force."""

    __tablename__ = "consents"
    __table_args__ = (
        CheckConstraint(_in("status", CONSENT_STATUSES), name="status"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        Index("ix_consents_debtor_channel", "debtor_phone", "channel", "recorded_at"),
        Index("ix_consents_status_time", "status", "recorded_at"),  # the KPIs' opt-outs
    )

    id = Column(Integer, primary_key=True)
    debtor_phone = Column(
        String(16), ForeignKey("debtors.phone", ondelete="CASCADE"), nullable=False
    )
    channel = Column(String(16), nullable=False)
    status = Column(String(16), nullable=False)
    source = Column(String(120), nullable=False)  # e.g. "contrato 2024-03", "conversacion whatsapp"
    recorded_at = Column(UTCDateTime, nullable=False, default=_now)

    debtor = relationship("Debtor")


class ContactAttempt(Base):
    __tablename__ = "contact_attempts"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        CheckConstraint(_in("direction", CONTACT_DIRECTIONS), name="direction"),
        Index("ix_contact_attempts_debtor_time", "debtor_phone", "attempted_at"),
        # The KPIs' ranges, covering what they read (no visit to the table).
        Index(
            "ix_contact_attempts_time",
            "attempted_at",
            "debtor_phone",
            "direction",
            "outcome",
            "channel",
            "initiated_by",
        ),
    )

    id = Column(Integer, primary_key=True)
    debtor_phone = Column(
        String(16), ForeignKey("debtors.phone", ondelete="CASCADE"), nullable=False
    )
    channel = Column(String(16), nullable=False)
    direction = Column(String(16), nullable=False)
    initiated_by = Column(String(60), nullable=False)  # bot, campaign:<name>, agent:<name>
    attempted_at = Column(UTCDateTime, nullable=False)
    outcome = Column(String(30), nullable=False)  # delivered, read, failed, right_party, ...
    notes = Column(Text, nullable=True)

    debtor = relationship("Debtor")


class HandoffTicket(Base):
    __tablename__ = "handoff_tickets"
    __table_args__ = (
        CheckConstraint(_in("status", TICKET_STATUSES), name="status"),
        Index("ix_handoff_tickets_status_priority", "status", "priority", "created_at"),
        Index("ix_handoff_tickets_created_at", "created_at"),  # the KPIs' ranges
        Index("ix_handoff_tickets_closed_at", "closed_at"),
        # One open (or claimed) ticket per conversation, whoever asks at the same time.
        Index(
            "uq_handoff_tickets_active_sender",
            "sender_id",
            unique=True,
            sqlite_where=text("status IN ('open', 'claimed')"),
            postgresql_where=text("status IN ('open', 'claimed')"),
        ),
    )

    id = Column(Integer, primary_key=True)
    debtor_phone = Column(
        String(16), ForeignKey("debtors.phone", ondelete="SET NULL"), nullable=True
    )
    sender_id = Column(String(80), nullable=False)  # the conversation id on its channel
    channel = Column(String(16), nullable=False)
    debt_id = Column(Integer, ForeignKey("debts.id", ondelete="SET NULL"), nullable=True)
    reason = Column(String(40), nullable=False)
    priority = Column(Integer, nullable=False, default=0)
    status = Column(String(16), nullable=False, default=TicketStatus.OPEN.value)
    context = Column(JSON, nullable=False, default=dict)
    created_at = Column(UTCDateTime, nullable=False, default=_now)
    claimed_by = Column(String(60), nullable=True)
    claimed_at = Column(UTCDateTime, nullable=True)
    closed_at = Column(UTCDateTime, nullable=True)
    outcome = Column(String(60), nullable=True)


class ContactBlock(Base):
    """A number that must never be contacted again about a debtor (wrong number, third party)."""

    __tablename__ = "contact_blocks"
    __table_args__ = (
        CheckConstraint(_in("reason", BLOCK_REASONS), name="reason"),
        Index("ix_contact_blocks_phone", "phone"),
    )

    id = Column(Integer, primary_key=True)
    phone = Column(String(16), nullable=False)  # the number that answered (E.164)
    debtor_phone = Column(
        String(16), ForeignKey("debtors.phone", ondelete="CASCADE"), nullable=True
    )
    reason = Column(String(20), nullable=False)
    source = Column(String(120), nullable=False)
    created_at = Column(UTCDateTime, nullable=False, default=_now)


class Reminder(Base):
    """A business-initiated reminder the debtor asked for (with consent). Whoever sends it asks
    the compliance engine first (cobranza/services/reminders.py)."""

    __tablename__ = "reminders"
    __table_args__ = (
        CheckConstraint(_in("status", REMINDER_STATUSES), name="status"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        Index("ix_reminders_status_time", "status", "scheduled_for"),
        UniqueConstraint("reference", "scheduled_for", name="uq_reminders_reference_moment"),
    )

    id = Column(Integer, primary_key=True)
    debtor_phone = Column(
        String(16), ForeignKey("debtors.phone", ondelete="CASCADE"), nullable=False
    )
    channel = Column(String(16), nullable=False)
    reference = Column(String(24), nullable=False)  # the folio of the promise or agreement
    due_on = Column(Date, nullable=False)  # the payment date being reminded
    scheduled_for = Column(UTCDateTime, nullable=False)
    status = Column(String(16), nullable=False, default=ReminderStatus.PENDING.value)
    status_reason = Column(
        String(60), nullable=True
    )  # the rule that cancelled it, or campaign:<name>
    created_at = Column(UTCDateTime, nullable=False, default=_now)


class OutreachMessage(Base):
    """One business-initiated message a campaign step calls for: one row per debtor × campaign
    × step × day, so planning twice plans nothing more (cobranza/outreach/). The dispatcher
    claims due rows, asks the compliance engine at send time, marks the row ``sending`` before
    the Graph API call and stores the ``wamid`` it returns; Meta's status callbacks settle it.
    A step the rules hold back stays ``planned`` with ``blocked_rule`` and a later
    ``not_before``; a final rule drops it."""

    __tablename__ = "outreach_messages"
    __table_args__ = (
        CheckConstraint(_in("status", OUTREACH_STATUSES), name="status"),
        UniqueConstraint(
            "debtor_phone", "campaign", "step", "planned_on", name="uq_outreach_messages_step_day"
        ),
        Index("ix_outreach_messages_status_time", "status", "not_before"),
        Index("ix_outreach_messages_debtor_time", "debtor_phone", "sent_at"),
        # The KPIs' ranges, covering what they read.
        Index("ix_outreach_messages_sent_at", "sent_at", "debtor_phone", "campaign", "status"),
    )

    id = Column(Integer, primary_key=True)
    debtor_phone = Column(
        String(16), ForeignKey("debtors.phone", ondelete="CASCADE"), nullable=False
    )
    campaign = Column(String(60), nullable=False)
    step = Column(String(60), nullable=False)
    planned_on = Column(Date, nullable=False)  # the local day the step falls on
    reference = Column(String(40), nullable=True)  # the promise or agreement folio it is about
    template = Column(String(60), nullable=False)
    parameters = Column(JSON, nullable=False, default=list)
    priority = Column(Integer, nullable=False, default=0)  # the campaign's: higher goes first
    # The debtor's propensity-to-pay score when planned (cobranza/scoring/): within a priority,
    # higher scores go first when the tier's daily budget cannot reach everyone.
    score = Column(Float, nullable=True)
    not_before = Column(UTCDateTime, nullable=False)  # not sent before this instant
    expires_at = Column(UTCDateTime, nullable=False)  # dropped if still unsent by then
    status = Column(String(16), nullable=False, default=OutreachStatus.PLANNED.value)
    blocked_rule = Column(String(40), nullable=True)  # the last rule that held it back
    status_reason = Column(String(60), nullable=True)  # why dropped or failed (a code)
    attempts = Column(Integer, nullable=False, default=0)  # refused before sending (429 …)
    wamid = Column(String(128), nullable=True, unique=True)
    created_at = Column(UTCDateTime, nullable=False)
    claimed_at = Column(UTCDateTime, nullable=True)
    sent_at = Column(UTCDateTime, nullable=True)
    settled_at = Column(UTCDateTime, nullable=True)  # delivered, read or failed, per Meta
    replied_at = Column(UTCDateTime, nullable=True)  # the debtor answered it
    # The outbound contact attempt the dispatcher recorded when it last claimed the row (its
    # outcome follows Meta's answer). Indexed so deleting attempts does not scan this table.
    contact_attempt_id = Column(
        Integer,
        ForeignKey("contact_attempts.id", ondelete="SET NULL"),
        nullable=True,
        index=True,
    )


class ExperimentExposure(Base):
    """A debtor's first exposure to an experiment (docs/experiments.md): the arm they were
    assigned (a stable hash of experiment and debtor, cobranza/domain/experiments.py), when,
    and what exposed them: the campaign message Meta accepted (``outreach_message_id``) or the
    conversation whose response they heard (``conversation_id``). One row per experiment and
    debtor, whoever records it first: later exposures add nothing."""

    __tablename__ = "experiment_exposures"
    __table_args__ = (
        UniqueConstraint("experiment", "debtor_phone", name="uq_experiment_exposures_debtor"),
        Index("ix_experiment_exposures_experiment_time", "experiment", "exposed_at"),
        CheckConstraint(
            "(outreach_message_id IS NOT NULL AND conversation_id IS NULL) OR "
            "(outreach_message_id IS NULL AND conversation_id IS NOT NULL)",
            name="one_source",
        ),
    )

    id = Column(Integer, primary_key=True)
    experiment = Column(String(60), nullable=False)  # the experiment's name (its salt)
    arm = Column(String(40), nullable=False)
    debtor_phone = Column(
        String(16), ForeignKey("debtors.phone", ondelete="CASCADE"), nullable=False
    )
    exposed_at = Column(UTCDateTime, nullable=False)  # the first exposure
    outreach_message_id = Column(
        Integer, ForeignKey("outreach_messages.id", ondelete="CASCADE"), nullable=True
    )
    conversation_id = Column(String(128), nullable=True)  # the sender id on its channel


class FeatureSnapshot(Base):
    """What the scoring model knew about a debtor on a date (cobranza/scoring/features.py),
    computed *on* that date and kept: training pairs a snapshot with what the debtor paid in
    the days after it, so no feature can see the future. ``cobranza score run`` writes one per
    debtor and day; the simulation writes them as its clock advances."""

    __tablename__ = "feature_snapshots"
    __table_args__ = (
        UniqueConstraint("debtor_phone", "as_of", name="uq_feature_snapshots_debtor_day"),
        Index("ix_feature_snapshots_as_of", "as_of"),
        # A day's buckets without parsing the JSON (the KPIs' roll rates and bucket split).
        Index("ix_feature_snapshots_day_bucket", "as_of", "bucket", "debtor_phone"),
    )

    id = Column(Integer, primary_key=True)
    debtor_phone = Column(
        String(16), ForeignKey("debtors.phone", ondelete="CASCADE"), nullable=False
    )
    as_of = Column(Date, nullable=False)  # the local day the features describe (end of day)
    features = Column(JSON, nullable=False)  # name → number, cobranza/scoring/features.py
    balance = Column(MONEY, nullable=False)  # total open balance on that day (the target's base)
    created_at = Column(UTCDateTime, nullable=False)
    # features["bucket"], computed by the database (stored on PostgreSQL, virtual on SQLite).
    bucket = Column(String(16), Computed(SnapshotBucket(), persisted=True), nullable=True)


class DebtorScore(Base):
    """A propensity-to-pay score: the calibrated probability that the debtor pays at least the
    model's target share of the balance within its horizon, with its band and the features
    that moved it most. History is kept (one row per debtor, day and model). Never shown to the
    debtor."""

    __tablename__ = "debtor_scores"
    __table_args__ = (
        UniqueConstraint("debtor_phone", "as_of", "model_id", name="uq_debtor_scores_day_model"),
        Index("ix_debtor_scores_debtor_day", "debtor_phone", "as_of"),
        CheckConstraint("probability >= 0 AND probability <= 1", name="probability_range"),
    )

    id = Column(Integer, primary_key=True)
    debtor_phone = Column(
        String(16), ForeignKey("debtors.phone", ondelete="CASCADE"), nullable=False
    )
    as_of = Column(Date, nullable=False)
    model_id = Column(String(80), nullable=False)  # the model card's id
    probability = Column(Float, nullable=False)
    band = Column(String(1), nullable=False)  # A (most likely to pay) … E
    expected_recovery = Column(MONEY, nullable=False)  # probability × open balance
    reasons = Column(JSON, nullable=False, default=list)  # [{feature, value, effect}], top first
    created_at = Column(UTCDateTime, nullable=False)


class WhatsAppInbound(Base):
    """Every inbound WhatsApp message we accepted, stored as ``pending`` before the webhook
    answers 200 and processed from here (cobranza/channels/whatsapp/), so a crash after the
    200 loses nothing. The message id de-duplicates retried deliveries across restarts; the
    timestamps tell when the debtor last wrote (the 24-hour customer-service window)."""

    __tablename__ = "whatsapp_inbound"
    __table_args__ = (
        CheckConstraint(_in("status", INBOUND_STATUSES), name="status"),
        Index("ix_whatsapp_inbound_wa_id_time", "wa_id", "received_at"),
        # The worker's question: which messages are still pending, per sender, oldest first.
        Index("ix_whatsapp_inbound_status_wa_id_time", "status", "wa_id", "sent_at"),
    )

    message_id = Column(String(128), primary_key=True)  # wamid.…
    wa_id = Column(String(20), nullable=False)  # as Meta sends it (521…)
    message_type = Column(String(20), nullable=False)
    sent_at = Column(UTCDateTime, nullable=False)  # the message's own timestamp
    received_at = Column(UTCDateTime, nullable=False)
    # What processing needs, kept only while the message is pending (cleared when done/failed).
    body = Column(Text, nullable=True)  # the text, or the payload of a button or list reply
    polite_kind = Column(String(20), nullable=True)  # media: which polite answer (imagen, …)
    status = Column(String(16), nullable=False, default=InboundStatus.PENDING.value)
    status_reason = Column(String(60), nullable=True)  # failed: the error's class, no content
    processed_at = Column(UTCDateTime, nullable=True)


class WhatsAppOutbound(Base):
    """Messages we sent (Graph API accepted them), for status callbacks and metrics."""

    __tablename__ = "whatsapp_outbound"
    __table_args__ = (Index("ix_whatsapp_outbound_wa_id_time", "wa_id", "sent_at"),)

    message_id = Column(String(128), primary_key=True)
    wa_id = Column(String(20), nullable=False)
    kind = Column(String(20), nullable=False)  # text, buttons, list, template
    sent_at = Column(UTCDateTime, nullable=False)


class WhatsAppStatus(Base):
    """Status callbacks (sent, delivered, read, failed) as Meta reports them."""

    __tablename__ = "whatsapp_statuses"
    __table_args__ = (
        Index("ix_whatsapp_statuses_message", "message_id"),
        UniqueConstraint("message_id", "status", name="uq_whatsapp_statuses_message_status"),
    )

    id = Column(Integer, primary_key=True)
    message_id = Column(String(128), nullable=False)
    wa_id = Column(String(20), nullable=False)
    status = Column(String(16), nullable=False)
    occurred_at = Column(UTCDateTime, nullable=False)
    error_code = Column(Integer, nullable=True)
    error_title = Column(String(200), nullable=True)


class ConversationLease(Base):
    """Which Rasa replica answers a WhatsApp sender right now: our lock store across replicas
    (Rasa's OSS lock stores lock within one process, or in Redis without fencing). Taken and
    renewed in one statement that only succeeds for the holder or over an expired lease; the
    holder's worker alone runs the sender's turns (cobranza/channels/whatsapp/store.py)."""

    __tablename__ = "conversation_leases"

    wa_id = Column(String(20), primary_key=True)
    holder = Column(String(100), nullable=False)  # COBRANZA_REPLICA of the replica
    expires_at = Column(UTCDateTime, nullable=False)


class WhatsAppReplyAttempt(Base):
    """The k-th reply sent while handling inbound message ``reply_to``, recorded *before* the
    Graph API call: a turn re-run after a crash skips a reply whose attempt exists, so a debtor
    gets each reply at most once. ``message_id`` is Meta's id once it accepted the message
    (NULL: the call failed or the process died in it — never sent again either way)."""

    __tablename__ = "whatsapp_reply_attempts"
    __table_args__ = (CheckConstraint("ordinal >= 0", name="ordinal"),)

    reply_to = Column(
        String(128),
        ForeignKey("whatsapp_inbound.message_id", ondelete="CASCADE"),
        primary_key=True,
    )
    ordinal = Column(Integer, primary_key=True, autoincrement=False)
    attempted_at = Column(UTCDateTime, nullable=False)
    message_id = Column(String(128), nullable=True)


class Agent(Base):
    """A console user who answers handed-off conversations (``cobranza agent add``); a
    ``supervisor`` also oversees the other agents (``cobranza agent role``)."""

    __tablename__ = "agents"
    __table_args__ = (CheckConstraint(_in("role", CONSOLE_ROLES), name="role"),)

    id = Column(Integer, primary_key=True)
    username = Column(String(60), nullable=False, unique=True)
    display_name = Column(String(120), nullable=False)
    password_hash = Column(String(200), nullable=False)  # scrypt, see cobranza/services/agents.py
    active = Column(Boolean, nullable=False, default=True)
    created_at = Column(UTCDateTime, nullable=False, default=_now)
    role = Column(
        String(16),
        nullable=False,
        default=ConsoleRole.AGENT.value,
        server_default=ConsoleRole.AGENT.value,
    )


class AgentSession(Base):
    """A console login; only the token's hash is stored, and it expires."""

    __tablename__ = "agent_sessions"

    token_hash = Column(String(64), primary_key=True)
    agent_id = Column(Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False)
    created_at = Column(UTCDateTime, nullable=False)
    expires_at = Column(UTCDateTime, nullable=False)  # absolute lifetime
    last_seen_at = Column(UTCDateTime, nullable=False)  # the idle timeout counts from here


class ConsoleLoginAttempt(Base):
    """One login attempt at the agents' console, written *before* the password is checked, so
    concurrent guesses count against each other (cobranza/services/agents.py). ``pending`` and
    ``failed`` count towards a lockout; ``forgiven`` are failures a later successful login
    cleared."""

    __tablename__ = "console_login_attempts"
    __table_args__ = (
        CheckConstraint(_in("outcome", LOGIN_OUTCOMES), name="outcome"),
        Index("ix_console_login_attempts_username_time", "username", "occurred_at"),
        Index("ix_console_login_attempts_address_time", "address", "occurred_at"),
    )

    id = Column(Integer, primary_key=True)
    occurred_at = Column(UTCDateTime, nullable=False)
    username = Column(String(60), nullable=False)  # as typed, lower-cased and cut to 60
    address = Column(String(64), nullable=False)  # the client's IP address
    outcome = Column(String(16), nullable=False)


class ConsoleLockout(Base):
    """A user name or a client address that may not log in until ``locked_until``."""

    __tablename__ = "console_lockouts"
    __table_args__ = (
        CheckConstraint(_in("scope", LOCKOUT_SCOPES), name="scope"),
        Index("ix_console_lockouts_subject", "scope", "subject", "locked_until"),
    )

    id = Column(Integer, primary_key=True)
    scope = Column(String(8), nullable=False)
    subject = Column(String(64), nullable=False)
    locked_at = Column(UTCDateTime, nullable=False)
    locked_until = Column(UTCDateTime, nullable=False)


class IdentityVerification(Base):
    """Server-side proof that a conversation's sender gave the date of birth on record for
    ``phone``. Debt details are disclosed only while one is in force (cobranza/db/verifications.py);
    the ``identidad_verificada`` slot only steers the dialogue."""

    __tablename__ = "identity_verifications"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        Index("ix_identity_verifications_conversation", "conversation_id", "expires_at"),
        Index("ix_identity_verifications_time", "verified_at", "phone", "channel"),  # KPIs
    )

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False)  # the sender id on its channel
    channel = Column(String(16), nullable=False)
    phone = Column(String(16), ForeignKey("debtors.phone", ondelete="CASCADE"), nullable=False)
    session_started_at = Column(UTCDateTime, nullable=True)  # Rasa's session, when known
    verified_at = Column(UTCDateTime, nullable=False)
    expires_at = Column(UTCDateTime, nullable=False)  # slides forward while the debtor talks
    ended_at = Column(UTCDateTime, nullable=True)  # new session, wrong number, opt-out


class IdentityAttempt(Base):
    """One date-of-birth answer. Failures lock the conversation after three; they lock the
    *number* only when the channel proves the sender holds it (WhatsApp, Twilio), so a
    stranger typing a debtor's number on the web chat cannot lock the debtor out."""

    __tablename__ = "identity_attempts"
    __table_args__ = (
        Index("ix_identity_attempts_conversation", "conversation_id", "attempted_at"),
        Index("ix_identity_attempts_phone", "phone", "attempted_at"),
    )

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False)
    channel = Column(String(16), nullable=False)
    phone = Column(String(16), nullable=False)  # the number claimed (may be no debtor's)
    proven = Column(Boolean, nullable=False)  # the channel proves the sender holds the number
    succeeded = Column(Boolean, nullable=False)
    attempted_at = Column(UTCDateTime, nullable=False)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_debtor_time", "debtor_phone", "occurred_at"),
        # Only the compliance decisions that blocked (the KPIs' blocks by rule).
        Index(
            "ix_audit_log_blocked_time",
            "occurred_at",
            sqlite_where=text(blocked_decisions("sqlite")),
            postgresql_where=text(blocked_decisions("postgresql")),
        ),
        Index("ix_audit_log_actor_time", "actor", "occurred_at"),  # an agent's activity
    )

    id = Column(Integer, primary_key=True)
    occurred_at = Column(UTCDateTime, nullable=False, default=_now)
    actor = Column(String(60), nullable=False)  # system, bot, agent:<name>, cli
    action = Column(String(60), nullable=False)
    debtor_phone = Column(String(16), nullable=True)
    details = Column(JSON, nullable=False, default=dict)


TURN_KINDS = TurnKind.values()


class ConversationTurn(Base):
    """One message of a conversation as Rasa's event broker published it (cobranza/events/):
    a person's message (``user``) with what the NLU made of it, or one of the assistant's
    (``bot``). Written by the events consumer, read by the KPIs (docs/kpis.md).

    No personal data: the sender is ``sender_key``, an HMAC of Rasa's sender id (a phone
    number on WhatsApp) under the consumer's key, never the id itself, and no text is kept.
    ``event_key`` (an HMAC of kind, sender id and Rasa's float timestamp, exact) is unique: a
    message RabbitMQ delivers twice is one row. ``channel`` is Rasa's input channel; Rasa's bot
    events carry none, so a bot message's is copied from its conversation's latest user message
    when that was written first (else NULL, and the KPIs look it up). ``nlu_fallback``: the
    NLU did not understand (intent ``nlu_fallback``, or a confidence under the
    FallbackClassifier threshold); NULL when the event had no intent. ``received_at``:
    Rasa's timestamp (UTC); ``recorded_at``: when the consumer wrote the row."""

    __tablename__ = "conversation_turns"
    __table_args__ = (
        CheckConstraint(_in("kind", TURN_KINDS), name="kind"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_unit"),
        UniqueConstraint("event_key", name="uq_conversation_turns_event_key"),
        # The KPIs: a range of days, counted by kind, verdict and channel from the index alone.
        Index("ix_conversation_turns_time", "received_at", "kind", "nlu_fallback", "channel"),
        # A bot message's channel is its conversation's latest user message's (the KPIs).
        Index("ix_conversation_turns_sender", "sender_key", "kind", "received_at"),
    )

    id = Column(Integer, primary_key=True)
    event_key = Column(String(64), nullable=False)
    sender_key = Column(String(64), nullable=False)
    kind = Column(String(8), nullable=False)
    channel = Column(String(32), nullable=True)
    intent = Column(String(100), nullable=True)
    confidence = Column(Float, nullable=True)
    nlu_fallback = Column(Boolean, nullable=True)
    received_at = Column(UTCDateTime, nullable=False)
    recorded_at = Column(UTCDateTime, nullable=False)
