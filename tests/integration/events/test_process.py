"""``python -m cobranza.events`` as an operator runs it: real processes, the real RabbitMQ, real
SQLite and PostgreSQL. A consumer killed with SIGKILL in the middle of the stream loses and
duplicates nothing; one that cannot reach RabbitMQ waits quietly and stops on SIGTERM; a
missing setting stops it at once with the variable's name."""

from __future__ import annotations

import ast
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from cobranza.config import PROJECT_ROOT
from cobranza.db.models import ConversationTurn
from tests.integration.events.test_consumer import AT, KEY, closed_port, conversation
from tests.support import rabbitmq
from tests.support.db import sqlite_url
from tests.support.rabbitmq import Names


@pytest.fixture
def engine(migrated_engine: Engine) -> Engine:
    return migrated_engine


@pytest.fixture
def names() -> Iterator[Names]:
    found = rabbitmq.fresh_names()
    yield found
    asyncio.run(rabbitmq.delete(found))


def environment(url: str, queue: str, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(PROJECT_ROOT),
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "DATABASE_URL": url,
        "EVENTS_SENDER_KEY": KEY,
        "RASA_EVENTS_QUEUE": queue,
        "COBRANZA_LOG_LEVEL": "INFO",
    }
    env.update(extra)
    return env


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cobranza.events"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(check: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(select(func.count()).select_from(ConversationTurn)).scalar_one()
        )


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=15)


def test_sigkill_mid_stream_loses_and_duplicates_nothing(
    engine: Engine, names: Names, tmp_path: Path
) -> None:
    senders = [f"+5255{n:08d}" for n in range(100)]
    published = asyncio.run(
        rabbitmq.publish_with_rasa(
            names, [conversation(s, at=AT + n, bots=2) for n, s in enumerate(senders)]
        )
    )
    assert published == 1000  # 300 turns
    url = engine.url.render_as_string(hide_password=False)
    env = environment(url, names.queue, EVENTS_PREFETCH="20")
    logs = [tmp_path / f"consumer-{n}.log" for n in range(3)]
    victim, survivor = start(env, logs[0]), start(env, logs[1])
    try:
        wait_for(lambda: count(engine) >= 30)
        victim.send_signal(signal.SIGKILL)  # mid-stream: rows committed, messages unacked
        assert victim.wait(timeout=10) == -signal.SIGKILL
        restarted = start(env, logs[2])
        wait_for(lambda: count(engine) == 300)
        time.sleep(0.5)
        assert stop(survivor) == 0 and stop(restarted) == 0
    finally:
        for process in (victim, survivor):
            if process.poll() is None:
                process.kill()
    assert count(engine) == 300
    with engine.connect() as connection:
        keys = connection.execute(select(func.count(func.distinct(ConversationTurn.event_key))))
        assert keys.scalar_one() == 300
    assert asyncio.run(rabbitmq.depth(names.queue)) == 0  # every message acked by someone
    tallies = [final_tally(log) for log in logs[1:]]
    # The victim's prefetched, unacknowledged messages came back marked as redelivered.
    assert sum(t["redelivered"] for t in tallies) >= 1
    print("tallies after the kill:", tallies)


def final_tally(log: Path) -> dict[str, Any]:
    """The consumer's last line: ``events: stopped: {…}``."""
    lines = [line for line in log.read_text().splitlines() if "events: stopped: " in line]
    assert len(lines) == 1, log.read_text()[-2000:]
    found: dict[str, Any] = ast.literal_eval(lines[0].split("events: stopped: ", 1)[1])
    return found


def test_unreachable_rabbitmq_waits_quietly_and_stops_on_sigterm(
    migrated_sqlite: Engine, tmp_path: Path
) -> None:
    port = closed_port()
    env = environment(
        str(migrated_sqlite.url),
        "rasa_events_nobody",
        RABBITMQ_PORT=str(port),
        RABBITMQ_USERNAME="cobranza",
        RABBITMQ_PASSWORD="s3cr3t-pw",
        EVENTS_RECONNECT_MAX_SECONDS="1",
    )
    log = tmp_path / "consumer.log"
    process = start(env, log)
    try:
        time.sleep(4)
        assert process.poll() is None  # waiting, not crashing
        asked = time.monotonic()
        assert stop(process) == 0
        assert time.monotonic() - asked < 3
    finally:
        if process.poll() is None:
            process.kill()
    lines = log.read_text().splitlines()
    retries = [line for line in lines if "cannot reach RabbitMQ" in line]
    # 0.5, 1, 1, 1 … s apart: about five attempts in four seconds, not a tight loop.
    assert 3 <= len(retries) <= 8, lines
    assert all(f"amqp://cobranza:***@127.0.0.1:{port}/" in line for line in retries)
    assert all("ConnectionRefusedError" in line for line in retries)
    assert "s3cr3t-pw" not in log.read_text()
    assert "Traceback" not in log.read_text()


def test_a_missing_key_or_table_stops_it_at_once_with_the_reason(
    tmp_path: Path, empty_sqlite: Engine
) -> None:
    url = sqlite_url(tmp_path / "nothing.db")
    env = environment(url, "rasa_events_nobody")
    del env["EVENTS_SENDER_KEY"]
    run = subprocess.run(
        [sys.executable, "-m", "cobranza.events"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert run.returncode == 1 and "EVENTS_SENDER_KEY is required" in run.stderr
    env = environment(str(empty_sqlite.url), "rasa_events_nobody")
    run = subprocess.run(
        [sys.executable, "-m", "cobranza.events"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert run.returncode == 1 and "cobranza db upgrade" in run.stderr
    env = environment(str(empty_sqlite.url), "bad queue!")
    run = subprocess.run(
        [sys.executable, "-m", "cobranza.events"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert run.returncode == 1 and "RASA_EVENTS_QUEUE" in run.stderr
