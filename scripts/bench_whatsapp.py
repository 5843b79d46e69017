"""`make bench-whatsapp`: 1,000 signed webhooks from 100 debtors, 10% of them duplicate
deliveries, posted by 20 concurrent senders to the real Rasa server (credentials.whatsapp.yml),
with the local fake Graph API standing in for Meta. Prints the throughput of the webhook, p50/p95
time to acknowledge, how long until every answer went out, and checks that the fake Graph API
received exactly one answer per distinct message (none for a duplicate). Runs on a copy of the
SQLite demo database."""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from sqlalchemy.engine import make_url

from cobranza.config import PROJECT_ROOT, load_settings
from cobranza.simulation.fake_graph import (
    FakeGraphAPI,
    signed_request,
    text_message,
    webhook_payload,
)
from cobranza.testing.servers import running_servers

TOKEN, PHONE_ID, SECRET = "EAAG-bench", "109876543210987", "bench-secret"
# Messages answered with exactly one message each (greeting, thanks, goodbye: no disclosure).
TEXTS = ("hola", "gracias", "buenas tardes", "adios", "hola buen dia", "muchas gracias")


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--webhooks", type=int, default=1000)
    parser.add_argument("--debtors", type=int, default=100)
    parser.add_argument("--duplicates", type=float, default=0.10)
    parser.add_argument("--workers", type=int, default=20)
    args = parser.parse_args()
    source = make_url(load_settings().database_url)
    if source.get_backend_name() != "sqlite" or not Path(source.database or "").is_file():
        print("bench-whatsapp needs the SQLite demo database: run `make db`", file=sys.stderr)
        return 1
    copy = Path(tempfile.mkdtemp(prefix="cobranza-bench-wa-")) / "bench.db"
    shutil.copyfile(source.database or "", copy)

    rng = random.Random(11)
    senders = [f"52155{n:08d}" for n in rng.sample(range(10**8), args.debtors)]
    distinct = round(args.webhooks * (1 - args.duplicates))
    start = int(time.time())
    unique = [
        text_message(
            senders[n % args.debtors], rng.choice(TEXTS), f"wamid.bench.{n}", start + n // 100
        )
        for n in range(distinct)
    ]
    deliveries = unique + [rng.choice(unique) for _ in range(args.webhooks - distinct)]
    rng.shuffle(deliveries)
    bodies = [signed_request(webhook_payload(item), SECRET) for item in deliveries]

    with FakeGraphAPI(TOKEN, PHONE_ID) as graph:
        env = {
            "RASA_CREDENTIALS": "credentials.whatsapp.yml",
            "WHATSAPP_VERIFY_TOKEN": "bench",
            "WHATSAPP_APP_SECRET": SECRET,
            "WHATSAPP_ACCESS_TOKEN": TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID,
            "WHATSAPP_API_URL": graph.base_url,
        }
        model = PROJECT_ROOT / "models" / "cobranza.tar.gz"
        with running_servers(f"sqlite:///{copy}", model, extra_env=env) as servers:
            url = f"http://127.0.0.1:{servers.rasa_port}/webhooks/whatsapp/webhook"
            session = requests.Session()

            def post(request: tuple[bytes, dict[str, str]]) -> tuple[float, int, int]:
                started = time.perf_counter()
                reply = session.post(url, data=request[0], headers=request[1], timeout=60)
                elapsed = (time.perf_counter() - started) * 1000
                return elapsed, reply.status_code, int(reply.json().get("new", 0))

            began = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.workers) as pool:
                results = list(pool.map(post, bodies))
            posted = time.perf_counter() - began
            try:
                graph.wait_for(distinct, timeout=1800)
            except TimeoutError as exc:
                print(str(exc)[:2000], file=sys.stderr)
            answered = time.perf_counter() - began
            time.sleep(3)  # anything beyond one answer per message would arrive now

    acks = [r[0] for r in results]
    statuses = Counter(r[1] for r in results)
    accepted_new = sum(r[2] for r in results)
    per_sender = Counter(m["to"] for m in graph.messages)
    expected = Counter(item["contacts"][0]["wa_id"] for item in unique)
    print(
        f"{args.webhooks} webhooks ({distinct} distinct, {args.webhooks - distinct} duplicates) "
        f"from {args.debtors} debtors, {args.workers} at once"
    )
    print(f"  HTTP statuses: {dict(statuses)}; accepted as new: {accepted_new}")
    print(f"  webhook throughput: {args.webhooks / posted:.1f} webhooks/s ({posted:.1f} s)")
    print(
        f"  time to acknowledge: p50 {statistics.median(acks):.0f} ms, "
        f"p95 {percentile(acks, 95):.0f} ms, max {max(acks):.0f} ms"
    )
    print(
        f"  all answers sent after {answered:.1f} s: {len(graph.messages)} answers "
        f"({distinct / answered:.1f} conversations turns/s); rejected by Graph: "
        f"{len(graph.rejected)}"
    )
    exact = per_sender == expected and accepted_new == distinct
    print(f"  exactly one answer per distinct message: {'yes' if exact else 'NO'}")
    if not exact:
        wrong = {k: (per_sender[k], expected[k]) for k in expected if per_sender[k] != expected[k]}
        print(f"  (got, expected) per sender where they differ: {wrong}", file=sys.stderr)
    return 0 if exact else 1


if __name__ == "__main__":
    raise SystemExit(main())
