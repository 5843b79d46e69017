"""The console's use cases: what an agent can do, over the services (cobranza/services/desk.py,
tickets.py, agents.py; for supervisors supervision.py and experiments.py) and Rasa's API. No HTTP
here (cobranza/console/routes.py turns requests into calls and answers into responses) and no
SQL: every database step is a service call in one unit of work, run in a worker thread so the
event loop never blocks.

A refusal is raised as one of the :class:`Told` errors below, whose message is for the agent;
routes.py answers it with the status of its kind (not found, rejected, conflict, unavailable)."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from cobranza import responses
from cobranza.bootstrap import App
from cobranza.clock import local_today
from cobranza.config import ConsoleSecurity, ConsoleSettings
from cobranza.console.rasa import (
    RasaApi,
    addressable,
    last_debtor_message,
    transcript,
)
from cobranza.db import audit
from cobranza.db.models import Agent
from cobranza.domain import payment_files
from cobranza.domain.experiments import Experiment
from cobranza.domain.kpis import Dashboard, KpiReport
from cobranza.domain.phones import mask_phone
from cobranza.domain.vocabulary import TicketOutcome, TicketStatus
from cobranza.errors import CobranzaError, Conflict, InvalidFiles, NotFound, Rejected
from cobranza.outreach import worker
from cobranza.scoring import cards
from cobranza.services import agents, kpis, reconciliation, supervision, tickets
from cobranza.services.desk import Desk, TicketNotFound, Unverified
from cobranza.services.experiments import results
from cobranza.services.plans import UnknownOffer
from cobranza.services.promises import PromiseRejected

logger = logging.getLogger(__name__)

T = TypeVar("T")

WHATSAPP_WINDOW = timedelta(hours=24)
# Dashboard loads (about a second each on a large portfolio) run at most this many at a time;
# the others wait their turn instead of piling up on the database.
KPI_LOADS = 2
MAX_REPLY = 4000
MESSAGES = {
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
    "no_ticket": "No existe ese ticket.",
    "not_mine": "Primero toma el ticket: está libre o lo atiende otra persona.",
    "offer_gone": "Esa oferta ya no está disponible para este deudor.",
    "no_agent": "No existe ese asesor.",
    "inactive": "Ese asesor está desactivado; elige otro.",
    "same_agent": "El ticket ya es de ese asesor.",
    "moved": (
        "El ticket cambió mientras tanto (alguien lo tomó, lo movió o lo cerró); revisa la vista "
        "actualizada."
    ),
    "no_experiment": "No existe ese experimento.",
    "experiment_files": (
        "No se pueden leer los experimentos: los archivos de campañas, plantillas o experimentos "
        "tienen problemas. Revísalos con «cobranza campaigns validate» y reinicia la consola."
    ),
}
# What the list of experiments shows of each report: where it stands and who has been exposed;
# never a rate, a difference or a test (those are in one experiment's report).
SUMMARY_FIELDS = (
    "experiment",
    "description",
    "enabled",
    "target",
    "metric",
    "metric_label",
    "window_days",
    "planned_per_arm",
    "planned_total",
    "as_of",
    "outcome",
    "verdict",
    "missing",
    "simulated",
)
SUMMARY_ARM_FIELDS = ("name", "variant", "weight", "exposed", "analysed")
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


def _json_payments(body: bytes) -> list[Any]:
    """``{"payments": [...]}`` from a JSON body, or :class:`payment_files.PaymentFileError`."""
    try:
        data = json.loads(payment_files.decode(body))
    except ValueError as exc:  # the body does not parse: the sender's mistake
        raise payment_files.PaymentFileError("el cuerpo no es JSON válido") from exc
    payments = data.get("payments") if isinstance(data, dict) else None
    if not isinstance(payments, list):
        raise payment_files.PaymentFileError('se esperaba {"payments": [ ... ]}')
    return payments


class Told(CobranzaError):
    """A refusal whose message is written for the agent (routes.py shows it as it is)."""


class Missing(Told, NotFound):
    pass


class Refused(Told, Rejected):
    pass


class Taken(Told, Conflict):
    pass


class Unavailable(Told):
    """What the request needs cannot be served as configured (routes.py answers 503)."""


def canned_replies() -> list[dict[str, str]]:
    """``utter_asesor_*`` from domain.yml (the conduct check scans them like every response)."""
    return [
        {"title": name.replace("_", " "), "text": text}
        for name, text in responses.first_texts("utter_asesor_").items()
    ]


def agent_dict(agent: Agent) -> dict[str, str]:
    """An account as the console shows it; ``role`` is what the server enforces, read from the
    database on every request."""
    return {
        "username": str(agent.username),
        "display_name": str(agent.display_name),
        "role": str(agent.role),
    }


def experiment_summary(report: Mapping[str, Any]) -> dict[str, Any]:
    """One experiment's line in the list, from its report (``ExperimentResults.as_dict()``)."""
    arms = [{key: arm[key] for key in SUMMARY_ARM_FIELDS} for arm in report["arms"]]
    return {
        **{key: report[key] for key in SUMMARY_FIELDS},
        "exposed": sum(arm["exposed"] for arm in arms),
        "arms": arms,
    }


def identity(ticket: dict[str, Any]) -> dict[str, Any]:
    """The number the conversation is about, and whether it was verified in the conversation."""
    verified = bool(ticket["verified"])
    return {
        "verified": verified,
        "phone": ticket["claimed_phone"],
        "label": "número verificado" if verified else "número no verificado",
    }


class Handlers:
    """The console's use cases, built from the process's :class:`App`."""

    def __init__(self, app: App, config: ConsoleSettings) -> None:
        self.app = app
        self.clock = app.clock
        self.desk = Desk(app.settings, app.clock, app.profiles)
        self.rasa = RasaApi(config)
        self.canned = canned_replies()
        self._experiments: dict[str, Experiment] | None = None
        self._experiments_lock = threading.Lock()
        self.kpi_loads = asyncio.Semaphore(KPI_LOADS)
        self._horizons: dict[str, int] = {}  # model id → horizon_days, from its card

    @property
    def security(self) -> ConsoleSecurity:
        return self.app.settings.console

    async def _work(self, work: Callable[[Session], T]) -> T:
        """``work`` in one unit of work, in a worker thread."""

        def run() -> T:
            with self.app.unit_of_work() as session:
                return work(session)

        return await asyncio.to_thread(run)

    async def close(self) -> None:
        await self.rasa.close()

    # --- agents -------------------------------------------------------------------------------

    async def agent(self, token: str, activity: bool) -> dict[str, str] | None:
        """The agent of a live session token (``activity``: not a background poll)."""
        if not token:
            return None

        def find(session: Session) -> dict[str, str] | None:
            agent = agents.agent_for_token(
                session, token, self.clock, self.security.idle_timeout, activity
            )
            return agent_dict(agent) if agent else None

        return await self._work(find)

    async def log_in(self, username: str, password: str, address: str) -> agents.Login | None:
        """None for wrong credentials; raises :class:`agents.LoginLocked` while locked out."""
        return await asyncio.to_thread(
            agents.log_in,
            self.app.sessions,
            username,
            password,
            address,
            self.clock,
            self.security,
        )

    async def log_out(self, token: str) -> None:
        if token:
            await self._work(lambda session: agents.log_out(session, token))

    # --- supervisors --------------------------------------------------------------------------

    async def queues(self) -> dict[str, Any]:
        zone = self.app.settings.default_time_zone
        return await self._work(lambda session: supervision.queues(session, self.clock, zone))

    async def reassign(
        self, ticket: dict[str, Any], holder: str | None, to: str, supervisor: dict[str, str]
    ) -> dict[str, Any]:
        """Give the ticket to ``to`` if ``holder`` still has it (``None``: still unclaimed)."""
        await self._move(
            lambda session: supervision.reassign(
                session, ticket["id"], holder, to, supervisor["username"], self.clock
            )
        )
        logger.info("ticket %s reassigned by %s", ticket["id"], supervisor["username"])
        return tickets.public(await self.ticket(ticket["id"]))

    async def release(
        self, ticket: dict[str, Any], holder: str | None, supervisor: dict[str, str]
    ) -> dict[str, Any]:
        """Back to the queue if ``holder`` still has it."""
        await self._move(
            lambda session: supervision.release(
                session, ticket["id"], str(holder), supervisor["username"], self.clock
            )
        )
        logger.info("ticket %s released by %s", ticket["id"], supervisor["username"])
        return tickets.public(await self.ticket(ticket["id"]))

    async def _move(self, work: Callable[[Session], None]) -> None:
        try:
            await self._work(work)
        except supervision.UnknownAgent as exc:
            raise Missing(MESSAGES["no_agent"]) from exc
        except supervision.InactiveAgent as exc:
            raise Refused(MESSAGES["inactive"]) from exc
        except supervision.SameAgent as exc:
            raise Refused(MESSAGES["same_agent"]) from exc
        except (supervision.TicketMoved, tickets.TicketError) as exc:
            raise Taken(MESSAGES["moved"]) from exc

    async def activity(
        self,
        username: str,
        first: date | None,
        last: date | None,
        limit: int | None,
        before: int | None,
    ) -> dict[str, Any]:
        """One agent's recent actions; the last 7 local days and 50 per page unless asked."""
        zone = self.app.settings.default_time_zone
        first, last = supervision.period(self.clock, zone, first, last)
        page = supervision.DEFAULT_PAGE if limit is None else limit
        query = supervision.ActivityQuery(username, first, last, zone, page, before)
        try:
            return await self._work(lambda session: supervision.activity(session, query))
        except supervision.UnknownAgent as exc:
            raise Missing(MESSAGES["no_agent"]) from exc
        except supervision.BadRange as exc:
            raise Refused(str(exc)) from exc

    # --- experiments (supervisors) -------------------------------------------------------------

    async def experiments(self) -> dict[str, Any]:
        """Every experiment of the files, where it stands (docs/experiments.md)."""
        designs = await asyncio.to_thread(self._experiment_designs)

        def read(session: Session) -> list[dict[str, Any]]:
            now = self.clock.now()
            return [results(session, e, now).as_dict() for e in designs.values()]

        return {"experiments": [experiment_summary(r) for r in await self._work(read)]}

    async def experiment(self, name: str) -> dict[str, Any]:
        """One experiment's report as the service writes it: the comparisons, the tests and the
        verdict only once every arm has its planned sample."""
        experiment = (await asyncio.to_thread(self._experiment_designs)).get(name)
        if experiment is None:
            raise Missing(MESSAGES["no_experiment"])
        return await self._work(
            lambda session: results(session, experiment, self.clock.now()).as_dict()
        )

    def _experiment_designs(self) -> dict[str, Experiment]:
        """The experiments of ``EXPERIMENTS_DIR``, checked against the campaigns, templates and
        domain as the worker checks them, read once per process (the worker and the action
        server also read them at start: a change takes effect when they all restart). Broken
        files are not kept: the next request reads them again."""
        with self._experiments_lock:
            if self._experiments is None:
                try:
                    loaded = worker.load_files(self.app).experiments
                except InvalidFiles as exc:
                    logger.error(
                        "console: the outreach files do not validate (%d problems)",
                        len(exc.problems),
                    )
                    raise Unavailable(MESSAGES["experiment_files"]) from exc
                self._experiments = dict(sorted(loaded.items()))
            return self._experiments

    # --- the supervisors' dashboard -----------------------------------------------------------

    def today(self) -> date:
        """Today in the operation's zone (the dashboard's days are that zone's)."""
        return local_today(self.clock, self.app.settings.default_time_zone)

    async def dashboard(self, start: date, end: date, split: str | None) -> Dashboard:
        """The KPIs of ``[start, end]`` with ``split``, the trend, and whether they are
        simulated (cobranza/services/kpis/)."""
        zone = self.app.settings.default_time_zone
        async with self.kpi_loads:
            return await self._work(
                lambda session: kpis.dashboard(session, start, end, split, zone=zone)
            )

    async def kpi_report(self, start: date, end: date, split: str | None) -> tuple[KpiReport, bool]:
        """The KPIs alone (the CSV), and whether they are simulated."""
        zone = self.app.settings.default_time_zone

        def run(session: Session) -> tuple[KpiReport, bool]:
            report = kpis.kpis(session, start, end, split, zone=zone)
            return report, audit.simulated_database(session)

        async with self.kpi_loads:
            return await self._work(run)

    # --- payments pushed by lenders -----------------------------------------------------------

    def payments_token(self) -> str | None:
        token = self.app.settings.payments_api_token
        return token.reveal() if token is not None else None

    async def import_payments(self, body: bytes, content_type: str, source: str) -> dict[str, Any]:
        """Parse (CSV or JSON) and import in a worker thread; raises
        :class:`payment_files.PaymentFileError` when the body cannot be read as a whole."""

        def run() -> dict[str, Any]:
            now = self.clock.now()
            if content_type == "application/json":
                parsed = payment_files.parse_payment_records(_json_payments(body), now)
            else:
                parsed = payment_files.parse_payment_file(body, now)
            report = reconciliation.import_in_batches(
                self.app.unit_of_work,
                parsed,
                source,
                self.app.settings,
                self.clock,
                self.app.profiles,
            )
            return report.as_dict()

        return await asyncio.to_thread(run)

    # --- tickets ------------------------------------------------------------------------------

    async def queue(self) -> list[dict[str, Any]]:
        return await self._work(
            lambda session: tickets.queue(session, self.clock.now(), self.horizon_days)
        )

    def horizon_days(self, model_id: str) -> int | None:
        """A score's horizon, from its model's card; a card once read is kept (a model's card
        does not change), a missing one is looked for again next time."""
        if model_id not in self._horizons:
            days = cards.horizon_days(self.app.settings.scoring.model_dir, model_id)
            if days is None:
                return None
            self._horizons[model_id] = days
        return self._horizons[model_id]

    async def ticket(self, ticket_id: int) -> dict[str, Any]:
        try:
            return await self._work(lambda session: self.desk.ticket(session, ticket_id))
        except TicketNotFound as exc:
            raise Missing(MESSAGES["no_ticket"]) from exc

    async def show(
        self, ticket: dict[str, Any], agent: dict[str, str], with_file: bool
    ) -> dict[str, Any]:
        """The ticket, its transcript and, for a verified conversation and unless
        ``with_file`` is false (the page's background polls), the debtor's file."""
        reachable = addressable(ticket["sender_id"])
        lines = transcript(await self.rasa.tracker(ticket["sender_id"])) if reachable else []
        answer: dict[str, Any] = {
            "ticket": tickets.public(ticket),
            "identity": identity(ticket),
            "conversation": {
                "addressable": reachable,
                "note": None if reachable else MESSAGES["unaddressable_note"],
            },
            "transcript": lines,
            "window": self.window(ticket["channel"], last_debtor_message(lines)),
            "canned": self.canned,
            "outcomes": [{"code": c.value, "label": OUTCOME_LABELS[c]} for c in TicketOutcome],
        }
        if with_file:
            debtor, offers = await self._work(
                lambda session: self.desk.debtor_file(session, ticket["id"], agent["username"])
            )
            answer.update(debtor=debtor, offers=offers)
        return answer

    def window(self, channel: str, last: datetime | None) -> dict[str, Any]:
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

    async def claim(self, ticket: dict[str, Any], agent: dict[str, str]) -> dict[str, Any]:
        try:
            won = await self._work(
                lambda session: tickets.claim(session, ticket["id"], agent["username"], self.clock)
            )
        except tickets.TicketError as exc:
            raise Taken(str(exc)) from exc
        fresh = await self.ticket(ticket["id"])
        if not won:
            raise Taken(f"Este ticket ya lo tomó {fresh['claimed_by'] or 'otra persona'}.")
        return tickets.public(fresh)

    @staticmethod
    def reachable(ticket: dict[str, Any]) -> None:
        if not addressable(ticket["sender_id"]):
            raise Refused(MESSAGES["unaddressable"])

    @staticmethod
    def mine(ticket: dict[str, Any], agent: dict[str, str]) -> None:
        if ticket["status"] != TicketStatus.CLAIMED or ticket["claimed_by"] != agent["username"]:
            raise Taken(MESSAGES["not_mine"])

    async def reply(
        self, ticket: dict[str, Any], agent: dict[str, str], text: str
    ) -> dict[str, Any]:
        """The compliance decision, and the reply sent on the debtor's channel when allowed."""
        self.mine(ticket, agent)
        self.reachable(ticket)
        text = text.strip()
        if not text or len(text) > MAX_REPLY:
            raise Refused(f"Escribe una respuesta de 1 a {MAX_REPLY} caracteres.")
        lines = transcript(await self.rasa.tracker(ticket["sender_id"]))
        actor = f"agent:{agent['username']}"
        decision = await self._work(
            lambda session: self.desk.decide_reply(
                session, ticket, actor, last_debtor_message(lines)
            )
        )
        if decision["allowed"]:
            await self.rasa.append(
                ticket["sender_id"],
                [{"event": "slot", "name": "mensaje_asesor", "value": text}],
            )
            await self.rasa.execute(ticket["sender_id"], "action_mensaje_asesor")
            logger.info("agent %s answered ticket %s", agent["username"], ticket["id"])
        return decision

    async def promise(
        self, ticket: dict[str, Any], agent: dict[str, str], amount: Decimal, due: date
    ) -> dict[str, str]:
        self.mine(ticket, agent)
        try:
            return await self._work(
                lambda session: self.desk.promise(session, ticket, agent["username"], amount, due)
            )
        except Unverified as exc:
            raise Refused(MESSAGES["unverified"]) from exc
        except PromiseRejected as exc:
            raise Refused(PROMISE_REASONS.get(exc.reason, exc.reason)) from exc

    async def agreement(
        self, ticket: dict[str, Any], agent: dict[str, str], code: str
    ) -> dict[str, str]:
        self.mine(ticket, agent)
        try:
            return await self._work(
                lambda session: self.desk.agreement(session, ticket, agent["username"], code)
            )
        except Unverified as exc:
            raise Refused(MESSAGES["unverified"]) from exc
        except UnknownOffer as exc:
            raise Refused(MESSAGES["offer_gone"]) from exc

    async def close_ticket(
        self, ticket: dict[str, Any], agent: dict[str, str], outcome: str
    ) -> None:
        try:
            await self._work(
                lambda session: tickets.close(
                    session, ticket["id"], agent["username"], outcome, self.clock
                )
            )
        except tickets.TicketError as exc:
            raise Taken(str(exc)) from exc
        if addressable(ticket["sender_id"]):
            await self.rasa.resume(ticket["sender_id"])
        else:  # nobody can reach it through Rasa's API; the ticket is closed all the same
            logger.warning("ticket %s closed; its conversation id cannot be resumed", ticket["id"])

    async def resume(self, ticket: dict[str, Any], agent: dict[str, str]) -> None:
        self.mine(ticket, agent)
        self.reachable(ticket)
        try:
            await self._work(
                lambda session: tickets.hand_back(
                    session, ticket["id"], agent["username"], self.clock
                )
            )
        except tickets.TicketError as exc:
            raise Taken(str(exc)) from exc
        await self.rasa.resume(ticket["sender_id"])
        logger.info("ticket %s handed back for %s", ticket["id"], mask_phone(ticket["sender_id"]))
