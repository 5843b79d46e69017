"""The ``cobranza`` command: database set-up, demo data and inspection.

Each command is a use case over the services, on an :class:`~cobranza.bootstrap.App` built once
by :func:`main` (cobranza/bootstrap.py); the arguments are parsed in cobranza/cli/parser.py and
the output is formatted in cobranza/cli/render.py. ``--at`` evaluates at another instant; the
app's own clock still says when something was recorded.

Exit codes: 0 done; 1 an error of ours (unknown debtor, bad setting, refused request: one line
on stderr, in Spanish) or a bug (a technical-error line; the traceback goes to the log), and for
``payments import`` also any row of the file with an error (the other rows are imported all the
same); 2 usage errors (argparse); 3 ``can-contact`` says no.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from cobranza import bootstrap, db
from cobranza.bootstrap import App
from cobranza.cli import data, experiments, kpis, outreach, render, score, segments, simulate
from cobranza.cli.parser import build_parser
from cobranza.clock import Clock, FixedClock, local_today
from cobranza.config import PROJECT_ROOT, load_settings
from cobranza.db.repository import DebtorNotFound
from cobranza.domain.phones import InvalidPhone, mask_phone, normalize_phone
from cobranza.domain.vocabulary import ConsoleRole
from cobranza.errors import CobranzaError
from cobranza.outreach.files import OutreachFilesError
from cobranza.personas.profiles import ProfileError

log = logging.getLogger("cobranza.cli.commands")

TECHNICAL_ERROR = (
    "error: problema técnico del programa (no de los datos); el detalle quedó en el registro"
)


class CliError(CobranzaError):
    """A problem to report to the user in one line, exit code 1."""


def _at(args: argparse.Namespace, app: App) -> Clock:
    """The instant to evaluate at: ``--at`` when given, else the app's clock."""
    at: str | None = getattr(args, "at", None)
    if not at:
        return app.clock
    text = at.strip()
    if text[-1:] in ("Z", "z"):  # Python 3.10 reads only "+00:00"
        text = text[:-1] + "+00:00"
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as exc:  # parsing the operator's input, not a lookup
        raise CliError(f"--at no es una fecha y hora ISO-8601: {at!r}") from exc
    if instant.tzinfo is None:
        raise CliError(f"--at necesita zona horaria, p. ej. {at}-06:00")
    return FixedClock(instant)


def _phone(raw: str) -> str:
    try:
        return normalize_phone(raw)
    except InvalidPhone as exc:
        raise CliError(str(exc)) from exc


# --- commands -------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace, app: App) -> None:
    before = db.current_revision(app.engine)
    db.upgrade(app.engine)
    after = db.current_revision(app.engine)
    state = "al día" if before == after else f"migrada de {before or 'vacía'} a {after}"
    print(f"Base de datos {db.masked_url(app.settings.database_url)}: {state}")


def cmd_db_current(args: argparse.Namespace, app: App) -> None:
    print(f"actual: {db.current_revision(app.engine) or '(vacía)'}  última: {db.head_revision()}")


def cmd_seed(args: argparse.Namespace, app: App) -> None:
    from cobranza.demo import portfolio
    from cobranza.services import views

    if db.current_revision(app.engine) != db.head_revision():
        raise CliError("la base de datos no está migrada: ejecuta `cobranza db upgrade` primero")
    clock = _at(args, app)
    today = (
        date.fromisoformat(args.today)
        if args.today
        else local_today(clock, app.settings.default_time_zone)
    )
    with app.unit_of_work() as session:
        summary = portfolio.load_demo(session, today)
        if summary["debtors_added"]:
            summary["personas"] = views.reassign_personas(session, app.profiles, clock)  # type: ignore[assignment]
    if summary["debtors_added"]:
        print(
            f"Cartera demo cargada: {summary['debtors_added']} deudores nuevos "
            f"(fecha de corte {today.isoformat()}); personas: {summary.get('personas')}"
        )
    else:
        print(
            f"Cartera demo ya cargada ({summary['debtors_in_portfolio']} deudores): nada que hacer"
        )
    if summary["debtors_skipped"]:
        print(
            f"{summary['debtors_skipped']} deudores de la cartera demo no se cargaron porque sus "
            "contratos o folios ya existen (base sembrada con otra versión); `make clean` la rehace"
        )


def cmd_personas_validate(args: argparse.Namespace, app: App) -> None:
    """Loading the profiles validates them; an invalid one raises :class:`ProfileError`,
    reported by :func:`main` with what to fix."""
    ordered = sorted(app.profiles.values(), key=lambda p: -p.priority)
    print(
        f"{len(app.profiles)} perfiles válidos en {app.settings.persona_profiles_dir}: "
        + ", ".join(f"{p.name} ({'por defecto' if p.fallback else p.priority})" for p in ordered)
    )


def cmd_personas_assign(args: argparse.Namespace, app: App) -> None:
    from cobranza.services import views

    clock = _at(args, app)
    with app.unit_of_work() as session:
        counts = views.reassign_personas(session, app.profiles, clock)
    render.show(counts, args.json, render.persona_counts)


def _debtor_view(
    args: argparse.Namespace,
    app: App,
    view: Callable[..., dict[str, Any]],
    show: Callable[[Any], str],
) -> None:
    """Run a per-debtor service (report, offers) for PHONE and print it."""
    phone = _phone(args.phone)
    clock = _at(args, app)
    with app.unit_of_work() as session:
        data = view(session, phone, app.profiles, clock)
    render.show(data, args.json, show)


def cmd_debtor(args: argparse.Namespace, app: App) -> None:
    from cobranza.services import views

    _debtor_view(args, app, views.debtor_report, render.debtor)


def cmd_offers(args: argparse.Namespace, app: App) -> None:
    from cobranza.services import views

    _debtor_view(args, app, views.debtor_offers, render.offers)


def cmd_promises(args: argparse.Namespace, app: App) -> None:
    from cobranza.services import views

    phone = _phone(args.phone)
    with app.unit_of_work() as session:
        data = views.debtor_promises(session, phone)
    render.show(data, args.json, render.promises)


def cmd_can_contact(args: argparse.Namespace, app: App) -> int:
    """Exit 0 when contact is allowed, 3 when a rule blocks it (1 stays for errors). With
    ``--at`` the decision is evaluated then and recorded now (the app's clock)."""
    from cobranza.compliance import decisions

    phone = _phone(args.phone)
    clock = _at(args, app)
    with app.unit_of_work() as session:
        decision = decisions.decide_contact(
            session,
            phone,
            app.settings,
            clock,
            channel=args.channel,
            initiated_by=args.initiated_by,
            actor="cli",
            recorded_at=app.clock.now() if args.at else None,
        )
        data = decision.as_dict()
    render.show(data, args.json, render.decision(phone))
    return 0 if decision.allowed else 3


def cmd_audit(args: argparse.Namespace, app: App) -> None:
    from cobranza.db import repository

    phone = _phone(args.phone)
    with app.unit_of_work() as session:
        data = [
            {
                "id": r.id,
                "occurred_at": r.occurred_at.isoformat(),
                "actor": r.actor,
                "action": r.action,
                "details": r.details,
            }
            for r in repository.audit_entries(session, phone, args.action, args.limit)
        ]
    render.show(data, args.json, render.audit(phone))


def cmd_reminders(args: argparse.Namespace, app: App) -> None:
    from cobranza.services import reminders

    clock = _at(args, app)
    with app.unit_of_work() as session:
        data = [
            {
                "id": r.id,
                "phone": mask_phone(r.debtor_phone),
                "reference": r.reference,
                "due_on": r.due_on.isoformat(),
                "scheduled_for": r.scheduled_for.isoformat(),
                "status": r.status,
                "allowed": d.allowed,
                "rule": d.rule,
                "reason": d.reason,
            }
            for r, d in reminders.due(session, app.settings, clock)
        ]
    render.show(data, args.json, render.reminders)


def cmd_conduct(args: argparse.Namespace, app: App) -> None:
    from cobranza.compliance.conduct import check_project

    templates_dir = app.settings.outreach.templates_dir
    violations = check_project(PROJECT_ROOT, templates_dir)
    if violations:
        raise CliError(
            f"{len(violations)} texto(s) con lenguaje prohibido en la cobranza:\n"
            + "\n".join(f"  {v}" for v in violations)
        )
    print(
        "Conducta: ningún texto de domain.yml, persona_profiles/ ni "
        f"{templates_dir.name}/ usa lenguaje prohibido."
    )


def cmd_campaigns_validate(args: argparse.Namespace, app: App) -> None:
    """Campaigns, templates and experiments, cross-checked with each other, the persona
    profiles and domain.yml; broken files raise :class:`OutreachFilesError` with every
    problem."""
    from cobranza.outreach import worker
    from cobranza.outreach.campaigns import by_priority

    files = worker.load_files(app)
    print(
        render.campaigns_summary(
            by_priority(files.campaigns),
            files.templates,
            app.settings.outreach,
            sorted(files.experiments.values(), key=lambda e: e.name),
        )
    )


def cmd_campaigns_show(args: argparse.Namespace, app: App) -> None:
    from cobranza.outreach import worker
    from cobranza.outreach.templates import SAMPLE_VALUES

    files = worker.load_files(app)
    campaigns, templates = files.campaigns, files.templates
    campaign = campaigns.get(args.name)
    if campaign is None:
        raise CliError(
            f"no hay campaña '{args.name}'; hay: {', '.join(sorted(campaigns)) or 'ninguna'}"
        )
    values = dict(SAMPLE_VALUES)
    if args.nombre is not None:
        values["nombre"] = args.nombre
    print(render.campaign_detail(campaign, templates, values))


def cmd_block_list(args: argparse.Namespace, app: App) -> None:
    from cobranza.services.consent import list_blocks

    phone = _phone(args.phone) if args.phone else None
    with app.unit_of_work() as session:
        rows = [
            {
                "phone": b.phone,
                "debtor_phone": b.debtor_phone,
                "reason": b.reason,
                "source": b.source,
                "created_at": b.created_at.isoformat(),
            }
            for b in list_blocks(session, phone)
        ]
    render.show(rows, args.json, render.blocks)


def cmd_block_remove(args: argparse.Namespace, app: App) -> None:
    from cobranza.services.consent import remove_blocks

    phone = _phone(args.phone)
    with app.unit_of_work() as session:
        removed = remove_blocks(session, phone, args.reason, f"cli:{getpass.getuser()}", app.clock)
    if not removed:
        raise CliError(f"{mask_phone(phone)} no tenía bloqueos")
    print(f"{removed} bloqueo(s) de {mask_phone(phone)} retirado(s); quedó en la auditoría.")


def cmd_agent_add(args: argparse.Namespace, app: App) -> None:
    """The password is read from standard input or asked for, never taken as an argument (it
    would show in the process list and the shell history). A refused account (AgentError)
    reaches :func:`main` as one of our errors."""
    from cobranza.services.agents import ROLE_NAMES, add_agent

    role = ConsoleRole.SUPERVISOR if args.supervisor else ConsoleRole.AGENT
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Contraseña: ")
        if getpass.getpass("Repite la contraseña: ") != password:
            raise CliError("las contraseñas no coinciden")
    with app.unit_of_work() as session:
        agent = add_agent(session, args.username, args.name or "", password, app.clock, role)
        print(f"Asesor {agent.username} ({agent.display_name}) creado, rol {ROLE_NAMES[role]}.")


def cmd_agent_active(args: argparse.Namespace, app: App) -> None:
    """``agent disable`` ends the agent's console sessions at once; ``agent enable`` lets the
    agent log in again (with the same password)."""
    from cobranza.services.agents import set_active

    active = args.agent_command == "enable"
    with app.unit_of_work() as session:
        ended = set_active(session, args.username, active, app.clock)
    if active:
        print(f"Asesor {args.username} activado: ya puede entrar a la consola.")
    else:
        print(f"Asesor {args.username} desactivado; sesiones terminadas: {ended}.")


def cmd_agent_role(args: argparse.Namespace, app: App) -> None:
    """``agent role USUARIO agente|supervisor``: audited, and the account's sessions end (its
    page logs in again with the new role's view)."""
    from cobranza.services.agents import ROLE_NAMES, set_role

    role = next(code for code, name in ROLE_NAMES.items() if name == args.role)
    with app.unit_of_work() as session:
        ended = set_role(session, args.username, role, app.clock, f"cli:{getpass.getuser()}")
    print(f"{args.username} ahora tiene el rol {args.role}; sesiones terminadas: {ended}.")


def cmd_agent_list(args: argparse.Namespace, app: App) -> None:
    from cobranza.services.agents import list_agents

    with app.unit_of_work() as session:
        rows = [
            {"username": a.username, "name": a.display_name, "active": a.active, "role": a.role}
            for a in list_agents(session)
        ]
    render.show(rows, args.json, render.agents)


def cmd_payments_import(args: argparse.Namespace, app: App) -> int:
    """Import a payments file (docs/payments.md). Exit 0 when every row was read (unmatched
    rows are reported, not errors of the file), 1 when any row had an error. ``--at`` imports
    and settles as if it were that instant."""
    from pathlib import Path

    from cobranza.domain import payment_files
    from cobranza.services import reconciliation

    path = Path(args.file)
    clock = _at(args, app)
    try:
        size = path.stat().st_size
        if size > payment_files.MAX_FILE_BYTES:
            raise payment_files.PaymentFileError(
                f"el archivo pesa más de {payment_files.MAX_FILE_BYTES // (1024 * 1024)} MB; "
                "divídelo en partes"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"no se pudo leer {path.name}: {exc.strerror or exc}") from exc
    parsed = payment_files.parse_payment_file(data, now=clock.now())
    report = reconciliation.import_in_batches(
        app.unit_of_work, parsed, f"archivo:{path.name}", app.settings, clock, app.profiles
    )
    render.show(report.as_dict(), args.json, render.payment_import)
    return 1 if report.errors else 0


def cmd_payments_unmatched(args: argparse.Namespace, app: App) -> None:
    from cobranza.services import reconciliation

    with app.unit_of_work() as session:
        rows = reconciliation.unmatched_payments(session)
    render.show(rows, args.json, render.unmatched_payments)


def cmd_payments_settle(args: argparse.Namespace, app: App) -> None:
    from cobranza.services import reconciliation

    clock = _at(args, app)
    with app.unit_of_work() as session:
        report = reconciliation.settle_commitments(session, app.settings, clock, app.profiles)
    render.show(report.as_dict(), args.json, render.settlement)


COMMANDS: dict[str, Callable[[argparse.Namespace, App], int | None]] = {
    "db upgrade": cmd_db_upgrade,
    "db current": cmd_db_current,
    "seed": cmd_seed,
    "personas validate": cmd_personas_validate,
    "personas assign": cmd_personas_assign,
    "debtor": cmd_debtor,
    "offers": cmd_offers,
    "promises": cmd_promises,
    "can-contact": cmd_can_contact,
    "audit": cmd_audit,
    "reminders": cmd_reminders,
    "conduct": cmd_conduct,
    "campaigns validate": cmd_campaigns_validate,
    "campaigns show": cmd_campaigns_show,
    "block list": cmd_block_list,
    "block remove": cmd_block_remove,
    "payments import": cmd_payments_import,
    "payments unmatched": cmd_payments_unmatched,
    "payments settle": cmd_payments_settle,
    "agent add": cmd_agent_add,
    "agent active": cmd_agent_active,
    "agent role": cmd_agent_role,
    "agent list": cmd_agent_list,
    **outreach.COMMANDS,
    **segments.COMMANDS,
    **kpis.COMMANDS,
    **experiments.COMMANDS,
    **simulate.COMMANDS,
    **score.COMMANDS,
    **data.COMMANDS,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        app = bootstrap.build(settings)
        app = dataclasses.replace(app, clock=_at(args, app))  # --at, for every command
        code = COMMANDS[args.command](args, app)
    except DebtorNotFound as exc:
        print(f"error: no hay deudor con el teléfono {mask_phone(str(exc))}", file=sys.stderr)
        return 1
    except ProfileError as exc:
        print("error: perfiles de persona inválidos:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except OutreachFilesError as exc:
        print("error: campañas, plantillas o experimentos inválidos:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except CobranzaError as exc:  # ours: CliError, ConfigError, AgentError, InvalidPhone…
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: the traceback to the log, one line to the operator
        log.error("cobranza %s: bug (%s)", args.command, type(exc).__name__, exc_info=exc)
        print(TECHNICAL_ERROR, file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
