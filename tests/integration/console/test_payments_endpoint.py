"""``POST /api/payments`` on the real console (aiohttp on a loopback port, a private copy of the
seeded demo database): lenders push the payments file with their bearer token. Forged, missing
and cookie-only credentials, oversized and malformed bodies, other content types, a replayed
request and identical requests at the same instant."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from cobranza import bootstrap, db
from cobranza.clock import FixedClock
from cobranza.config import PROJECT_ROOT, load_console_settings, load_settings
from cobranza.console.server import Console
from cobranza.db.models import Payment, UnmatchedPayment
from cobranza.domain import payment_files
from cobranza.services import agents
from tests.integration.console.test_console_security import RASA_TOKEN, FakeRasa, Loop, _serve
from tests.support.clock import NOW

TOKEN = "pagos-" + "x" * 40
SAMPLE = (PROJECT_ROOT / "docs" / "samples" / "pagos_ejemplo.csv").read_bytes()
CSV = {"Content-Type": "text/csv", "Authorization": f"Bearer {TOKEN}"}


@dataclass
class Running:
    url: str
    sessions: sessionmaker

    def post(
        self, body: Any = SAMPLE, headers: dict[str, str] | None = None, **kw: Any
    ) -> requests.Response:
        return requests.post(
            f"{self.url}/api/payments",
            data=body,
            headers=CSV if headers is None else headers,
            timeout=60,
            **kw,
        )

    def counts(self) -> tuple[int, int]:
        with db.session_scope(self.sessions) as session:
            return (
                session.scalar(
                    select(func.count())
                    .select_from(Payment)
                    .where(Payment.transaction_id.is_not(None))
                ),
                session.scalar(select(func.count()).select_from(UnmatchedPayment)),
            )


def _start(database_url: str, **env: str) -> Iterator[Running]:
    loop = Loop()
    engine = db.make_engine(database_url)
    sessions = db.make_session_factory(engine)
    rasa = FakeRasa()
    rasa_app = web.Application()
    rasa_app.router.add_route("*", "/{tail:.*}", rasa.handle)
    rasa_runner, rasa_port = loop.run(_serve(rasa_app))
    settings = load_settings({"DATABASE_URL": database_url, **env})
    config = load_console_settings(
        {"RASA_URL": f"http://127.0.0.1:{rasa_port}", "RASA_API_TOKEN": RASA_TOKEN}
    )
    console = Console(bootstrap.build(settings, clock=FixedClock(NOW)), config)
    runner, port = loop.run(_serve(console.app()))
    try:
        yield Running(f"http://127.0.0.1:{port}", sessions)
    finally:
        loop.run(runner.cleanup())
        loop.run(rasa_runner.cleanup())
        loop.stop()
        loop.loop.close()
        engine.dispose()


@pytest.fixture
def database_url(seeded_sqlite_url: str, tmp_path: Path) -> str:
    copy = tmp_path / "pagos.db"
    shutil.copyfile(make_url(seeded_sqlite_url).database or "", copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def console(database_url: str) -> Iterator[Running]:
    yield from _start(database_url, PAYMENTS_API_TOKEN=TOKEN)


def test_without_a_token_configured_the_route_does_not_exist(database_url: str) -> None:
    for running in _start(database_url):
        assert running.post().status_code == 404
        assert running.counts() == (0, 0)


def test_the_sample_is_imported_and_a_replay_changes_nothing(console: Running) -> None:
    first = console.post()
    assert first.status_code == 200, first.text
    report = first.json()
    assert (report["imported"], report["unmatched"], report["errors"]) == (6, 1, 1)
    assert report["source"] == "api:127.0.0.1"
    assert console.counts() == (6, 1)
    replay = console.post()
    assert replay.status_code == 200
    assert (replay.json()["imported"], replay.json()["already_imported"]) == (0, 7)
    assert console.counts() == (6, 1)


def test_json_payments(console: Running) -> None:
    body = {
        "payments": [
            {
                "transaction_id": "J1",
                "method": "spei",
                "amount": "1500.00",
                "paid_at": "2026-11-21",
                "reference": "CF-0000001",
            },
            {"transaction_id": "J2", "method": "spei", "amount": 1.5, "paid_at": "2026-11-21"},
        ]
    }
    reply = requests.post(
        f"{console.url}/api/payments",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert reply.status_code == 200, reply.text
    assert (reply.json()["imported"], reply.json()["errors"]) == (1, 1)
    assert reply.json()["error_rows"][0]["column"] == "amount"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "text/csv"},
        {"Content-Type": "text/csv", "Authorization": "Bearer " + "y" * 46},
        {"Content-Type": "text/csv", "Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Content-Type": "text/csv", "Authorization": f"Basic {TOKEN}"},
        {"Content-Type": "text/csv", "Authorization": f"Bearer {TOKEN}x"},
        {"Content-Type": "text/csv", "Authorization": "Bearer ñandú"},
    ],
)
def test_missing_and_forged_tokens(console: Running, headers: dict[str, str]) -> None:
    reply = console.post(headers=headers)
    assert reply.status_code == 401 and reply.headers["WWW-Authenticate"] == "Bearer"
    assert console.counts() == (0, 0)


def test_an_agents_session_cookie_does_not_authenticate(console: Running) -> None:
    with db.session_scope(console.sessions) as session:
        agents.add_agent(session, "ana.ruiz", "Ana Ruiz", "clave-de-ana-123", FixedClock(NOW))
    browser = requests.Session()
    login = browser.post(
        f"{console.url}/api/login",
        json={"username": "ana.ruiz", "password": "clave-de-ana-123"},
        headers={"X-Consola": "1"},
        timeout=30,
    )
    assert login.status_code == 200
    reply = browser.post(
        f"{console.url}/api/payments",
        data=SAMPLE,
        headers={"Content-Type": "text/csv", "X-Consola": "1"},
        timeout=30,
    )
    assert reply.status_code == 401
    assert console.counts() == (0, 0)


def test_no_csrf_header_is_needed_but_the_token_is(console: Running) -> None:
    reply = console.post(headers={**CSV, "Origin": "https://otro.example"})
    assert reply.status_code == 200


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]
)
def test_other_content_types(console: Running, content_type: str) -> None:
    reply = console.post(headers={**CSV, "Content-Type": content_type})
    assert reply.status_code == 415


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"fecha,importe\n1,2\n", "text/csv", "columna desconocida"),
        (b'transaction_id,method,amount,paid_at\n"A,spei', "text/csv", "CSV mal formado"),
        (b"\xff\xfe\x00\x00", "text/csv", "bytes nulos"),
        (b"{no es json", "application/json", "JSON"),
        (b"[1, 2]", "application/json", "payments"),
        (b'{"payments": "A"}', "application/json", "payments"),
    ],
)
def test_malformed_bodies(console: Running, body: bytes, content_type: str, message: str) -> None:
    reply = console.post(body, headers={**CSV, "Content-Type": content_type})
    assert reply.status_code == 400 and message in reply.json()["error"]
    assert console.counts() == (0, 0)


def test_oversized_bodies(console: Running) -> None:
    big = b"transaction_id,method,amount,paid_at\n" + b"x" * payment_files.MAX_FILE_BYTES
    assert console.post(big).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        yield b"transaction_id,method,amount,paid_at\n"
        for _ in range(21):
            yield b"y" * (1024 * 1024)

    try:
        status = console.post(chunks()).status_code
    except requests.ConnectionError:  # the server answered and closed while we still sent
        status = 413
    assert status == 413
    assert console.counts() == (0, 0)


def test_identical_requests_at_the_same_instant(console: Running) -> None:
    contenders = 5
    start = threading.Barrier(contenders)
    replies: list[Any] = []
    lock = threading.Lock()

    def push() -> None:
        start.wait()
        try:
            outcome: Any = console.post()
        except Exception as exc:  # noqa: BLE001 - shown in the assertion
            outcome = exc
        with lock:
            replies.append(outcome)

    threads = [threading.Thread(target=push) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(isinstance(r, requests.Response) and r.status_code == 200 for r in replies), replies
    reports = [r.json() for r in replies]
    assert sum(r["imported"] for r in reports) == 6 and sum(r["unmatched"] for r in reports) == 1
    assert console.counts() == (6, 1)
