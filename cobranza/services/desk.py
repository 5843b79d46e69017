"""The agents' desk: what the console does on an agent's behalf, in one transaction each.

The console (cobranza/console/) is HTTP only; these are its use cases over the tickets, the
debtor's file, the compliance engine and the promise and plan services. A debtor's file is read
only while the ticket's conversation holds a verification for that debtor (checked in the same
transaction that reads it), and every file handed out is audited with the agent and the number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from cobranza.clock import Clock
from cobranza.compliance import decisions
from cobranza.config import Settings
from cobranza.db import audit
from cobranza.db.models import HandoffTicket
from cobranza.domain.money import format_mxn, to_pesos
from cobranza.domain.vocabulary import AuditAction, Rule
from cobranza.errors import NotFound, Rejected
from cobranza.personas.profiles import PersonaProfile
from cobranza.services import tickets, views
from cobranza.services.plans import accept_offer, current_offers
from cobranza.services.promises import record_promise

PLAN_LABELS = {
    "pay_in_full": "Pago total",
    "settlement": "Liquidación con descuento",
    "installments": "Pagos",
}


class TicketNotFound(NotFound):
    """No ticket has this number."""


class Unverified(Rejected):
    """Nothing is recorded on a debtor's behalf unless the conversation's verification for the
    ticket's number is in force."""


@dataclass(frozen=True)
class Desk:
    """What the desk's use cases need besides a session: the app's settings, clock and
    persona profiles (handed over by the composition root)."""

    settings: Settings
    clock: Clock
    profiles: dict[str, PersonaProfile]

    def ticket(self, session: Session, ticket_id: int) -> dict[str, Any]:
        """The whole ticket (:func:`tickets.describe`), verified or not, as of now."""
        ticket = session.get(HandoffTicket, ticket_id)
        if ticket is None:
            raise TicketNotFound(ticket_id)
        now = self.clock.now()
        return tickets.describe(ticket, now, tickets.verified(session, ticket, now))

    def debtor_file(
        self, session: Session, ticket_id: int, agent: str
    ) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
        """The debtor's file and the offers, only while the conversation is verified (checked
        again here, in the transaction that reads the file); each file handed out is audited
        with the agent and the number."""
        phone = self._verified(session, ticket_id)
        if phone is None:
            return None, []
        try:
            report = views.debtor_report(session, phone, self.profiles, self.clock)
        except NotFound:
            return None, []
        debtor = {
            "name": report["full_name"],
            "phone": report["phone"],
            "persona": report["persona"],
            "balance_text": report["balance_text"],
            "days_past_due": report["days_past_due"],
            "promises": views.debtor_promises(session, phone)[:5],
        }
        audit.record(
            session,
            self.clock.now(),
            AuditAction.AGENT_VIEWED_DEBTOR,
            phone,
            {"ticket": ticket_id},
            actor=f"agent:{agent}",
        )
        return debtor, self.offers(session, phone)

    def offers(self, session: Session, phone: str) -> list[dict[str, str]]:
        """The offers the assistant would make now (the persona's rules), for the agent."""
        try:
            offers = current_offers(session, phone, self.profile(session, phone), self.clock)
        except NotFound:
            return []
        return [
            {
                "code": o.code,
                "label": f"{PLAN_LABELS.get(o.plan_type, o.plan_type)}: "
                f"{len(o.installments)} pago(s), total {format_mxn(to_pesos(o.total))}",
            }
            for o in offers
        ]

    def profile(self, session: Session, phone: str) -> PersonaProfile:
        persona = views.session_context(session, phone, self.settings.default_time_zone)["persona"]
        return self.profiles.get(persona) or next(p for p in self.profiles.values() if p.fallback)

    def _verified(self, session: Session, ticket_id: int) -> str | None:
        row = session.get(HandoffTicket, ticket_id)
        if row is None or not tickets.verified(session, row, self.clock.now()):
            return None
        return str(row.debtor_phone)

    def verified_phone(self, session: Session, ticket_id: int) -> str:
        """The debtor's number, in the transaction that records on the debtor's behalf; raises
        :class:`Unverified` unless the conversation's verification for it is in force."""
        phone = self._verified(session, ticket_id)
        if phone is None:
            raise Unverified(ticket_id)
        return phone

    def decide_reply(
        self, session: Session, ticket: dict[str, Any], actor: str, last: datetime | None
    ) -> dict[str, Any]:
        """The compliance engine decides; a new contact (not a reply) counts towards the caps.
        A web visitor without a known number can only be answered as a reply. Audited either
        way."""
        now = self.clock.now()
        phone = ticket["debtor_phone"]
        if phone:
            decision = decisions.decide_contact(
                session,
                phone,
                self.settings,
                self.clock,
                channel=ticket["channel"],
                initiated_by=actor,
                reply_to=last,
                actor=actor,
            )
            if decision.allowed and decision.rule != Rule.REPLY:
                decisions.record_contact(session, phone, ticket["channel"], actor, now)
            result = {"allowed": decision.allowed, "rule": decision.rule, "reason": decision.reason}
        else:
            recent = last is not None and now - last <= self.settings.reply_window
            result = {
                "allowed": recent,
                "rule": Rule.REPLY if recent else Rule.DEBTOR_KNOWN,
                "reason": "Respuesta a un mensaje reciente."
                if recent
                else "Sin número registrado: solo se puede responder a un mensaje reciente.",
            }
        audit.record(
            session,
            now,
            AuditAction.AGENT_REPLY if result["allowed"] else AuditAction.AGENT_REPLY_BLOCKED,
            phone,
            {"ticket": ticket["id"], "rule": result["rule"]},
            actor=actor,
        )
        return result

    def promise(
        self,
        session: Session,
        ticket: dict[str, Any],
        agent: str,
        amount: Decimal,
        due: date,
    ) -> dict[str, str]:
        """A promise on the debtor's behalf, checked as if the debtor made it in the chat."""
        phone = self.verified_phone(session, ticket["id"])
        promise = record_promise(
            session,
            phone,
            amount.quantize(Decimal("0.01")),
            due,
            self.profile(session, phone),
            self.clock,
            ticket["channel"],
            created_by=f"agent:{agent}",
        )
        return {
            "folio": promise.folio,
            "text": f"Promesa de {format_mxn(promise.amount)} para el {due:%d/%m/%Y}, "
            f"folio {promise.folio}.",
        }

    def agreement(
        self, session: Session, ticket: dict[str, Any], agent: str, code: str
    ) -> dict[str, str]:
        """A plan agreement on the debtor's behalf: the offer is recomputed and stored exactly
        as when the debtor picks it in the chat (same checks, same folio)."""
        phone = self.verified_phone(session, ticket["id"])
        agreement, offer = accept_offer(
            session,
            phone,
            code,
            self.profile(session, phone),
            self.clock,
            ticket["channel"],
            created_by=f"agent:{agent}",
        )
        return {
            "folio": agreement.folio,
            "text": f"Convenio {agreement.folio}: total {format_mxn(agreement.total_amount)}"
            f" en {len(offer.installments)} pago(s).",
        }
