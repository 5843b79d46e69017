"""The ``cobranza`` command: database set-up, demo data and inspection.

``--json`` prints machine-readable output; without it, readable tables. Errors go to stderr in
Spanish with exit code 1; usage errors exit 2 (argparse).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import Any

from tabulate import tabulate

from cobranza import db
from cobranza.clock import Clock, FixedClock, SystemClock, local_today
from cobranza.config import ConfigError, Settings, load_settings
from cobranza.db.repository import DebtorNotFound
from cobranza.domain.money import format_mxn, to_centavos
from cobranza.domain.phones import InvalidPhone, mask_phone, normalize_phone
from cobranza.errors import CobranzaError
from cobranza.personas.profiles import ProfileError, load_profiles

log = logging.getLogger("cobranza.cli.commands")


class CliError(CobranzaError):
    """A problem to report to the user in one line, exit code 1."""


def _clock(at: str | None) -> Clock:
    if not at:
        return SystemClock()
    text = at.strip()
    if text[-1:] in ("Z", "z"):  # Python 3.10 reads only "+00:00"
        text = text[:-1] + "+00:00"
    try:
        instant = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CliError(f"--at no es una fecha y hora ISO-8601: {at!r}") from exc
    if instant.tzinfo is None:
        raise CliError(f"--at necesita zona horaria, p. ej. {at}-06:00")
    return FixedClock(instant)


def _phone(raw: str) -> str:
    try:
        return normalize_phone(raw)
    except InvalidPhone as exc:
        raise CliError(str(exc)) from exc


def _print(data: Any, as_json: bool, render: Callable[[Any], str]) -> None:
    if as_json:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        print(render(data))


def _session_factory(settings: Settings) -> Any:
    return db.make_session_factory(db.make_engine(settings.database_url))


# --- commands -------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> None:
    engine = db.make_engine(settings.database_url)
    before = db.current_revision(engine)
    db.upgrade(engine)
    after = db.current_revision(engine)
    state = "al día" if before == after else f"migrada de {before or 'vacía'} a {after}"
    print(f"Base de datos {settings.masked_database_url}: {state}")


def cmd_db_current(args: argparse.Namespace, settings: Settings) -> None:
    engine = db.make_engine(settings.database_url)
    print(f"actual: {db.current_revision(engine) or '(vacía)'}  última: {db.head_revision()}")


def cmd_seed(args: argparse.Namespace, settings: Settings) -> None:
    from cobranza.demo import portfolio
    from cobranza.services import views

    engine = db.make_engine(settings.database_url)
    if db.current_revision(engine) != db.head_revision():
        raise CliError("la base de datos no está migrada: ejecuta `cobranza db upgrade` primero")
    profiles = load_profiles(settings.persona_profiles_dir)
    clock = _clock(args.at)
    today = (
        date.fromisoformat(args.today)
        if args.today
        else local_today(clock, settings.default_time_zone)
    )
    factory = db.make_session_factory(engine)
    with db.session_scope(factory) as session:
        summary = portfolio.load_demo(session, today)
        if summary["debtors_added"]:
            summary["personas"] = views.reassign_personas(session, profiles, clock)  # type: ignore[assignment]
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


def cmd_personas_validate(args: argparse.Namespace, settings: Settings) -> None:
    profiles = load_profiles(settings.persona_profiles_dir)
    ordered = sorted(profiles.values(), key=lambda p: -p.priority)
    print(
        f"{len(profiles)} perfiles válidos en {settings.persona_profiles_dir}: "
        + ", ".join(f"{p.name} ({'por defecto' if p.fallback else p.priority})" for p in ordered)
    )


def cmd_personas_assign(args: argparse.Namespace, settings: Settings) -> None:
    from cobranza.services import views

    profiles = load_profiles(settings.persona_profiles_dir)
    with db.session_scope(_session_factory(settings)) as session:
        counts = views.reassign_personas(session, profiles, _clock(args.at))
    _print(
        counts, args.json, lambda c: tabulate(sorted(c.items()), headers=["persona", "deudores"])
    )


def _render_debtor(data: dict[str, Any]) -> str:
    profile = [
        ("Teléfono", data["phone"]),
        ("Nombre", data["full_name"]),
        ("Nacimiento", data["date_of_birth"]),
        ("Lugar", f"{data['municipality']}, {data['state']}"),
        ("Zona horaria", f"{data['time_zone']} (hora local {data['local_time']})"),
        ("Persona", data["persona"]),
        ("Saldo total", data["balance_text"]),
        ("Días de atraso", f"{data['days_past_due']} (tramo {data['bucket']})"),
    ]
    if data["hardship_reason"]:
        profile.append(("Dificultad declarada", data["hardship_reason"]))
    consent = [
        (ch, c["status"], c["source"], c["recorded_at"]) for ch, c in data["consent"].items()
    ]
    debts = [
        (
            d["contract_number"],
            d["creditor"],
            d["product"],
            d["current_balance_text"],
            d["days_past_due"],
            d["balance_as_of"],
            d["last_payment_on"] or "—",
        )
        for d in data["debts"]
    ]
    parts = [
        tabulate(profile, tablefmt="plain"),
        "\nPor qué esta persona:\n"
        + "\n".join(f"  - {line}" for line in data["persona_explanation"]),
        "\nAdeudos:\n"
        + tabulate(
            debts,
            headers=[
                "contrato",
                "acreedor",
                "producto",
                "saldo",
                "atraso",
                "calculado",
                "último pago",
            ],
        ),
        "\nConsentimiento:\n"
        + (
            tabulate(consent, headers=["canal", "estado", "origen", "registrado"])
            if consent
            else "  sin registro de consentimiento"
        ),
    ]
    return "\n".join(parts)


def _debtor_view(
    args: argparse.Namespace,
    settings: Settings,
    view: Callable[..., dict[str, Any]],
    render: Callable[[Any], str],
) -> None:
    """Run a per-debtor service (report, offers) for PHONE and print it."""
    phone = _phone(args.phone)
    profiles = load_profiles(settings.persona_profiles_dir)
    with db.session_scope(_session_factory(settings)) as session:
        data = view(session, phone, profiles, _clock(args.at))
    _print(data, args.json, render)


def cmd_debtor(args: argparse.Namespace, settings: Settings) -> None:
    from cobranza.services import views

    _debtor_view(args, settings, views.debtor_report, _render_debtor)


def _render_offers(data: dict[str, Any]) -> str:
    lines = [f"Persona {data['persona']}; ofertas calculadas el {data['today']} (hora local)"]
    for debt in data["debts"]:
        lines.append(
            f"\nContrato {debt['contract_number']}: saldo "
            f"{format_mxn(to_centavos(debt['balance']))}, {debt['days_past_due']} días de atraso"
        )
        rows = []
        for offer in debt["offers"]:
            for inst in offer["installments"]:
                rows.append(
                    (
                        offer["code"] if inst["number"] == 1 else "",
                        format_mxn(to_centavos(offer["discount"])) if inst["number"] == 1 else "",
                        inst["number"],
                        format_mxn(to_centavos(inst["amount"])),
                        inst["due_date"],
                    )
                )
        lines.append(
            tabulate(rows, headers=["oferta", "descuento", "pago", "monto", "fecha límite"])
            if rows
            else "  sin ofertas"
        )
    return "\n".join(lines)


def cmd_offers(args: argparse.Namespace, settings: Settings) -> None:
    from cobranza.services import views

    _debtor_view(args, settings, views.debtor_offers, _render_offers)


def cmd_promises(args: argparse.Namespace, settings: Settings) -> None:
    from cobranza.services import views

    phone = _phone(args.phone)
    with db.session_scope(_session_factory(settings)) as session:
        data = views.debtor_promises(session, phone)

    def render(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "Sin promesas de pago registradas."
        return tabulate(
            [
                (
                    p["folio"],
                    p["amount_text"],
                    p["due_date"],
                    p["status"],
                    p["channel"],
                    p["created_by"],
                )
                for p in rows
            ],
            headers=["folio", "monto", "fecha", "estado", "canal", "registró"],
        )

    _print(data, args.json, render)


def cmd_can_contact(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when contact is allowed, 3 when a rule blocks it (1 stays for errors)."""
    from cobranza.compliance import decisions

    phone = _phone(args.phone)
    clock = _clock(args.at)
    with db.session_scope(_session_factory(settings)) as session:
        decision = decisions.decide_contact(
            session,
            phone,
            settings,
            clock,
            channel=args.channel,
            initiated_by=args.initiated_by,
            actor="cli",
            recorded_at=SystemClock().now() if args.at else None,
        )
        data = decision.as_dict()

    def render(d: dict[str, Any]) -> str:
        verdict = "PERMITIDO" if d["allowed"] else "BLOQUEADO"
        local = datetime.fromisoformat(d["local_time"])
        lines = [
            f"{verdict}: {d['reason']}",
            f"regla: {d['rule']}",
            f"deudor: {mask_phone(phone)}  canal: {d['channel']}  inicia: {d['initiated_by']}",
            f"hora local: {local:%Y-%m-%d %H:%M} ({d['time_zone']}, zona por {d['zone_source']})",
            "",
            tabulate(
                [("✓" if c["passed"] else "✗", c["rule"], c["reason"]) for c in d["checks"]],
                headers=["", "regla", "detalle"],
            ),
        ]
        return "\n".join(lines)

    _print(data, args.json, render)
    return 0 if decision.allowed else 3


def cmd_audit(args: argparse.Namespace, settings: Settings) -> None:
    from sqlalchemy import select

    from cobranza.db.models import AuditLog

    phone = _phone(args.phone)
    with db.session_scope(_session_factory(settings)) as session:
        query = select(AuditLog).where(AuditLog.debtor_phone == phone)
        if args.action:
            query = query.where(AuditLog.action == args.action)
        rows = (
            session.execute(query.order_by(AuditLog.occurred_at.desc(), AuditLog.id.desc()))
            .scalars()
            .all()[: args.limit]
        )
        data = [
            {
                "id": r.id,
                "occurred_at": r.occurred_at.isoformat(),
                "actor": r.actor,
                "action": r.action,
                "details": r.details,
            }
            for r in reversed(rows)
        ]

    def summary(details: dict[str, Any]) -> str:
        if "allowed" in details:
            verdict = "permitido" if details["allowed"] else "bloqueado"
            return f"{verdict} ({details.get('rule')}): {details.get('reason')}"
        return ", ".join(f"{k}={v}" for k, v in details.items())

    def render(entries: list[dict[str, Any]]) -> str:
        if not entries:
            return f"Sin registros de auditoría para {mask_phone(phone)}."
        return tabulate(
            [
                (e["occurred_at"][:19], e["actor"], e["action"], summary(e["details"]))
                for e in entries
            ],
            headers=["cuándo (UTC)", "quién", "acción", "detalle"],
            maxcolwidths=[None, None, None, 70],
        )

    _print(data, args.json, render)


def cmd_reminders(args: argparse.Namespace, settings: Settings) -> None:
    from cobranza.services import reminders

    clock = _clock(args.at)
    with db.session_scope(_session_factory(settings)) as session:
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
            for r, d in reminders.due(session, settings, clock)
        ]

    def render(rows: list[dict[str, Any]]) -> str:
        if not rows:
            return "No hay recordatorios pendientes por enviar."
        return tabulate(
            [
                (
                    r["phone"],
                    r["reference"],
                    r["due_on"],
                    r["status"],
                    "enviar" if r["allowed"] else f"no ({r['rule']})",
                    r["reason"],
                )
                for r in rows
            ],
            headers=["deudor", "folio", "pago", "estado", "¿se puede?", "motivo"],
        )

    _print(data, args.json, render)


def cmd_conduct(args: argparse.Namespace, settings: Settings) -> None:
    from cobranza.compliance.conduct import check_project
    from cobranza.config import PROJECT_ROOT

    violations = check_project(PROJECT_ROOT)
    if violations:
        raise CliError(
            f"{len(violations)} texto(s) con lenguaje prohibido en la cobranza:\n"
            + "\n".join(f"  {v}" for v in violations)
        )
    print("Conducta: ningún texto de domain.yml ni de persona_profiles/ usa lenguaje prohibido.")


def cmd_block_list(args: argparse.Namespace, settings: Settings) -> None:
    from cobranza.services.consent import list_blocks

    phone = _phone(args.phone) if args.phone else None
    with db.session_scope(_session_factory(settings)) as session:
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
    _print(
        rows,
        args.json,
        lambda r: (
            tabulate(
                [(b["phone"], b["reason"], b["source"], b["created_at"]) for b in r],
                headers=["número", "motivo", "origen", "fecha (UTC)"],
            )
            if r
            else "Sin números bloqueados."
        ),
    )


def cmd_block_remove(args: argparse.Namespace, settings: Settings) -> None:
    import getpass

    from cobranza.services.consent import remove_blocks

    phone = _phone(args.phone)
    with db.session_scope(_session_factory(settings)) as session:
        removed = remove_blocks(
            session, phone, args.reason, f"cli:{getpass.getuser()}", SystemClock()
        )
    if not removed:
        raise CliError(f"{mask_phone(phone)} no tenía bloqueos")
    print(f"{removed} bloqueo(s) de {mask_phone(phone)} retirado(s); quedó en la auditoría.")


def cmd_agent_add(args: argparse.Namespace, settings: Settings) -> None:
    """The password is read from standard input or asked for, never taken as an argument (it
    would show in the process list and the shell history)."""
    import getpass

    from cobranza.services.agents import AgentError, add_agent

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("Contraseña: ")
        if getpass.getpass("Repite la contraseña: ") != password:
            raise CliError("las contraseñas no coinciden")
    with db.session_scope(_session_factory(settings)) as session:
        try:
            agent = add_agent(session, args.username, args.name or "", password, SystemClock())
        except AgentError as exc:
            raise CliError(str(exc)) from exc
        print(f"Asesor {agent.username} ({agent.display_name}) creado.")


def cmd_agent_active(args: argparse.Namespace, settings: Settings) -> None:
    """``agent disable`` ends the agent's console sessions at once; ``agent enable`` lets the
    agent log in again (with the same password)."""
    from cobranza.services.agents import AgentError, set_active

    active = args.agent_command == "enable"
    with db.session_scope(_session_factory(settings)) as session:
        try:
            ended = set_active(session, args.username, active, SystemClock())
        except AgentError as exc:
            raise CliError(str(exc)) from exc
    if active:
        print(f"Asesor {args.username} activado: ya puede entrar a la consola.")
    else:
        print(f"Asesor {args.username} desactivado; sesiones terminadas: {ended}.")


def cmd_agent_list(args: argparse.Namespace, settings: Settings) -> None:
    from sqlalchemy import select

    from cobranza.db.models import Agent

    with db.session_scope(_session_factory(settings)) as session:
        rows = [
            {"username": a.username, "name": a.display_name, "active": a.active}
            for a in session.execute(select(Agent).order_by(Agent.username)).scalars()
        ]
    _print(
        rows,
        args.json,
        lambda r: (
            tabulate(
                [(a["username"], a["name"], "sí" if a["active"] else "no") for a in r],
                headers=["usuario", "nombre", "activo"],
            )
            if r
            else "Sin asesores. Crea uno con `cobranza agent add USUARIO --name 'Nombre'`."
        ),
    )


# --- parser ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cobranza", description="Asistente de cobranza: administración"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMANDO")

    def add(name: str, func: Callable[..., int | None], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    def with_at(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--at",
            help="evaluar en este instante ISO-8601 con zona (p. ej. 2026-11-22T10:00-06:00)",
        )

    dbp = sub.add_parser("db", help="migraciones de la base de datos")
    dbsub = dbp.add_subparsers(dest="db_command", required=True, metavar="ACCIÓN")
    dbsub.add_parser("upgrade", help="crear o migrar el esquema a la última versión").set_defaults(
        func=cmd_db_upgrade
    )
    dbsub.add_parser("current", help="versión actual del esquema").set_defaults(func=cmd_db_current)

    seed = add("seed", cmd_seed, "cargar la cartera demo (idempotente)")
    seed.add_argument("--today", help="fecha de corte de la cartera (AAAA-MM-DD); hoy por defecto")
    with_at(seed)

    per = sub.add_parser("personas", help="perfiles de persona")
    persub = per.add_subparsers(dest="personas_command", required=True, metavar="ACCIÓN")
    persub.add_parser("validate", help="validar persona_profiles/*.yml").set_defaults(
        func=cmd_personas_validate
    )
    assign = persub.add_parser("assign", help="recalcular y guardar la persona de cada deudor")
    assign.set_defaults(func=cmd_personas_assign)
    assign.add_argument("--json", action="store_true")
    with_at(assign)

    for name, func, help_text in (
        ("debtor", cmd_debtor, "perfil, persona (y por qué), saldo, atraso, zona y consentimiento"),
        ("offers", cmd_offers, "las ofertas de pago que el asistente haría ahora"),
    ):
        p = add(name, func, help_text)
        p.add_argument(
            "phone", metavar="TELEFONO", help="5215512345678, +525512345678 o '55 1234 5678'"
        )
        p.add_argument("--json", action="store_true", help="salida JSON")
        with_at(p)

    prom = add("promises", cmd_promises, "promesas de pago de un deudor")
    prom.add_argument("--phone", required=True, metavar="TELEFONO")
    prom.add_argument("--json", action="store_true", help="salida JSON")

    can = add(
        "can-contact",
        cmd_can_contact,
        "¿se puede iniciar contacto ahora? (horario, consentimiento, terceros, límites); "
        "sale con 0 si sí, 3 si no; la decisión queda en la auditoría",
    )
    can.add_argument("phone", metavar="TELEFONO")
    can.add_argument("--channel", default="whatsapp", help="canal (whatsapp por defecto)")
    can.add_argument(
        "--initiated-by",
        default="campaign:manual",
        help="quién inicia: bot, campaign:<nombre> o agent:<nombre>",
    )
    can.add_argument("--json", action="store_true", help="salida JSON")
    with_at(can)

    aud = add("audit", cmd_audit, "bitácora de auditoría de un deudor (decisiones incluidas)")
    aud.add_argument("--phone", required=True, metavar="TELEFONO")
    aud.add_argument("--action", help="solo esta acción, p. ej. contact_decision")
    aud.add_argument("--limit", type=int, default=200, help="últimos N registros (200)")
    aud.add_argument("--json", action="store_true", help="salida JSON")

    rem = add(
        "reminders",
        cmd_reminders,
        "recordatorios que ya tocan, cada uno con la decisión de cumplimiento",
    )
    rem.add_argument("--json", action="store_true", help="salida JSON")
    with_at(rem)

    add("conduct", cmd_conduct, "revisar que ninguna respuesta use lenguaje prohibido")

    blk = sub.add_parser("block", help="números bloqueados (número equivocado, tercero)")
    blksub = blk.add_subparsers(dest="block_command", required=True, metavar="ACCIÓN")
    blist = blksub.add_parser("list", help="números bloqueados, del más reciente al más antiguo")
    blist.set_defaults(func=cmd_block_list)
    blist.add_argument("phone", nargs="?", metavar="TELÉFONO", help="solo este número")
    blist.add_argument("--json", action="store_true", help="salida JSON")
    bremove = blksub.add_parser("remove", help="retirar los bloqueos de un número (auditado)")
    bremove.set_defaults(func=cmd_block_remove)
    bremove.add_argument("phone", metavar="TELÉFONO")
    bremove.add_argument(
        "--reason", required=True, help="por qué se retira (queda en la auditoría)"
    )

    ag = sub.add_parser("agent", help="cuentas de asesores (consola de atención)")
    agsub = ag.add_subparsers(dest="agent_command", required=True, metavar="ACCIÓN")
    agadd = agsub.add_parser("add", help="crear un asesor (la contraseña se pide, no se escribe)")
    agadd.set_defaults(func=cmd_agent_add)
    agadd.add_argument("username", metavar="USUARIO")
    agadd.add_argument("--name", help="nombre completo, p. ej. 'Ana Ruiz'")
    agadd.add_argument(
        "--password-stdin", action="store_true", help="leer la contraseña de la entrada estándar"
    )
    for action, help_text in (
        ("disable", "desactivar un asesor: no entra y sus sesiones abiertas terminan ya"),
        ("enable", "volver a activar un asesor desactivado"),
    ):
        agactive = agsub.add_parser(action, help=help_text, description=help_text)
        agactive.set_defaults(func=cmd_agent_active)
        agactive.add_argument("username", metavar="USUARIO")
    aglist = agsub.add_parser("list", help="asesores registrados")
    aglist.set_defaults(func=cmd_agent_list)
    aglist.add_argument("--json", action="store_true", help="salida JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
        logging.getLogger("alembic").setLevel(logging.WARNING)
        code = args.func(args, settings)
    except DebtorNotFound as exc:
        print(f"error: no hay deudor con el teléfono {mask_phone(str(exc))}", file=sys.stderr)
        return 1
    except ProfileError as exc:
        print("error: perfiles de persona inválidos:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    except (CliError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
