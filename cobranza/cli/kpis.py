"""``cobranza kpis``: the manager's indicators for a range of days, as a total and split by
bucket, persona, creditor, campaign, channel or day, as a table, JSON or CSV
(cobranza/services/kpis/, docs/kpis.md). The days are the operation's
(``COBRANZA_DEFAULT_TIME_ZONE``)."""

from __future__ import annotations

import argparse
import json
from datetime import date
from typing import Any

from cobranza.bootstrap import App
from cobranza.cli import render
from cobranza.domain.kpis import DIMENSIONS, SPLIT_LABELS, SPLITS, Filters, kpis_csv

FORMATS = ("table", "json", "csv")
MAX_VALUE = 80  # a group's name (a campaign, a creditor's code) is never longer


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError("debe ser una fecha AAAA-MM-DD") from exc


def _value(text: str) -> str:
    value = text.strip()
    if not value or len(value) > MAX_VALUE or not value.isprintable():
        raise argparse.ArgumentTypeError(f"debe ser un nombre de 1 a {MAX_VALUE} caracteres")
    return value


def add_parsers(sub: Any) -> None:
    kp = sub.add_parser(
        "kpis",
        help="indicadores de un periodo: contacto, respuesta, promesas, cobranza, recuperación, "
        "cura y deterioro, bajas, canalizaciones, bloqueos, mensajes y no entendidos "
        "(docs/kpis.md)",
    )
    kp.set_defaults(command="kpis")
    kp.add_argument(
        "--from", dest="start", type=_day, required=True, metavar="AAAA-MM-DD",
        help="primer día del periodo (incluido), en la zona horaria de la operación",
    )  # fmt: skip
    kp.add_argument(
        "--to", dest="end", type=_day, required=True, metavar="AAAA-MM-DD",
        help="último día del periodo (incluido)",
    )  # fmt: skip
    kp.add_argument(
        "--by",
        choices=SPLITS,
        help="desglosar por "
        + ", ".join(f"{name} ({label})" for name, label in SPLIT_LABELS.items()),
    )
    kp.add_argument(
        "--format", choices=FORMATS, default="table", help="table (por omisión), json o csv"
    )
    for dimension in DIMENSIONS:
        kp.add_argument(
            f"--{dimension}",
            type=_value,
            metavar="VALOR",
            help=f"solo {SPLIT_LABELS[dimension]} VALOR (el nombre de un grupo del desglose)",
        )


def cmd_kpis(args: argparse.Namespace, app: App) -> None:
    from cobranza.services import kpis

    filters = Filters(**{d: getattr(args, d) for d in DIMENSIONS})
    with app.unit_of_work() as session:
        report = kpis.kpis(
            session, args.start, args.end, args.by, filters, zone=app.settings.default_time_zone
        )
    if args.format == "json":
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    elif args.format == "csv":
        print(kpis_csv(report), end="")
    else:
        print(render.kpis_table(report))


COMMANDS = {"kpis": cmd_kpis}
