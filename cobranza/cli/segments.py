"""``cobranza segments``: the portfolio by delinquency bucket × score band × persona, with
debtors, open balance and expected recovery (cobranza/services/segments.py, docs/scoring.md)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from cobranza.bootstrap import App
from cobranza.cli import render
from cobranza.clock import local_today


def add_parsers(sub: Any, with_at: Callable[[argparse.ArgumentParser], None]) -> None:
    seg = sub.add_parser(
        "segments",
        help="cartera por tramo × banda de score × persona: deudores, saldo y recuperación "
        "esperada",
    )
    seg.set_defaults(command="segments")
    seg.add_argument("--json", action="store_true", help="salida JSON")
    with_at(seg)


def cmd_segments(args: argparse.Namespace, app: App) -> None:
    """``--at``: the scores current on that day (the default zone's), none dated later."""
    from cobranza.services import segments

    on = local_today(app.clock, app.settings.default_time_zone)
    with app.unit_of_work() as session:
        data = segments.segments(session, on)
    render.show(data, args.json, render.segments)


COMMANDS = {"segments": cmd_segments}
