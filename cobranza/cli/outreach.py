"""``cobranza outreach …``: plan campaign steps, send what is due, run the worker, and see where
every planned message stands (docs/outreach.md)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select

from cobranza.bootstrap import App
from cobranza.cli import render
from cobranza.config import load_whatsapp_settings
from cobranza.db.models import OutreachMessage
from cobranza.outreach import worker
from cobranza.outreach.graph import GraphClient


def add_parsers(sub: Any, with_at: Callable[[argparse.ArgumentParser], None]) -> None:
    out = sub.add_parser("outreach", help="campañas: planear, enviar y seguir los mensajes")
    outsub = out.add_subparsers(dest="outreach_command", required=True, metavar="ACCIÓN")
    p = outsub.add_parser("plan", help="planear los pasos de campaña que tocan (idempotente)")
    p.set_defaults(command="outreach plan")
    p.add_argument(
        "--days",
        type=int,
        default=1,
        choices=range(1, 32),
        metavar="1-31",
        help="días locales a planear, hoy incluido (1)",
    )
    p.add_argument("--json", action="store_true", help="salida JSON")
    with_at(p)
    r = outsub.add_parser(
        "run", help="enviar por WhatsApp los mensajes planeados que ya tocan (una pasada)"
    )
    r.set_defaults(command="outreach run")
    r.add_argument("--json", action="store_true", help="salida JSON")
    with_at(r)
    w = outsub.add_parser(
        "worker", help="conciliar, planear y enviar cada N segundos hasta Ctrl-C (make run)"
    )
    w.set_defaults(command="outreach worker")
    w.add_argument("--interval", type=float, default=worker.INTERVAL, help="segundos (30)")
    s = outsub.add_parser("status", help="mensajes por campaña y estado; reglas que los detienen")
    s.set_defaults(command="outreach status")
    s.add_argument("--json", action="store_true", help="salida JSON")


def _sender() -> GraphClient:
    return GraphClient(load_whatsapp_settings())


def cmd_plan(args: argparse.Namespace, app: App) -> None:
    report = worker.plan(app, worker.load_files(app), args.days)
    render.show(report.as_dict(), args.json, render.outreach_plan)


def cmd_run(args: argparse.Namespace, app: App) -> None:
    files = worker.load_files(app)
    sender = _sender()  # without WhatsApp settings: a clear error naming the variables

    async def drain() -> dict[str, Any]:
        try:
            return (await worker.dispatcher(app, files, sender).drain()).as_dict()
        finally:
            await sender.close()

    render.show(asyncio.run(drain()), args.json, render.outreach_run)


def cmd_worker(args: argparse.Namespace, app: App) -> None:
    worker.serve(app, args.interval)


def cmd_status(args: argparse.Namespace, app: App) -> None:
    with app.unit_of_work() as session:
        rows = session.execute(
            select(
                OutreachMessage.campaign,
                OutreachMessage.status,
                OutreachMessage.blocked_rule,
                func.count(),
            ).group_by(
                OutreachMessage.campaign, OutreachMessage.status, OutreachMessage.blocked_rule
            )
        ).all()
    data: dict[str, dict[str, Any]] = {}
    for campaign, status, rule, count in rows:
        entry = data.setdefault(campaign, {"statuses": {}, "waiting_on": {}})
        entry["statuses"][status] = entry["statuses"].get(status, 0) + count
        if status == "planned" and rule:
            entry["waiting_on"][rule] = entry["waiting_on"].get(rule, 0) + count
    render.show(dict(sorted(data.items())), args.json, render.outreach_status)


COMMANDS = {
    "outreach plan": cmd_plan,
    "outreach run": cmd_run,
    "outreach worker": cmd_worker,
    "outreach status": cmd_status,
}
