"""`make bench`: simulated debtors hold full conversations over the REST channel (greeting,
verification, balance, plans, promise) against both servers started on free ports; prints
p50/p95 latency per kind of message and messages per second, (a) one conversation at a time and
(b) 20 conversations at once. Runs on a copy of the SQLite database (the demo portfolio)."""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import make_url

from cobranza import db
from cobranza.config import PROJECT_ROOT, load_settings
from cobranza.db.models import Debtor
from cobranza.testing.servers import Servers, running_servers

# (kind, text); {phone} and {dob} are filled per debtor. "action+db" turns run a custom action
# with queries. A REST conversation identifies like the web chat: number, then date of birth.
SCRIPT = [
    ("rule (no action server)", "hola"),
    ("action+db: ask the number", "cuanto debo"),
    ("action+db: number, ask birth date", "{phone}"),
    ("action+db: verify + balance", "{dob}"),
    ("action+db: plans", "que opciones de pago tengo"),
    ("action+db: promise read-back", "te pago 500 mañana"),
    ("action+db: promise recorded", "si"),
]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def converse(
    servers: Servers,
    debtor: tuple[str, str, str],
    timings: dict[str, list[float]],
    lock: threading.Lock,
) -> None:
    sender, phone, dob = debtor
    for kind, text in SCRIPT:
        started = time.perf_counter()
        replies = servers.say(sender, text.format(phone=phone, dob=dob), timeout=60)
        elapsed = (time.perf_counter() - started) * 1000
        if not replies:
            raise RuntimeError(f"no reply to {kind!r}")
        with lock:
            timings[kind].append(elapsed)


def run(
    servers: Servers, debtors: list[tuple[str, str, str]], concurrency: int
) -> tuple[dict[str, list[float]], float]:
    timings: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(converse, servers, d, timings, lock) for d in debtors]:
            future.result()
    return timings, time.perf_counter() - started


def report(title: str, timings: dict[str, list[float]], seconds: float) -> None:
    total = sum(len(v) for v in timings.values())
    print(f"\n{title}: {total} messages in {seconds:.1f} s = {total / seconds:.1f} messages/s")
    print(f"  {'message':32} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind, _ in SCRIPT:
        values = timings[kind]
        print(
            f"  {kind:32} {len(values):5d} {statistics.median(values):8.0f} "
            f"{percentile(values, 95):8.0f} {max(values):8.0f}"
        )
    every = [v for values in timings.values() for v in values]
    print(
        f"  {'all':32} {len(every):5d} {statistics.median(every):8.0f} "
        f"{percentile(every, 95):8.0f} {max(every):8.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sequential", type=int, default=30, help="conversations one at a time")
    parser.add_argument(
        "--concurrent", type=int, default=60, help="conversations in the concurrent run"
    )
    parser.add_argument("--workers", type=int, default=20, help="conversations at once")
    args = parser.parse_args()
    source = make_url(load_settings().database_url)
    if source.get_backend_name() != "sqlite" or not Path(source.database or "").is_file():
        print("bench needs the SQLite demo database: run `make db` first", file=sys.stderr)
        return 1
    model = PROJECT_ROOT / "models" / "cobranza.tar.gz"
    copy = Path(tempfile.mkdtemp(prefix="cobranza-bench-")) / "bench.db"
    shutil.copyfile(source.database or "", copy)
    engine = db.make_engine(f"sqlite:///{copy}")
    with db.session_scope(db.make_session_factory(engine)) as session:
        rows = session.execute(
            select(Debtor.phone, Debtor.date_of_birth).order_by(Debtor.phone)
        ).all()
    engine.dispose()
    rng = random.Random(7)
    needed = args.sequential + args.concurrent
    debtors = [
        (f"bench-{n}", p.removeprefix("+52"), d.strftime("%d/%m/%Y"))
        for n, (p, d) in enumerate(rng.sample(rows, needed))
    ]
    with running_servers(f"sqlite:///{copy}", model) as servers:
        converse(servers, debtors[0], defaultdict(list), threading.Lock())  # warm-up
        timings, seconds = run(servers, debtors[1 : args.sequential], 1)
        report("(a) one conversation at a time", timings, seconds)
        timings, seconds = run(servers, debtors[args.sequential :], args.workers)
        report(f"(b) {args.workers} conversations at once", timings, seconds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
