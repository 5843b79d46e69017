"""Helpers for the transport attack tests (tests/integration/test_action_server.py and
tests/e2e/test_action_server_security.py): a forged action call, raw HTTP requests, a deflate
bomb, and what the kernel says about listening sockets and a process's memory."""

from __future__ import annotations

import ipaddress
import socket
import time
import zlib
from pathlib import Path
from typing import Any

ANA = "5219981234567"  # Ana Sofía: $12,000.00, date of birth 25/07/1992
MIB = 1024 * 1024


def forged_call(sender: str, action: str = "action_informar_saldo") -> dict[str, Any]:
    """What Rasa would POST to run ``action``, claiming the sender already proved who they are."""
    slots = {"identidad_verificada": True, "deudor_encontrado": True, "persona": None}
    message = {
        "text": "cuanto debo",
        "intent": {"name": "consultar_saldo", "confidence": 1.0},
        "entities": [],
    }
    tracker = {
        "sender_id": sender,
        "slots": slots,
        "latest_message": message,
        "events": [{"event": "user", "timestamp": time.time(), "text": "cuanto debo"}],
        "paused": False,
        "followup_action": None,
        "active_loop": {},
        "latest_action_name": "action_listen",
        "latest_input_channel": "rest",
    }
    return {
        "next_action": action,
        "sender_id": sender,
        "tracker": tracker,
        "domain": {"responses": {}},
        "version": "3.6.21",
    }


RESET = -1  # the server cut the connection while the request was still being sent


def raw_request(port: int, head: str, body: bytes = b"", timeout: float = 10) -> tuple[int, bytes]:
    """One HTTP/1.1 request over a plain socket (headers we choose, e.g. a Content-Length we never
    send), returning the status and whatever the server sent before closing or 1 s of silence.
    A server that answers and closes while we are still sending may reset the connection, which
    can discard its answer: the status is then ``RESET``."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        try:
            sock.sendall(head.encode() + b"\r\n\r\n" + body)
            sock.settimeout(1)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    chunk = sock.recv(65536)
                except TimeoutError:
                    if received:
                        break
                    continue
                if not chunk:
                    break
                received += chunk
        except (ConnectionResetError, BrokenPipeError):
            if not received.startswith(b"HTTP/1.1 "):
                return RESET, received
    status = int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else 0
    return status, received


def deflate_bomb(inflated: int) -> bytes:
    """zlib-wrapped deflate (what Rasa sends) of ``inflated`` zero bytes, built in 1 MiB steps so
    the test itself stays small: 1 GiB of zeros compresses to about 1 MiB."""
    compressor = zlib.compressobj(9)
    block = bytes(MIB)
    parts = [compressor.compress(block) for _ in range(inflated // MIB)]
    return b"".join([*parts, compressor.flush()])


def process_in_session(session_id: int, module: str) -> int:
    """The pid of ``python -m <module>`` in a session (run.sh's, which starts a new one)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            session = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[3])
        except (OSError, IndexError, ValueError):
            continue
        if session == session_id and module.encode() in cmdline:
            return int(entry.name)
    raise AssertionError(f"no {module} process in session {session_id}")


def peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket in LISTEN state on ``port`` (IPv4 and IPv6), read from the
    kernel's socket tables."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, port_hex = fields[1].split(":")
            if fields[3] != "0A" or int(port_hex, 16) != port:
                continue
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            words = [bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, len(address), 8)]
            found.add(str(ipaddress.ip_address(b"".join(words))))
    return found


def non_loopback_local_addresses() -> list[str]:
    """This machine's own IPv4 addresses other than 127/8 (kernel's LOCAL routes): connecting to
    them never leaves the machine."""
    lines = Path("/proc/net/fib_trie").read_text().splitlines()
    local = {
        lines[i - 1].split()[-1]
        for i, line in enumerate(lines)
        if line.strip() == "/32 host LOCAL" and i > 0
    }
    return sorted(a for a in local if not ipaddress.ip_address(a).is_loopback)
