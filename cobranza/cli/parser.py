"""The ``cobranza`` command line: argparse only. Each sub-command sets ``command`` to its name
in :data:`cobranza.cli.commands.COMMANDS`; usage errors exit 2 (argparse)."""

from __future__ import annotations

import argparse

from cobranza.cli import data, experiments, kpis, outreach, score, segments, simulate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cobranza", description="Asistente de cobranza: administración"
    )
    sub = parser.add_subparsers(dest="command_group", required=True, metavar="COMANDO")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(command=name)
        return p

    def with_at(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--at",
            help="evaluar en este instante ISO-8601 con zona (p. ej. 2026-11-22T10:00-06:00)",
        )

    dbp = sub.add_parser("db", help="migraciones de la base de datos")
    dbsub = dbp.add_subparsers(dest="db_command", required=True, metavar="ACCIÓN")
    dbsub.add_parser("upgrade", help="crear o migrar el esquema a la última versión").set_defaults(
        command="db upgrade"
    )
    dbsub.add_parser("current", help="versión actual del esquema").set_defaults(
        command="db current"
    )

    seed = add("seed", "cargar la cartera demo (idempotente)")
    seed.add_argument("--today", help="fecha de corte de la cartera (AAAA-MM-DD); hoy por defecto")
    with_at(seed)

    per = sub.add_parser("personas", help="perfiles de persona")
    persub = per.add_subparsers(dest="personas_command", required=True, metavar="ACCIÓN")
    persub.add_parser("validate", help="validar persona_profiles/*.yml").set_defaults(
        command="personas validate"
    )
    assign = persub.add_parser("assign", help="recalcular y guardar la persona de cada deudor")
    assign.set_defaults(command="personas assign")
    assign.add_argument("--json", action="store_true")
    with_at(assign)

    for name, help_text in (
        ("debtor", "perfil, persona (y por qué), saldo, atraso, zona y consentimiento"),
        ("offers", "las ofertas de pago que el asistente haría ahora"),
    ):
        p = add(name, help_text)
        p.add_argument(
            "phone", metavar="TELEFONO", help="5215512345678, +525512345678 o '55 1234 5678'"
        )
        p.add_argument("--json", action="store_true", help="salida JSON")
        with_at(p)

    prom = add("promises", "promesas de pago de un deudor")
    prom.add_argument("--phone", required=True, metavar="TELEFONO")
    prom.add_argument("--json", action="store_true", help="salida JSON")

    can = add(
        "can-contact",
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

    aud = add("audit", "bitácora de auditoría de un deudor (decisiones incluidas)")
    aud.add_argument("--phone", required=True, metavar="TELEFONO")
    aud.add_argument("--action", help="solo esta acción, p. ej. contact_decision")
    aud.add_argument("--limit", type=int, default=200, help="últimos N registros (200)")
    aud.add_argument("--json", action="store_true", help="salida JSON")

    rem = add("reminders", "recordatorios que ya tocan, cada uno con la decisión de cumplimiento")
    rem.add_argument("--json", action="store_true", help="salida JSON")
    with_at(rem)

    add("conduct", "revisar que ninguna respuesta ni plantilla use lenguaje prohibido")

    camp = sub.add_parser("campaigns", help="campañas de contacto y plantillas de WhatsApp")
    campsub = camp.add_subparsers(dest="campaigns_command", required=True, metavar="ACCIÓN")
    campsub.add_parser(
        "validate",
        help="validar campaigns/*.yml, templates/*.yml y experiments/*.yml (y que se correspondan)",
    ).set_defaults(command="campaigns validate")
    cshow = campsub.add_parser(
        "show", help="una campaña: audiencia, pasos y el texto de cada plantilla"
    )
    cshow.set_defaults(command="campaigns show")
    cshow.add_argument("name", metavar="CAMPAÑA")
    cshow.add_argument(
        "--nombre", default=None, help="nombre de ejemplo para la vista previa (María)"
    )

    outreach.add_parsers(sub, with_at)
    segments.add_parsers(sub, with_at)
    kpis.add_parsers(sub)
    experiments.add_parsers(sub, with_at)
    simulate.add_parsers(sub)
    score.add_parsers(sub, with_at)
    data.add_parsers(sub)

    blk = sub.add_parser("block", help="números bloqueados (número equivocado, tercero)")
    blksub = blk.add_subparsers(dest="block_command", required=True, metavar="ACCIÓN")
    blist = blksub.add_parser("list", help="números bloqueados, del más reciente al más antiguo")
    blist.set_defaults(command="block list")
    blist.add_argument("phone", nargs="?", metavar="TELÉFONO", help="solo este número")
    blist.add_argument("--json", action="store_true", help="salida JSON")
    bremove = blksub.add_parser("remove", help="retirar los bloqueos de un número (auditado)")
    bremove.set_defaults(command="block remove")
    bremove.add_argument("phone", metavar="TELÉFONO")
    bremove.add_argument(
        "--reason", required=True, help="por qué se retira (queda en la auditoría)"
    )

    pay = sub.add_parser("payments", help="pagos recibidos: importar, sin coincidencia, liquidar")
    paysub = pay.add_subparsers(dest="payments_command", required=True, metavar="ACCIÓN")
    pimport = paysub.add_parser(
        "import",
        help="importar un CSV de pagos (SPEI, tiendas, tarjeta; docs/payments.md); sale con 0 "
        "si se leyeron todas las filas, 1 si alguna tuvo error",
    )
    pimport.set_defaults(command="payments import")
    pimport.add_argument("file", metavar="ARCHIVO", help="CSV con encabezado (UTF-8 o Latin-1)")
    pimport.add_argument("--json", action="store_true", help="salida JSON")
    with_at(pimport)
    punmatched = paysub.add_parser(
        "unmatched", help="pagos importados que no se pudieron asignar a ningún adeudo"
    )
    punmatched.set_defaults(command="payments unmatched")
    punmatched.add_argument("--json", action="store_true", help="salida JSON")
    psettle = paysub.add_parser(
        "settle",
        help="liquidar promesas y parcialidades con los pagos registrados (cron diario)",
    )
    psettle.set_defaults(command="payments settle")
    psettle.add_argument("--json", action="store_true", help="salida JSON")
    with_at(psettle)

    ag = sub.add_parser("agent", help="cuentas de asesores (consola de atención)")
    agsub = ag.add_subparsers(dest="agent_command", required=True, metavar="ACCIÓN")
    agadd = agsub.add_parser("add", help="crear un asesor (la contraseña se pide, no se escribe)")
    agadd.set_defaults(command="agent add")
    agadd.add_argument("username", metavar="USUARIO")
    agadd.add_argument("--name", help="nombre completo, p. ej. 'Ana Ruiz'")
    agadd.add_argument(
        "--password-stdin", action="store_true", help="leer la contraseña de la entrada estándar"
    )
    agadd.add_argument(
        "--supervisor",
        action="store_true",
        help="con rol de supervisor: ve las colas y la actividad de todos, reasigna y libera",
    )
    for action, help_text in (
        ("disable", "desactivar un asesor: no entra y sus sesiones abiertas terminan ya"),
        ("enable", "volver a activar un asesor desactivado"),
    ):
        agactive = agsub.add_parser(action, help=help_text, description=help_text)
        agactive.set_defaults(command="agent active")
        agactive.add_argument("username", metavar="USUARIO")
    role_help = "cambiar el rol de una cuenta (sus sesiones abiertas terminan)"
    agrole = agsub.add_parser("role", help=role_help, description=role_help)
    agrole.set_defaults(command="agent role")
    agrole.add_argument("username", metavar="USUARIO")
    agrole.add_argument("role", choices=("agente", "supervisor"), metavar="agente|supervisor")
    aglist = agsub.add_parser("list", help="asesores registrados")
    aglist.set_defaults(command="agent list")
    aglist.add_argument("--json", action="store_true", help="salida JSON")
    return parser
