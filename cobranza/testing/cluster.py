"""Start the cluster (scripts/cluster.sh: N Rasa replicas, the gateway, nginx, the console, the
outreach worker and the events consumer) on free loopback ports, for end-to-end tests and
benchmarks, and stop it with nothing left running. Development tooling: nothing in the assistant
imports it. docs/deployment.md ("One machine, without containers") describes the topology."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from cobranza.config import PROJECT_ROOT
from cobranza.testing.servers import ServersFailed, free_port, port_open, wait_ready

SCRIPT = PROJECT_ROOT / "scripts" / "cluster.sh"
STOP_TIMEOUT = 60  # scripts/cluster.sh gives its processes 30 s before SIGKILL


class ClusterFailed(ServersFailed):
    """The cluster did not come up, or a replica did not come back; the message holds the end
    of the logs that say why."""


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_run(count: int, attempts: int = 50) -> int:
    """The first of ``count`` consecutive free loopback ports (REPLICA_PORT_BASE + i)."""
    for _ in range(attempts):
        base = free_port()
        if base + count <= 65535 and all(_bindable(base + i) for i in range(1, count)):
            return base
    raise ClusterFailed(f"no {count} consecutive free ports found")


@dataclass
class Cluster:
    process: subprocess.Popen[bytes]
    run_dir: Path
    replicas: int
    public_port: int
    internal_port: int
    gateway_port: int
    console_port: int
    replica_port_base: int
    actions_port_base: int
    output: Path

    @property
    def webhook_url(self) -> str:
        """WhatsApp's webhook on nginx's public server (to the gateway)."""
        return f"http://127.0.0.1:{self.public_port}/webhooks/whatsapp/webhook"

    @property
    def internal_url(self) -> str:
        return f"http://127.0.0.1:{self.internal_port}"

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    def replica_port(self, index: int) -> int:
        return self.replica_port_base + index

    def replica_pid(self, index: int) -> int:
        """The pid of replica ``index``'s Rasa process, as its pid file says now."""
        return int((self.run_dir / f"rasa-{index}.pid").read_text().strip())

    def kill_replica(self, index: int) -> int:
        """SIGKILL to replica ``index``'s Rasa (a crash); its pid. The script starts it again."""
        pid = self.replica_pid(index)
        os.kill(pid, signal.SIGKILL)
        return pid

    def replica_ready(self, index: int) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.replica_port(index)}/", timeout=2).ok
        except requests.RequestException:
            return False

    def wait_replica_ready(self, index: int, timeout: float) -> None:
        """Until replica ``index``'s Rasa answers ``GET /`` (its model loaded)."""
        wait_ready(
            self.process, lambda: self.replica_ready(index), timeout, "cluster.sh", self.tail
        )

    def logs(self) -> list[Path]:
        """Every process's log (and the script's own output), for a failure report."""
        return [self.output, *sorted(self.run_dir.glob("*.log"))]

    def tail(self, characters: int = 1500) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-characters:]}"
            for path in self.logs()
            if path.is_file()
        )

    def _ready(self) -> bool:
        urls = [f"http://127.0.0.1:{self.replica_port(i)}/" for i in range(self.replicas)]
        urls += [
            f"http://127.0.0.1:{self.actions_port_base + i}/health" for i in range(self.replicas)
        ]
        urls.append(f"{self.internal_url}/healthz")
        urls.append(f"http://127.0.0.1:{self.gateway_port}/health")
        try:
            if not all(requests.get(url, timeout=2).ok for url in urls):
                return False
            console = requests.get(f"{self.console_url}/api/me", timeout=2)
        except requests.RequestException:
            return False
        return console.status_code == 401 and port_open(self.public_port)

    def stop(self) -> int:
        """SIGTERM to the script (as ``kill`` would), then to its whole process group; SIGKILL
        to the group if anything is still there after the script's own grace period."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.process.wait(timeout=30)


def _ports(replicas: int) -> dict[str, int]:
    """Free ports for every server, no two the same (a port the OS hands out twice is drawn
    again)."""
    for _ in range(20):
        ports = {
            "PUBLIC_PORT": free_port(),
            "GATEWAY_PORT": free_port(),
            "INTERNAL_PORT": free_port(),
            "CONSOLE_PORT": free_port(),
            "REPLICA_PORT_BASE": free_port_run(replicas),
            "ACTIONS_PORT_BASE": free_port_run(replicas),
        }
        taken = [port for name, port in ports.items() if not name.endswith("_BASE")]
        for name in ("REPLICA_PORT_BASE", "ACTIONS_PORT_BASE"):
            taken += range(ports[name], ports[name] + replicas)
        if len(set(taken)) == len(taken):
            return ports
    raise ClusterFailed("could not draw distinct free ports")


@contextmanager
def running_cluster(
    database_url: str,
    replicas: int,
    *,
    env: dict[str, str],
    run_dir: Path,
    ready_timeout: float = 420,
) -> Iterator[Cluster]:
    """scripts/cluster.sh with ``replicas`` replicas over ``database_url`` (PostgreSQL: it is
    migrated, not seeded), every port free and on 127.0.0.1, logs and pid files in ``run_dir``;
    ready once every server answers. ``env`` adds to the environment: the WHATSAPP_* settings
    (required), and for instance ``OUTREACH_WORKER=off``. Stopped on exit, nothing left
    running."""
    run_dir.mkdir(parents=True, exist_ok=True)
    ports = _ports(replicas)
    environment = {
        **os.environ,
        **{name: str(port) for name, port in ports.items()},
        **env,
        "DATABASE_URL": database_url,
        "CLUSTER_RUN_DIR": str(run_dir),
    }
    output = run_dir / "cluster.out"
    with output.open("ab") as out:
        process = subprocess.Popen(  # noqa: S603 - our own script, no user input
            [str(SCRIPT), str(replicas)],
            cwd=PROJECT_ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    cluster = Cluster(
        process=process,
        run_dir=run_dir,
        replicas=replicas,
        public_port=ports["PUBLIC_PORT"],
        internal_port=ports["INTERNAL_PORT"],
        gateway_port=ports["GATEWAY_PORT"],
        console_port=ports["CONSOLE_PORT"],
        replica_port_base=ports["REPLICA_PORT_BASE"],
        actions_port_base=ports["ACTIONS_PORT_BASE"],
        output=output,
    )
    try:
        wait_ready(process, cluster._ready, ready_timeout, "cluster.sh", cluster.tail)
        yield cluster
    finally:
        cluster.stop()
