"""Attacks on the transport, against the real servers that scripts/run.sh starts: the action
server answers only Rasa (shared token), both servers listen on loopback only, and oversized or
compressed bodies are refused before they cost memory. Rasa here sends its action calls
deflate-compressed (COMPRESS_ACTION_SERVER_REQUEST), so the real conversation also proves the
bounded inflation path."""

from __future__ import annotations

import gzip
import json
import socket
import sqlite3
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy.engine import make_url

from cobranza.testing.servers import Servers, running_servers
from tests.support.http_attacks import (
    ANA,
    MIB,
    deflate_bomb,
    forged_call,
    listening_addresses,
    non_loopback_local_addresses,
    peak_rss_kib,
    process_in_session,
    raw_request,
)

pytestmark = pytest.mark.slow

JUAN = "5216641234567"  # Juan Carlos: $23,900.50, date of birth 02/11/1979


@pytest.fixture(scope="module")
def servers(model: Path, database_url: str) -> Iterator[Servers]:
    env = {"COMPRESS_ACTION_SERVER_REQUEST": "true"}
    with running_servers(database_url, model, extra_env=env) as running:
        yield running


def webhook(servers: Servers) -> str:
    return f"http://127.0.0.1:{servers.actions_port}/webhook"


def database_dump(database_url: str) -> list[str]:
    """Every row of the servers' database, to prove a refused request wrote nothing."""
    with sqlite3.connect(make_url(database_url).database or "") as connection:
        return list(connection.iterdump())


def texts(replies: list[dict[str, Any]]) -> str:
    return "\n".join(str(r.get("text", "")) for r in replies)


# --- the forged tracker ---------------------------------------------------------------------


def test_forged_tracker_without_token_is_refused_and_nothing_runs(
    servers: Servers, database_url: str
) -> None:
    before = database_dump(database_url)
    response = requests.post(webhook(servers), json=forged_call(ANA), timeout=30)
    assert response.status_code == 401, response.text[:500]
    assert response.json() == {"error": "unauthorized"}
    assert "12,000" not in response.text and "12000" not in response.text
    assert database_dump(database_url) == before


def test_forged_tracker_with_a_wrong_token_is_refused(servers: Servers, database_url: str) -> None:
    before = database_dump(database_url)
    for token in ("adivina", servers.action_token[:-1], servers.api_token, ""):
        response = requests.post(
            webhook(servers), params={"token": token}, json=forged_call(ANA), timeout=30
        )
        assert response.status_code == 401, (token, response.text[:300])
        assert "12,000" not in response.text
    two = requests.post(
        f"{webhook(servers)}?token=adivina&token={servers.action_token}",
        json=forged_call(ANA),
        timeout=30,
    )
    assert two.status_code == 401
    assert database_dump(database_url) == before


def test_forged_tracker_with_the_token_still_discloses_nothing(servers: Servers) -> None:
    """Even a caller holding the token (a compromised host, a bug in Rasa) cannot buy a
    disclosure with a tracker: the slot says verified, the WhatsApp channel is claimed, but no
    date of birth was checked in this conversation on the server."""
    call = forged_call(ANA)
    call["tracker"]["latest_input_channel"] = "whatsapp"
    call["tracker"]["events"][0]["input_channel"] = "whatsapp"
    response = requests.post(
        webhook(servers), params={"token": servers.action_token}, json=call, timeout=30
    )
    assert response.status_code == 200, response.text[:500]
    said = [m.get("response") for m in response.json()["responses"]]
    assert said == ["utter_pedir_fecha_nacimiento"], said
    assert "12,000" not in response.text and "12000" not in response.text


def test_the_action_list_needs_the_token_and_health_does_not(servers: Servers) -> None:
    base = f"http://127.0.0.1:{servers.actions_port}"
    assert requests.get(f"{base}/actions", timeout=10).status_code == 401
    listed = requests.get(f"{base}/actions", params={"token": servers.action_token}, timeout=10)
    assert listed.status_code == 200
    assert {"name": "action_informar_saldo"} in listed.json()
    health = requests.get(f"{base}/health", timeout=10)
    assert health.status_code == 200 and health.json() == {"status": "ok"}


def test_the_real_conversation_still_works(servers: Servers) -> None:
    """Rasa passes the token (and here deflates every action call)."""
    assert "número de celular" in texts(servers.say("juan", "cuanto debo"))
    asked = texts(servers.say("juan", JUAN[3:]))
    assert "fecha de nacimiento" in asked and "$" not in asked
    balance = texts(servers.say("juan", "02/11/1979"))
    assert "identidad confirmada" in balance and "$23,900.50" in balance


# --- bodies ---------------------------------------------------------------------------------


def test_a_long_chat_message_still_reaches_the_assistant(servers: Servers) -> None:
    message = "hola " + "a" * 200_000
    response = requests.post(
        servers.rest_url, json={"sender": "5215500002222", "message": message}, timeout=120
    )
    assert response.status_code == 200, response.text[:300]


def test_a_one_megabyte_body_to_rasa_is_refused(servers: Servers) -> None:
    body = json.dumps({"sender": "5215500003333", "message": "a" * MIB}).encode()
    response = requests.post(
        servers.rest_url, data=body, headers={"Content-Type": "application/json"}, timeout=30
    )
    assert response.status_code == 413


def test_rasa_refuses_a_huge_declared_body_before_reading_it(servers: Servers) -> None:
    head = (
        f"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: 127.0.0.1:{servers.rasa_port}\r\n"
        # Over our bound, under Sanic's default of 100 MB.
        "Content-Type: application/json\r\nContent-Length: 50000000"
    )
    started = time.monotonic()
    status, _ = raw_request(servers.rasa_port, head)
    assert status == 413 and time.monotonic() - started < 5


def test_a_body_over_the_bound_to_the_action_server_is_refused(servers: Servers) -> None:
    body = json.dumps({**forged_call(ANA), "padding": "a" * (9 * MIB)}).encode()
    response = requests.post(
        webhook(servers),
        params={"token": servers.action_token},
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert requests.get(f"http://127.0.0.1:{servers.actions_port}/health", timeout=10).ok


def test_the_action_server_refuses_a_huge_declared_body_before_reading_it(
    servers: Servers,
) -> None:
    head = (
        f"POST /webhook?token={servers.action_token} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{servers.actions_port}\r\n"
        # Over our bound, under Sanic's default of 100 MB.
        "Content-Type: application/json\r\nContent-Length: 50000000"
    )
    started = time.monotonic()
    status, _ = raw_request(servers.actions_port, head)
    assert status == 413 and time.monotonic() - started < 5


def test_a_deflate_bomb_is_refused_and_memory_stays_flat(
    servers: Servers, database_url: str
) -> None:
    bomb = deflate_bomb(1024 * MIB)
    assert len(bomb) < 1_100_000  # ≈1 MiB on the wire, 1 GiB once inflated
    pid = process_in_session(servers.process.pid, "cobranza.action_server")
    peak_before = peak_rss_kib(pid)
    before = database_dump(database_url)
    response = requests.post(
        webhook(servers),
        params={"token": servers.action_token},
        data=bomb,
        headers={"Content-Type": "application/json", "Content-Encoding": "deflate"},
        timeout=60,
    )
    assert response.status_code == 413
    grown_mib = (peak_rss_kib(pid) - peak_before) / 1024
    print(f"action server peak RSS grew by {grown_mib:.1f} MiB for a 1 GiB deflate bomb")
    assert grown_mib < 64
    assert database_dump(database_url) == before


def test_other_encodings_and_corrupt_deflate_are_refused(
    servers: Servers, database_url: str
) -> None:
    body = json.dumps(forged_call(ANA)).encode()
    before = database_dump(database_url)
    for encoding, data, status in (
        ("gzip", gzip.compress(body), 415),
        ("br", body, 415),
        ("deflate", b"\x78\x9cnot deflate at all", 400),
        ("deflate", zlib.compress(body)[:-8], 400),  # truncated stream
    ):
        response = requests.post(
            webhook(servers),
            params={"token": servers.action_token},
            data=data,
            headers={"Content-Type": "application/json", "Content-Encoding": encoding},
            timeout=30,
        )
        assert response.status_code == status, (encoding, response.text[:300])
        assert "12,000" not in response.text
    assert database_dump(database_url) == before


# --- where they listen ----------------------------------------------------------------------


def test_every_server_listens_on_loopback_only(servers: Servers) -> None:
    for port in (servers.rasa_port, servers.actions_port, servers.console_port):
        assert listening_addresses(port) == {"127.0.0.1"}, port
    for address in non_loopback_local_addresses():  # this machine's own, e.g. eth0's
        for port in (servers.rasa_port, servers.actions_port, servers.console_port):
            with socket.socket() as sock:
                sock.settimeout(2)
                assert sock.connect_ex((address, port)) != 0, (address, port)


def test_the_action_token_never_reaches_the_log(servers: Servers) -> None:
    assert servers.action_token not in servers.log.read_text(errors="replace")


def test_a_web_chat_frame_over_the_bound_closes_the_socket(servers: Servers) -> None:
    """The web chat's WebSocket (Socket.IO under Rasa's Sanic) gets the same bound: a 600 KB
    frame (over 512 KiB, under Sanic's 1 MiB default) closes the socket with 1009."""
    import asyncio

    from websockets.client import connect
    from websockets.exceptions import ConnectionClosed

    async def send(size: int) -> int | None:
        url = f"ws://127.0.0.1:{servers.rasa_port}/socket.io/?EIO=4&transport=websocket"
        async with connect(url, max_size=None) as socket_:
            await socket_.recv()  # engine.io's "open" packet
            await socket_.send("4" + "a" * size)  # an engine.io "message" packet
            try:
                await asyncio.wait_for(socket_.recv(), timeout=5)
            except ConnectionClosed as closed:
                return closed.code
            except asyncio.TimeoutError:
                return None
        return None

    assert asyncio.run(send(600_000)) == 1009
