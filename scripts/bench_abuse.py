"""`make bench-abuse`: 20 concurrent clients post 200 KB messages to the REST channel for 60
seconds against the real servers (scripts/run.sh on free loopback ports); the Rasa process's
resident memory is sampled the whole time. Prints Rasa's peak RSS, the requests sent, the status
codes, p50/p95 latency, and afterwards the latency of a normal short turn. Fails (exit 1) when the
peak RSS reaches the budget (2 GB), when the watchdog had to kill Rasa, or when Rasa stops
answering a short turn.

A message's text was once unbounded: one 100 KB message grew Rasa to 24 GB (DIET's memory grows
with the square of the message length). The watchdog kills Rasa if its RSS passes
``--watchdog-mb`` so an unbounded build cannot eat the machine; use ``--size``/``--seconds`` to
run a small version (e.g. ``--size 20000 --seconds 15``) against old code."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from sqlalchemy.engine import make_url

from cobranza.config import PROJECT_ROOT, load_settings
from cobranza.testing.servers import Servers, running_servers

MB = 1024 * 1024
# Ordinary Spanish words: the tokenizer sees one token every ~6 characters, as in a real text.
FILLER = "te pago quinientos pesos el viernes por favor no me llamen al trabajo "


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def big_message(size: int, unit: str = FILLER) -> str:
    return (unit * (size // len(unit) + 1))[:size]


# --- the Rasa process and its memory ---------------------------------------------------------


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may hold spaces: the ppid follows the last ")"
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def find_rasa(run_sh_pid: int) -> int:
    """The ``rasa run --model …`` process among run.sh's children (not ``rasa run actions``)."""
    for pid in _children(run_sh_pid):
        args = _cmdline(pid)
        if any(a.endswith("/rasa") for a in args) and "--model" in args and "actions" not in args:
            return pid
    raise RuntimeError(f"no Rasa server among the children of run.sh ({run_sh_pid})")


def rss_bytes(pid: int) -> int:
    """Resident set size from /proc (psutil is not a dependency of the project)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


@dataclass
class MemoryWatch:
    """Samples the Rasa process's RSS; kills it (SIGKILL) past ``kill_at`` bytes."""

    pid: int
    kill_at: int
    interval: float = 0.1
    peak: int = 0
    killed: bool = False
    gone: bool = False
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                rss = rss_bytes(self.pid)
            except (OSError, RuntimeError):
                self.gone = True
                return
            self.peak = max(self.peak, rss)
            if rss >= self.kill_at:
                self.killed = True
                os.kill(self.pid, signal.SIGKILL)
                return
            self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()


# --- the flood ---------------------------------------------------------------------------------


@dataclass
class Results:
    statuses: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: str, seconds: float) -> None:
        with self.lock:
            self.statuses[status] += 1
            self.latencies.append(seconds)


def client(servers: Servers, number: int, text: str, deadline: float, results: Results) -> None:
    """One abusive client: posts the big message again and again until the deadline."""
    with requests.Session() as session:
        sent = 0
        while time.monotonic() < deadline and sent < 100_000:  # bounded either way
            sent += 1
            started = time.perf_counter()
            try:
                reply = session.post(
                    servers.rest_url,
                    json={"sender": f"abuse-{number}", "message": text},
                    timeout=120,
                )
                status = str(reply.status_code)
            except requests.RequestException as exc:
                status = type(exc).__name__
            results.add(status, time.perf_counter() - started)


def short_turns(servers: Servers, count: int = 5) -> list[float]:
    """A normal debtor's "hola", after the flood: does Rasa still answer, and how fast?"""
    timings = []
    for n in range(count):
        started = time.perf_counter()
        replies = servers.say(f"bench-normal-{n}", "hola", timeout=60)
        timings.append(time.perf_counter() - started)
        if not replies:
            raise RuntimeError("no answer to a short turn after the flood")
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--size", type=int, default=200_000, help="characters per message")
    parser.add_argument(
        "--unit", default=FILLER, help='text repeated to fill a message ("a " is the worst case)'
    )
    parser.add_argument("--budget-mb", type=int, default=2048, help="fail at this peak RSS")
    parser.add_argument("--watchdog-mb", type=int, default=6144, help="kill Rasa at this RSS")
    args = parser.parse_args()
    source = make_url(load_settings().database_url)
    if source.get_backend_name() != "sqlite" or not Path(source.database or "").is_file():
        print("bench-abuse needs the SQLite demo database: run `make db` first", file=sys.stderr)
        return 1
    copy = Path(tempfile.mkdtemp(prefix="cobranza-bench-abuse-")) / "bench.db"
    shutil.copyfile(source.database or "", copy)
    model = PROJECT_ROOT / "models" / "cobranza.tar.gz"
    text = big_message(args.size, args.unit)

    with running_servers(f"sqlite:///{copy}", model) as servers:
        rasa = find_rasa(servers.process.pid)
        short_turns(servers, 1)  # warm-up
        idle = rss_bytes(rasa)
        watch = MemoryWatch(rasa, args.watchdog_mb * MB)
        sampler = threading.Thread(target=watch.run, name="rss-sampler", daemon=True)
        sampler.start()
        results = Results()
        started = time.monotonic()
        deadline = started + args.seconds
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            for future in [
                pool.submit(client, servers, n, text, deadline, results)
                for n in range(args.clients)
            ]:
                future.result()
        flood_seconds = time.monotonic() - started
        after: list[float] = []
        unanswered = ""
        if not watch.killed and not watch.gone:
            try:
                after = short_turns(servers)
            except (requests.RequestException, RuntimeError) as exc:
                unanswered = type(exc).__name__
        watch.stop()
        sampler.join(5)

    total = sum(results.statuses.values())
    print(
        f"\n{args.clients} clients x {args.size:,}-character messages on the REST channel for "
        f"{flood_seconds:.1f} s"
    )
    print(f"  Rasa RSS idle: {idle / MB:,.0f} MB   peak: {watch.peak / MB:,.0f} MB")
    print(f"  requests: {total} ({total / flood_seconds:.1f}/s)")
    print("  status codes: " + ", ".join(f"{k}: {v}" for k, v in sorted(results.statuses.items())))
    if results.latencies:
        print(
            f"  latency p50 {statistics.median(results.latencies) * 1000:,.0f} ms, "
            f"p95 {percentile(results.latencies, 95) * 1000:,.0f} ms, "
            f"max {max(results.latencies) * 1000:,.0f} ms"
        )
    if after:
        print(
            "  short turn afterwards: "
            + ", ".join(f"{t * 1000:,.0f}" for t in after)
            + f" ms (median {statistics.median(after) * 1000:,.0f} ms)"
        )
    failures = []
    if watch.killed:
        failures.append(f"the watchdog killed Rasa at {args.watchdog_mb:,} MB")
    if watch.gone:
        failures.append("the Rasa process died during the flood")
    if unanswered:
        failures.append(f"a short turn after the flood failed ({unanswered})")
    if watch.peak >= args.budget_mb * MB:
        failures.append(f"peak RSS {watch.peak / MB:,.0f} MB >= budget {args.budget_mb:,} MB")
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    if not failures:
        print(f"  OK: peak RSS under the {args.budget_mb:,} MB budget")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
