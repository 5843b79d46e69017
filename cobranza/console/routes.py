"""The console's HTTP side: aiohttp routes, the CSRF, access and error middlewares, cookies and
the static page. A route reads the request, calls one use case (cobranza/console/handlers.py) and
turns its answer, or our error, into a JSON response; nothing here touches the database.

Access: every route is declared once, in :meth:`Routes.application`'s table, with who may call
it: :data:`PUBLIC` (no session: the page, its files, login, logout, and the payments push with
its own token), :data:`AGENTS` (agents and supervisors) or :data:`SUPERVISORS`. The role is the
session's account's, read on every request; nothing the client sends names it. The access
middleware answers 401 without a live session and 403 for a role not declared, before the
route reads the body; a route registered without a declaration is refused (and fails
tests/integration/console/test_console_roles.py).

Errors: a :class:`handlers.Told` refusal answers with its message and the status of its kind
(404 not found, 422 rejected, 409 conflict, 503 unavailable); any other error of ours gets a
generic answer of its kind; anything else is a bug: logged with the traceback (the route's
pattern, never the request's data) and answered 500 with a technical-error message."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web

from cobranza.config import ConsoleSecurity
from cobranza.console.handlers import Handlers, Told, Unavailable, agent_dict
from cobranza.console.rasa import RasaError, UnaddressableConversation
from cobranza.domain import payment_files
from cobranza.domain.kpis import DIMENSIONS, SPLIT_LABELS, SPLITS, kpis_csv
from cobranza.domain.vocabulary import ConsoleRole
from cobranza.errors import CobranzaError, Conflict, NotFound, Rejected
from cobranza.services import agents
from cobranza.services.kpis.scope import FIRST_DAY, LAST_DAY, MAX_DAYS_BY_DAY

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
VENDOR = STATIC / "vendor"  # libraries copied from npm (package.json: npm run vendor-console)
COOKIE = "consola_sesion"
CSRF_HEADER, CSRF_VALUE = "X-Consola", "1"
POLL_HEADER = "X-Consola-Poll"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Lenders' systems push payments here with their own bearer token (not a browser, no cookie):
# the CSRF check does not apply, and nothing but that token authenticates it.
PAYMENTS_PATH = "/api/payments"
PAYMENT_TYPES = ("text/csv", "application/json")
MAX_TICKET_DIGITS = 18
MAX_NAME = 60  # a user name, as agents.USERNAME allows
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
    "expired": "Tu sesión expiró o no has entrado. Vuelve a entrar.",
    "role": "Tu rol no permite esta acción.",
    "wrong": "Usuario o contraseña incorrectos.",
    "rasa": "El asistente no respondió; intenta de nuevo.",
    "technical": "Tuvimos un problema técnico. Intenta de nuevo en unos minutos.",
    NotFound.__name__: "No se encontró lo que pediste.",
    Conflict.__name__: "El ticket cambió mientras tanto; recarga la página.",
    Rejected.__name__: "No se pudo completar la solicitud.",
}
# The dashboard's questions: ?from=AAAA-MM-DD&to=AAAA-MM-DD&by=SPLIT, each optional (the last
# 30 whole local days, to yesterday; no split). The trend is day by day, so a range is at most
# MAX_DAYS_BY_DAY.
KPI_PARAMS = frozenset({"from", "to", "by"})
MAX_KPI_QUERY = 200  # characters: three short parameters
DEFAULT_KPI_DAYS = 30
SIMULATED_COLUMN = ("datos", "simulados: no son de ningún acreedor")
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

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Access:
    """Who may call a route: the roles of a live session, or nobody in particular (no roles:
    no session needed)."""

    roles: frozenset[str]

    @property
    def public(self) -> bool:
        return not self.roles


PUBLIC = Access(frozenset())
AGENTS = Access(frozenset(ConsoleRole.values()))
SUPERVISORS = Access(frozenset({ConsoleRole.SUPERVISOR.value}))
# Every registered route and its declared access, kept on the app (the middleware and the
# tests read the same table).
ACCESS = web.AppKey("access", dict)
AGENT = "agent"  # request key: the session's agent, set by the access middleware


class Routes:
    """One method per route; :meth:`application` wires them with the middlewares."""

    def __init__(self, handlers: Handlers) -> None:
        self.h = handlers

    @property
    def security(self) -> ConsoleSecurity:
        return self.h.security

    # --- auth ---------------------------------------------------------------------------------

    @staticmethod
    def token_of(request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            return header[len("Bearer ") :].strip()
        return request.cookies.get(COOKIE, "")

    async def agent_of(self, request: web.Request) -> dict[str, str]:
        activity = request.headers.get(POLL_HEADER) != "1"
        agent = await self.h.agent(self.token_of(request), activity)
        if agent is None:
            raise error(401, MESSAGES["expired"])
        return agent

    @staticmethod
    def current(request: web.Request) -> dict[str, str]:
        """The session's agent, as the access middleware found it (routes open to a role only)."""
        agent: dict[str, str] = request[AGENT]
        return agent

    def access(self) -> Middleware:
        """401 without a live session, 403 for a role the route does not declare; a route
        without a declaration is a bug (500). Unknown paths go on to aiohttp's 404/405."""

        @web.middleware
        async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
            if request.match_info.http_exception is not None:
                return await handler(request)
            access = request.app[ACCESS].get(request.match_info.route)
            if access is None:
                logger.error(
                    "console: %s %s has no declared access", request.method, _route(request)
                )
                raise error(500, MESSAGES["technical"])
            if not access.public:
                agent = await self.agent_of(request)
                if agent["role"] not in access.roles:
                    logger.warning(
                        "console: role %s refused on %s %s",
                        agent["role"],
                        request.method,
                        _route(request),
                    )
                    raise error(403, MESSAGES["role"])
                request[AGENT] = agent
            return await handler(request)

        return check

    async def login(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        username, password = body.get("username", ""), body.get("password", "")
        if not isinstance(username, str) or not isinstance(password, str):
            raise error(422, MESSAGES["credentials"])
        address = client_address(request, self.security.trusted_proxies)
        try:
            login = await self.h.log_in(username, password, address)
        except agents.LoginLocked as exc:
            seconds = max(1, math.ceil(exc.retry_after.total_seconds()))
            raise error(429, MESSAGES["locked"], {"Retry-After": str(seconds)}) from exc
        if login is None:
            raise error(401, MESSAGES["wrong"])
        reply = web.json_response(
            {
                "agent": agent_dict(login.agent),
                "expires_at": login.expires_at.isoformat(),
                "token": login.token,
            }
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
        await self.h.log_out(self.token_of(request))
        reply = web.json_response({"ok": True})
        reply.del_cookie(COOKIE, path="/")
        return reply

    async def me(self, request: web.Request) -> web.Response:
        return web.json_response({"agent": self.current(request)})

    # --- tickets ------------------------------------------------------------------------------

    async def list_tickets(self, request: web.Request) -> web.Response:
        return web.json_response({"tickets": await self.h.queue()})

    async def ticket_of(self, request: web.Request) -> dict[str, Any]:
        raw = request.match_info["ticket_id"]
        if not (raw.isascii() and raw.isdigit() and len(raw) <= MAX_TICKET_DIGITS):
            raise error(404, "No existe ese ticket.")
        return await self.h.ticket(int(raw))

    async def show_ticket(self, request: web.Request) -> web.Response:
        """The page's background polls get everything but the debtor's file (it is fetched, and
        audited, when the agent opens the ticket, after an action, or when the verification
        changes)."""
        agent = self.current(request)
        ticket = await self.ticket_of(request)
        with_file = request.headers.get(POLL_HEADER) != "1"
        return web.json_response(await self.h.show(ticket, agent, with_file), dumps=dumps)

    async def claim(self, request: web.Request) -> web.Response:
        agent = self.current(request)
        ticket = await self.ticket_of(request)
        return web.json_response({"ticket": await self.h.claim(ticket, agent)})

    async def reply(self, request: web.Request) -> web.Response:
        agent = self.current(request)
        ticket = await self.ticket_of(request)
        self.h.mine(ticket, agent)
        self.h.reachable(ticket)
        text = str((await read_json(request)).get("text", ""))
        decision = await self.h.reply(ticket, agent, text)
        if not decision["allowed"]:
            return web.json_response(
                {"error": f"No se envió: {decision['reason']}", "decision": decision}, status=422
            )
        return web.json_response({"sent": True, "decision": decision})

    async def promise(self, request: web.Request) -> web.Response:
        agent = self.current(request)
        ticket = await self.ticket_of(request)
        self.h.mine(ticket, agent)
        body = await read_json(request)
        try:
            amount = Decimal(str(body.get("amount", "")).replace(",", "").replace("$", ""))
            due = date.fromisoformat(str(body.get("date", "")))
        except (InvalidOperation, ValueError) as exc:  # parsing the agent's input, not a lookup
            raise error(422, "Escribe el monto (p. ej. 1500.00) y la fecha.") from exc
        return web.json_response(await self.h.promise(ticket, agent, amount, due))

    async def agreement(self, request: web.Request) -> web.Response:
        agent = self.current(request)
        ticket = await self.ticket_of(request)
        self.h.mine(ticket, agent)
        code = str((await read_json(request)).get("offer", ""))
        return web.json_response(await self.h.agreement(ticket, agent, code))

    async def close(self, request: web.Request) -> web.Response:
        agent = self.current(request)
        ticket = await self.ticket_of(request)
        outcome = str((await read_json(request)).get("outcome", ""))
        await self.h.close_ticket(ticket, agent, outcome)
        return web.json_response({"ok": True})

    async def resume(self, request: web.Request) -> web.Response:
        agent = self.current(request)
        ticket = await self.ticket_of(request)
        await self.h.resume(ticket, agent)
        return web.json_response({"ok": True})

    # --- supervisors ----------------------------------------------------------------------------

    async def queues(self, request: web.Request) -> web.Response:
        return web.json_response(await self.h.queues(), dumps=dumps)

    async def reassign(self, request: web.Request) -> web.Response:
        supervisor = self.current(request)
        ticket = await self.ticket_of(request)
        body = await read_json(request)
        to = body.get("to")
        if not is_name(to):
            raise error(422, "Elige el asesor que recibirá el ticket.")
        holder = holder_of(body, allow_unclaimed=True)
        return web.json_response(
            {"ticket": await self.h.reassign(ticket, holder, str(to), supervisor)}
        )

    async def release(self, request: web.Request) -> web.Response:
        supervisor = self.current(request)
        ticket = await self.ticket_of(request)
        holder = holder_of(await read_json(request), allow_unclaimed=False)
        return web.json_response({"ticket": await self.h.release(ticket, holder, supervisor)})

    async def activity(self, request: web.Request) -> web.Response:
        """``?from=YYYY-MM-DD&to=YYYY-MM-DD&limit=N&before=ID`` (all optional: the last 7 days,
        50 per page)."""
        username = request.match_info["username"]
        if not agents.USERNAME.fullmatch(username):
            raise error(404, "No existe ese asesor.")
        query = request.query
        try:
            first = optional(query.get("from"), date.fromisoformat)
            last = optional(query.get("to"), date.fromisoformat)
            limit = optional(query.get("limit"), small_int)
            before = optional(query.get("before"), small_int)
        except ValueError as exc:  # parsing the client's query, not a lookup
            raise error(422, "Fechas AAAA-MM-DD; página y límite, números enteros.") from exc
        answer = await self.h.activity(username, first, last, limit, before)
        return web.json_response(answer, dumps=dumps)

    async def experiments(self, request: web.Request) -> web.Response:
        return web.json_response(await self.h.experiments(), dumps=dumps)

    async def experiment(self, request: web.Request) -> web.Response:
        """The name is only ever a key among the loaded experiments, never a path."""
        name = request.match_info["experiment"]
        return web.json_response(await self.h.experiment(name), dumps=dumps)

    # --- the supervisors' dashboard -----------------------------------------------------------

    async def kpis(self, request: web.Request) -> web.Response:
        """``GET /api/supervisor/kpis?from&to&by``: the KPIs (total and split), the trend, and
        each indicator's label, unit and definition (docs/kpis.md)."""
        question = kpi_question(request, self.h.today(), DIMENSIONS)
        board = await self.h.dashboard(*question)
        return web.json_response(board.as_dict(), dumps=dumps)

    async def kpis_csv(self, request: web.Request) -> web.Response:
        """``GET /api/supervisor/kpis.csv?from&to&by``: a row per group (``by=day`` too), a
        column per indicator; UTF-8 with a BOM, so that a spreadsheet reads the accents."""
        start, end, split = kpi_question(request, self.h.today(), SPLITS)
        report, simulated = await self.h.kpi_report(start, end, split)
        text = kpis_csv(report, SIMULATED_COLUMN if simulated else None)
        parts = ["indicadores", *(["simulados"] if simulated else []), str(start), str(end)]
        name = "_".join(parts + ([split] if split else [])) + ".csv"
        return web.Response(
            body=("\ufeff" + text).encode("utf-8"),
            content_type="text/csv",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # --- payments pushed by lenders ---------------------------------------------------------

    async def payments(self, request: web.Request) -> web.Response:
        """``POST /api/payments``: a payments CSV (``text/csv``) or ``{"payments": [...]}``
        (``application/json``), in the format of docs/payments.md, with ``Authorization:
        Bearer $PAYMENTS_API_TOKEN``. Answers the import report. 404 while no token is set,
        401 for a missing or wrong token, 415 for another content type, 413 over the size
        limit, 400 for a body that cannot be read as a whole."""
        expected = self.h.payments_token()
        if expected is None:
            raise error(404, "No encontrado.")
        header = request.headers.get("Authorization", "")
        given = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else ""
        # aiohttp keeps undecodable header bytes as surrogates: compared as they came
        if not given or not hmac.compare_digest(
            given.encode("utf-8", "surrogateescape"), expected.encode()
        ):
            raise error(401, "Token de pagos ausente o incorrecto.", {"WWW-Authenticate": "Bearer"})
        if request.content_type not in PAYMENT_TYPES:
            raise error(415, "Envía text/csv o application/json (docs/payments.md).")
        limit = payment_files.MAX_FILE_BYTES
        if request.content_length is not None and request.content_length > limit:
            raise error(413, f"El cuerpo pasa de {limit // (1024 * 1024)} MB; divídelo.")
        body = await request.content.read(limit + 1)
        if len(body) > limit or not request.content.at_eof():
            raise error(413, f"El cuerpo pasa de {limit // (1024 * 1024)} MB; divídelo.")
        source = f"api:{client_address(request, self.security.trusted_proxies)}"
        try:
            report = await self.h.import_payments(body, request.content_type, source)
        except payment_files.PaymentFileError as exc:
            raise error(400, str(exc)) from exc
        return web.json_response(report, dumps=dumps)

    # --- the page -----------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        return static("index.html")

    async def asset(self, request: web.Request) -> web.Response:
        return static(request.match_info["name"])

    async def vendor_asset(self, request: web.Request) -> web.Response:
        return static(request.match_info["name"], VENDOR)

    def application(self) -> web.Application:
        app = web.Application(
            middlewares=[errors, csrf(self.security), self.access()], client_max_size=64 * 1024
        )
        routes: list[tuple[str, str, Handler, Access]] = [
            ("GET", "/", self.page, PUBLIC),
            ("GET", "/static/{name}", self.asset, PUBLIC),
            ("GET", "/static/vendor/{name}", self.vendor_asset, PUBLIC),
            ("POST", "/api/login", self.login, PUBLIC),
            ("POST", "/api/logout", self.logout, PUBLIC),
            ("GET", "/api/me", self.me, AGENTS),
            ("GET", "/api/tickets", self.list_tickets, AGENTS),
            ("GET", "/api/tickets/{ticket_id}", self.show_ticket, AGENTS),
            ("POST", "/api/tickets/{ticket_id}/claim", self.claim, AGENTS),
            ("POST", "/api/tickets/{ticket_id}/reply", self.reply, AGENTS),
            ("POST", "/api/tickets/{ticket_id}/promise", self.promise, AGENTS),
            ("POST", "/api/tickets/{ticket_id}/agreement", self.agreement, AGENTS),
            ("POST", "/api/tickets/{ticket_id}/close", self.close, AGENTS),
            ("POST", "/api/tickets/{ticket_id}/resume", self.resume, AGENTS),
            ("GET", "/api/supervisor/queues", self.queues, SUPERVISORS),
            ("POST", "/api/supervisor/tickets/{ticket_id}/reassign", self.reassign, SUPERVISORS),
            ("POST", "/api/supervisor/tickets/{ticket_id}/release", self.release, SUPERVISORS),
            ("GET", "/api/supervisor/agents/{username}/activity", self.activity, SUPERVISORS),
            ("GET", "/api/supervisor/experiments", self.experiments, SUPERVISORS),
            ("GET", "/api/supervisor/experiments/{experiment}", self.experiment, SUPERVISORS),
            ("GET", "/api/supervisor/kpis", self.kpis, SUPERVISORS),
            ("GET", "/api/supervisor/kpis.csv", self.kpis_csv, SUPERVISORS),
            ("POST", PAYMENTS_PATH, self.payments, PUBLIC),  # its own bearer token
        ]
        declared = {app.router.add_route(m, path, h): access for m, path, h, access in routes}
        app[ACCESS] = declared

        async def cleanup(_: web.Application) -> None:
            await self.h.close()

        app.on_cleanup.append(cleanup)  # type: ignore[arg-type]
        return app


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, default=str)


ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    401: web.HTTPUnauthorized,
    403: web.HTTPForbidden,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
    413: web.HTTPRequestEntityTooLarge,
    415: web.HTTPUnsupportedMediaType,
    422: web.HTTPUnprocessableEntity,
    429: web.HTTPTooManyRequests,
    500: web.HTTPInternalServerError,
    502: web.HTTPBadGateway,
    503: web.HTTPServiceUnavailable,
}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> web.HTTPException:
    sizes = {"max_size": 0, "actual_size": 0} if status == 413 else {}
    return ERRORS[status](
        **sizes,  # type: ignore[arg-type]
        text=dumps({"error": message}),
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
    except ValueError:  # parsing a header, not a lookup
        return None


def same_origin(request: web.Request, security: ConsoleSecurity) -> bool:
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


def csrf(
    security: ConsoleSecurity,
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """State-changing requests must come from the console's page (or a helpdesk that sets the
    header): a cross-site form cannot set a custom header, and a cross-site ``fetch`` that sets
    one needs a CORS preflight this server never grants. The cookie is also SameSite=Strict."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path == PAYMENTS_PATH:  # machine to machine: its own token, no cookie
            return await handler(request)
        if request.method not in SAFE_METHODS and (
            request.headers.get(CSRF_HEADER) != CSRF_VALUE or not same_origin(request, security)
        ):
            raise error(403, MESSAGES["forged"])
        return await handler(request)

    return check


async def read_json(request: web.Request) -> dict[str, Any]:
    if request.content_type != "application/json":  # also what keeps cross-site forms out
        raise error(422, "Envía JSON (Content-Type: application/json).")
    try:
        body = await request.json()
    except ValueError as exc:  # the body does not parse: the client's mistake, not a lookup
        raise error(422, "El cuerpo no es JSON válido.") from exc
    if not isinstance(body, dict):
        raise error(422, "Se esperaba un objeto JSON.")
    return body


def is_name(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME


def holder_of(body: dict[str, Any], allow_unclaimed: bool) -> str | None:
    """``from``: who holds the ticket as the supervisor saw it (``null``: nobody, when allowed).
    Required, so that a move decided on a stale view loses to whatever happened meanwhile."""
    holder = body.get("from")
    if is_name(holder) or (allow_unclaimed and "from" in body and holder is None):
        return holder
    raise error(422, "Indica quién tiene el ticket ahora (from), como lo ves en la consola.")


def small_int(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_TICKET_DIGITS):
        raise ValueError(text)
    return int(text)


def optional(text: str | None, parse: Callable[[str], T]) -> T | None:
    return None if text is None else parse(text)


def iso_day(text: str) -> date:
    """``AAAA-MM-DD`` and nothing else (ValueError)."""
    if len(text) != len("2026-11-30") or not text.isascii():
        raise ValueError(text)
    return date.fromisoformat(text)


def kpi_question(
    request: web.Request, today: date, splits: tuple[str, ...]
) -> tuple[date, date, str | None]:
    """The range and split a dashboard call asks for, or 400 with what is wrong: a query too
    long, a parameter unknown or repeated, a date that is not one, a range reversed, longer
    than :data:`MAX_DAYS_BY_DAY` or outside the dates the KPIs answer for, a split not in
    ``splits``. Without ``to``, yesterday (the last whole day in the operation's zone: a day
    under way would look like a drop); without ``from``, the 30 days up to ``to``."""
    if len(request.query_string) > MAX_KPI_QUERY:
        raise error(400, "La consulta es demasiado larga.")
    query = request.query
    if not set(query) <= KPI_PARAMS or any(len(query.getall(k)) > 1 for k in query):
        raise error(400, "Se acepta from y to (AAAA-MM-DD) y by, una vez cada uno.")
    try:
        end = optional(query.get("to"), iso_day) or today - timedelta(days=1)
        start = optional(query.get("from"), iso_day) or end - timedelta(days=DEFAULT_KPI_DAYS - 1)
    except (ValueError, OverflowError) as exc:  # parsing the client's query, not a lookup
        raise error(400, "Las fechas van como AAAA-MM-DD (from y to).") from exc
    if not (FIRST_DAY <= start <= LAST_DAY and FIRST_DAY <= end <= LAST_DAY):
        raise error(400, f"Las fechas van del {FIRST_DAY} al {LAST_DAY}.")
    if start > end:
        raise error(400, "La fecha inicial (from) es posterior a la final (to).")
    if (end - start).days + 1 > MAX_DAYS_BY_DAY:
        raise error(400, f"El periodo puede abarcar hasta {MAX_DAYS_BY_DAY} días.")
    split = query.get("by") or None
    if split is not None and split not in splits:
        known = ", ".join(f"{s} ({SPLIT_LABELS[s]})" for s in splits)
        raise error(400, f"Desglose desconocido; usa uno de: {known}.")
    return start, end, split


def static(name: str, folder: Path = STATIC) -> web.Response:
    files = {p.name: p for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}
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


def _route(request: web.Request) -> str:
    """The route's pattern (``/api/tickets/{ticket_id}``): what a log line may name."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "?"


STATUS_OF_KIND: tuple[tuple[type[CobranzaError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (Rejected, 422),
    (Unavailable, 503),
)


@web.middleware
async def errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException:
        raise
    except UnaddressableConversation as exc:  # every use case checks first; this is the net
        raise error(422, MESSAGES["unaddressable"]) from exc
    except RasaError as exc:
        logger.warning("console: %s", exc)
        raise error(502, MESSAGES["rasa"]) from exc
    except CobranzaError as exc:
        status = next((s for kind, s in STATUS_OF_KIND if isinstance(exc, kind)), None)
        if isinstance(exc, Told) and status is not None:
            raise error(status, str(exc)) from exc
        # One of ours the use case did not expect: its message may name a debtor, so it is
        # neither shown nor logged.
        logger.warning("console: %s on %s %s", type(exc).__name__, request.method, _route(request))
        if status is None:
            raise error(500, MESSAGES["technical"]) from exc
        kind = next(k for k, s in STATUS_OF_KIND if s == status)
        raise error(status, MESSAGES[kind.__name__]) from exc
    except Exception as exc:
        logger.error(
            "console: bug (%s) on %s %s",
            type(exc).__name__,
            request.method,
            _route(request),
            exc_info=exc,
        )
        raise error(500, MESSAGES["technical"]) from exc
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
