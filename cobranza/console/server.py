"""The agents' console: a web app and the JSON API behind it (also for an existing helpdesk).

``python -m cobranza.console`` (started by ``make run`` on ``CONSOLE_PORT``, default 5006).
It is the only holder of Rasa's API token (``RASA_API_TOKEN``): it reads transcripts from Rasa,
delivers an agent's reply on the debtor's own channel (slot ``mensaje_asesor`` +
``action_mensaje_asesor`` with ``output_channel=latest``) and resumes the assistant. Agents log
in with the accounts of ``cobranza agent add``; every step is audited with the agent's name, and
the compliance engine is asked before any agent message.

API (JSON; the session is an HttpOnly cookie ``consola_sesion`` or ``Authorization: Bearer``):
``POST /api/login``, ``POST /api/logout``, ``GET /api/me``, ``GET /api/tickets``,
``GET /api/tickets/{id}``, ``POST /api/tickets/{id}/claim|reply|promise|agreement|close|resume``.
Every POST carries the header ``X-Consola: 1`` (a cross-site form cannot set it) and, when the
browser sends an ``Origin``, it must be the console's own. Logins are throttled per user name
and per client address (cobranza/services/agents.py); sessions end after 8 h, after
``CONSOLE_IDLE_TIMEOUT_MINUTES`` without a request (the page's background polls, marked
``X-Consola-Poll: 1``, do not count), at logout, or when the agent is disabled.

A conversation id (the sender id on its channel) is opaque to the console: the console's own
URLs name tickets by number, and Rasa's URLs carry the id percent-encoded. Rasa 3.6's routes do
not decode a conversation id, so an id that encoding would change could only be reached under
another id: the console does not talk to Rasa about such a conversation at all (no transcript,
no reply, no resume) instead of reaching the wrong one.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import math
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
from aiohttp import web
from sqlalchemy.orm import Session
from yarl import URL

from cobranza import db, responses
from cobranza.clock import Clock, SystemClock
from cobranza.compliance import decisions
from cobranza.config import PROJECT_ROOT, ConfigError, ConsoleSecurity, Settings, load_settings
from cobranza.db import audit
from cobranza.db.models import Agent, HandoffTicket
from cobranza.db.vocabulary import AuditAction, TicketOutcome, TicketStatus
from cobranza.domain.money import format_mxn, to_pesos
from cobranza.domain.phones import mask_phone
from cobranza.errors import CobranzaError, NotFound, Rejected
from cobranza.personas.profiles import PersonaProfile, load_profiles
from cobranza.services import agents, tickets, views
from cobranza.services.plans import UnknownOffer, accept_offer, current_offers
from cobranza.services.promises import PromiseRejected, record_promise

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "consola_sesion"
CSRF_HEADER, CSRF_VALUE = "X-Consola", "1"
POLL_HEADER = "X-Consola-Poll"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Characters a URL path segment may carry as they are (RFC 3986 pchar minus the unreserved
# ones, which quote() never touches): an id made only of these reaches Rasa byte for byte.
PATH_SAFE = "!$&'()*+,;=:@"
MAX_TICKET_DIGITS = 18
MESSAGES = {
    "locked": "Demasiados intentos fallidos. Espera unos minutos y vuelve a intentar.",
    "forged": (
        "Solicitud rechazada: no viene de la consola (falta su encabezado o llegó de otro "
        "origen). Recarga la página."
    ),
    "credentials": "Escribe tu usuario y tu contraseña.",
    "unaddressable": (
        "Esta conversación tiene un identificador que no se puede usar con el asistente: no se "
        "puede leer ni responder desde la consola. Cierra el ticket con un resultado."
    ),
    "unverified": (
        "No se puede registrar: número no verificado. La persona debe confirmar la fecha de "
        "nacimiento del titular en esta conversación."
    ),
    "unaddressable_note": (
        "La conversación no se puede mostrar: su identificador no se puede usar con el asistente."
    ),
}
WHATSAPP_WINDOW = timedelta(hours=24)
MAX_REPLY = 4000
OUTCOME_LABELS = {
    TicketOutcome.PROMESA_REGISTRADA: "Promesa registrada",
    TicketOutcome.CONVENIO_REGISTRADO: "Convenio registrado",
    TicketOutcome.ACLARACION_RESUELTA: "Aclaración resuelta",
    TicketOutcome.SIN_ACUERDO: "Sin acuerdo",
    TicketOutcome.NUMERO_EQUIVOCADO: "Número equivocado",
    TicketOutcome.DEVUELTO_AL_ASISTENTE: "Devuelto al asistente",
}
PROMISE_REASONS = {
    "monto_invalido": "El monto debe ser mayor a cero.",
    "monto_excede": "El monto es mayor al saldo.",
    "fecha_pasada": "La fecha ya pasó.",
    "fecha_lejana": "La fecha está más lejos de lo que permite la política de este deudor.",
}
_PLAN_LABELS = {
    "pay_in_full": "Pago total",
    "settlement": "Liquidación con descuento",
    "installments": "Pagos",
}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
}


@dataclass(frozen=True)
class ConsoleConfig:
    rasa_url: str
    rasa_token: str
    port: int

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> ConsoleConfig:
        env = dict(os.environ if env is None else env)
        token = env.get("RASA_API_TOKEN", "").strip()
        if not token:
            token_file = PROJECT_ROOT / "var" / "rasa_api_token"
            token = token_file.read_text().strip() if token_file.is_file() else ""
        if not token:
            raise ConfigError("the console needs RASA_API_TOKEN (scripts/run.sh sets it)")
        port = env.get("CONSOLE_PORT", "").strip() or "5006"
        rasa_port = env.get("RASA_PORT", "").strip() or "5005"
        if not (port.isdigit() and rasa_port.isdigit()):
            raise ConfigError("CONSOLE_PORT and RASA_PORT must be port numbers")
        url = env.get("RASA_URL", "").strip() or f"http://127.0.0.1:{rasa_port}"
        return cls(rasa_url=url.rstrip("/"), rasa_token=token, port=int(port))


class RasaError(CobranzaError):
    """Rasa's HTTP API refused or failed."""


class UnaddressableConversation(Rejected):
    """A conversation id that would reach Rasa changed by percent-encoding, or as a dot
    segment that clients and proxies resolve: Rasa would read or write another conversation."""


def addressable(sender_id: str) -> bool:
    """True when the id travels in a URL path segment exactly as it is."""
    return sender_id not in ("", ".", "..") and quote(sender_id, safe=PATH_SAFE) == sender_id


def conversation_path(sender_id: str, suffix: str) -> str:
    """``/conversations/<id>/<suffix>`` with the id escaped; refuses ids escaping would change
    (see the module docstring)."""
    if not addressable(sender_id):
        raise UnaddressableConversation(sender_id)
    return f"/conversations/{quote(sender_id, safe=PATH_SAFE)}/{suffix}"


class RasaApi:
    """The few calls the console makes to Rasa's token-protected HTTP API."""

    def __init__(self, config: ConsoleConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(
        self, method: str, path: str, body: Any = None, **params: str
    ) -> dict[str, Any]:
        session = await self._client()
        # encoded=True: the path is sent as built (already escaped), never re-quoted or resolved.
        url = URL(f"{self.config.rasa_url}{path}", encoded=True).update_query(
            {"token": self.config.rasa_token, **params}
        )
        async with session.request(method, url, json=body) as reply:
            if reply.status >= 400:
                raise RasaError(f"Rasa {method} {path.rsplit('/', 1)[-1]}: HTTP {reply.status}")
            result: dict[str, Any] = await reply.json(content_type=None) or {}
            return result

    async def tracker(self, sender_id: str) -> dict[str, Any]:
        return await self._call("GET", conversation_path(sender_id, "tracker"))

    async def append(self, sender_id: str, events: list[dict[str, Any]]) -> None:
        await self._call("POST", conversation_path(sender_id, "tracker/events"), events)

    async def resume(self, sender_id: str) -> None:
        """Un-pause, and listen: without ``action_listen`` the next message would follow the
        hand-off action in the policy's eyes and no rule would answer it."""
        await self.append(
            sender_id, [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
        )

    async def execute(self, sender_id: str, action: str) -> None:
        await self._call(
            "POST",
            conversation_path(sender_id, "execute"),
            {"name": action},
            output_channel="latest",
        )


def transcript(tracker: dict[str, Any]) -> list[dict[str, Any]]:
    """Debtor, assistant and agent messages in order (an agent's reply is the bot message that
    follows ``action_mensaje_asesor``)."""
    lines: list[dict[str, Any]] = []
    last_action = ""
    for event in tracker.get("events") or []:
        kind = event.get("event")
        if kind == "action":
            last_action = str(event.get("name") or "")
        elif kind in ("user", "bot") and event.get("text"):
            who = "deudor" if kind == "user" else "asistente"
            if kind == "bot" and last_action == "action_mensaje_asesor":
                who = "asesor"
            at = datetime.fromtimestamp(float(event.get("timestamp") or 0), tz=timezone.utc)
            lines.append({"from": who, "text": str(event["text"]), "at": at.isoformat()})
    return lines


def last_debtor_message(lines: list[dict[str, Any]]) -> datetime | None:
    for line in reversed(lines):
        if line["from"] == "deudor":
            return datetime.fromisoformat(line["at"])
    return None


def canned_replies(domain_path: Path = responses.DOMAIN) -> list[dict[str, str]]:
    """``utter_asesor_*`` from domain.yml (the conduct check scans them like every response)."""
    return [
        {"title": name.replace("_", " "), "text": text}
        for name, text in responses.first_texts("utter_asesor_", domain_path).items()
    ]


class Console:
    def __init__(
        self,
        settings: Settings,
        config: ConsoleConfig,
        clock: Clock | None = None,
        profiles: dict[str, PersonaProfile] | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.clock = clock or SystemClock()
        self.sessions = db.make_session_factory(db.make_engine(settings.database_url))
        self.profiles = profiles or load_profiles(settings.persona_profiles_dir)
        self.rasa = RasaApi(config)
        self.canned = canned_replies()

    async def db(self, work: Callable[[Session], Any]) -> Any:
        def run() -> Any:
            with db.session_scope(self.sessions) as session:
                return work(session)

        return await asyncio.to_thread(run)

    # --- auth ---------------------------------------------------------------------------------

    @staticmethod
    def token_of(request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer ") :].strip()
        return request.cookies.get(COOKIE, "")

    @property
    def security(self) -> ConsoleSecurity:
        return self.settings.console

    async def agent_of(self, request: web.Request) -> dict[str, str]:
        token = self.token_of(request)
        activity = request.headers.get(POLL_HEADER) != "1"

        def find(session: Session) -> dict[str, str] | None:
            agent = (
                agents.agent_for_token(
                    session, token, self.clock, self.security.idle_timeout, activity
                )
                if token
                else None
            )
            return _agent_dict(agent) if agent else None

        agent = await self.db(find)
        if agent is None:
            raise _error(401, "Tu sesión expiró o no has entrado. Vuelve a entrar.")
        return dict(agent)

    async def login(self, request: web.Request) -> web.Response:
        body = await _json(request)
        username, password = body.get("username", ""), body.get("password", "")
        if not isinstance(username, str) or not isinstance(password, str):
            raise _error(422, MESSAGES["credentials"])
        address = client_address(request, self.security.trusted_proxies)
        try:
            login = await asyncio.to_thread(
                agents.log_in,
                self.sessions,
                username,
                password,
                address,
                self.clock,
                self.security,
            )
        except agents.LoginLocked as exc:
            seconds = max(1, math.ceil(exc.retry_after.total_seconds()))
            raise _error(429, MESSAGES["locked"], {"Retry-After": str(seconds)}) from exc
        if login is None:
            raise _error(401, "Usuario o contraseña incorrectos.")
        agent = _agent_dict(login.agent)
        reply = web.json_response(
            {"agent": agent, "expires_at": login.expires_at.isoformat(), "token": login.token}
        )
        reply.set_cookie(
            COOKIE,
            login.token,
            httponly=True,
            samesite="Strict",
            max_age=agents.SESSION_HOURS * 3600,
            secure=self.security.secure_cookie or request.secure,
            path="/",
        )
        return reply

    async def logout(self, request: web.Request) -> web.Response:
        token = self.token_of(request)
        if token:
            await self.db(lambda session: agents.log_out(session, token))
        reply = web.json_response({"ok": True})
        reply.del_cookie(COOKIE, path="/")
        return reply

    async def me(self, request: web.Request) -> web.Response:
        return web.json_response({"agent": await self.agent_of(request)})

    # --- tickets ------------------------------------------------------------------------------

    async def list_tickets(self, request: web.Request) -> web.Response:
        await self.agent_of(request)
        rows = await self.db(lambda session: tickets.queue(session, self.clock.now()))
        return web.json_response({"tickets": rows})

    async def _ticket(self, request: web.Request) -> dict[str, Any]:
        raw = request.match_info["ticket_id"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_TICKET_DIGITS):
            raise _error(404, "No existe ese ticket.")
        ticket_id = int(raw)

        def work(session: Session) -> dict[str, Any] | None:
            ticket = session.get(HandoffTicket, ticket_id)
            if ticket is None:
                return None
            now = self.clock.now()
            return tickets.describe(ticket, now, tickets.verified(session, ticket, now))

        found = await self.db(work)
        if found is None:
            raise _error(404, "No existe ese ticket.")
        return dict(found)

    def _debtor_file(
        self, session: Session, ticket: dict[str, Any], agent: dict[str, str]
    ) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
        """The debtor's file and the offers, only while the conversation is verified (checked
        again here, in the transaction that reads the file); each file handed out is audited
        with the agent and the number."""
        row = session.get(HandoffTicket, ticket["id"])
        if row is None or not tickets.verified(session, row, self.clock.now()):
            return None, []
        phone = str(row.debtor_phone)
        debtor = self._debtor(session, phone)
        if debtor is None:
            return None, []
        audit.record(
            session,
            self.clock.now(),
            AuditAction.AGENT_VIEWED_DEBTOR,
            phone,
            {"ticket": ticket["id"]},
            actor=f"agent:{agent['username']}",
        )
        return debtor, self._offers(session, phone)

    def _debtor(self, session: Session, phone: str) -> dict[str, Any] | None:
        try:
            report = views.debtor_report(session, phone, self.profiles, self.clock)
        except NotFound:
            return None
        return {
            "name": report["full_name"],
            "phone": report["phone"],
            "persona": report["persona"],
            "balance_text": report["balance_text"],
            "days_past_due": report["days_past_due"],
            "promises": views.debtor_promises(session, phone)[:5],
        }

    async def show_ticket(self, request: web.Request) -> web.Response:
        """The ticket, its transcript and, for a verified conversation, the debtor's file. The
        page's background polls get everything but the file (it is fetched, and audited, when
        the agent opens the ticket, after an action, or when the verification changes)."""
        agent = await self.agent_of(request)
        ticket = await self._ticket(request)
        reachable = addressable(ticket["sender_id"])
        lines = transcript(await self.rasa.tracker(ticket["sender_id"])) if reachable else []
        answer: dict[str, Any] = {
            "ticket": tickets.public(ticket),
            "identity": _identity(ticket),
            "conversation": {
                "addressable": reachable,
                "note": None if reachable else MESSAGES["unaddressable_note"],
            },
            "transcript": lines,
            "window": self._window(ticket["channel"], last_debtor_message(lines)),
            "canned": self.canned,
            "outcomes": [{"code": c.value, "label": OUTCOME_LABELS[c]} for c in TicketOutcome],
        }
        if request.headers.get(POLL_HEADER) != "1":
            debtor, offers = await self.db(
                lambda session: self._debtor_file(session, ticket, agent)
            )
            answer.update(debtor=debtor, offers=offers)
        return web.json_response(answer, dumps=_dumps)

    def _window(self, channel: str, last: datetime | None) -> dict[str, Any]:
        if channel != "whatsapp":
            return {"channel": channel, "open": True, "closes_at": None, "note": "Sin límite"}
        closes = last + WHATSAPP_WINDOW if last else None
        is_open = closes is not None and closes > self.clock.now()
        note = (
            f"Ventana de 24 h abierta hasta {closes:%Y-%m-%d %H:%M} UTC"
            if is_open and closes
            else "Ventana cerrada: solo se puede enviar una plantilla aprobada"
        )
        return {
            "channel": channel,
            "open": is_open,
            "closes_at": closes.isoformat() if closes else None,
            "note": note,
        }

    async def claim(self, request: web.Request) -> web.Response:
        agent = await self.agent_of(request)
        ticket = await self._ticket(request)
        won = await self.db(
            lambda session: tickets.claim(session, ticket["id"], agent["username"], self.clock)
        )
        if not won:
            fresh = await self._ticket(request)
            raise _error(409, f"Este ticket ya lo tomó {fresh['claimed_by'] or 'otra persona'}.")
        return web.json_response({"ticket": tickets.public(await self._ticket(request))})

    @staticmethod
    def _reachable(ticket: dict[str, Any]) -> None:
        if not addressable(ticket["sender_id"]):
            raise _error(422, MESSAGES["unaddressable"])

    def _mine(self, ticket: dict[str, Any], agent: dict[str, str]) -> None:
        if ticket["status"] != TicketStatus.CLAIMED or ticket["claimed_by"] != agent["username"]:
            raise _error(409, "Primero toma el ticket: está libre o lo atiende otra persona.")

    async def reply(self, request: web.Request) -> web.Response:
        agent = await self.agent_of(request)
        ticket = await self._ticket(request)
        self._mine(ticket, agent)
        self._reachable(ticket)
        text = str((await _json(request)).get("text", "")).strip()
        if not text or len(text) > MAX_REPLY:
            raise _error(422, f"Escribe una respuesta de 1 a {MAX_REPLY} caracteres.")
        lines = transcript(await self.rasa.tracker(ticket["sender_id"]))
        actor = f"agent:{agent['username']}"
        decision = await self.db(
            lambda session: self._decide(session, ticket, actor, last_debtor_message(lines))
        )
        if not decision["allowed"]:
            return web.json_response(
                {"error": f"No se envió: {decision['reason']}", "decision": decision}, status=422
            )
        await self.rasa.append(
            ticket["sender_id"],
            [{"event": "slot", "name": "mensaje_asesor", "value": text}],
        )
        await self.rasa.execute(ticket["sender_id"], "action_mensaje_asesor")
        logger.info("agent %s answered ticket %s", agent["username"], ticket["id"])
        return web.json_response({"sent": True, "decision": decision})

    def _decide(
        self, session: Session, ticket: dict[str, Any], actor: str, last: datetime | None
    ) -> dict[str, Any]:
        """The compliance engine decides; a new contact (not a reply) counts towards the caps.
        A web visitor without a known number can only be answered as a reply."""
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
            if decision.allowed and decision.rule != "reply":
                decisions.record_contact(session, phone, ticket["channel"], actor, now)
            result = {"allowed": decision.allowed, "rule": decision.rule, "reason": decision.reason}
        else:
            recent = last is not None and now - last <= self.settings.reply_window
            result = {
                "allowed": recent,
                "rule": "reply" if recent else "debtor_known",
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

    async def promise(self, request: web.Request) -> web.Response:
        agent = await self.agent_of(request)
        ticket = await self._ticket(request)
        self._mine(ticket, agent)
        body = await _json(request)
        try:
            amount = Decimal(str(body.get("amount", "")).replace(",", "").replace("$", ""))
            due = date.fromisoformat(str(body.get("date", "")))
        except (InvalidOperation, ValueError) as exc:
            raise _error(422, "Escribe el monto (p. ej. 1500.00) y la fecha.") from exc

        def work(session: Session) -> dict[str, str]:
            phone = self._verified_phone(session, ticket)
            profile = self._profile(session, phone)
            promise = record_promise(
                session,
                phone,
                amount.quantize(Decimal("0.01")),
                due,
                profile,
                self.clock,
                ticket["channel"],
                created_by=f"agent:{agent['username']}",
            )
            return {
                "folio": promise.folio,
                "text": f"Promesa de {format_mxn(promise.amount)} para el {due:%d/%m/%Y}, "
                f"folio {promise.folio}.",
            }

        try:
            result = await self.db(work)
        except PromiseRejected as exc:
            raise _error(422, PROMISE_REASONS.get(exc.reason, exc.reason)) from exc
        return web.json_response(result)

    def _verified_phone(self, session: Session, ticket: dict[str, Any]) -> str:
        """The debtor's number, in the transaction that records on the debtor's behalf; refused
        (422) unless the conversation's verification for that number is in force."""
        row = session.get(HandoffTicket, ticket["id"])
        if row is None or not tickets.verified(session, row, self.clock.now()):
            raise _error(422, MESSAGES["unverified"])
        return str(row.debtor_phone)

    def _profile(self, session: Session, phone: str) -> PersonaProfile:
        persona = views.session_context(session, phone, self.settings.default_time_zone)["persona"]
        return self.profiles.get(persona) or next(p for p in self.profiles.values() if p.fallback)

    def _offers(self, session: Session, phone: str) -> list[dict[str, str]]:
        """The offers the assistant would make now (the persona's rules), for the agent."""
        try:
            offers = current_offers(session, phone, self._profile(session, phone), self.clock)
        except NotFound:
            return []
        return [
            {
                "code": o.code,
                "label": f"{_PLAN_LABELS.get(o.plan_type, o.plan_type)}: "
                f"{len(o.installments)} pago(s), total {format_mxn(to_pesos(o.total))}",
            }
            for o in offers
        ]

    async def agreement(self, request: web.Request) -> web.Response:
        """A plan agreement on the debtor's behalf: the offer is recomputed and stored exactly as
        when the debtor picks it in the chat (same checks, same folio)."""
        agent = await self.agent_of(request)
        ticket = await self._ticket(request)
        self._mine(ticket, agent)
        code = str((await _json(request)).get("offer", ""))

        def work(session: Session) -> dict[str, str]:
            phone = self._verified_phone(session, ticket)
            agreement, offer = accept_offer(
                session,
                phone,
                code,
                self._profile(session, phone),
                self.clock,
                ticket["channel"],
                created_by=f"agent:{agent['username']}",
            )
            return {
                "folio": agreement.folio,
                "text": f"Convenio {agreement.folio}: total {format_mxn(agreement.total_amount)}"
                f" en {len(offer.installments)} pago(s).",
            }

        try:
            result = await self.db(work)
        except UnknownOffer as exc:
            raise _error(422, "Esa oferta ya no está disponible para este deudor.") from exc
        return web.json_response(result)

    async def close(self, request: web.Request) -> web.Response:
        agent = await self.agent_of(request)
        ticket = await self._ticket(request)
        outcome = str((await _json(request)).get("outcome", ""))
        try:
            await self.db(
                lambda session: tickets.close(
                    session, ticket["id"], agent["username"], outcome, self.clock
                )
            )
        except tickets.TicketError as exc:
            raise _error(409, str(exc)) from exc
        if addressable(ticket["sender_id"]):
            await self.rasa.resume(ticket["sender_id"])
        else:  # nobody can reach it through Rasa's API; the ticket is closed all the same
            logger.warning("ticket %s closed; its conversation id cannot be resumed", ticket["id"])
        return web.json_response({"ok": True})

    async def resume(self, request: web.Request) -> web.Response:
        agent = await self.agent_of(request)
        ticket = await self._ticket(request)
        self._mine(ticket, agent)
        self._reachable(ticket)
        try:
            await self.db(
                lambda session: tickets.hand_back(
                    session, ticket["id"], agent["username"], self.clock
                )
            )
        except tickets.TicketError as exc:
            raise _error(409, str(exc)) from exc
        await self.rasa.resume(ticket["sender_id"])
        logger.info("ticket %s handed back for %s", ticket["id"], mask_phone(ticket["sender_id"]))
        return web.json_response({"ok": True})

    # --- the page -----------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        return _static("index.html")

    async def asset(self, request: web.Request) -> web.Response:
        return _static(request.match_info["name"])

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[_errors, _csrf(self.security)], client_max_size=64 * 1024
        )
        routes: list[tuple[str, str, Callable[[web.Request], Awaitable[web.StreamResponse]]]] = [
            ("GET", "/", self.page),
            ("GET", "/static/{name}", self.asset),
            ("POST", "/api/login", self.login),
            ("POST", "/api/logout", self.logout),
            ("GET", "/api/me", self.me),
            ("GET", "/api/tickets", self.list_tickets),
            ("GET", "/api/tickets/{ticket_id}", self.show_ticket),
            ("POST", "/api/tickets/{ticket_id}/claim", self.claim),
            ("POST", "/api/tickets/{ticket_id}/reply", self.reply),
            ("POST", "/api/tickets/{ticket_id}/promise", self.promise),
            ("POST", "/api/tickets/{ticket_id}/agreement", self.agreement),
            ("POST", "/api/tickets/{ticket_id}/close", self.close),
            ("POST", "/api/tickets/{ticket_id}/resume", self.resume),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)

        async def cleanup(_: web.Application) -> None:
            await self.rasa.close()

        app.on_cleanup.append(cleanup)  # type: ignore[arg-type]
        return app


def _identity(ticket: dict[str, Any]) -> dict[str, Any]:
    """The number the conversation is about, and whether it was verified in the conversation."""
    verified = bool(ticket["verified"])
    return {
        "verified": verified,
        "phone": ticket["claimed_phone"],
        "label": "número verificado" if verified else "número no verificado",
    }


def _agent_dict(agent: Agent) -> dict[str, str]:
    return {"username": str(agent.username), "display_name": str(agent.display_name)}


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> web.HTTPException:
    classes: dict[int, type[web.HTTPException]] = {
        401: web.HTTPUnauthorized,
        403: web.HTTPForbidden,
        404: web.HTTPNotFound,
        409: web.HTTPConflict,
        422: web.HTTPUnprocessableEntity,
        429: web.HTTPTooManyRequests,
    }
    return classes[status](
        text=_dumps({"error": message}),
        content_type="application/json",
        headers={**SECURITY_HEADERS, **(headers or {})},
    )


def client_address(request: web.Request, trusted_proxies: frozenset[str]) -> str:
    """The address login failures are counted under: the peer, or, when the peer is a trusted
    proxy, the rightmost ``X-Forwarded-For`` hop that is not one (what the last trusted proxy
    saw; everything left of it is whatever the client chose to write)."""
    peer = _ip(request.remote or "") or "desconocida"
    if peer not in trusted_proxies:
        return peer
    hops = ",".join(request.headers.getall("X-Forwarded-For", [])).split(",")
    for hop in reversed([h.strip() for h in hops if h.strip()]):
        address = _ip(hop)
        if address is None:
            return peer
        if address not in trusted_proxies:
            return address
    return peer


def _ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def _same_origin(request: web.Request, security: ConsoleSecurity) -> bool:
    """A browser names the page that sent the request in ``Origin``; it must be the console
    itself: the host the request was sent to (as a trusted proxy received it, when there is
    one), over https when the console is served over TLS."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser, or a same-origin request of an older browser
    host = request.host
    forwarded = request.headers.get("X-Forwarded-Host", "").split(",")[-1].strip()
    if forwarded and _ip(request.remote or "") in security.trusted_proxies:
        host = forwarded
    parts = urlsplit(origin)
    schemes = {"https"} if security.secure_cookie else {"http", "https"}
    return parts.scheme in schemes and bool(parts.netloc) and parts.netloc == host


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _csrf(
    security: ConsoleSecurity,
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """State-changing requests must come from the console's page (or a helpdesk that sets the
    header): a cross-site form cannot set a custom header, and a cross-site ``fetch`` that sets
    one needs a CORS preflight this server never grants. The cookie is also SameSite=Strict."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in SAFE_METHODS and (
            request.headers.get(CSRF_HEADER) != CSRF_VALUE or not _same_origin(request, security)
        ):
            raise _error(403, MESSAGES["forged"])
        return await handler(request)

    return check


async def _json(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":  # also what keeps cross-site forms out
        raise _error(422, "Envía JSON (Content-Type: application/json).")
    try:
        body = await request.json()
    except ValueError as exc:
        raise _error(422, "El cuerpo no es JSON válido.") from exc
    if not isinstance(body, dict):
        raise _error(422, "Se esperaba un objeto JSON.")
    return body


def _static(name: str) -> web.Response:
    files = {p.name: p for p in STATIC.iterdir() if p.is_file()} if STATIC.is_dir() else {}
    path = files.get(name)
    if path is None:
        raise web.HTTPNotFound(text="no encontrado")
    types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
    return web.Response(
        body=path.read_bytes(),
        content_type=types.get(path.suffix, "application/octet-stream"),
        charset="utf-8",
        headers=SECURITY_HEADERS,
    )


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException:
        raise
    except UnaddressableConversation as exc:  # every handler checks first; this is the net
        raise _error(422, MESSAGES["unaddressable"]) from exc
    except RasaError as exc:
        logger.warning("console: %s", exc)
        raise web.HTTPBadGateway(
            text=_dumps({"error": "El asistente no respondió; intenta de nuevo."}),
            content_type="application/json",
        ) from exc
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def main() -> None:
    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    config = ConsoleConfig.from_env()
    console = Console(settings, config)
    print(f"Consola de asesores: http://localhost:{config.port}/", flush=True)
    host = os.environ.get("CONSOLE_HOST", "").strip() or "127.0.0.1"  # behind a proxy in production
    web.run_app(console.app(), host=host, port=config.port, print=None)
