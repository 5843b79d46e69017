"""`make bench-cluster`: 200 simulated debtors at once, each through a whole WhatsApp conversation
(greeting, date of birth, balance, a promise for tomorrow, its confirmation, goodbye), over
signed webhooks to the cluster's public address (nginx -> gateway -> replicas), with the local
fake Graph API standing in for Meta; each phase on a fresh copy of the demo portfolio in
PostgreSQL:

1. one replica, 2. two replicas: throughput (answered turns/s), p50/p95 per turn (webhook POST
   to the last reply of the turn at the fake Graph API), errors;
3. fault: two replicas, one killed (SIGKILL) once 40% of the turns are over, and restarted by
   the cluster's supervisor while the load goes on: every accepted message answered exactly
   once (counted at the fake Graph API), no promise lost or duplicated (the database), no lock
   error in the logs.

``--single`` runs the same load against one Rasa server (scripts/run.sh, no gateway, no nginx):
the yardstick (the fault phase needs the cluster's supervisor). Everything listens on
127.0.0.1; every phase is bounded in time (``--deadline``). Exit status 1 when a phase breaks a
guarantee (a message lost or answered twice, a promise lost or duplicated, a lock error)."""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cobranza import db
from cobranza.config import PROJECT_ROOT
from cobranza.simulation.fake_graph import FakeGraphAPI
from cobranza.testing.cluster import Cluster, running_cluster
from cobranza.testing.databases import PostgresDatabases, postgres_admin_url, seed_demo
from cobranza.testing.servers import running_servers
from cobranza.testing.whatsapp_load.checks import lock_errors
from cobranza.testing.whatsapp_load.counts import Tally, percentile, summary
from cobranza.testing.whatsapp_load.debtors import pick_debtors
from cobranza.testing.whatsapp_load.driver import LoadSettings, drive, server_env

MODEL = PROJECT_ROOT / "models" / "cobranza.tar.gz"
PHONE_NUMBER_ID = "109876543210987"


@contextmanager
def target(
    kind: str, url: str, env: dict[str, str], run_dir: Path, replicas: int
) -> Iterator[tuple[str, Callable[[], list[Path]], Cluster | None]]:
    """(webhook URL, the logs, the cluster or None) of one Rasa server (``single``) or a
    cluster of ``replicas`` (scripts/cluster.sh: nginx, the gateway, the replicas)."""
    if kind == "single":
        with running_servers(url, MODEL, extra_env=env) as servers:
            webhook = f"http://127.0.0.1:{servers.rasa_port}/webhooks/whatsapp/webhook"
            yield webhook, lambda: [servers.log], None
        return
    with running_cluster(url, replicas, env=env, run_dir=run_dir) as cluster:
        yield cluster.webhook_url, cluster.logs, cluster


def phase(
    name: str,
    kind: str,
    replicas: int,
    databases: PostgresDatabases,
    template: str,
    args: argparse.Namespace,
    workdir: Path,
) -> tuple[Tally, list[str]]:
    """One load on a fresh copy of the seeded database; ``kill`` >= 0: that replica is killed
    once ``--kill-at`` of the turns are over, and waited for while the load goes on."""
    url = databases.create(copy_of=template)
    engine = db.make_engine(url)
    secret = secrets.token_urlsafe(16)
    run_dir = workdir / name.replace(" ", "-")
    run_dir.mkdir(parents=True, exist_ok=True)
    settings = LoadSettings(turn_timeout=args.turn_timeout, deadline=args.deadline)
    notes: list[str] = []
    try:
        debtors = pick_debtors(engine, args.debtors)
        with FakeGraphAPI(secrets.token_urlsafe(16), PHONE_NUMBER_ID) as graph:
            env = {**server_env(graph, secret), "RASA_MODEL": str(MODEL)}
            started = time.monotonic()
            with target(kind, url, env, run_dir, replicas) as (webhook, logs, cluster):
                print(f"{name}: up in {time.monotonic() - started:.0f} s", flush=True)
                midway = None
                if name == "fault" and cluster is not None:
                    midway = Killer(cluster, args.kill, args.turn_timeout * 3)
                result = drive(
                    webhook,
                    secret,
                    graph,
                    debtors,
                    engine=engine,
                    settings=settings,
                    midway=midway,
                    midway_at=args.kill_at,
                )
                if midway is not None:
                    notes += midway.join()
                scanned = [path for path in logs() if path.is_file()]
                locks = lock_errors(scanned)
                notes.append(f"{len(locks)} lock error(s) in {len(scanned)} log file(s)")
    finally:
        engine.dispose()
    return result, notes + [f"lock error: {line}" for line in locks]


class Killer:
    """Kills a replica when called (the load's midway), then waits in a thread for the
    supervisor to bring it back; :meth:`join` reports how long that took."""

    def __init__(self, cluster: Cluster, replica: int, patience: float) -> None:
        self.cluster = cluster
        self.replica = replica
        self.patience = patience
        self.notes: list[str] = []
        self._thread: threading.Thread | None = None

    def __call__(self) -> None:
        killed = time.monotonic()
        self.cluster.kill_replica(self.replica)
        print(f"fault: replica {self.replica} killed", flush=True)
        self._thread = threading.Thread(target=self._wait, args=(killed,), daemon=True)
        self._thread.start()

    def _wait(self, killed: float) -> None:
        try:
            self.cluster.wait_replica_ready(self.replica, self.patience)
            self.notes.append(
                f"replica {self.replica} killed, back after {time.monotonic() - killed:.0f} s"
            )
        except Exception as exc:  # noqa: BLE001 - reported with the phase
            self.notes.append(f"replica {self.replica} not back: {type(exc).__name__}: {exc}")

    def join(self) -> list[str]:
        if self._thread is None:
            return ["the replica was never killed (the load ended first)"]
        self._thread.join(self.patience)
        return self.notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--debtors", type=int, default=200, help="simulated debtors at once")
    parser.add_argument(
        "--phases",
        nargs="+",
        default=["1", "2", "fault"],
        choices=["single", "1", "2", "fault"],
        help="single: one Rasa server; 1, 2: replicas; fault: 2 replicas, one killed",
    )
    parser.add_argument("--single", action="store_true", help="same as --phases single")
    parser.add_argument("--kill", type=int, default=1, help="the replica the fault phase kills")
    parser.add_argument("--kill-at", type=float, default=0.4, help="share of turns over then")
    parser.add_argument("--turn-timeout", type=float, default=180.0)
    parser.add_argument("--deadline", type=float, default=900.0, help="seconds per phase")
    parser.add_argument(
        "--keep", action="store_true", help="keep each phase's database and logs (printed)"
    )
    args = parser.parse_args()
    phases = ["single"] if args.single else args.phases
    if not MODEL.is_file():
        print(f"no model at {MODEL}: run `make train`", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix="cobranza-bench-cluster-"))
    results: dict[str, Tally] = {}
    broken = False
    with PostgresDatabases(postgres_admin_url()) as databases:
        template = seed_demo(databases.create())
        print(f"{args.debtors} debtors at once, phases: {', '.join(phases)}", flush=True)
        for name in phases:
            kind = "single" if name == "single" else "cluster"
            replicas = 1 if name in ("single", "1") else 2
            label = {"single": "single server", "1": "1 replica", "2": "2 replicas"}.get(
                name, "fault"
            )
            result, notes = phase(label, kind, replicas, databases, template, args, workdir)
            if args.keep:
                notes.append(f"database kept: {databases.names[-1]}")
            results[label] = result
            print(summary(label, result))
            for note in notes:
                print(f"  {note}")
            problems = result.problems() + [n for n in notes if n.startswith("lock error")]
            if problems:
                broken = True
                print("  PROBLEMS: " + "; ".join(problems))
                print(result.details())
            print(flush=True)
        if args.keep:
            databases.names = databases.names[:1]  # the seeded template alone is dropped
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for label, result in results.items():
        ms = [1000 * s for s in result.latencies]
        print(
            f"{label:>14}: {result.throughput:6.1f} turns/s, p50 {percentile(ms, 50):6.0f} ms, "
            f"p95 {percentile(ms, 95):6.0f} ms, errors {len(result.problems())}"
        )
    if broken or args.keep:
        print(f"the servers' logs are kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
