"""The agents' console: a web app and the JSON API behind it (also for an existing helpdesk).

``python -m cobranza.console`` (started by ``make run`` on ``CONSOLE_PORT``, default 5006).
It is the only holder of Rasa's API token (``RASA_API_TOKEN``): it reads transcripts from Rasa,
delivers an agent's reply on the debtor's own channel (slot ``mensaje_asesor`` +
``action_mensaje_asesor`` with ``output_channel=latest``) and resumes the assistant. Agents log
in with the accounts of ``cobranza agent add``; every step is audited with the agent's name, and
the compliance engine is asked before any agent message.

API (JSON; the session is an HttpOnly cookie ``consola_sesion`` or ``Authorization: Bearer``):
``POST /api/login``, ``POST /api/logout``, ``GET /api/me``, ``GET /api/tickets``,
``GET /api/tickets/{id}``, ``POST /api/tickets/{id}/claim|reply|promise|agreement|close|resume``;
for supervisors only: ``GET /api/supervisor/queues``,
``POST /api/supervisor/tickets/{id}/reassign|release``,
``GET /api/supervisor/agents/{username}/activity``, ``GET /api/supervisor/experiments`` and
``GET /api/supervisor/experiments/{name}`` (docs/experiments.md), ``GET /api/supervisor/kpis``
and ``GET /api/supervisor/kpis.csv`` (the Tablero; docs/kpis.md). Each route declares the roles
that may call it (``agent``, ``supervisor``; routes.py); the role is the session's account's,
never the request's: 401 without a session, 403 for another role.
Every POST carries the header ``X-Consola: 1`` (a cross-site form cannot set it) and, when the
browser sends an ``Origin``, it must be the console's own. Logins are throttled per user name
and per client address (cobranza/services/agents.py); sessions end after 8 h, after
``CONSOLE_IDLE_TIMEOUT_MINUTES`` without a request (the page's background polls, marked
``X-Consola-Poll: 1``, do not count), at logout, or when the agent is disabled.

``POST /api/payments`` is for lenders' systems, not agents: the payments file (CSV or JSON) with
``Authorization: Bearer $PAYMENTS_API_TOKEN`` (404 while unset), outside the CSRF check and never
authenticated by a cookie (docs/payments.md).

The console's own URLs name tickets by number; a conversation id is opaque to it (see
cobranza/console/rasa.py). Layers: routes.py (HTTP only) -> handlers.py (the use cases) ->
cobranza/services/ (desk.py, tickets.py, agents.py); this module wires them from the process's
:class:`~cobranza.bootstrap.App` and the console's own settings
(:func:`cobranza.config.load_console_settings`).
"""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from cobranza import bootstrap
from cobranza.bootstrap import App
from cobranza.config import ConfigError, ConsoleSettings, load_console_settings
from cobranza.console.handlers import Handlers
from cobranza.console.routes import Routes


class Console:
    """The console of one process: its use cases and its routes."""

    def __init__(self, app: App, config: ConsoleSettings) -> None:
        self.config = config
        self.handlers = Handlers(app, config)
        self.routes = Routes(self.handlers)

    def app(self) -> web.Application:
        return self.routes.application()


def main() -> None:
    try:
        app = bootstrap.app()
        config = load_console_settings()
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    logging.basicConfig(level=app.settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    console = Console(app, config)
    print(f"Consola de asesores: http://localhost:{config.port}/", flush=True)
    # CONSOLE_HOST: 127.0.0.1 by default; behind a proxy in production.
    web.run_app(console.app(), host=config.host, port=config.port, print=None)
