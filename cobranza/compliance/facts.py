"""The facts the compliance rules read, gathered from the database into frozen snapshots.

This is the only module of cobranza/compliance/ that queries the database. It decides nothing:
it reads the debtor's address, the wrong-number flags, the consent history, the recent
business-initiated contacts, the open cases, the date-of-birth attempts and the conversation's
verification, and hands them to the pure rules (cobranza/compliance/rules.py) as values.
Where a query is bounded in time (contacts, identity attempts) the bound is the rules' own
horizon, and the rules filter again, so a snapshot that reaches further back changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import false, select
from sqlalchemy.orm import Session

from cobranza.compliance.rules import (
    CONTACT_HISTORY,
    LOCK_HOURS,
    Block,
    ConsentRecord,
    ContactFacts,
    DebtorFacts,
    DisclosureFacts,
    FlagFacts,
    IdentityAttempt,
    IdentityFacts,
    Verification,
)
from cobranza.db import verifications
from cobranza.db.models import (
    Consent,
    ContactAttempt,
    ContactBlock,
    Debt,
    Debtor,
    HandoffTicket,
)
from cobranza.db.models import (
    IdentityAttempt as IdentityAttemptRow,
)
from cobranza.domain.vocabulary import ContactOutcome


def debtor(session: Session, phone: str) -> DebtorFacts | None:
    row = session.get(Debtor, phone)
    if row is None:
        return None
    return DebtorFacts(phone, str(row.state or ""), str(row.municipality or ""))


def blocks(session: Session, phone: str) -> tuple[Block, ...]:
    """Wrong-number / third-party flags on this number (for its debtor or for anyone)."""
    rows = session.execute(
        select(ContactBlock.reason, ContactBlock.source, ContactBlock.created_at)
        .where(
            ContactBlock.phone == phone,
            (ContactBlock.debtor_phone == phone) | ContactBlock.debtor_phone.is_(None),
        )
        .order_by(ContactBlock.created_at)
    ).all()
    return tuple(Block(reason, source, created_at) for reason, source, created_at in rows)


def consents(session: Session, phone: str) -> tuple[ConsentRecord, ...]:
    """The debtor's whole consent history, every channel, oldest first."""
    rows = session.execute(
        select(Consent.id, Consent.channel, Consent.status, Consent.source, Consent.recorded_at)
        .where(Consent.debtor_phone == phone)
        .order_by(Consent.recorded_at, Consent.id)
    ).all()
    return tuple(ConsentRecord(*row) for row in rows)


def outbound_contacts(session: Session, phone: str, since: datetime) -> tuple[datetime, ...]:
    """When each business-initiated message at or after ``since`` was sent, oldest first."""
    rows = (
        session.execute(
            select(ContactAttempt.attempted_at)
            .where(
                ContactAttempt.debtor_phone == phone,
                ContactAttempt.direction == "outbound",
                ContactAttempt.outcome != ContactOutcome.NOT_SENT,
                ContactAttempt.attempted_at >= since,
            )
            .order_by(ContactAttempt.attempted_at)
        )
        .scalars()
        .all()
    )
    return tuple(rows)


def disputed_debts(session: Session, phone: str) -> tuple[str, ...]:
    rows = (
        session.execute(
            select(Debt.contract_number).where(
                Debt.debtor_phone == phone, Debt.status == "disputed"
            )
        )
        .scalars()
        .all()
    )
    return tuple(rows)


def open_tickets(session: Session, phone: str) -> tuple[int, ...]:
    rows = (
        session.execute(
            select(HandoffTicket.id).where(
                HandoffTicket.debtor_phone == phone, HandoffTicket.status != "closed"
            )
        )
        .scalars()
        .all()
    )
    return tuple(rows)


def identity(
    session: Session, phone: str | None, conversation_id: str | None, now: datetime
) -> IdentityFacts:
    """Date-of-birth answers of the last LOCK_HOURS: on the number, only from channels that
    prove the sender holds it (a stranger on the web chat cannot lock a debtor out); in the
    conversation, all of them. One read serves both (an answer can be in both)."""
    if not phone and not conversation_id:
        return IdentityFacts(None, None)
    row = IdentityAttemptRow
    on_number = (row.phone == phone) & row.proven.is_(True) if phone else false()
    in_conversation = row.conversation_id == conversation_id if conversation_id else false()
    found = session.execute(
        select(
            row.succeeded,
            row.attempted_at,
            on_number.label("on_number"),
            in_conversation.label("in_conversation"),
        )
        .where(on_number | in_conversation, row.attempted_at >= now - timedelta(hours=LOCK_HOURS))
        .order_by(row.attempted_at, row.id)
    ).all()

    answers = [(IdentityAttempt(bool(r.succeeded), r.attempted_at), r) for r in found]
    return IdentityFacts(
        tuple(a for a, r in answers if r.on_number) if phone else None,
        tuple(a for a, r in answers if r.in_conversation) if conversation_id else None,
    )


def verification(session: Session, conversation_id: str, now: datetime) -> Verification | None:
    """The conversation's newest verification in force at ``now``, if any."""
    row = verifications.current(session, conversation_id, now)
    if row is None:
        return None
    return Verification(
        int(row.id), str(row.conversation_id), str(row.phone), row.expires_at, row.ended_at
    )


def for_contact(session: Session, phone: str, now: datetime) -> ContactFacts:
    """What a contact decision at ``now`` reads. A number that is no debtor's: nothing more."""
    known = debtor(session, phone)
    if known is None:
        return ContactFacts(phone, None)
    return ContactFacts(
        phone,
        known,
        blocks=blocks(session, phone),
        consents=consents(session, phone),
        outbound=outbound_contacts(session, phone, now - CONTACT_HISTORY),
        disputed_debts=disputed_debts(session, phone),
        open_tickets=open_tickets(session, phone),
    )


def for_disclosure(
    session: Session, phone: str | None, conversation_id: str | None, now: datetime
) -> DisclosureFacts:
    """What a disclosure decision at ``now`` reads; flags and attempts only for a debtor."""
    known = debtor(session, phone) if phone else None
    current = verification(session, conversation_id, now) if conversation_id else None
    if known is None or not phone:
        return DisclosureFacts(phone, conversation_id, known, current)
    return DisclosureFacts(
        phone,
        conversation_id,
        known,
        current,
        blocks=blocks(session, phone),
        identity=identity(session, phone, conversation_id, now),
    )


def for_flags(session: Session, phone: str) -> FlagFacts:
    """What the dialogue's flags read: consent only matters for a debtor; flags for anyone."""
    known = debtor(session, phone)
    return FlagFacts(
        phone,
        known,
        blocks=blocks(session, phone),
        consents=consents(session, phone) if known else (),
    )
