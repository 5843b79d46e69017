"""``cobranza simulate``: a month in a minute — the outbound loop on a copy of the demo
portfolio with a clock of its own, the funnel per bucket and persona, and the compliance
invariants (docs/simulation.md). Exit 0 when every invariant held, 1 when any broke."""

from __future__ import annotations

import argparse
import logging
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from cobranza.bootstrap import App
from cobranza.cli import render
from cobranza.errors import CobranzaError
from cobranza.scoring import model as scoring_model
from cobranza.simulation.run import DEFAULT_START, ORDERS, simulate


class SimulateUsageError(CobranzaError):
    """A ``--start`` the command cannot use."""


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("debe ser un entero positivo")
    return value


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="simular N días de campañas, respuestas y pagos sobre una copia de la cartera demo "
        "y comprobar las reglas de contacto (sale con 1 si alguna se rompe)",
    )
    p.set_defaults(command="simulate")
    p.add_argument("--days", type=_positive, default=90, help="días simulados (90)")
    p.add_argument(
        "--debtors",
        type=_positive,
        default=1000,
        help="deudores: los 7 documentados y los primeros N−7 generados (1000)",
    )
    p.add_argument("--seed", type=int, default=7, help="semilla: misma semilla, misma corrida (7)")
    p.add_argument(
        "--start",
        default=None,
        help=f"inicio ISO-8601 con zona ({DEFAULT_START.isoformat()}, un lunes)",
    )
    p.add_argument("--weekdays-only", action="store_true", help="contactar solo de lunes a viernes")
    p.add_argument(
        "--database",
        default=None,
        help="URL de una base vacía (p. ej. PostgreSQL); por defecto un SQLite temporal",
    )
    p.add_argument(
        "--daily-recipients",
        type=_positive,
        default=None,
        help="presupuesto de destinatarios únicos por 24 h (por defecto el de la configuración, "
        "OUTREACH_DAILY_RECIPIENTS); uno bajo hace que el orden importe",
    )
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="directorio de un modelo de puntaje entrenado: califica a cada deudor cada día "
        "simulado y la planificación copia el puntaje",
    )
    p.add_argument(
        "--order",
        choices=ORDERS,
        default=None,
        help="orden dentro de cada prioridad: score (necesita --model) o random (aleatorio "
        "con semilla); por defecto, el puntaje si hay modelo",
    )
    p.add_argument("--json", action="store_true", help="salida JSON")


def _start(text: str | None) -> datetime:
    if not text:
        return DEFAULT_START
    raw = text.strip()
    if raw[-1:] in ("Z", "z"):
        raw = raw[:-1] + "+00:00"
    try:
        instant = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise SimulateUsageError(f"--start no es una fecha y hora ISO-8601: {text!r}") from exc
    if instant.tzinfo is None:
        raise SimulateUsageError(f"--start necesita zona horaria, p. ej. {text}-06:00")
    return instant


def cmd_simulate(args: argparse.Namespace, app: App) -> int:
    # Thousands of simulated imports and sends would each log a line: warnings only.
    logging.getLogger("cobranza").setLevel(logging.WARNING)
    if args.order == "score" and args.model is None:
        raise SimulateUsageError(
            "--order score necesita --model: sin un modelo no hay puntajes que ordenar"
        )
    trained = scoring_model.load(args.model) if args.model is not None else None
    started = time.perf_counter()
    report = simulate(
        args.days,
        args.debtors,
        args.seed,
        start=_start(args.start),
        weekdays_only=args.weekdays_only,
        database_url=args.database,
        settings=app.settings,
        daily_recipients=args.daily_recipients,
        model=trained,
        order=args.order,
    )
    data = report.as_dict()
    data["wall_seconds"] = round(time.perf_counter() - started, 1)
    render.show(data, args.json, render.simulation)
    return 1 if report.violations else 0


COMMANDS = {"simulate": cmd_simulate}
