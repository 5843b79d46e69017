"""``cobranza experiments list|report|validate``: the experiments on what we send and say, and
their results from our tables (cobranza/services/experiments.py, docs/experiments.md). A
report says «EN CURSO» until every arm has its planned sample; only then the comparisons and
the verdict."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from cobranza.bootstrap import App
from cobranza.cli import render
from cobranza.errors import NotFound

MAX_SHOWN = 60  # characters of an unknown name repeated in the error


class UnknownExperiment(NotFound):
    """No experiment file declares that name."""


def add_parsers(sub: Any, with_at: Callable[[argparse.ArgumentParser], None]) -> None:
    exp = sub.add_parser(
        "experiments", help="experimentos sobre plantillas y respuestas: lista y resultados"
    )
    expsub = exp.add_subparsers(dest="experiments_command", required=True, metavar="ACCIÓN")
    lst = expsub.add_parser("list", help="cada experimento: estado, expuestos y veredicto")
    lst.set_defaults(command="experiments list")
    lst.add_argument("--json", action="store_true", help="salida JSON")
    with_at(lst)
    rep = expsub.add_parser(
        "report",
        help="resultados de un experimento: tasa por brazo con IC de Wilson; diferencia, "
        "prueba y veredicto solo al llegar al plan",
    )
    rep.set_defaults(command="experiments report")
    rep.add_argument("name", metavar="NOMBRE")
    rep.add_argument("--json", action="store_true", help="salida JSON")
    with_at(rep)
    expsub.add_parser(
        "validate", help="validar experiments/*.yml (con las campañas, plantillas y domain.yml)"
    ).set_defaults(command="experiments validate")


def _experiments(app: App) -> dict[str, Any]:
    from cobranza.outreach import worker

    return dict(sorted(worker.load_files(app).experiments.items()))


def cmd_list(args: argparse.Namespace, app: App) -> None:
    from cobranza.services.experiments import results

    now = app.clock.now()
    with app.unit_of_work() as session:
        rows = [results(session, e, now).as_dict() for e in _experiments(app).values()]
    render.show(rows, args.json, render.experiments_list)


def cmd_report(args: argparse.Namespace, app: App) -> None:
    from cobranza.services.experiments import results

    experiments = _experiments(app)
    experiment = experiments.get(args.name)
    if experiment is None:
        known = ", ".join(experiments) or "ninguno"
        shown = args.name if len(args.name) <= MAX_SHOWN else args.name[: MAX_SHOWN - 1] + "…"
        raise UnknownExperiment(f"no hay experimento {shown!r}; hay: {known}")
    with app.unit_of_work() as session:
        data = results(session, experiment, app.clock.now()).as_dict()
    render.show(data, args.json, render.experiment_report)


def cmd_validate(args: argparse.Namespace, app: App) -> None:
    experiments = list(_experiments(app).values())
    print(render.experiments_summary(experiments, app.settings.outreach.experiments_dir))


COMMANDS = {
    "experiments list": cmd_list,
    "experiments report": cmd_report,
    "experiments validate": cmd_validate,
}
