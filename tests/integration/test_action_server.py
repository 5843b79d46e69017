"""The action server as scripts/run.sh starts it (``python -m cobranza.action_server``, a real
process on a loopback port, the real actions and a copy of the demo database): the token guard,
the body bounds and the bounded inflation, refusals that run nothing, and where it binds."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy.engine import make_url

from cobranza.config import PROJECT_ROOT
from cobranza.testing.servers import free_port
from tests.support.http_attacks import (
    ANA,
    MIB,
    RESET,
    deflate_bomb,
    forged_call,
    listening_addresses,
    peak_rss_kib,
    raw_request,
)

TOKEN = "-" + "k" * 40
BOUND = 256 * 1024  # ACTIONS_MAX_REQUEST_BYTES here: small, so the bound is cheap to cross
OUR_VARIABLES = ("ACTION_SERVER_TOKEN", "ACTIONS_HOST", "ACTIONS_PORT", "ACTIONS_MAX_REQUEST_BYTES")


@dataclass
class ActionServer:
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    database: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def call(self, body: bytes, token: str | None = TOKEN, **headers: str) -> requests.Response:
        params = {} if token is None else {"token": token}
        return requests.post(
            f"{self.url}/webhook",
            params=params,
            data=body,
            headers={"Content-Type": "application/json", **headers},
            timeout=30,
        )

    def dump(self) -> list[str]:
        with sqlite3.connect(self.database) as connection:
            return list(connection.iterdump())


def environment(database: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in OUR_VARIABLES}
    return {**env, "DATABASE_URL": f"sqlite:///{database}", **settings}


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cobranza.action_server"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_healthy(process: subprocess.Popen[bytes], host: str, port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, log.read_text()
        try:
            if requests.get(f"http://{host}:{port}/health", timeout=2).ok:
                return
        except requests.ConnectionError:
            time.sleep(0.2)
    raise AssertionError(f"not healthy:\n{log.read_text()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def server(seeded_sqlite_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    workdir = tmp_path_factory.mktemp("action-server")
    database = workdir / "actions.db"
    shutil.copyfile(make_url(seeded_sqlite_url).database or "", database)
    port, log = free_port(), workdir / "actions.log"
    env = environment(
        database,
        ACTION_SERVER_TOKEN=TOKEN,
        ACTIONS_PORT=str(port),
        ACTIONS_MAX_REQUEST_BYTES=str(BOUND),
    )
    process = start(env, log)
    try:
        wait_healthy(process, "127.0.0.1", port, log)
        yield ActionServer(process, port, log, database)
    finally:
        stop(process)


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return compressor.compress(data) + compressor.flush()


def forged_body(**extra: Any) -> bytes:
    return json.dumps({**forged_call(ANA), **extra}).encode()


# --- the token ------------------------------------------------------------------------------


def test_without_the_right_token_nothing_runs(server: ActionServer) -> None:
    before = server.dump()
    for token in (None, "", "adivina", TOKEN[:-1], TOKEN + "k", TOKEN.upper(), "ñ" * 41):
        response = server.call(forged_body(), token=token)
        assert response.status_code == 401, token
        assert response.json() == {"error": "unauthorized"}
    repeated = requests.post(
        f"{server.url}/webhook?token={TOKEN}&token={TOKEN}", data=forged_body(), timeout=10
    )
    assert repeated.status_code == 401
    assert requests.get(f"{server.url}/actions", timeout=10).status_code == 401
    assert server.dump() == before


def test_with_the_token_the_action_runs_and_writes(server: ActionServer) -> None:
    """The same forged call with the token gets through (the caller is then Rasa, by
    definition) and the action writes its audit row (the disclosure decision, refused: no date
    of birth was checked on the server): the "nothing runs" checks can see a run."""
    call = forged_call(ANA)
    call["tracker"]["latest_input_channel"] = "whatsapp"  # the sender id is then a number
    call["tracker"]["events"][0]["input_channel"] = "whatsapp"
    before = server.dump()
    response = server.call(json.dumps(call).encode())
    assert response.status_code == 200
    assert [r["response"] for r in response.json()["responses"]] == ["utter_pedir_fecha_nacimiento"]
    assert server.dump() != before


def test_health_is_open_and_says_nothing(server: ActionServer) -> None:
    response = requests.get(f"{server.url}/health", timeout=10)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert requests.post(f"{server.url}/health", timeout=10).status_code in (401, 405)


def test_a_caller_without_the_token_is_refused_before_its_body_is_read(
    server: ActionServer,
) -> None:
    head = (
        f"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 200000"  # under the bound, never sent
    )
    started = time.monotonic()
    status, reply = raw_request(server.port, head)
    assert status == 401 and b'{"error":"unauthorized"}' in reply
    assert time.monotonic() - started < 5


def test_concurrent_forged_and_genuine_calls(server: ActionServer) -> None:
    def one(i: int) -> int:
        return server.call(forged_body(), token=TOKEN if i % 4 == 0 else f"x{i}").status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(one, range(48)))
    assert statuses == [200 if i % 4 == 0 else 401 for i in range(48)]


# --- bodies ---------------------------------------------------------------------------------


def test_a_body_within_the_bound_is_served(server: ActionServer) -> None:
    body = forged_body(padding="a" * (BOUND - 4096))
    assert len(body) <= BOUND
    assert server.call(body).status_code == 200


def test_a_body_over_the_bound_is_refused(server: ActionServer) -> None:
    before = server.dump()
    response = server.call(forged_body(padding="a" * BOUND))
    assert response.status_code == 413
    assert response.json() == {"error": "request entity too large"}
    assert server.dump() == before


def test_a_declared_length_over_the_bound_is_refused_unread(server: ActionServer) -> None:
    head = (
        f"POST /webhook?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {BOUND + 1}"
    )
    started = time.monotonic()
    status, _ = raw_request(server.port, head)
    assert status == 413 and time.monotonic() - started < 5


def test_a_chunked_body_is_cut_at_the_bound(server: ActionServer) -> None:
    """No Content-Length to check up front: Sanic counts the chunks and stops at the bound."""
    head = (
        f"POST /webhook?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked"
    )
    chunk = b"a" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(BOUND // len(chunk) + 2))
    status, _ = raw_request(server.port, head, body)  # no final chunk: the server must stop us
    # 413, or a reset that raced it; without a bound the server would wait for the last chunk.
    assert status in (413, RESET)


def test_malformed_json_is_a_short_400(server: ActionServer) -> None:
    response = server.call(b'{"next_action": "action_informar_saldo", "tracker": ')
    assert response.status_code == 400
    assert set(response.json()) == {"error"}


def test_an_internal_error_does_not_echo_the_tracker(server: ActionServer) -> None:
    """rasa-sdk's own 500 returned the whole request; ours says only that it failed."""
    body = json.dumps({"next_action": "action_informar_saldo", "tracker": ANA}).encode()
    response = server.call(body)
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert ANA not in response.text


# --- compressed bodies ----------------------------------------------------------------------


def test_a_deflated_call_runs_like_a_plain_one(server: ActionServer) -> None:
    plain = server.call(forged_body())
    deflated = server.call(zlib.compress(forged_body()), **{"Content-Encoding": "deflate"})
    identity = server.call(forged_body(), **{"Content-Encoding": "identity"})
    assert plain.status_code == deflated.status_code == identity.status_code == 200
    assert plain.json()["responses"] == deflated.json()["responses"] == identity.json()["responses"]


def test_a_deflated_body_is_bounded_once_inflated(server: ActionServer) -> None:
    body = forged_body(padding="a" * BOUND)
    assert len(zlib.compress(body)) < BOUND // 100
    response = server.call(zlib.compress(body), **{"Content-Encoding": "deflate"})
    assert response.status_code == 413
    assert response.json() == {"error": "body too large once inflated"}


def test_a_deflate_bomb_leaves_memory_flat(server: ActionServer) -> None:
    """200 MiB of zeros in ≈200 KB: under the body bound, so it reaches the inflater (the e2e
    test sends a 1 GiB one to the default bound)."""
    bomb = deflate_bomb(200 * MIB)
    assert len(bomb) < BOUND
    before, peak_before = server.dump(), peak_rss_kib(server.process.pid)
    started = time.monotonic()
    response = server.call(bomb, **{"Content-Encoding": "deflate"})
    elapsed = time.monotonic() - started
    grown_mib = (peak_rss_kib(server.process.pid) - peak_before) / 1024
    print(
        f"200 MiB bomb ({len(bomb)} bytes): {response.status_code} in {elapsed:.2f} s, "
        f"peak RSS +{grown_mib:.1f} MiB"
    )
    assert response.status_code == 413
    assert response.json() == {"error": "body too large once inflated"}
    assert grown_mib < 32 and elapsed < 5
    assert server.dump() == before


@pytest.mark.parametrize(
    ("encoding", "compress", "status"),
    [
        ("gzip", gzip.compress, 415),
        ("br", lambda b: b, 415),
        ("deflate, gzip", zlib.compress, 415),
        ("compress", lambda b: b, 415),
        ("deflate", lambda b: b"\x78\x9c" + b[:100], 400),  # not a deflate stream
        ("deflate", lambda b: zlib.compress(b)[:-10], 400),  # truncated
        ("deflate", lambda b: zlib.compress(b) + b"junk", 400),  # trailing bytes
        ("deflate", raw_deflate, 400),  # raw deflate, no zlib header
        ("deflate", lambda b: b"", 400),
    ],
)
def test_other_encodings_and_broken_streams_are_refused(
    server: ActionServer, encoding: str, compress: Any, status: int
) -> None:
    before = server.dump()
    body = compress(forged_body())
    response = server.call(body, **{"Content-Encoding": encoding})
    assert response.status_code == status, response.text
    assert server.dump() == before


def test_two_encoding_headers_are_refused(server: ActionServer) -> None:
    body = zlib.compress(forged_body())
    head = (
        f"POST /webhook?token={TOKEN} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
        "Content-Type: application/json\r\nContent-Encoding: identity\r\n"
        f"Content-Encoding: deflate\r\nContent-Length: {len(body)}"
    )
    status, _ = raw_request(server.port, head, body)
    assert status == 415


# --- start-up -------------------------------------------------------------------------------


def test_it_listens_on_loopback_only_by_default(server: ActionServer) -> None:
    assert listening_addresses(server.port) == {"127.0.0.1"}


def test_actions_host_is_honoured(server: ActionServer, tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "other.log"
    env = environment(
        server.database, ACTION_SERVER_TOKEN=TOKEN, ACTIONS_PORT=str(port), ACTIONS_HOST="127.0.0.2"
    )
    process = start(env, log)
    try:
        wait_healthy(process, "127.0.0.2", port, log)
        assert listening_addresses(port) == {"127.0.0.2"}
        assert "Action server listening on http://127.0.0.2:" in log.read_text()
    finally:
        stop(process)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({}, "ACTION_SERVER_TOKEN"),
        ({"ACTION_SERVER_TOKEN": "corto"}, "ACTION_SERVER_TOKEN"),
        ({"ACTION_SERVER_TOKEN": "a+b&c" * 10}, "ACTION_SERVER_TOKEN"),
        ({"ACTION_SERVER_TOKEN": TOKEN, "ACTIONS_MAX_REQUEST_BYTES": "10"}, "ACTIONS_MAX_REQUEST"),
        ({"ACTION_SERVER_TOKEN": TOKEN, "ACTIONS_PORT": "70000"}, "ACTIONS_PORT"),
    ],
)
def test_it_refuses_to_start_misconfigured(
    server: ActionServer, settings: dict[str, str], named: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cobranza.action_server"],
        cwd=PROJECT_ROOT,
        env=environment(server.database, **settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and named in result.stderr, result.stderr
    assert "k" * 40 not in result.stderr  # a token is never echoed


def test_rasa_gets_its_bound_as_sanic_settings(server: ActionServer) -> None:
    def rasa_env(**settings: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "cobranza.action_server", "--rasa-env"],
            cwd=PROJECT_ROOT,
            env={**environment(server.database), "RASA_MAX_REQUEST_BYTES": "", **settings},
            capture_output=True,
            text=True,
            timeout=60,
        )

    default = rasa_env()
    assert default.returncode == 0, default.stderr
    assert default.stdout.split() == [
        "SANIC_REQUEST_MAX_SIZE=524288",
        "SANIC_WEBSOCKET_MAX_SIZE=524288",
    ]
    assert rasa_env(RASA_MAX_REQUEST_BYTES="1048576").stdout.split()[0] == (
        "SANIC_REQUEST_MAX_SIZE=1048576"
    )
    bad = rasa_env(RASA_MAX_REQUEST_BYTES="medio mega")
    assert bad.returncode == 2 and "RASA_MAX_REQUEST_BYTES" in bad.stderr
