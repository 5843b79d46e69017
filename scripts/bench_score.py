"""`make bench-score`: the propensity-to-pay score's costs and its validation.

1. **Training** on simulated snapshots: ``cobranza simulate`` (``--sim-days`` × ``--sim-debtors``,
   seed 7) into a throwaway SQLite file, writing each day's snapshots (their cost is reported),
   then the labelled set and the training itself (timed), with the out-of-time validation of the
   model and the baseline: AUC, KS, Brier, ECE, lift of the top two deciles. **The numbers
   measure the simulator, not any lender's debtors** (docs/scoring.md).
2. **Scoring throughput** for ``--debtors`` (100,000) synthetic debtors on SQLite: one debt each,
   a payment for half of them, a promise for a fifth, a contact and a consent each; then
   ``score_all`` with the model of step 1 (snapshots + probabilities + reasons + rows), timed
   as a whole and by phase; debtors per second.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import event, insert
from sqlalchemy.engine import Connection, Engine

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.config import PROJECT_ROOT, load_settings
from cobranza.db.models import ContactAttempt, Payment, Promise
from cobranza.personas.profiles import load_profiles
from cobranza.scoring.features import features_as_of
from cobranza.scoring.model import train
from cobranza.scoring.scores import score_all
from cobranza.scoring.snapshots import labelled
from cobranza.simulation.run import simulate
from cobranza.testing import synthetic_portfolio
from cobranza.testing.synthetic_portfolio import SINCE

TODAY = date(2026, 12, 1)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=ZoneInfo("America/Mexico_City")).astimezone(timezone.utc)
ZONES = (
    "America/Mexico_City",
    "America/Tijuana",
    "America/Cancun",
    "America/Hermosillo",
    "America/Monterrey",
    "America/Mazatlan",
)


def _no_sync(connection: Any, _: Any) -> None:
    if isinstance(connection, sqlite3.Connection):
        connection.execute("PRAGMA synchronous=OFF")


def training(days: int, debtors: int, workdir: Path) -> Any:
    url = f"sqlite:///{workdir / 'simulacion.db'}"
    started = time.perf_counter()
    report = simulate(days, debtors, 7, database_url=url)
    simulated = time.perf_counter() - started
    print(f"simulación {days} días × {debtors} deudores: {simulated:.0f} s")
    print(
        f"  fotos: {report.snapshots} en {report.snapshot_seconds:.1f} s "
        f"({report.snapshot_seconds / simulated:.0%} de la corrida)"
    )
    engine = db.make_engine(url)
    sessions = db.make_session_factory(engine)
    started = time.perf_counter()
    with db.session_scope(sessions) as session:
        data = labelled(session)
    print(f"  conjunto etiquetado: {len(data)} fotos en {time.perf_counter() - started:.1f} s")
    engine.dispose()
    started = time.perf_counter()
    trained = train(
        data,
        seed=7,
        source={"kind": "simulation", "simulated": True, "description": "bench"},
        created_at=NOW,
    )
    fit = trained.card["training_seconds"]
    print(f"entrenamiento: {time.perf_counter() - started:.1f} s (ajuste {fit:.1f} s)")
    print("  AVISO: datos simulados: estas métricas miden al simulador")
    print(f"  ventanas: {trained.card['windows']}")
    for name in ("model", "baseline"):
        m = trained.card["metrics"][name]
        print(
            f"  {name:9} AUC {m['auc']:.3f}  KS {m['ks']:.3f}  Brier {m['brier']:.4f}  "
            f"ECE {m['ece']:.4f}  lift deciles 1-2 {m['lift_top2']:.2f}  (n={m['rows']}, "
            f"tasa {m['base_rate']:.3f})"
        )
    return trained


def portfolio(engine: Engine, debtors: int) -> None:
    rng = random.Random(7)

    def debt(n: int) -> dict[str, Any]:
        return {
            "id": n + 1,
            "current_balance": Decimal(rng.randint(500, 9500)),
            "days_past_due": rng.randint(1, 150),
        }

    def history(conn: Connection, numbers: Sequence[int], phones: Sequence[str]) -> None:
        """A payment for half the debtors, a promise for a fifth, a contact for each."""
        at = [SINCE + timedelta(days=300 + rng.randint(0, 60)) for _ in numbers]
        conn.execute(
            insert(Payment.__table__),
            [
                {
                    "debt_id": n + 1,
                    "amount": Decimal(rng.randint(100, 2000)),
                    "paid_at": at[i],
                    "method": "spei",
                    "matched_by": "manual",
                }
                for i, n in enumerate(numbers)
                if n % 2 == 0
            ],
        )
        conn.execute(
            insert(Promise.__table__),
            [
                {
                    "folio": f"P-B{n:08d}",
                    "debt_id": n + 1,
                    "debtor_phone": phone,
                    "amount": Decimal("500.00"),
                    "due_date": TODAY + timedelta(days=2),
                    "channel": "whatsapp",
                    "status": "pending",
                    "created_by": "bot",
                    "created_at": at[i],
                    "updated_at": at[i],
                }
                for i, (n, phone) in enumerate(zip(numbers, phones, strict=True))
                if n % 5 == 0
            ],
        )
        conn.execute(
            insert(ContactAttempt.__table__),
            [
                {
                    "debtor_phone": phone,
                    "channel": "whatsapp",
                    "direction": "outbound",
                    "initiated_by": "campaign:bench",
                    "attempted_at": at[i],
                    "outcome": "sent",
                }
                for i, phone in enumerate(phones)
            ],
        )

    synthetic_portfolio.load(
        engine,
        debtors,
        balance_as_of=TODAY,
        place=lambda n: ("", ZONES[n % len(ZONES)]),
        debt=debt,
        more=history,
    )


def throughput(trained: Any, debtors: int, workdir: Path) -> None:
    engine = db.make_engine(f"sqlite:///{workdir / 'cartera.db'}")
    event.listen(engine, "connect", _no_sync)
    db.upgrade(engine)
    started = time.perf_counter()
    portfolio(engine, debtors)
    print(f"\ncartera sintética de {debtors} deudores: {time.perf_counter() - started:.0f} s")
    profiles = load_profiles(PROJECT_ROOT / "persona_profiles")
    settings = load_settings({})
    sessions = db.make_session_factory(engine)
    with db.session_scope(sessions) as session:
        started = time.perf_counter()
        rows = features_as_of(session, TODAY, profiles=profiles)
        features = time.perf_counter() - started
        sample = [dict(r.features) for r in rows.values()]
        started = time.perf_counter()
        trained.probabilities(sample)
        predict = time.perf_counter() - started
        started = time.perf_counter()
        trained.reasons(sample)
        reasons = time.perf_counter() - started
    print(
        f"  por fase: variables {features:.1f} s ({len(rows) / features:,.0f}/s), "
        f"probabilidades {predict:.1f} s ({len(rows) / predict:,.0f}/s), "
        f"probabilidades + razones {reasons:.1f} s ({len(rows) / reasons:,.0f}/s)"
    )
    with db.session_scope(sessions) as session:
        started = time.perf_counter()
        report = score_all(
            session,
            trained,
            TODAY,
            FixedClock(NOW),
            profiles=profiles,
            default_time_zone=settings.default_time_zone,
        )
    total = time.perf_counter() - started
    print(
        f"score run completo (fotos + calificación + razones + filas): {report.scored} deudores "
        f"en {total:.1f} s = {report.scored / total:,.0f} deudores/s; bandas {report.bands}"
    )
    with db.session_scope(sessions) as session:
        started = time.perf_counter()
        again = score_all(session, trained, TODAY, FixedClock(NOW), profiles=profiles)
    print(
        f"  repetido el mismo día: {again.scored} nuevos en {time.perf_counter() - started:.1f} s"
    )
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sim-days", type=int, default=120)
    parser.add_argument("--sim-debtors", type=int, default=1000)
    parser.add_argument("--debtors", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cobranza-bench-score-") as tmp:
        workdir = Path(tmp)
        event.listen(Engine, "connect", _no_sync)
        trained = training(args.sim_days, args.sim_debtors, workdir)
        throughput(trained, args.debtors, workdir)


if __name__ == "__main__":
    main()
