"""`make bench`: our assistant against Rasa's own starter bot (`rasa init`), on this machine, in
the same run (docs/latency.md).

(a) One conversation at a time, ours and the starter's taking turns (the order flips every
    round, so both see the same background load): simulated debtors hold full conversations
    over our REST channel (greeting, verification, balance, plans, promise) and the starter's
    users its own stories (greet, mood, bot challenge, goodbye) over Rasa's REST channel. Prints
    p50/p95 per kind of message for both, the queries each of our turns runs, where a turn's time
    goes inside the servers (scripts/bench_probe/), and the ratio the issue targets:
    p95(our action turns) / p95(starter turns) <= 1.3.
(b) Our assistant alone with 20 conversations at once: throughput and latency.

Ours runs on a copy of the SQLite database (the demo portfolio); the starter on its own model
(models/starter.tar.gz, `make models/starter.tar.gz`) with Rasa's defaults: in-memory tracker
store, no action server (its actions are responses only)."""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import requests
from sqlalchemy import select
from sqlalchemy.engine import make_url

from cobranza import db
from cobranza.config import PROJECT_ROOT, load_settings
from cobranza.db.models import Debtor
from cobranza.testing.servers import Servers, free_port, log_tail, running_servers, wait_ready

PROBE_DIR = Path(__file__).resolve().parent / "bench_probe"
STARTER_MODEL = PROJECT_ROOT / "models" / "starter.tar.gz"
TARGET_RATIO = 1.3
# Loading a model takes a minute on an idle 2-core machine, several when other jobs run.
READY_TIMEOUT = 900

# (kind, text); {phone} and {dob} are filled per debtor. Every message of ours runs a custom
# action on the action server (the first one action_session_start too); "action+db" turns are
# the "full action turns". A REST conversation identifies like the web chat: number,
# then date of birth.
OURS = [
    ("greeting (session start)", "hola"),
    ("action+db: ask the number", "cuanto debo"),
    ("action+db: number, ask birth date", "{phone}"),
    ("action+db: verify + balance", "{dob}"),
    ("action+db: plans", "que opciones de pago tengo"),
    ("action+db: promise read-back", "te pago 500 mañana"),
    ("action+db: promise recorded", "si"),
]
ACTION_TURN = "action+db"
# The action turn with the least work of ours (one slot read, two statements): what any custom
# action costs, whatever it does.
LIGHTEST_TURN = OURS[1][0]
# The starter's own stories and rules (data/stories.yml, data/rules.yml of `rasa init`), one
# per round in turn: every turn is NLU, policies and responses, no custom action.
STARTER = [
    [
        ("greet", "hello"),
        ("mood_great", "I am great"),
        ("bot_challenge", "are you a bot?"),
        ("goodbye", "bye"),
    ],
    [
        ("greet", "hi"),
        ("mood_unhappy", "I am sad"),
        ("affirm", "yes"),
        ("goodbye", "goodbye"),
    ],
    [
        ("greet", "hey there"),
        ("mood_unhappy", "very sad"),
        ("deny", "no"),
        ("goodbye", "see you later"),
    ],
]
STARTER_KINDS = ["greet", "mood_great", "mood_unhappy", "affirm", "deny", "bot_challenge"]
STARTER_KINDS += ["goodbye"]


def _load_probe() -> ModuleType:
    """The probe's labels and reader, loaded from its file (its name in the servers is
    ``sitecustomize``, which this process must not import as such)."""
    spec = importlib.util.spec_from_file_location("bench_probe", PROBE_DIR / "sitecustomize.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


probe = _load_probe()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def probe_env(directory: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(PROBE_DIR), os.environ.get("PYTHONPATH", "")) if p)
    return {"PYTHONPATH": path, probe.ENVIRONMENT: str(directory)}


def snapshot(directory: Path) -> dict[str, tuple[float, float]]:
    """Every server process's counters, added up: label -> (seconds, calls)."""
    totals = {label: [0.0, 0.0] for label in probe.LABELS}
    for path in directory.glob("*.probe"):
        for label, (seconds, calls) in probe.read(path).items():
            totals[label][0] += seconds
            totals[label][1] += calls
    return {label: (s, c) for label, (s, c) in totals.items()}


@dataclass
class Sample:
    kind: str
    ms: float
    probe: dict[str, tuple[float, float]]  # label -> (ms, calls) during this message


@dataclass
class Bot:
    name: str
    url: str
    probe_dir: Path
    client: requests.Session = field(default_factory=requests.Session)

    def say(self, sender: str, text: str, kind: str) -> Sample:
        before = snapshot(self.probe_dir)
        started = time.perf_counter()
        response = self.client.post(self.url, json={"sender": sender, "message": text}, timeout=60)
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        if not response.json():
            raise RuntimeError(f"{self.name}: no reply to {kind!r}")
        after = snapshot(self.probe_dir)
        spent = {
            label: ((after[label][0] - before[label][0]) * 1000, after[label][1] - before[label][1])
            for label in probe.LABELS
        }
        return Sample(kind, elapsed, spent)


def our_conversation(bot: Bot, debtor: tuple[str, str, str]) -> list[Sample]:
    sender, phone, dob = debtor
    return [bot.say(sender, text.format(phone=phone, dob=dob), kind) for kind, text in OURS]


def starter_conversation(bot: Bot, sender: str, round_: int) -> list[Sample]:
    return [bot.say(sender, text, kind) for kind, text in STARTER[round_ % len(STARTER)]]


@contextmanager
def starter_server(model: Path, probe_dir: Path, ready_timeout: float = 240) -> Iterator[str]:
    """``rasa run`` on the starter's model, REST only, on a free loopback port, from an empty
    directory (so it reads none of our endpoints.yml: in-memory tracker store, no action server).
    Yields the REST webhook's URL once it answers a message."""
    workdir = Path(tempfile.mkdtemp(prefix="cobranza-starter-"))
    (workdir / "credentials.yml").write_text("rest:\n", encoding="utf-8")
    port = free_port()
    log = workdir / "rasa.log"
    env = {**os.environ, **probe_env(probe_dir), "RASA_TELEMETRY_ENABLED": "false"}
    rasa = PROJECT_ROOT / ".venv" / "bin" / "rasa"
    command = [str(rasa), "run", "--model", str(model), "--interface", "127.0.0.1"]
    command += ["--port", str(port), "--credentials", "credentials.yml"]
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - the pinned rasa, our arguments
            command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}/webhooks/rest/webhook"

    def ready() -> bool:
        answer = requests.post(url, json={"sender": "ready", "message": "hi"}, timeout=5)
        return answer.ok and bool(answer.json())

    try:
        wait_ready(process, ready, ready_timeout, "the starter bot", log_tail(log))
        yield url
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)
        shutil.rmtree(workdir, ignore_errors=True)


def alternate(
    ours: Bot, starter: Bot, debtors: list[tuple[str, str, str]]
) -> tuple[list[Sample], list[Sample]]:
    """One of our conversations and one of the starter's per round, the order flipping every
    round; nothing runs in parallel."""
    mine: list[Sample] = []
    theirs: list[Sample] = []
    for n, debtor in enumerate(debtors):
        for side in ("ours", "starter") if n % 2 == 0 else ("starter", "ours"):
            if side == "ours":
                mine.extend(our_conversation(ours, debtor))
            else:
                theirs.extend(starter_conversation(starter, f"starter-{debtor[0]}", n))
    return mine, theirs


def _row(name: str, values: list[float], extra: str = "") -> str:
    return (
        f"  {name:34} {len(values):5d} {statistics.median(values):8.0f} "
        f"{percentile(values, 95):8.0f} {max(values):8.0f}{extra}"
    )


def table(title: str, samples: list[Sample], kinds: list[str], with_queries: bool) -> None:
    print(f"\n{title}")
    header = f"  {'message':34} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
    print(header + (f" {'queries':>8} {'actions':>8}" if with_queries else ""))
    for kind in kinds:
        chosen = [s for s in samples if s.kind == kind]
        if not chosen:
            continue
        extra = ""
        if with_queries:
            queries = statistics.mean(
                s.probe["queries"][1] + s.probe["action_queries"][1] for s in chosen
            )
            calls = statistics.mean(s.probe["remote_action"][1] for s in chosen)
            extra = f" {queries:8.1f} {calls:8.1f}"
        print(_row(kind, [s.ms for s in chosen], extra))
    print(_row("all", [s.ms for s in samples]))


def breakdown(columns: dict[str, list[Sample]]) -> None:
    """Mean milliseconds per message spent in each measured part (calls in brackets)."""

    def mean(samples: list[Sample], label: str) -> tuple[float, float]:
        return (
            statistics.mean(s.probe[label][0] for s in samples),
            statistics.mean(s.probe[label][1] for s in samples),
        )

    print("\nWhere a message's time goes (mean ms per message; calls per message in brackets)")
    print(f"  {'':52}" + "".join(f"{name:>22}" for name in columns))
    print(
        f"  {'client round trip (HTTP, channel, everything)':52}"
        + "".join(f"{statistics.mean(s.ms for s in samples):22.1f}" for samples in columns.values())
    )
    for label, meaning in probe.LABELS.items():
        cells = []
        for samples in columns.values():
            seconds, calls = mean(samples, label)
            cells.append(f"{seconds:14.1f} [{calls:5.1f}]")
        print(f"  {label + ':':16}{meaning[:36]:36}" + "".join(f"{c:>22}" for c in cells))


def slowest(samples: list[Sample], pct: float) -> list[Sample]:
    """The samples at or above the percentile: what the p95 is made of."""
    threshold = percentile([s.ms for s in samples], 100 - pct)
    return [s for s in samples if s.ms >= threshold]


def report_ratio(mine: list[Sample], theirs: list[Sample]) -> float:
    actions = [s.ms for s in mine if s.kind.startswith(ACTION_TURN)]
    starter = [s.ms for s in theirs]
    ratio = percentile(actions, 95) / percentile(starter, 95)
    turns = [s for s in mine if s.kind.startswith(ACTION_TURN)]
    rasa_queries = statistics.mean(s.probe["queries"][1] for s in turns)
    action_queries = statistics.mean(s.probe["action_queries"][1] for s in turns)
    print(
        f"\nRATIO p95(our action turns) / p95(starter turns) = "
        f"{percentile(actions, 95):.0f} / {percentile(starter, 95):.0f} ms = {ratio:.2f}"
        f"  (target <= {TARGET_RATIO}: {'met' if ratio <= TARGET_RATIO else 'NOT met'})"
    )
    print(
        f"      p50: {statistics.median(actions):.0f} / {statistics.median(starter):.0f} ms = "
        f"{statistics.median(actions) / statistics.median(starter):.2f};"
        f"  queries per action turn: {rasa_queries + action_queries:.1f}"
        f" (Rasa {rasa_queries:.1f}, action server {action_queries:.1f})"
    )
    return ratio


def per_process(directory: Path) -> dict[str, dict[str, tuple[float, float]]]:
    """Each server process's counters, by what it is: the process that handled messages is
    Rasa, the one that ran actions the action server (others, e.g. the console: left out)."""
    found = {}
    for path in directory.glob("*.probe"):
        counters = probe.read(path)
        if counters["handle"][1]:
            found["Rasa"] = counters
        elif counters["sdk_run"][1]:
            found["action server"] = counters
    return found


def collector_pauses(
    before: dict[str, dict[str, tuple[float, float]]],
    after: dict[str, dict[str, tuple[float, float]]],
) -> None:
    """The garbage collector's pauses per process between two :func:`per_process` readings:
    under load a full pass stops every conversation of the process (cobranza/collector.py)."""
    for name, counters in sorted(after.items()):
        start = before.get(name, {label: (0.0, 0.0) for label in counters})
        seconds, calls = (counters["gc"][i] - start["gc"][i] for i in (0, 1))
        full_seconds, full_calls = (counters["gc_full"][i] - start["gc_full"][i] for i in (0, 1))
        print(
            f"  garbage collector, {name}: {calls:.0f} passes, {seconds * 1000:.0f} ms; "
            f"of which full: {full_calls:.0f}, {full_seconds * 1000:.0f} ms"
        )


def concurrent(
    servers: Servers, debtors: list[tuple[str, str, str]], workers: int, probe_dir: Path
) -> None:
    timings: dict[str, list[float]] = defaultdict(list)
    lock = threading.Lock()

    def converse(debtor: tuple[str, str, str]) -> None:
        sender, phone, dob = debtor
        for kind, text in OURS:
            started = time.perf_counter()
            if not servers.say(sender, text.format(phone=phone, dob=dob), timeout=60):
                raise RuntimeError(f"no reply to {kind!r}")
            with lock:
                timings[kind].append((time.perf_counter() - started) * 1000)

    counters = per_process(probe_dir)
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(converse, d) for d in debtors]:
            future.result()
    seconds = time.perf_counter() - started
    total = sum(len(v) for v in timings.values())
    print(
        f"\n(b) ours, {workers} conversations at once: {total} messages in {seconds:.1f} s = "
        f"{total / seconds:.1f} messages/s"
    )
    print(f"  {'message':34} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for kind, _ in OURS:
        print(_row(kind, timings[kind]))
    print(_row("all", [v for values in timings.values() for v in values]))
    collector_pauses(counters, per_process(probe_dir))


def demo_debtors(database: str, count: int) -> list[tuple[str, str, str]]:
    engine = db.make_engine(f"sqlite:///{database}")
    with db.session_scope(db.make_session_factory(engine)) as session:
        rows = session.execute(
            select(Debtor.phone, Debtor.date_of_birth).order_by(Debtor.phone)
        ).all()
    engine.dispose()
    return [
        (f"bench-{n}", p.removeprefix("+52"), d.strftime("%d/%m/%Y"))
        for n, (p, d) in enumerate(random.Random(7).sample(rows, count))
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--rounds", type=int, default=30, help="conversations of each bot, one at a time"
    )
    parser.add_argument(
        "--concurrent", type=int, default=60, help="our conversations in run (b); 0 skips it"
    )
    parser.add_argument("--workers", type=int, default=20, help="conversations at once in (b)")
    args = parser.parse_args()
    # A plain `kill` must still stop the servers (the `finally` blocks below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    source = make_url(load_settings().database_url)
    if source.get_backend_name() != "sqlite" or not Path(source.database or "").is_file():
        print("bench needs the SQLite demo database: run `make db` first", file=sys.stderr)
        return 1
    if not STARTER_MODEL.is_file():
        print("bench needs the starter bot: run `make models/starter.tar.gz`", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="cobranza-bench-"))
    copy = work / "bench.db"
    shutil.copyfile(source.database or "", copy)
    debtors = demo_debtors(str(copy), 1 + args.rounds + args.concurrent)
    ours_probe, starter_probe = work / "probe-ours", work / "probe-starter"
    ours_probe.mkdir()
    starter_probe.mkdir()
    model = PROJECT_ROOT / "models" / "cobranza.tar.gz"
    try:
        with (
            running_servers(
                f"sqlite:///{copy}", model, READY_TIMEOUT, probe_env(ours_probe)
            ) as servers,
            starter_server(STARTER_MODEL, starter_probe, READY_TIMEOUT) as starter_url,
        ):
            ours = Bot("ours", servers.rest_url, ours_probe)
            starter = Bot("starter", starter_url, starter_probe)
            alternate(ours, starter, debtors[:1])  # warm-up: first calls load lazily
            mine, theirs = alternate(ours, starter, debtors[1 : 1 + args.rounds])
            print(
                f"(a) one conversation at a time, ours and Rasa's starter bot taking turns: "
                f"{args.rounds} conversations each ({os.cpu_count()} CPUs)"
            )
            table("Ours (REST, SQLite)", mine, [k for k, _ in OURS], with_queries=True)
            table("Rasa's starter bot (rasa init)", theirs, STARTER_KINDS, with_queries=False)
            turns = [s for s in mine if s.kind.startswith(ACTION_TURN)]
            breakdown(
                {
                    "ours: action turns": turns,
                    "ours: slowest 5%": slowest(turns, 5),
                    "ours: lightest": [s for s in mine if s.kind == LIGHTEST_TURN],
                    "ours: greeting": [s for s in mine if not s.kind.startswith(ACTION_TURN)],
                    "starter": theirs,
                }
            )
            report_ratio(mine, theirs)
            if args.concurrent:
                concurrent(servers, debtors[1 + args.rounds :], args.workers, ours_probe)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
