"""The action server, private by default: rasa-sdk's app behind a guard of ours.

Run as ``python -m cobranza.action_server`` (scripts/run.sh does). Whoever can reach the action
server can make any action run for any sender with any slots, e.g. a balance for a debtor
"already verified", so only Rasa may call it. Compared with ``rasa run actions``:

- it binds ``ACTIONS_HOST``, 127.0.0.1 by default (rasa-sdk binds 0.0.0.0);
- every request except ``GET /health`` must carry ``ACTION_SERVER_TOKEN`` as the ``token`` query
  parameter, which is how Rasa's ``EndpointConfig`` sends the ``token:`` of endpoints.yml's
  ``action_endpoint``. The check runs right after routing, before Sanic reads the body, so a
  caller without the token costs no memory and runs nothing. ``/health`` stays open because it
  runs nothing and tells nothing (a constant ``{"status": "ok"}``) and liveness probes, like
  ``running_servers``, must not hold the secret;
- a body may not exceed ``ACTIONS_MAX_REQUEST_BYTES`` (Sanic answers 413 to a larger
  Content-Length before reading it and stops a chunked body at the bound);
- a ``Content-Encoding: deflate`` body (Rasa's ``COMPRESS_ACTION_SERVER_REQUEST``) is inflated
  here to at most the same bound instead of by rasa-sdk's unbounded ``zlib.decompress``; other
  encodings get 415 and a broken stream 400;
- errors answer a short JSON and never echo the request (rasa-sdk's own handler returns the
  whole tracker in its 500s); there is no access log, since the token is in the query string.

``python -m cobranza.action_server --rasa-env`` prints the Sanic settings scripts/run.sh gives
Rasa's own server (its body bound, ``RASA_MAX_REQUEST_BYTES``), so both bounds are read and
checked in one place: Sanic reads ``SANIC_``-prefixed variables into the config of every app it
creates, Rasa's included.
"""

from __future__ import annotations

import hmac
import logging
import sys
import zlib
from http import HTTPStatus
from typing import Any

from sanic import Sanic, response
from sanic.exceptions import SanicException
from sanic.request import Request
from sanic.response import HTTPResponse

from cobranza import bootstrap, collector
from cobranza.config import ConfigError, Settings, load_settings
from cobranza.errors import CobranzaError

logger = logging.getLogger(__name__)

ACTIONS_PACKAGE = "actions"
TOKEN_PARAMETER = "token"  # noqa: S105 - a parameter name: EndpointConfig's default token_name
OPEN_ROUTES = frozenset({("GET", "/health")})


class Refused(SanicException):
    """A request turned away before any action runs; the message is all the caller learns."""

    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message, status_code=int(status), quiet=True)


def require_token(settings: Settings) -> str:
    """The shared secret, or a start-up failure naming the variable."""
    if settings.action_server_token is None:
        raise ConfigError(
            "ACTION_SERVER_TOKEN is not set: the action server answers only Rasa, which sends "
            "this token (scripts/run.sh generates one in var/action_server_token)"
        )
    return settings.action_server_token.reveal()


def inflate(data: bytes, limit: int) -> bytes:
    """A zlib-wrapped deflate body (what aiohttp sends for Rasa) inflated to at most ``limit``
    bytes: ``max_length`` stops zlib there, so a bomb never costs more than the bound."""
    inflater = zlib.decompressobj()
    try:
        inflated = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise Refused(HTTPStatus.BAD_REQUEST, "corrupt deflate body") from exc
    if len(inflated) > limit:
        raise Refused(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "body too large once inflated")
    if not inflater.eof or inflater.unused_data:
        raise Refused(HTTPStatus.BAD_REQUEST, "corrupt deflate body")
    return inflated


class Guard:
    """Screens every request right after routing: the token first (nothing read yet), then the
    body, read here with Sanic's size bound and inflated with ours.

    Not a Sanic request middleware on purpose: Sanic 21.12 reads the body before middleware
    runs, and runs request middleware again while handling an exception (a 401 or a 413), where
    a decoder would see an unread body and turn the error into another one."""

    def __init__(self, token: str, max_bytes: int) -> None:
        self._token = token.encode()
        self.max_bytes = max_bytes

    def authorized(self, request: Request) -> bool:
        if (request.method, request.path) in OPEN_ROUTES:
            return True
        given = request.args.getlist(TOKEN_PARAMETER) or []
        # Exactly one value, compared in constant time (a repeated parameter is not a choice).
        return len(given) == 1 and hmac.compare_digest(given[0].encode(), self._token)

    async def screen(self, request: Request) -> None:
        if not self.authorized(request):
            raise Refused(HTTPStatus.UNAUTHORIZED, "unauthorized")
        if request.stream is not None:
            await request.receive_body()  # Sanic's bound: PayloadTooLarge (413) past it
        self.decode_body(request)

    def decode_body(self, request: Request) -> None:
        """Leave the handler a plain body: inflate deflate with the bound, refuse the rest."""
        encodings = [e.strip().lower() for e in request.headers.getall("content-encoding", [])]
        if not encodings:
            return
        if encodings == ["deflate"]:
            request.body = inflate(request.body, self.max_bytes)
        elif encodings != ["identity"]:
            raise Refused(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "unsupported content encoding")
        del request.headers["content-encoding"]


def _refusal(request: Request, exception: SanicException) -> HTTPResponse:
    """Any HTTP-level error (ours, Sanic's 413/400/404/405) as a short JSON."""
    status = HTTPStatus(exception.status_code or HTTPStatus.INTERNAL_SERVER_ERROR)
    message = str(exception) if isinstance(exception, Refused) else status.phrase.lower()
    return response.json({"error": message}, status=status)


def _failure(request: Request, exception: Exception) -> HTTPResponse:
    logger.error(
        "action server: %s on %s %s",
        type(exception).__name__,
        request.method,
        request.path,
        exc_info=exception,
    )
    return response.json({"error": "internal error"}, status=HTTPStatus.INTERNAL_SERVER_ERROR)


def build_app(settings: Settings, actions_package: str = ACTIONS_PACKAGE) -> Sanic:
    """rasa-sdk's app for ``actions_package`` with the guard, the body bound and our errors."""
    from rasa_sdk.endpoint import create_app  # loads the actions: not needed for --rasa-env

    guard = Guard(require_token(settings), settings.actions_max_request_bytes)
    app = create_app(actions_package, cors_origins="")  # no browser ever calls it
    app.config.REQUEST_MAX_SIZE = settings.actions_max_request_bytes

    # A plain function: Sanic stores attributes on signal handlers (a bound method refuses).
    async def screen(request: Request, **_: Any) -> None:
        await guard.screen(request)

    app.signal("http.routing.after")(screen)  # routed; body not read, handler not run
    app.exception(SanicException)(_refusal)
    app.exception(Exception)(_failure)  # replaces rasa-sdk's handler, which echoes the tracker
    return app


def rasa_environment(settings: Settings) -> dict[str, str]:
    """Rasa's server (Sanic) refuses a body over the bound with 413 before reading it; a web
    chat WebSocket frame gets the same bound."""
    bound = str(settings.rasa_max_request_bytes)
    return {"SANIC_REQUEST_MAX_SIZE": bound, "SANIC_WEBSOCKET_MAX_SIZE": bound}


def main(argv: list[str] | None = None) -> None:
    """The actions run on the process-wide app (cobranza/bootstrap.py), built here before the
    server starts so a bad setting or persona profile stops it at once; ``--rasa-env`` needs
    only the settings."""
    args = sys.argv[1:] if argv is None else argv
    try:
        if args == ["--rasa-env"]:
            print(" ".join(f"{k}={v}" for k, v in rasa_environment(load_settings()).items()))
            return
        if args:
            raise ConfigError(f"unknown arguments {args!r}; the only one is --rasa-env")
        shared = bootstrap.app()
        shared.profiles  # noqa: B018  (loaded now: a broken profile stops the start, named)
        settings = shared.settings
        app = build_app(settings)
    except CobranzaError as exc:  # ConfigError, ProfileError: what to fix, named
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    collector.freeze("action server")  # the actions are loaded; the server has not started
    host, port = settings.actions_host, settings.actions_port
    print(f"Action server listening on http://{host}:{port}/ (Rasa only)", flush=True)
    app.run(host=host, port=port, workers=1, access_log=False, motd=False)


if __name__ == "__main__":
    main()
