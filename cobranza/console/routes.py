"""The console's HTTP side: aiohttp routes, the CSRF and error middlewares, cookies and the
static page. A route reads the request, calls one use case (cobranza/console/handlers.py) and
turns its answer, or our error, into a JSON response; nothing here touches the database.

Errors: a :class:`handlers.Told` refusal answers with its message and the status of its kind
(404 not found, 422 rejected, 409 conflict); any other error of ours gets a generic answer of
its kind; anything else is a bug: logged with the traceback (the route's pattern, never the
request's data) and answered 500 with a technical-error message."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from cobranza.config import ConsoleSecurity
from cobranza.console.handlers import Handlers, Told, agent_dict
from cobranza.console.rasa import RasaError, UnaddressableConversation
from cobranza.domain import payment_files
from cobranza.errors import CobranzaError, Conflict, NotFound, Rejected
from cobranza.services import agents

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
COOKIE = "consola_sesion"
CSRF_HEADER, CSRF_VALUE = "X-Consola", "1"
POLL_HEADER = "X-Consola-Poll"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Lenders' systems push payments here with their own bearer token (not a browser, no cookie):
# the CSRF check does not apply, and nothing but that token authenticates it.
PAYMENTS_PATH = "/api/payments"
PAYMENT_TYPES = ("text/csv", "application/json")
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
    "expired": "Tu sesión expiró o no has entrado. Vuelve a entrar.",
    "wrong": "Usuario o contraseña incorrectos.",
    "rasa": "El asistente no respondió; intenta de nuevo.",
    "technical": "Tuvimos un problema técnico. Intenta de nuevo en unos minutos.",
    NotFound.__name__: "No se encontró lo que pediste.",
    Conflict.__name__: "El ticket cambió mientras tanto; recarga la página.",
    Rejected.__name__: "No se pudo completar la solicitud.",
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

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


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
        return web.json_response({"agent": await self.agent_of(request)})

    # --- tickets ------------------------------------------------------------------------------

    async def list_tickets(self, request: web.Request) -> web.Response:
        await self.agent_of(request)
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
        agent = await self.agent_of(request)
        ticket = await self.ticket_of(request)
        with_file = request.headers.get(POLL_HEADER) != "1"
        return web.json_response(await self.h.show(ticket, agent, with_file), dumps=dumps)

    async def claim(self, request: web.Request) -> web.Response:
        agent = await self.agent_of(request)
        ticket = await self.ticket_of(request)
        return web.json_response({"ticket": await self.h.claim(ticket, agent)})

    async def reply(self, request: web.Request) -> web.Response:
        agent = await self.agent_of(request)
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
        agent = await self.agent_of(request)
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
        agent = await self.agent_of(request)
        ticket = await self.ticket_of(request)
        self.h.mine(ticket, agent)
        code = str((await read_json(request)).get("offer", ""))
        return web.json_response(await self.h.agreement(ticket, agent, code))

    async def close(self, request: web.Request) -> web.Response:
        agent = await self.agent_of(request)
        ticket = await self.ticket_of(request)
        outcome = str((await read_json(request)).get("outcome", ""))
        await self.h.close_ticket(ticket, agent, outcome)
        return web.json_response({"ok": True})

    async def resume(self, request: web.Request) -> web.Response:
        agent = await self.agent_of(request)
        ticket = await self.ticket_of(request)
        await self.h.resume(ticket, agent)
        return web.json_response({"ok": True})

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

    def application(self) -> web.Application:
        app = web.Application(middlewares=[errors, csrf(self.security)], client_max_size=64 * 1024)
        routes: list[tuple[str, str, Handler]] = [
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
            ("POST", PAYMENTS_PATH, self.payments),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)

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


def static(name: str) -> web.Response:
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


def _route(request: web.Request) -> str:
    """The route's pattern (``/api/tickets/{ticket_id}``): what a log line may name."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "?"


STATUS_OF_KIND: tuple[tuple[type[CobranzaError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (Rejected, 422),
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
