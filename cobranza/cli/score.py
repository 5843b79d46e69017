"""``cobranza score …``: train the propensity-to-pay model (from a simulation or from the
database's own history), score the portfolio, and show the active model's card
(docs/scoring.md).

``train`` prints the out-of-time validation of the model and of the baseline side by side and
activates the model only when it beats the baseline and is calibrated (``--force`` activates it
anyway, ``--no-activate`` never). Data from the simulator, or from a database holding the demo
portfolio or simulated payments, carries the warning that the numbers measure the simulator."""

from __future__ import annotations

import argparse
import logging
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from tabulate import tabulate

from cobranza import db
from cobranza.bootstrap import App
from cobranza.cli import render
from cobranza.clock import local_today
from cobranza.db import audit
from cobranza.db.models import AuditLog, Debtor, Payment
from cobranza.domain.vocabulary import AuditAction
from cobranza.errors import CobranzaError
from cobranza.scoring import model as scoring_model
from cobranza.scoring.features import BY_NAME, day_bounds
from cobranza.scoring.scores import score_all
from cobranza.scoring.snapshots import DEFAULT_HORIZON, DEFAULT_TARGET_SHARE, labelled
from cobranza.simulation.run import SOURCE as SIMULATION_SOURCE
from cobranza.simulation.run import simulate


class ScoreUsageError(CobranzaError):
    """An argument the command cannot use."""


def _share(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise argparse.ArgumentTypeError("debe ser un número entre 0 y 1, p. ej. 0.10") from exc
    if not Decimal(0) < value <= Decimal(1):
        raise argparse.ArgumentTypeError("debe estar entre 0 (excluido) y 1")
    return value


def _horizon(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 365:
        raise argparse.ArgumentTypeError("debe estar entre 1 y 365 días")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("debe ser un entero positivo")
    return value


def add_parsers(sub: Any, with_at: Callable[[argparse.ArgumentParser], None]) -> None:
    score = sub.add_parser("score", help="propensión de pago: entrenar, calificar, ver el modelo")
    scoresub = score.add_subparsers(dest="score_command", required=True, metavar="ACCIÓN")
    t = scoresub.add_parser(
        "train", help="entrenar con validación fuera de tiempo y compararlo con la referencia"
    )
    t.set_defaults(command="score train")
    origin = t.add_mutually_exclusive_group(required=True)
    origin.add_argument(
        "--from-simulation",
        action="store_true",
        help="correr la simulación en una base temporal y entrenar con sus fotos (mide al "
        "simulador, no a deudores reales)",
    )
    origin.add_argument(
        "--from-db",
        action="store_true",
        help="entrenar con las fotos de la base configurada (DATABASE_URL): la historia del "
        "acreedor",
    )
    t.add_argument("--days", type=_positive, default=120, help="días simulados (120)")
    t.add_argument("--debtors", type=_positive, default=1000, help="deudores simulados (1000)")
    t.add_argument("--seed", type=int, default=7, help="semilla de la simulación y del modelo (7)")
    t.add_argument(
        "--target-share",
        type=_share,
        default=DEFAULT_TARGET_SHARE,
        help="objetivo: pagar al menos esta proporción del saldo (0.10)",
    )
    t.add_argument("--horizon", type=_horizon, default=DEFAULT_HORIZON, help="en estos días (30)")
    t.add_argument(
        "--validation-share",
        type=float,
        default=scoring_model.VALIDATION_SHARE,
        help="últimos días de fotos para validar (0.3)",
    )
    activation = t.add_mutually_exclusive_group()
    activation.add_argument(
        "--force", action="store_true", help="activar el modelo aunque no supere a la referencia"
    )
    activation.add_argument(
        "--no-activate", action="store_true", help="guardar el modelo sin activarlo"
    )
    t.add_argument("--json", action="store_true", help="salida JSON")
    r = scoresub.add_parser(
        "run", help="calificar a cada deudor con el modelo activo (idempotente por día y modelo)"
    )
    r.set_defaults(command="score run")
    r.add_argument(
        "--day",
        default=None,
        help="día a calificar AAAA-MM-DD (por defecto ayer: el último día completo)",
    )
    r.add_argument("--model", default=None, help="identificador del modelo (el activo)")
    r.add_argument("--json", action="store_true", help="salida JSON")
    with_at(r)
    s = scoresub.add_parser("show", help="la ficha del modelo activo (o de --model)")
    s.set_defaults(command="score show")
    s.add_argument("--model", default=None, help="identificador del modelo (el activo)")
    s.add_argument("--json", action="store_true", help="salida JSON")


# --- train ------------------------------------------------------------------------------------


def _no_sync(connection: Any, _: Any) -> None:
    if isinstance(connection, sqlite3.Connection):
        connection.execute("PRAGMA synchronous=OFF")


def _simulated_database(args: argparse.Namespace, app: App, workdir: Path) -> str:
    """Run the simulation into a throwaway SQLite file and return its URL."""
    url = f"sqlite:///{workdir / 'simulacion.db'}"
    # The file is thrown away: no need to wait for the disk at every commit (as the simulation
    # does for its own temporary files). Only while it runs: the listener is removed after.
    no_sync = _no_sync
    sa_event.listen(Engine, "connect", no_sync)
    try:
        report = simulate(
            args.days, args.debtors, args.seed, database_url=url, settings=app.settings
        )
    finally:
        sa_event.remove(Engine, "connect", no_sync)
    if report.violations:
        raise ScoreUsageError(
            f"la simulación rompió {len(report.violations)} invariantes de cumplimiento: "
            "no se entrena con ella (cobranza simulate muestra cuáles)"
        )
    return url


def _db_source(session: Any, url: str) -> dict[str, Any]:
    """What the configured database holds: a lender's history, or data we made up."""
    simulated_payments = session.execute(
        select(func.count()).select_from(Payment).where(Payment.source == SIMULATION_SOURCE)
    ).scalar_one()
    demo = session.execute(
        select(func.count())
        .select_from(AuditLog)
        .where(AuditLog.action == AuditAction.DEMO_PORTFOLIO_LOADED)
    ).scalar_one()
    synthetic = bool(simulated_payments or demo)
    return {
        "kind": "database",
        "simulated": synthetic,
        "description": f"fotos de la base {db.masked_url(url)}"
        + (" (contiene la cartera demo o pagos simulados)" if synthetic else ""),
    }


def _fmt(value: Any, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _train_text(data: dict[str, Any]) -> str:
    card = data["card"]
    model, base = card["metrics"]["model"], card["metrics"]["baseline"]
    lines = ["Propensión de pago: entrenamiento", ""]
    lines.append(f"Datos: {card['source']['description']}")
    if card["source"].get("warning"):
        lines += ["", f"AVISO: {card['source']['warning']}", ""]
    lines.append(f"Objetivo: {card['target']['definition']}")
    w, rows = card["windows"], card["rows"]
    lines.append(
        f"Entrenamiento: {' a '.join(w['train'])} ({rows['train']} fotos, "
        f"{rows['train_positives']} pagaron)"
    )
    lines.append(
        f"Validación fuera de tiempo: {' a '.join(w['validation'])} ({rows['validation']} "
        f"fotos, {rows['validation_positives']} pagaron); separación {w['embargo_days']} días"
    )
    lines.append(f"Fotos aún sin resultado (horizonte sin cumplir): {rows['unlabelled_snapshots']}")
    lines.append(
        f"Calibración: {card['model']['calibration']} — {card['model']['calibration_reason']}"
    )
    lines.append("")
    table = [
        ("AUC", _fmt(model["auc"]), _fmt(base["auc"])),
        ("KS", _fmt(model["ks"]), _fmt(base["ks"])),
        ("Brier", _fmt(model["brier"], 4), _fmt(base["brier"], 4)),
        ("Error de calibración (ECE)", _fmt(model["ece"], 4), _fmt(base["ece"], 4)),
        ("Lift deciles 1-2", _fmt(model["lift_top2"], 2), _fmt(base["lift_top2"], 2)),
        ("Tasa observada", _fmt(model["base_rate"]), _fmt(base["base_rate"])),
    ]
    lines.append(tabulate(table, headers=["validación", "modelo", "referencia"]))
    lines.append("")
    lines.append("Calibración por decil (1 = probabilidad más alta)")
    deciles = [
        (
            m["decile"],
            m["count"],
            _fmt(m["predicted"]),
            _fmt(m["observed"]),
            _fmt(b["predicted"]),
            _fmt(b["observed"]),
        )
        for m, b in zip(model["deciles"], base["deciles"], strict=False)
    ]
    lines.append(
        tabulate(
            deciles,
            headers=[
                "decil",
                "fotos",
                "modelo: predicho",
                "observado",
                "referencia: predicho",
                "observado",
            ],
        )
    )
    lines.append("")
    bands = card["bands"]
    lines.append(
        "Bandas: " + ", ".join(f"{k} ≥ {v:.3f}" for k, v in bands.items()) + ", E por debajo"
    )
    lines.append(f"Tiempo de entrenamiento: {card['training_seconds']:.1f} s")
    lines.append(f"Veredicto: {data['verdict']}")
    lines.append(f"Modelo {card['model_id']}: {data['activation']}")
    lines.append(f"Ficha: {data['card_path']}")
    return "\n".join(lines)


def _require_migrated(app: App) -> None:
    """Training audits into, and scoring writes to, the configured database: say so before
    minutes of work rather than after."""
    if db.current_revision(app.engine) != db.head_revision():
        raise ScoreUsageError(
            "la base de datos no está migrada: ejecuta `cobranza db upgrade` (o `make db`) primero"
        )


def cmd_train(args: argparse.Namespace, app: App) -> int:
    logging.getLogger("cobranza").setLevel(logging.WARNING)
    if not 0 < args.validation_share < 1:
        raise ScoreUsageError("--validation-share debe estar entre 0 y 1")
    _require_migrated(app)
    scoring = app.settings.scoring
    workdir: Path | None = None
    started = time.perf_counter()
    try:
        if args.from_simulation:
            workdir = Path(tempfile.mkdtemp(prefix="cobranza-score-"))
            url = _simulated_database(args, app, workdir)
            source: dict[str, Any] = {
                "kind": "simulation",
                "simulated": True,
                "description": (
                    f"simulación: cobranza simulate --days {args.days} --debtors "
                    f"{args.debtors} --seed {args.seed} (cobranza/simulation/behaviour.yml)"
                ),
            }
        else:
            url = app.settings.database_url
            source = {}
        engine = db.make_engine(url)
        try:
            sessions = db.make_session_factory(engine)
            with db.session_scope(sessions) as session:
                if not source:
                    source = _db_source(session, url)
                data = labelled(
                    session,
                    args.horizon,
                    args.target_share,
                    use_age=scoring.use_age,
                    default_time_zone=app.settings.default_time_zone,
                )
        finally:
            engine.dispose()
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    prepared = time.perf_counter() - started
    trained = scoring_model.train(
        data,
        seed=args.seed,
        source=source,
        created_at=app.clock.now(),
        validation_share=args.validation_share,
        use_age=scoring.use_age,
        age_justification=scoring.age_justification,
    )
    beats, why = scoring_model.verdict(trained.card)
    activate = not args.no_activate and (beats or args.force)
    card_path = scoring_model.save(trained, scoring.model_dir, activate=activate)
    if activate:
        activation = "activado" + (" (forzado)" if args.force and not beats else "")
    else:
        activation = "guardado sin activar" + (
            "" if args.no_activate else " (no supera la validación; --force para activarlo)"
        )
    with app.unit_of_work() as session:
        audit.record(
            session,
            app.clock.now(),
            AuditAction.SCORING_MODEL_TRAINED,
            None,
            {
                "model_id": trained.model_id,
                "source": source.get("kind"),
                "simulated": bool(source.get("simulated")),
                "auc": trained.card["metrics"]["model"]["auc"],
                "baseline_auc": trained.card["metrics"]["baseline"]["auc"],
                "ece": trained.card["metrics"]["model"]["ece"],
                "activated": activate,
            },
            actor="cli",
        )
    result = {
        "card": trained.card,
        "verdict": why,
        "activated": activate,
        "activation": activation,
        "card_path": str(card_path),
        "data_seconds": round(prepared, 1),
    }
    render.show(result, args.json, _train_text)
    return 0


# --- run and show -----------------------------------------------------------------------------


def _day(args: argparse.Namespace, app: App) -> date:
    today = local_today(app.clock, app.settings.default_time_zone)
    if not args.day:
        return today - timedelta(days=1)
    try:
        return date.fromisoformat(args.day)
    except ValueError as exc:
        raise ScoreUsageError(f"--day no es una fecha AAAA-MM-DD: {args.day!r}") from exc


def _run_text(data: dict[str, Any]) -> str:
    lines = [
        f"Calificación del {data['as_of']} con {data['model_id']}",
        f"  fotos nuevas: {data['snapshots_written']}",
        f"  deudores con saldo: {data['debtors']}",
        f"  calificados: {data['scored']} (ya lo estaban: {data['already_scored']})",
        "  por banda: " + (", ".join(f"{k} {v}" for k, v in (data["bands"] or {}).items()) or "—"),
        f"  tiempo: {data['seconds']:.1f} s",
    ]
    if data.get("warning"):
        lines.insert(1, f"  AVISO: {data['warning']}")
    return "\n".join(lines)


def cmd_run(args: argparse.Namespace, app: App) -> int:
    _require_migrated(app)
    day = _day(args, app)
    now = app.clock.now()
    with app.unit_of_work() as session:
        zones = set(session.execute(select(Debtor.time_zone).distinct()).scalars())
    bounds = day_bounds(
        day, zones or {app.settings.default_time_zone}, app.settings.default_time_zone
    )
    if max(b.cut for b in bounds.values()) > now:
        raise ScoreUsageError(
            f"el {day.isoformat()} aún no termina en todas las zonas: se califica un día "
            "completo (por defecto ayer)"
        )
    trained = scoring_model.load(app.settings.scoring.model_dir, args.model)
    with app.unit_of_work() as session:
        report = score_all(
            session,
            trained,
            day,
            app.clock,
            profiles=app.profiles,
            default_time_zone=app.settings.default_time_zone,
            grace_days=app.settings.promise_grace_days,
        )
    data = report.as_dict()
    data["warning"] = trained.card["source"].get("warning")
    render.show(data, args.json, _run_text)
    return 0


def _show_text(card: dict[str, Any]) -> str:
    model, base = card["metrics"]["model"], card["metrics"]["baseline"]
    lines = [
        f"Modelo {card['model_id']} (creado {card['created_at']})",
        f"Datos: {card['source']['description']}",
    ]
    if card["source"].get("warning"):
        lines.append(f"AVISO: {card['source']['warning']}")
    w = card["windows"]
    lines += [
        f"Objetivo: {card['target']['definition']}",
        f"Entrenamiento {' a '.join(w['train'])}; validación {' a '.join(w['validation'])}",
        f"Calibración: {card['model']['calibration']}; semilla {card['model']['seed']}",
        f"Validación: AUC {_fmt(model['auc'])} (referencia {_fmt(base['auc'])}), KS "
        f"{_fmt(model['ks'])} ({_fmt(base['ks'])}), Brier {_fmt(model['brier'], 4)} "
        f"({_fmt(base['brier'], 4)}), ECE {_fmt(model['ece'], 4)} ({_fmt(base['ece'], 4)}), "
        f"lift deciles 1-2 {_fmt(model['lift_top2'], 2)} ({_fmt(base['lift_top2'], 2)})",
        "Bandas: " + ", ".join(f"{k} ≥ {v:.3f}" for k, v in card["bands"].items()),
        "Edad: "
        + (
            f"USADA — {card['protected']['age_justification']}"
            if card["protected"]["age_used"]
            else "no se usa"
        )
        + "; nunca: "
        + ", ".join(card["protected"]["never_used"]),
        f"scikit-learn {card['versions']['sklearn']}, skops {card['versions']['skops']}; "
        f"archivo {card['file']['name']} sha256 {card['file']['sha256'][:16]}…",
        "",
        tabulate(
            [
                (f["name"], BY_NAME[f["name"]].label, f["kind"], f.get("reference"))
                for f in card["features"]
            ],
            headers=["variable", "etiqueta", "tipo", "referencia"],
        ),
    ]
    return "\n".join(lines)


def cmd_show(args: argparse.Namespace, app: App) -> int:
    directory = app.settings.scoring.model_dir
    trained = scoring_model.load(directory, args.model)  # the checks, not just the JSON
    card = dict(trained.card)
    try:
        card["active"] = scoring_model.current_model_id(directory) == trained.model_id
    except scoring_model.NoModel:
        card["active"] = False
    render.show(card, args.json, _show_text)
    return 0


COMMANDS = {"score train": cmd_train, "score run": cmd_run, "score show": cmd_show}
