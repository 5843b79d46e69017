"""scripts/cluster.sh's nginx and the ensure scripts, without Rasa: the configuration it
generates (``--nginx-config``) passes ``nginx -t`` and, run by the real nginx in front of tiny
loopback HTTP servers standing in for the replicas and the gateway, routes as
docs/deployment.md says: the private server refuses a webhook without the sender's key, sends
one key to one replica every time and to the next replica while its own is down; the public
server sends the webhook to the gateway and drops a client's X-Cobranza-Route. The checks the
script makes before starting anything fail with their reason.

nginx comes from scripts/ensure_nginx.sh (Debian's package; ``make test`` runs it): missing, the
nginx tests skip here and fail on CI."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from cobranza.config import PROJECT_ROOT
from cobranza.testing.cluster import free_port_run
from cobranza.testing.servers import free_port, port_open

SCRIPTS = PROJECT_ROOT / "scripts"
ROUTE = "X-Cobranza-Route"
WEBHOOK = "/webhooks/whatsapp/webhook"


def _run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        cwd=PROJECT_ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def nginx() -> str:
    result = _run([str(SCRIPTS / "ensure_nginx.sh")])
    if result.returncode != 0:
        reason = f"no nginx (scripts/ensure_nginx.sh: {result.stderr.strip()[-300:]})"
        if os.environ.get("CI"):
            pytest.fail(reason + " — CI must run the cluster tests")
        pytest.skip(reason)
    return result.stdout.strip()


@pytest.mark.parametrize("script", ["ensure_nginx.sh", "ensure_redis.sh", "ensure_rabbitmq.sh"])
def test_each_ensure_script_succeeds_on_this_machine(script: str) -> None:
    result = _run([str(SCRIPTS / script)])
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip(), "it prints what it ensured"
    assert result.stderr.strip(), "it says what it did"


def test_an_ensure_script_refuses_a_service_it_cannot_start_with_the_reason() -> None:
    taken = free_port()  # nothing listens there, and Debian's service would not either
    result = _run([str(SCRIPTS / "ensure_redis.sh")], {"REDIS_PORT": str(taken)})
    assert result.returncode != 0
    assert f"127.0.0.1:{taken}" in result.stderr and "6379" in result.stderr


ENSURE_STUBBED = """
set -euo pipefail
. scripts/common.sh
up=
fake_check() { [ -n "$up" ]; }
apt_install() { echo "apt_install $*" >&2; }
start_service() { echo "start_service $*" >&2; up=$STARTS; }
wait_port() { echo "wait_port $*" >&2; }
ensure_service fake Fake 127.0.0.1 7000 7000 5 fake_check no-such-service-binary pkg-a pkg-b
"""


@pytest.mark.parametrize("starts", [True, False], ids=["starts", "never-answers"])
def test_ensure_service_installs_what_is_missing_and_starts_it(starts: bool) -> None:
    """scripts/common.sh's ensure_service when nothing answers and the service is not installed
    (installing and starting stubbed: this machine's services are shared): its packages are
    installed, its service started and waited for; host:port on stdout only once it answers."""
    result = _run(["bash", "-c", ENSURE_STUBBED], {"STARTS": "1" if starts else ""})
    steps = [line.split(" ")[0] for line in result.stderr.splitlines()]
    assert steps[:3] == ["apt_install", "start_service", "wait_port"], result.stderr
    assert "apt_install pkg-a pkg-b" in result.stderr
    assert "wait_port 127.0.0.1 7000 5" in result.stderr
    if starts:
        assert (result.returncode, result.stdout) == (0, "127.0.0.1:7000\n"), result.stderr
        assert "fake: started, answering on 127.0.0.1:7000" in result.stderr
    else:
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert "no-such-service-binary service started but nothing answers" in result.stderr


# ---------------------------------------------------------------------------------------------
# The generated configuration, run by nginx in front of stand-in replicas.


@dataclass
class StandIn:
    """A tiny HTTP server that answers every request with its own name and remembers the
    requests it got (method, path, X-Cobranza-Route)."""

    name: str
    port: int
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                stand_in.seen.append((self.command, self.path, self.headers.get(ROUTE)))
                body = stand_in.name.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@dataclass
class Front:
    public: str
    private: str
    replicas: list[StandIn]
    gateway: StandIn


def _nginx_config(replicas: int, env: dict[str, str]) -> str:
    result = _run([str(SCRIPTS / "cluster.sh"), "--nginx-config", str(replicas)], env)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def front(nginx: str, tmp_path: Path) -> Iterator[Front]:
    base = free_port_run(3)
    public, private, gateway_port = free_port(), free_port(), free_port()
    env = {
        "PUBLIC_PORT": str(public),
        "INTERNAL_PORT": str(private),
        "GATEWAY_PORT": str(gateway_port),
        "REPLICA_PORT_BASE": str(base),
        "CLUSTER_RUN_DIR": str(tmp_path),
    }
    (tmp_path / "nginx").mkdir()
    config = tmp_path / "nginx" / "nginx.conf"
    config.write_text(_nginx_config(3, env))
    replicas = [StandIn(f"rasa-{i}", base + i) for i in range(3)]
    gateway = StandIn("gateway", gateway_port)
    for stand_in in [*replicas, gateway]:
        stand_in.start()
    process = subprocess.Popen(
        [
            nginx,
            "-p",
            str(tmp_path / "nginx"),
            "-c",
            str(config),
            "-e",
            str(tmp_path / "e.log"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while not (port_open(public) and port_open(private)):
            assert process.poll() is None, (tmp_path / "nginx.log").read_text()
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.1)
        yield Front(
            public=f"http://127.0.0.1:{public}",
            private=f"http://127.0.0.1:{private}",
            replicas=replicas,
            gateway=gateway,
        )
    finally:
        process.terminate()
        process.wait(timeout=20)
        for stand_in in [*replicas, gateway]:
            stand_in.stop()


def _forward(front: Front, key: str | None, body: bytes = b"{}") -> requests.Response:
    headers = {"Content-Type": "application/json"} | ({ROUTE: key} if key is not None else {})
    return requests.post(front.private + WEBHOOK, data=body, headers=headers, timeout=10)


@pytest.mark.parametrize("replicas", [1, 2, 5])
def test_the_generated_configuration_passes_nginx_t(
    nginx: str, tmp_path: Path, replicas: int
) -> None:
    (tmp_path / "nginx").mkdir()
    config = tmp_path / "nginx" / "nginx.conf"
    config.write_text(_nginx_config(replicas, {"CLUSTER_RUN_DIR": str(tmp_path)}))
    assert config.read_text().count("max_fails=1 fail_timeout=10s") == 3 * replicas
    result = _run([nginx, "-t", "-p", str(tmp_path / "nginx"), "-c", str(config)])
    assert result.returncode == 0, result.stderr
    assert "127.0.0.1:" in config.read_text() and "0.0.0.0" not in config.read_text()


def test_the_private_server_refuses_a_forward_without_the_senders_key(front: Front) -> None:
    for key in (None, ""):
        assert _forward(front, key).status_code == 400
    # A GET on the webhook is Meta's handshake: the gateway's, never the private server's.
    get = requests.get(front.private + WEBHOOK, headers={ROUTE: "k"}, timeout=10)
    assert get.status_code == 403
    assert all(not stand_in.seen for stand_in in front.replicas)


def test_one_key_reaches_one_replica_and_keys_spread_over_all(front: Front) -> None:
    chosen = {}
    for n in range(60):
        key = f"{n:064x}"
        answers = {_forward(front, key).text for _ in range(3)}
        assert len(answers) == 1, f"key {n} reached {answers}"
        chosen[key] = answers.pop()
    assert set(chosen.values()) == {"rasa-0", "rasa-1", "rasa-2"}
    # Each replica got its keys' requests, with the key passed on.
    for stand_in in front.replicas:
        keys = {route for _, _, route in stand_in.seen}
        assert keys == {key for key, name in chosen.items() if name == stand_in.name}


def test_a_replica_that_is_down_moves_only_its_own_keys(front: Front) -> None:
    keys = [f"{n:064x}" for n in range(60)]
    before = {key: _forward(front, key).text for key in keys}
    front.replicas[0].stop()
    after = {key: _forward(front, key) for key in keys}
    assert all(response.status_code == 200 for response in after.values())
    moved = {key for key in keys if after[key].text != before[key]}
    assert moved == {key for key in keys if before[key] == "rasa-0"}
    assert moved, "rasa-0 had keys to move"


def test_the_public_server_sends_the_webhook_to_the_gateway_only(front: Front) -> None:
    posted = requests.post(
        front.public + WEBHOOK, data=b"{}", headers={ROUTE: "forged"}, timeout=10
    )
    assert posted.text == "gateway"
    assert front.gateway.seen == [("POST", WEBHOOK, None)], "a client's key is dropped"
    chat = requests.get(front.public + "/webchat/", headers={ROUTE: "forged"}, timeout=10)
    assert chat.text.startswith("rasa-")
    assert [route for stand_in in front.replicas for _, _, route in stand_in.seen] == [None]
    for path in ("/", "/conversations/x/tracker", "/webhooks/rest/webhook", "/model/parse"):
        assert requests.get(front.public + path, timeout=10).status_code == 404


def test_the_console_calls_of_one_conversation_reach_one_replica(front: Front) -> None:
    for conversation in ("a1", "b2", "c3", "d4"):
        path = f"/conversations/{conversation}/tracker"
        answers = {requests.get(front.private + path, timeout=10).text for _ in range(3)}
        assert len(answers) == 1


# ---------------------------------------------------------------------------------------------
# What the script checks before starting anything.


def _cluster(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _run([str(SCRIPTS / "cluster.sh"), *args], env)


@pytest.mark.parametrize("replicas", ["0", "x", "100", "-1"])
def test_a_bad_number_of_replicas_is_refused(replicas: str) -> None:
    result = _cluster([replicas], {})
    assert result.returncode == 2
    assert "replicas must be 1 to 99" in result.stderr


def test_without_the_whatsapp_settings_nothing_starts(tmp_path: Path) -> None:
    env = {
        name: "" for name in ("WHATSAPP_VERIFY_TOKEN", "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_API_URL")
    }
    env |= {
        "WHATSAPP_APP_SECRET": "s",
        "WHATSAPP_PHONE_NUMBER_ID": "1",
        "CLUSTER_RUN_DIR": str(tmp_path),
        "RASA_MODEL": str(PROJECT_ROOT / "README.md"),  # any file: the model is not loaded
    }
    result = _cluster(["2"], env)
    assert result.returncode == 1
    assert "WHATSAPP_VERIFY_TOKEN WHATSAPP_ACCESS_TOKEN WHATSAPP_API_URL" in result.stderr, (
        result.stderr
    )
    assert not list(tmp_path.glob("*.pid"))
