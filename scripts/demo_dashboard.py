"""`make demo-dashboard`: the console's Tablero on numbers computed from simulated events
(docs/kpis.md, "The demo").

1. `cobranza simulate`: 90 days of outreach over the 1,000 demo debtors (seed 7, as `make
   simulate`), ending yesterday, into a SQLite file of its own (var/demo-dashboard.db,
   re-created unless --reuse). The simulation only runs on an empty database and marks it as
   a simulation's, so the Tablero says its numbers are simulated: the server reads the marker.
2. A supervisor account, supervisor.demo (supervisor.demo.2 and so on when --reuse finds the
   name taken), with a random password printed here and nowhere else (the database keeps its
   scrypt hash).
3. The console on that database, on 127.0.0.1 (port 5007: `make run`'s console keeps 5006),
   until Ctrl+C. No Rasa runs: the Tablero does not need it (a ticket's conversation would not
   show, and the simulation opens no ticket).

The days are the simulation's real calendar days, so the Tablero's default range (the last 30
whole days) is the simulation's last 30."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select

from cobranza import db
from cobranza.clock import SystemClock, local_today
from cobranza.config import PROJECT_ROOT
from cobranza.db.audit import simulated_database
from cobranza.db.models import Agent
from cobranza.domain.vocabulary import ConsoleRole
from cobranza.services import agents
from cobranza.simulation.run import DAY_FIRST_STEP, simulate

ZONE = "America/Mexico_City"
DATABASE = PROJECT_ROOT / "var" / "demo-dashboard.db"
USERNAME = "supervisor.demo"
PORT = 5007


def simulation_start(today: date, days: int) -> datetime:
    """The run's first step, so that its last simulated day is the day before ``today``."""
    first = today - timedelta(days=days)
    return datetime.combine(first, DAY_FIRST_STEP, ZoneInfo(ZONE))


def _simulate(path: Path, args: argparse.Namespace, today: date) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    start = simulation_start(today, args.days)
    last = today - timedelta(days=1)
    print(
        f"Simulando {args.days} días ({start.date()} a {last}) sobre {args.debtors} deudores "
        f"demo en {path} (semilla {args.seed})…",
        flush=True,
    )
    report = simulate(
        args.days, args.debtors, args.seed, start=start, database_url=f"sqlite:///{path}"
    )
    total = report.total
    print(
        f"  {total.debtors} deudores, {total.reached} alcanzados, {total.promises} promesas; "
        f"{len(report.violations)} violaciones de las reglas de contacto.",
        flush=True,
    )
    if report.violations:
        raise SystemExit("La simulación rompió una regla de contacto: no la muestro.")


def _free_name(session: db.Session) -> str:
    taken = set(session.execute(select(Agent.username)).scalars())
    n = 1
    while (name := USERNAME if n == 1 else f"{USERNAME}.{n}") in taken:
        n += 1
    return name


def _supervisor(url: str) -> tuple[str, str]:
    """A new supervisor account and its password (random: printed once, never stored)."""
    password = secrets.token_urlsafe(18)
    engine = db.make_engine(url)
    try:
        with db.session_scope(db.make_session_factory(engine)) as session:
            if not simulated_database(session):
                raise SystemExit(f"{url} no es la base de una simulación: no la uso.")
            name = _free_name(session)
            role = ConsoleRole.SUPERVISOR
            agents.add_agent(session, name, "Supervisión (demo)", password, SystemClock(), role)
    finally:
        engine.dispose()
    return name, password


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--debtors", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database", type=Path, default=DATABASE, help="the SQLite file")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CONSOLE_PORT", PORT)))
    parser.add_argument("--today", type=date.fromisoformat, help="AAAA-MM-DD (tests)")
    parser.add_argument(
        "--reuse", action="store_true", help="keep an existing simulation's database"
    )
    parser.add_argument(
        "--no-console", action="store_true", help="prepare the database and account only"
    )
    args = parser.parse_args(argv)
    today = args.today or local_today(SystemClock(), ZONE)
    url = f"sqlite:///{args.database}"
    if args.reuse and args.database.is_file():
        print(f"Reutilizando la simulación de {args.database}.", flush=True)
    else:
        _simulate(args.database, args, today)
    name, password = _supervisor(url)
    address = f"http://127.0.0.1:{args.port}/"
    print(
        "\nTablero de demostración — datos simulados, no son de ningún acreedor.\n"
        f"  URL:        {address}  (entra y elige «Tablero»)\n"
        f"  usuario:    {name}\n"
        f"  contraseña: {password}\n"
        "La contraseña solo se muestra aquí.",
        flush=True,
    )
    if args.no_console:
        return 0
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "CONSOLE_HOST": "127.0.0.1",
        "CONSOLE_PORT": str(args.port),
        # The console needs a token for Rasa's API; no Rasa runs here.
        "RASA_API_TOKEN": os.environ.get("RASA_API_TOKEN") or secrets.token_urlsafe(24),
    }
    print("Iniciando la consola (Ctrl+C para terminar)…", flush=True)
    os.execve(sys.executable, [sys.executable, "-m", "cobranza.console"], env)  # noqa: S606
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
