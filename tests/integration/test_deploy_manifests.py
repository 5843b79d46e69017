"""The deployment files (Dockerfile, deploy/): checked offline, since no container engine runs
here (docs/deployment.md says so).

deploy/compose.yml is validated against the Compose Specification's schema and every Kubernetes
document under deploy/k8s/ against its kind's schema for Kubernetes 1.32 (deploy/schemas/, with
their sources in its README). Then our own checks, each a function that returns the problems it
finds, so that ``test_each_check_fails_on_a_broken_copy`` can show every one of them failing on
a mutated copy of the real files:

* every variable a process of ours is given is one it reads: cobranza/config.py (collected from
  its source), the ``${VAR}`` of the endpoints and credentials files for Rasa, a Sanic setting;
  and every ``${VAR}`` those files need is given;
* every command runs something that exists: ``python -m`` modules, ``cobranza`` sub-commands,
  Rasa's files (present in the image: not excluded by .dockerignore), scripts;
* ports agree between what a process listens on, its container ports and probes, the Services,
  nginx's upstreams and listens, and the URLs one process uses to reach another;
* no secret is written anywhere: secrets come from files (Compose) or Secrets (Kubernetes), and
  the Secret templates hold no value; each token reaches only the processes scripts/run.sh gives
  it to;
* nginx's upstream groups list exactly the Rasa replicas, in the same order;
* images are pinned by a version tag; the outreach workers together stay within 80 messages/s;
  only nginx is reachable from outside; the Kubernetes copies of nginx's files are verbatim.

Branches built in parallel with this one (``PENDING``) provide some modules, settings and files;
until a branch has landed, what it will provide may be missing here, and once it has, the checks
hold it to the same rules as everything else. The names listed are what the manifests expect: a
branch that lands with other names makes check_settings or check_commands name each difference.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import fnmatch
import functools
import importlib.util
import io
import json
import os
import re
import shlex
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from cobranza.config import (
    MAX_MESSAGES_PER_SECOND,
    PROJECT_ROOT,
    TOKEN_PATTERN,
    ConsoleSettings,
    GatewaySettings,
    Settings,
)

ROOT = PROJECT_ROOT
DEPLOY = ROOT / "deploy"
SCHEMAS = DEPLOY / "schemas"
K8S_VERSION = "v1.32.2"
K8S_SCHEMAS = SCHEMAS / f"kubernetes-{K8S_VERSION}"
K8S_NAMESPACE = "cobranza"
IMAGE_REPOSITORY = "cobranza"


@dataclass(frozen=True)
class Pending:
    """What a branch built alongside this one adds: allowed to be missing until the branch has
    landed (its module ``marker`` exists, cobranza/config.py reads its ``marker_setting``, or
    its ``marker_file`` exists), checked like everything else afterwards."""

    marker: str = ""
    marker_setting: str = ""
    marker_file: str = ""
    modules: frozenset[str] = frozenset()
    settings: frozenset[str] = frozenset()
    files: frozenset[str] = frozenset()

    def landed(self) -> bool:
        if self.marker_file:
            return (ROOT / self.marker_file).is_file()
        if self.marker_setting:
            return self.marker_setting in config_settings()
        return _module_exists(self.marker)


PENDING = {
    # The WhatsApp gateway (its settings in cobranza/config.py).
    "gateway": Pending(
        marker="cobranza.channels.whatsapp.gateway",
        modules=frozenset({"cobranza.channels.whatsapp.gateway"}),
        settings=frozenset(
            {"GATEWAY_HOST", "GATEWAY_PORT", "GATEWAY_UPSTREAM_URL", "GATEWAY_REDIS_URL"}
        ),
    ),
    # endpoints.cluster.yml: Rasa's Redis lock store and RabbitMQ broker, whose ${VAR} the
    # replicas are given.
    "cluster": Pending(
        marker_file="endpoints.cluster.yml",
        settings=frozenset(
            {
                "REDIS_HOST",
                "REDIS_PORT",
                "LOCK_KEY_PREFIX",
                "RABBITMQ_HOST",
                "RABBITMQ_PORT",
                "RABBITMQ_USERNAME",
                "RABBITMQ_PASSWORD",
                "RASA_EVENTS_EXCHANGE",
                "RASA_EVENTS_QUEUE",
            }
        ),
        files=frozenset({"endpoints.cluster.yml"}),
    ),
    # The per-sender lease: COBRANZA_REPLICA names the replica that holds it.
    "lease": Pending(marker_setting="COBRANZA_REPLICA", settings=frozenset({"COBRANZA_REPLICA"})),
    # The events consumer: RabbitMQ's queue into the analytics table.
    "events": Pending(
        marker="cobranza.events",
        modules=frozenset({"cobranza.events"}),
        settings=frozenset(
            {
                "RABBITMQ_HOST",
                "RABBITMQ_PORT",
                "RABBITMQ_USERNAME",
                "RABBITMQ_PASSWORD",
                "RASA_EVENTS_QUEUE",
            }
        ),
    ),
}
# The header the gateway names a sender's key in (cobranza/channels/whatsapp/gateway.py's
# ROUTE_HEADER once it has landed) and nginx hashes on.
PENDING_ROUTE_HEADER = "X-Cobranza-Route"

# The process a command starts, by its module (``python -m …``).
ROLES = {
    "cobranza.action_server": "actions",
    "cobranza.console": "console",
    "cobranza.channels.whatsapp.gateway": "gateway",
    "cobranza.outreach": "outreach",
    "cobranza.events": "events",
}
# Where a role listens: the variable that says so, and its default (None: no default known).
LISTEN_PORT_SETTING: dict[str, tuple[str, int | None]] = {
    "actions": ("ACTIONS_PORT", Settings.actions_port),
    "console": ("CONSOLE_PORT", ConsoleSettings.port),
    "gateway": ("GATEWAY_PORT", GatewaySettings.port),
}
# Each token reaches only the processes scripts/run.sh gives it to (docs/security.md).
SECRET_SCOPE = {
    "RASA_API_TOKEN": {"rasa", "console"},
    "ACTION_SERVER_TOKEN": {"rasa", "actions"},
    "WEBCHAT_SESSION_SECRET": {"rasa"},
    "WHATSAPP_ACCESS_TOKEN": {"rasa", "outreach"},
    "PAYMENTS_API_TOKEN": {"console"},
}
SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|_KEY$|^DATABASE_URL$|REDIS_URL$|_DSN$")
# Variables Rasa itself reads from the environment (each checked against Rasa's source).
RASA_SETTINGS = frozenset({"TICKET_LOCK_LIFETIME"})
# Sanic's body bounds: deploy/entrypoint.sh derives them from RASA_MAX_REQUEST_BYTES.
ENTRYPOINT_OWNED = {"SANIC_REQUEST_MAX_SIZE", "SANIC_WEBSOCKET_MAX_SIZE"}
SECRET_LOOKING = [
    (re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]+@"), "a URL with a password"),
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"(?<![A-Za-z0-9])[A-Fa-f0-9]{32,}(?![A-Za-z0-9])"), "a long hexadecimal string"),
    (re.compile(r"(?<![A-Za-z0-9/._-])[A-Za-z0-9+/_-]{40,}={0,2}(?![A-Za-z0-9])"), "a long token"),
]
VERSION_TAG = re.compile(r"^v?\d+\.\d+(\.\d+)?([.-][A-Za-z0-9.-]+)?$")
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _module_file(name: str) -> Path | None:
    """Where ``python -m name`` finds its code in this repository (a module, or a package's
    ``__main__``), found on disk: importing a package of ours would load Rasa first."""
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__main__.py"):
        if candidate.is_file():
            return candidate
    return None


def _module_exists(name: str) -> bool:
    """A module of ours (on disk) or an installed one."""
    if name.split(".")[0] in {"cobranza", "actions"}:
        return (
            _module_file(name) is not None
            or (ROOT.joinpath(*name.split(".")) / "__init__.py").is_file()
        )
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _pending_unlanded() -> list[Pending]:
    return [pending for pending in PENDING.values() if not pending.landed()]


# ---------------------------------------------------------------------------------------------
# The files, loaded once; a check reads a Manifests and returns the problems it finds.


@dataclass
class Manifests:
    compose: dict[str, Any]
    k8s: list[tuple[str, dict[str, Any]]]
    nginx_conf: str
    upstreams: dict[str, str]
    dockerfile: str
    dockerignore: list[str]


def load_manifests() -> Manifests:
    k8s = [
        (path.name, document)
        for path in sorted((DEPLOY / "k8s").glob("*.yaml"))
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8"))
        if document is not None
    ]
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return Manifests(
        compose=yaml.safe_load((DEPLOY / "compose.yml").read_text(encoding="utf-8")),
        k8s=k8s,
        nginx_conf=(DEPLOY / "nginx" / "nginx.conf").read_text(encoding="utf-8"),
        upstreams={
            "compose": (DEPLOY / "nginx" / "upstreams.compose.conf").read_text(encoding="utf-8"),
            "k8s": (DEPLOY / "nginx" / "upstreams.k8s.conf").read_text(encoding="utf-8"),
        },
        dockerfile=(ROOT / "Dockerfile").read_text(encoding="utf-8"),
        dockerignore=ignore,
    )


@dataclass(frozen=True)
class Secret:
    """A variable whose value comes from a secret: a file under /run/secrets (Compose) or a
    Secret's key (Kubernetes)."""

    source: str


@dataclass(frozen=True)
class FromField:
    """A variable the kubelet fills from the pod (``fieldRef``)."""

    path: str


EnvValue = str | Secret | FromField


@dataclass
class Workload:
    """One container that runs our image."""

    where: str
    platform: str  # "compose" or "k8s"
    argv: list[str]
    env: dict[str, EnvValue]
    replicas: int
    group: str  # the network identity: the Compose service whose network it uses, or the pod
    container_ports: dict[str, int] = field(default_factory=dict)  # k8s: name -> port
    probes: list[tuple[str, Any]] = field(default_factory=list)  # ("http", port) / ("exec", argv)
    literal_secrets: list[str] = field(default_factory=list)
    reference_problems: list[str] = field(default_factory=list)  # a ConfigMap or key missing
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def role(self) -> str:
        if self.argv[:2] == ["rasa", "run"]:
            return "rasa"
        if self.argv[:2] == ["python", "-m"] and len(self.argv) > 2:
            return ROLES.get(self.argv[2], "unknown")
        if self.argv[:3] == ["cobranza", "db", "upgrade"]:
            return "migrate"
        return "unknown"

    def listen_port(self) -> int | None:
        """The port the process listens on, from its arguments or settings."""
        if self.role == "rasa":
            option = _option(self.argv, "--port")
            return int(option) if option and option.isdigit() else 5005
        if self.role not in LISTEN_PORT_SETTING:
            return None
        name, default = LISTEN_PORT_SETTING[self.role]
        value = self.env.get(name)
        if isinstance(value, str) and value.isdigit():
            return int(value)
        return default


def _option(argv: list[str], name: str) -> str | None:
    for index, word in enumerate(argv):
        if word == name and index + 1 < len(argv):
            return argv[index + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def _is_ours(image: str) -> bool:
    return image.split(":", 1)[0].rsplit("/", 1)[-1] == IMAGE_REPOSITORY


def _compose_environment(service: dict[str, Any]) -> dict[str, str]:
    raw = service.get("environment") or {}
    if isinstance(raw, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in raw)
        return {name: value for name, value in pairs}
    return {str(name): "" if value is None else str(value) for name, value in raw.items()}


def _compose_secret_targets(service: dict[str, Any]) -> set[str]:
    targets = set()
    for entry in service.get("secrets") or []:
        if isinstance(entry, str):
            targets.add(f"/run/secrets/{entry}")
        else:
            target = entry.get("target") or entry["source"]
            targets.add(target if target.startswith("/") else f"/run/secrets/{target}")
    return targets


def compose_workloads(m: Manifests) -> list[Workload]:
    workloads = []
    for name, service in (m.compose.get("services") or {}).items():
        if not _is_ours(str(service.get("image", ""))):
            continue
        command = service.get("command") or []
        argv = shlex.split(command) if isinstance(command, str) else [str(w) for w in command]
        env: dict[str, EnvValue] = {}
        literal = []
        mounted = _compose_secret_targets(service)
        for variable, value in _compose_environment(service).items():
            if variable.endswith("_FILE"):
                env[variable[: -len("_FILE")]] = Secret(value)
                if value not in mounted:
                    literal.append(f"{variable}={value} is not a secret this service mounts")
            else:
                env[variable] = value
        network = str(service.get("network_mode", ""))
        group = network.split(":", 1)[1] if network.startswith("service:") else name
        probes: list[tuple[str, Any]] = []
        test = (service.get("healthcheck") or {}).get("test")
        if isinstance(test, list) and test and test[0] == "CMD":
            probes.append(("exec", [str(w) for w in test[1:]]))
        workloads.append(
            Workload(
                where=f"compose:{name}",
                platform="compose",
                argv=argv,
                env=env,
                replicas=int((service.get("deploy") or {}).get("replicas", 1)),
                group=group,
                probes=probes,
                literal_secrets=literal,
                raw=service,
            )
        )
    return workloads


def _pod_spec(document: dict[str, Any]) -> dict[str, Any] | None:
    if document.get("kind") in {"Deployment", "StatefulSet", "Job"}:
        spec: dict[str, Any] = document["spec"]["template"]["spec"]
        return spec
    return None


def _config_maps(m: Manifests) -> dict[str, dict[str, str]]:
    return {
        doc["metadata"]["name"]: {str(k): str(v) for k, v in (doc.get("data") or {}).items()}
        for _, doc in m.k8s
        if doc.get("kind") == "ConfigMap"
    }


def _probe(spec: dict[str, Any] | None) -> tuple[str, Any] | None:
    if not spec:
        return None
    if "httpGet" in spec:
        return ("http", spec["httpGet"]["port"])
    if "exec" in spec:
        return ("exec", [str(w) for w in spec["exec"]["command"]])
    return None


def k8s_workloads(m: Manifests) -> list[Workload]:
    config_maps = _config_maps(m)
    workloads = []
    for file, doc in m.k8s:
        pod = _pod_spec(doc)
        if pod is None:
            continue
        replicas = 1 if doc["kind"] == "Job" else int(doc["spec"].get("replicas", 1))
        for container in pod.get("containers", []):
            if not _is_ours(str(container.get("image", ""))):
                continue
            argv = [str(w) for w in container.get("args", [])]
            if "command" in container:
                argv = ["<command replaces the entrypoint>", *map(str, container["command"])]
            env: dict[str, EnvValue] = {}
            literal = []
            missing: list[str] = []
            for source in container.get("envFrom", []):
                name = source.get("configMapRef", {}).get("name")
                if name not in config_maps:
                    missing.append(f"envFrom names no ConfigMap of ours: {source}")
                env.update(config_maps.get(name, {}))
            for item in container.get("env", []):
                if "valueFrom" in item:
                    ref = item["valueFrom"]
                    if "secretKeyRef" in ref:
                        env[item["name"]] = Secret(
                            f"{ref['secretKeyRef']['name']}/{ref['secretKeyRef']['key']}"
                        )
                    elif "fieldRef" in ref:
                        env[item["name"]] = FromField(ref["fieldRef"]["fieldPath"])
                    elif "configMapKeyRef" in ref:
                        source = config_maps.get(ref["configMapKeyRef"]["name"], {})
                        key = ref["configMapKeyRef"]["key"]
                        if key not in source:
                            missing.append(f"{item['name']}: no key {key} in its ConfigMap")
                        env[item["name"]] = source.get(key, "")
                    else:
                        literal.append(f"{item['name']}: an unknown source {sorted(ref)}")
                else:
                    env[item["name"]] = str(item.get("value", ""))
            probes = [
                probe
                for probe in (
                    _probe(container.get(kind))
                    for kind in ("startupProbe", "readinessProbe", "livenessProbe")
                )
                if probe
            ]
            workloads.append(
                Workload(
                    where=f"k8s:{file}:{doc['kind']}/{doc['metadata']['name']}/{container['name']}",
                    platform="k8s",
                    argv=argv,
                    env=env,
                    replicas=replicas,
                    group=f"{doc['kind']}/{doc['metadata']['name']}",
                    container_ports={
                        str(p.get("name", p["containerPort"])): int(p["containerPort"])
                        for p in container.get("ports", [])
                    },
                    probes=probes,
                    literal_secrets=literal,
                    reference_problems=missing,
                    raw=container,
                )
            )
    return workloads


def all_workloads(m: Manifests) -> list[Workload]:
    return compose_workloads(m) + k8s_workloads(m)


# ---------------------------------------------------------------------------------------------
# What the code reads.


@functools.cache
def config_settings() -> frozenset[str]:
    """Every variable cobranza/config.py reads: string arguments of calls that take the
    environment (``env.get("X")``, ``_count(env, "X", …)``), module constants passed the same
    way, and the names in a ``REQUIRED`` tuple."""
    tree = ast.parse((ROOT / "cobranza" / "config.py").read_text(encoding="utf-8"))
    constants = {
        target.id: node.value.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }
    names: set[str] = set()

    def add(node: ast.AST) -> None:
        value = node.value if isinstance(node, ast.Constant) else None
        if isinstance(node, ast.Name):
            value = constants.get(node.id)
        if isinstance(value, str) and re.fullmatch(r"[A-Z][A-Z0-9_]+", value):
            names.add(value)

    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            takes_env = any(isinstance(a, ast.Name) and a.id == "env" for a in node.args) or (
                isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "env"
            )
            if takes_env:
                for argument in node.args:
                    add(argument)
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "REQUIRED" for t in node.targets
        ):
            for element in getattr(node.value, "elts", []):
                add(element)
    return frozenset(names)


def sanic_settings() -> set[str]:
    """Sanic reads SANIC_<KEY> into the app's config for each of its settings."""
    from sanic.config import DEFAULT_CONFIG

    return {f"SANIC_{key}" for key in DEFAULT_CONFIG if not key.startswith("_")}


def rasa_file_references(argv: list[str]) -> dict[str, set[str]]:
    """The ``${VAR}`` each of Rasa's files in the command substitutes, by file: in its values,
    where Rasa's loader substitutes them (a comment substitutes nothing)."""
    files = {}
    for option in ("--endpoints", "--credentials"):
        name = _option(argv, option)
        if name and (ROOT / name).is_file():
            content = yaml.safe_load((ROOT / name).read_text(encoding="utf-8")) or {}
            files[name] = {
                variable
                for _, text in _strings(content)
                for variable in ENV_REFERENCE.findall(text)
            }
    return files


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (its simple patterns)."""
    parts = path.split("/")
    for pattern in patterns:
        bare = pattern.lstrip("/").rstrip("/")
        if bare.startswith("**/"):
            if any(fnmatch.fnmatch(part, bare[3:]) for part in parts):
                return True
        elif any(fnmatch.fnmatch("/".join(parts[: i + 1]), bare) for i in range(len(parts))):
            return True
    return False


# ---------------------------------------------------------------------------------------------
# The checks.


def check_compose_schema(m: Manifests) -> list[str]:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"compose.yml {'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(m.compose)
    ]


def _k8s_schema_file(document: dict[str, Any]) -> Path:
    group, _, version = str(document.get("apiVersion", "")).rpartition("/")
    kind = str(document.get("kind", "")).lower()
    suffix = f"-{group.split('.')[0]}" if group else ""
    return K8S_SCHEMAS / f"{kind}{suffix}-{version}.json"


def check_k8s_schemas(m: Manifests) -> list[str]:
    problems = []
    for file, document in m.k8s:
        path = _k8s_schema_file(document)
        if not path.is_file():
            problems.append(f"{file}: no vendored schema for {document.get('kind')} ({path.name})")
            continue
        validator = jsonschema.Draft4Validator(json.loads(path.read_text(encoding="utf-8")))
        for error in validator.iter_errors(document):
            location = "/".join(map(str, error.absolute_path))
            problems.append(f"{file} {document.get('kind')} {location}: {error.message}")
        if document.get("kind") != "Namespace":
            namespace = document.get("metadata", {}).get("namespace")
            if namespace != K8S_NAMESPACE:
                problems.append(f"{file} {document.get('kind')}: namespace {namespace!r}")
    return problems


def check_settings(m: Manifests) -> list[str]:
    """Every variable a process of ours is given is one it reads; Rasa is given every ``${VAR}``
    its endpoints and credentials files substitute (else it refuses to start)."""
    known = config_settings() | sanic_settings()
    pending = set().union(*(p.settings for p in _pending_unlanded()))
    problems = []
    for w in all_workloads(m):
        problems += [f"{w.where}: {problem}" for problem in w.reference_problems]
        allowed = known | pending
        if w.role == "rasa":
            allowed |= RASA_SETTINGS
            for file, needed in rasa_file_references(w.argv).items():
                allowed |= needed
                problems += [f"{w.where}: {file} needs {n}, not set" for n in needed - set(w.env)]
        for name in sorted(w.env):
            if name in ENTRYPOINT_OWNED:
                problems.append(f"{w.where}: {name} comes from RASA_MAX_REQUEST_BYTES")
            elif name not in allowed:
                problems.append(f"{w.where}: {name} is read by nothing (cobranza/config.py)")
    return problems


def _command_problems(where: str, argv: list[str], ignore: list[str]) -> list[str]:
    pending_modules = set().union(*(p.modules for p in _pending_unlanded()))
    pending_files = set().union(*(p.files for p in _pending_unlanded()))
    if argv[:2] == ["python", "-m"] and len(argv) > 2:
        module = argv[2]
        if module in pending_modules:
            return []
        path = _module_file(module)
        if path is None:
            return [f"{where}: no module {module} (or {module}.__main__)"]
        if _ignored(str(path.relative_to(ROOT)), ignore):
            return [f"{where}: {module} is not in the image"]
        return []
    if argv[:1] == ["python"] and len(argv) > 1 and argv[1].endswith(".py"):
        script = argv[1]
        if not (ROOT / script).is_file() or _ignored(script, ignore):
            return [f"{where}: {script} is not in the image"]
        return []
    if argv[:2] == ["rasa", "run"]:
        problems = []
        for option in ("--endpoints", "--credentials"):
            name = _option(argv, option)
            if name is None:
                problems.append(f"{where}: rasa run without {option}")
            elif name in pending_files:
                continue
            elif not (ROOT / name).is_file() or _ignored(name, ignore):
                problems.append(f"{where}: {name} is not in the image")
        if _option(argv, "--model") != "models/cobranza.tar.gz":
            problems.append(f"{where}: the image's model is models/cobranza.tar.gz")
        if "--enable-api" in argv or any(a.startswith("--auth-token") for a in argv):
            problems.append(f"{where}: the entrypoint enables the API with RASA_API_TOKEN")
        return problems
    if argv[:1] == ["cobranza"]:
        from cobranza.cli.parser import build_parser

        try:
            with (
                contextlib.redirect_stderr(io.StringIO()),
                contextlib.redirect_stdout(io.StringIO()),
            ):
                build_parser().parse_args(argv[1:])
        except SystemExit as exit_:
            if exit_.code not in (0, None):
                return [f"{where}: `{' '.join(argv)}` is not a cobranza command"]
        return []
    return [f"{where}: unknown command {argv!r}"]


def check_commands(m: Manifests) -> list[str]:
    problems = []
    for w in all_workloads(m):
        problems += _command_problems(w.where, w.argv, m.dockerignore)
        problems += [
            problem
            for kind, probe in w.probes
            if kind == "exec"
            for problem in _command_problems(f"{w.where} (probe)", probe, m.dockerignore)
        ]
    if w_unknown := [w.where for w in all_workloads(m) if w.role == "unknown"]:
        problems.append(f"no known process: {w_unknown}")
    return problems


def nginx_listens(conf: str) -> set[int]:
    return {int(port) for port in re.findall(r"^\s*listen\s+(\d+)", conf, re.M)}


def nginx_upstreams(conf: str) -> dict[str, list[tuple[str, int]]]:
    groups = {}
    for name, body in re.findall(r"upstream\s+(\w+)\s*\{(.*?)\}", conf, re.S):
        groups[name] = [
            (host, int(port))
            for host, port in re.findall(r"^\s*server\s+([\w.-]+):(\d+)", body, re.M)
        ]
    return groups


def nginx_targets(conf: str) -> set[str]:
    """The upstream groups nginx.conf sends to: proxy_pass names and the values of the map
    that picks one."""
    targets = set(re.findall(r"proxy_pass\s+http://(\w+)\s*;", conf))
    for body in re.findall(r"map\s+\$\w+\s+\$rasa_api_upstream\s*\{(.*?)\}", conf, re.S):
        targets |= set(re.findall(r"^\s*\S+\s+(\w+)\s*;", body, re.M))
    return targets


def _probe_url_port(argv: list[str]) -> int | None:
    urls = [w for w in argv if w.startswith("http://")]
    return urlsplit(urls[0]).port if urls else None


def _compose_problems_ports(m: Manifests) -> list[str]:
    services = m.compose.get("services") or {}
    workloads = compose_workloads(m)
    listening: dict[str, set[int]] = {}
    for w in workloads:
        if (port := w.listen_port()) is not None:
            listening.setdefault(w.group, set()).add(port)
    nginx_services = [
        n for n, s in services.items() if str(s.get("image", "")).startswith("nginx:")
    ]
    for name in nginx_services:
        listening.setdefault(name, set()).update(nginx_listens(m.nginx_conf))
    problems = []

    def reach(where: str, host: str, port: int | None) -> None:
        if host not in services:
            problems.append(f"{where}: no service {host}")
        elif port not in listening.get(host, set()):
            problems.append(f"{where}: nothing in {host} listens on {port}")

    for w in workloads:
        for _, probe in (p for p in w.probes if p[0] == "exec"):
            port = _probe_url_port(probe)
            if port is not None and port not in listening.get(w.group, set()):
                problems.append(f"{w.where}: its health check asks port {port}")
        for name, value in w.env.items():
            if isinstance(value, str) and value.startswith("http://"):
                url = urlsplit(value)
                reach(f"{w.where} {name}", url.hostname or "", url.port or 80)
    for group, servers in nginx_upstreams(m.upstreams["compose"]).items():
        for host, port in servers:
            reach(f"upstreams.compose.conf {group}", host, port)
    for name, service in services.items():
        for entry in service.get("ports") or []:
            container = (
                int(str(entry).rsplit(":", 1)[-1])
                if not isinstance(entry, dict)
                else int(entry["target"])
            )
            if container not in listening.get(name, set()):
                problems.append(f"compose:{name} publishes {container}, where nothing listens")
    return problems


def _k8s_problems_ports(m: Manifests) -> list[str]:
    workloads = k8s_workloads(m)
    problems = []
    pods: dict[str, dict[str, Any]] = {}  # group -> labels, ports, the document
    for _file, doc in m.k8s:
        if _pod_spec(doc) is not None:
            pods[f"{doc['kind']}/{doc['metadata']['name']}"] = {
                "labels": doc["spec"]["template"]["metadata"].get("labels", {}),
                "ports": {},
                "doc": doc,
            }
            for container in doc["spec"]["template"]["spec"]["containers"]:
                for p in container.get("ports", []):
                    pods[f"{doc['kind']}/{doc['metadata']['name']}"]["ports"][
                        str(p.get("name", p["containerPort"]))
                    ] = int(p["containerPort"])
    for w in workloads:
        port = w.listen_port()
        if port is not None and w.container_ports and port not in w.container_ports.values():
            problems.append(f"{w.where}: listens on {port}, declares {w.container_ports}")
        for kind, probe in w.probes:
            if kind == "http":
                ports = pods[w.group]["ports"]
                if str(probe) not in ports and probe not in ports.values():
                    problems.append(f"{w.where}: probe on port {probe}, not a container port")
            elif (p := _probe_url_port(probe)) is not None:
                listening = {x.listen_port() for x in workloads if x.group == w.group}
                if p not in listening:
                    problems.append(f"{w.where}: its exec probe asks port {p}")
    services: dict[str, dict[str, Any]] = {}
    for file, doc in m.k8s:
        if doc.get("kind") != "Service":
            continue
        name = doc["metadata"]["name"]
        services[name] = doc
        selector = doc["spec"].get("selector", {})
        selected = [
            g for g, pod in pods.items() if selector and selector.items() <= pod["labels"].items()
        ]
        if not selected:
            problems.append(f"{file} Service/{name}: selects no pods")
        for port in doc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            for g in selected:
                ports = pods[g]["ports"]
                if str(target) not in ports and target not in ports.values():
                    problems.append(f"{file} Service/{name}: targetPort {target} not in {g}")
    nginx_pods = [
        g
        for g, pod in pods.items()
        if any(
            "nginx" in str(c.get("image", ""))
            for c in pod["doc"]["spec"]["template"]["spec"]["containers"]
        )
    ]
    nginx_ports = set(nginx_listens(m.nginx_conf))
    for g in nginx_pods:
        for name, port in pods[g]["ports"].items():
            if port not in nginx_ports:
                problems.append(
                    f"{g}: container port {name}={port}, nginx.conf listens on {nginx_ports}"
                )

    def reach(where: str, host: str, port: int) -> None:
        labels = host.split(".")
        suffix = f"{K8S_NAMESPACE}.svc.cluster.local".split(".")
        if labels[-len(suffix) :] == suffix:
            labels = labels[: -len(suffix)]
        elif len(labels) > 2:
            problems.append(f"{where}: {host} is not in namespace {K8S_NAMESPACE}")
            return
        if len(labels) == 1:
            service = services.get(labels[0])
            if service is None:
                problems.append(f"{where}: no Service {labels[0]}")
            elif port not in [p["port"] for p in service["spec"]["ports"]]:
                problems.append(f"{where}: Service {labels[0]} has no port {port}")
            return
        pod, service_name = labels[0], labels[1]
        service = services.get(service_name)
        sets = [
            doc
            for _, doc in m.k8s
            if doc.get("kind") == "StatefulSet" and doc["spec"].get("serviceName") == service_name
        ]
        if service is None or service["spec"].get("clusterIP") != "None" or not sets:
            problems.append(f"{where}: {service_name} is not a StatefulSet's headless Service")
            return
        statefulset = sets[0]
        name, _, ordinal = pod.rpartition("-")
        replicas = int(statefulset["spec"].get("replicas", 1))
        if (
            name != statefulset["metadata"]["name"]
            or not ordinal.isdigit()
            or int(ordinal) >= replicas
        ):
            problems.append(
                f"{where}: {pod} is not a pod of StatefulSet/{statefulset['metadata']['name']}"
            )
        if port not in pods[f"StatefulSet/{statefulset['metadata']['name']}"]["ports"].values():
            problems.append(f"{where}: the pods of {service_name} do not listen on {port}")

    for w in workloads:
        for name, value in w.env.items():
            if isinstance(value, str) and value.startswith("http://"):
                url = urlsplit(value)
                reach(f"{w.where} {name}", url.hostname or "", url.port or 80)
    for group, servers in nginx_upstreams(m.upstreams["k8s"]).items():
        for host, port in servers:
            reach(f"upstreams.k8s.conf {group}", host, port)
    return problems


def check_ports(m: Manifests) -> list[str]:
    problems = _compose_problems_ports(m) + _k8s_problems_ports(m)
    for platform, upstreams in m.upstreams.items():
        defined = set(nginx_upstreams(upstreams))
        for target in sorted(nginx_targets(m.nginx_conf) - defined):
            problems.append(f"nginx.conf sends to {target}, not in upstreams.{platform}.conf")
    return problems


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}/{index}")
    elif isinstance(node, str):
        yield path, node


def check_secrets(m: Manifests) -> list[str]:
    """No secret value in any file; secrets reach processes as files or Secret references."""
    problems = []
    for w in all_workloads(m):
        problems += [f"{w.where}: {p}" for p in w.literal_secrets]
        for name, value in w.env.items():
            if SECRET_NAME.search(name) and not isinstance(value, Secret):
                problems.append(f"{w.where}: {name} is written here; it must come from a secret")
    texts: list[tuple[str, Any]] = [("compose.yml", m.compose)] + [
        (f"{file} {doc.get('kind')}", doc) for file, doc in m.k8s
    ]
    for file, doc in m.k8s:
        if doc.get("kind") == "Secret":
            if doc.get("data"):
                problems.append(f"{file} Secret: a template holds no data")
            filled = [k for k, v in (doc.get("stringData") or {}).items() if v not in ("", None)]
            if filled:
                problems.append(f"{file} Secret/{doc['metadata']['name']}: values for {filled}")
        if doc.get("kind") == "ConfigMap":
            problems += [
                f"{file} ConfigMap: {key} is a secret's name"
                for key in doc.get("data") or {}
                if SECRET_NAME.search(str(key))
            ]
    for where, node in texts:
        for path, text in _strings(node):
            for pattern, what in SECRET_LOOKING:
                if pattern.search(text):
                    problems.append(f"{where} {path}: {what}")
    for name in ("nginx.conf", *m.upstreams):
        text = m.nginx_conf if name == "nginx.conf" else m.upstreams[name]
        problems += [f"nginx {name}: {what}" for p, what in SECRET_LOOKING if p.search(text)]
    for line in m.dockerfile.splitlines():
        words = line.split()
        if words and words[0] in {"ENV", "ARG"} and SECRET_NAME.search(line.upper()):
            problems.append(f"Dockerfile bakes a secret: {line.strip()}")
    for w in all_workloads(m):
        for name, roles in SECRET_SCOPE.items():
            if name in w.env and w.role not in roles:
                problems.append(f"{w.where}: the {w.role} process must not hold {name}")
    return problems


def check_replicas(m: Manifests) -> list[str]:
    """nginx's three Rasa groups list exactly the replicas, in the same order; each replica has
    one Rasa and one action server; COBRANZA_REPLICA names each one once."""
    problems = []
    rasa_groups = ("rasa_by_sender", "rasa_webchat", "rasa_api")
    # Compose: a replica is a network identity holding a Rasa process.
    rasa = [w for w in compose_workloads(m) if w.role == "rasa"]
    names = [w.env.get("COBRANZA_REPLICA") for w in rasa]
    if len(set(map(str, names))) != len(names) or any(not isinstance(n, str) for n in names):
        problems.append(f"compose: COBRANZA_REPLICA must name each replica once: {names}")
    for w in rasa:
        if w.env.get("COBRANZA_REPLICA") != w.group:
            problems.append(f"{w.where}: COBRANZA_REPLICA is not its network identity {w.group}")
        roles = sorted(x.role for x in compose_workloads(m) if x.group == w.group)
        if roles != ["actions", "rasa"]:
            problems.append(f"compose:{w.group}: holds {roles}, not one Rasa and its action server")
    expected = sorted(w.group for w in rasa)
    upstreams = nginx_upstreams(m.upstreams["compose"])
    for group in rasa_groups:
        hosts = [host for host, _ in upstreams.get(group, [])]
        if hosts != expected:
            problems.append(f"upstreams.compose.conf {group}: {hosts}, replicas {expected}")
    # Kubernetes: the StatefulSet's pods, by ordinal.
    sets = [doc for _, doc in m.k8s if doc.get("kind") == "StatefulSet"]
    upstreams = nginx_upstreams(m.upstreams["k8s"])
    for statefulset in sets:
        name = statefulset["metadata"]["name"]
        service = statefulset["spec"]["serviceName"]
        replicas = int(statefulset["spec"].get("replicas", 1))
        pods = [f"{name}-{i}.{service}.{K8S_NAMESPACE}.svc.cluster.local" for i in range(replicas)]
        for group in rasa_groups:
            hosts = [host for host, _ in upstreams.get(group, [])]
            if hosts != pods:
                problems.append(f"upstreams.k8s.conf {group}: {hosts}, StatefulSet has {pods}")
        group_workloads = [w for w in k8s_workloads(m) if w.group == f"StatefulSet/{name}"]
        if sorted(w.role for w in group_workloads) != ["actions", "rasa"]:
            problems.append(f"StatefulSet/{name}: not one Rasa and its action server per pod")
        for w in group_workloads:
            if w.role == "rasa" and w.env.get("COBRANZA_REPLICA") != FromField("metadata.name"):
                problems.append(f"{w.where}: COBRANZA_REPLICA must be the pod's name")
        budgets = [
            doc
            for _, doc in m.k8s
            if doc.get("kind") == "PodDisruptionBudget"
            and doc["spec"]["selector"]["matchLabels"].items()
            <= statefulset["spec"]["template"]["metadata"]["labels"].items()
        ]
        if not budgets:
            problems.append(f"StatefulSet/{name}: no PodDisruptionBudget")
    if not sets:
        problems.append("k8s: no StatefulSet of Rasa replicas")
    return problems


def _images(m: Manifests) -> Iterator[tuple[str, str]]:
    for name, service in (m.compose.get("services") or {}).items():
        yield f"compose:{name}", str(service.get("image", "<none>"))
    for file, doc in m.k8s:
        pod = _pod_spec(doc)
        for container in (pod or {}).get("containers", []) + (pod or {}).get("initContainers", []):
            yield f"{file} {doc['kind']}/{doc['metadata']['name']}", str(container.get("image"))
    for line in m.dockerfile.splitlines():
        if line.startswith("FROM "):
            yield "Dockerfile", line.split()[1]


def check_images(m: Manifests) -> list[str]:
    """Every image pinned by a version tag; ours at the package's version; the base at 3.10.N."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    version = re.search(r'^version = "([^"]+)"', pyproject, re.M).group(1)  # type: ignore[union-attr]
    problems = []
    for where, image in _images(m):
        _name, _, tag = (
            image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
        )
        if not tag or not VERSION_TAG.match(tag):
            problems.append(f"{where}: {image} is not pinned by a version tag")
        elif _is_ours(image) and tag != version:
            problems.append(f"{where}: {image}, the package is at {version}")
    bases = [image for where, image in _images(m) if where == "Dockerfile"]
    if not bases or not all(re.fullmatch(r"python:3\.10\.\d+-slim(-\w+)?", b) for b in bases):
        problems.append(f"Dockerfile: base images {bases}, not python:3.10.N-slim")
    return problems


def check_outreach_rate(m: Manifests) -> list[str]:
    """Each worker paces itself: together they must stay within WhatsApp's limit per number."""
    problems = []
    for platform in ("compose", "k8s"):
        workers = [w for w in all_workloads(m) if w.platform == platform and w.role == "outreach"]
        total = 0.0
        for w in workers:
            rate = w.env.get("OUTREACH_MESSAGES_PER_SECOND", str(MAX_MESSAGES_PER_SECOND))
            total += w.replicas * float(rate if isinstance(rate, str) else MAX_MESSAGES_PER_SECOND)
        if total > MAX_MESSAGES_PER_SECOND:
            problems.append(f"{platform}: the outreach workers send up to {total:g}/s together")
    return problems


def check_exposure(m: Manifests) -> list[str]:
    """Only nginx is reachable from outside: Compose binds nothing else beyond loopback and
    keeps the data services on a network with no way out; Kubernetes exposes only nginx, and
    its NetworkPolicies deny every other ingress but the topology's own paths."""
    problems = []
    services = m.compose.get("services") or {}
    networks = m.compose.get("networks") or {}
    for name, service in services.items():
        nginx = str(service.get("image", "")).startswith("nginx:")
        for entry in service.get("ports") or []:
            text = str(entry) if not isinstance(entry, dict) else entry.get("host_ip", "")
            bound = text.split(":")[0] if str(text).count(":") == 2 else ""
            if bound != "127.0.0.1" and not nginx:
                problems.append(f"compose:{name}: {entry} is bound beyond loopback")
        if name in {"postgres", "redis", "rabbitmq"}:
            for network in service.get("networks") or []:
                if not (networks.get(network) or {}).get("internal"):
                    problems.append(f"compose:{name}: on {network}, which reaches outside")
    public = [
        entry
        for service in services.values()
        for entry in service.get("ports") or []
        if not str(entry).startswith("127.0.0.1:")
    ]
    if len(public) != 1:
        problems.append(f"compose: {len(public)} public ports, nginx's one expected: {public}")
    policies = [doc for _, doc in m.k8s if doc.get("kind") == "NetworkPolicy"]
    if not any(
        doc["spec"].get("podSelector") == {}
        and "Ingress" in doc["spec"].get("policyTypes", [])
        and not doc["spec"].get("ingress")
        for doc in policies
    ):
        problems.append("k8s: no NetworkPolicy denies all ingress by default")
    for doc in policies:
        selected = doc["spec"].get("podSelector", {}).get("matchLabels", {})
        for rule in doc["spec"].get("ingress") or []:
            sources = rule.get("from")
            if not sources and selected.get("app.kubernetes.io/name") != "nginx":
                problems.append(f"NetworkPolicy/{doc['metadata']['name']}: open to anyone")
            for source in sources or []:
                if "ipBlock" in source or "namespaceSelector" in source:
                    problems.append(f"NetworkPolicy/{doc['metadata']['name']}: from outside")
    for file, doc in m.k8s:
        if doc.get("kind") == "Service" and doc["spec"].get("type") in {"LoadBalancer", "NodePort"}:
            if doc["spec"].get("selector", {}).get("app.kubernetes.io/name") != "nginx":
                problems.append(f"{file} Service/{doc['metadata']['name']}: exposed outside")
    return problems


def route_header() -> str:
    """The header the gateway sends a sender's key in: its module's ROUTE_HEADER."""
    gateway = ROOT / "cobranza" / "channels" / "whatsapp" / "gateway.py"
    if not gateway.is_file():
        return PENDING_ROUTE_HEADER
    for node in ast.walk(ast.parse(gateway.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "ROUTE_HEADER" for t in node.targets)
            and isinstance(node.value, ast.Constant)
        ):
            return str(node.value.value)
    return "<no ROUTE_HEADER in gateway.py>"


def nginx_blocks(text: str, head: str) -> list[str]:
    """The bodies of the blocks ``head … { … }`` (nested braces counted)."""
    bodies = []
    for match in re.finditer(head, text):
        start = text.index("{", match.end() - 1 if text[match.end() - 1] == "{" else match.end())
        depth, index = 0, start
        while index < len(text):
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            if depth == 0:
                break
            index += 1
        bodies.append(text[start + 1 : index])
    return bodies


def check_routing(m: Manifests) -> list[str]:
    """nginx hashes the gateway's forwards on the header the gateway sends; the public server
    drops that header wherever it sets headers, so no client can pick a replica or pose as the
    gateway; the private webhook refuses a request without it."""
    header = route_header()
    variable = "$http_" + header.lower().replace("-", "_")
    problems = []
    for platform, upstreams in m.upstreams.items():
        body = "".join(nginx_blocks(upstreams, r"upstream\s+rasa_by_sender\s*\{"))
        if f"hash {variable} consistent;" not in body:
            problems.append(f"upstreams.{platform}.conf: rasa_by_sender does not hash {variable}")
    servers = nginx_blocks(m.nginx_conf, r"\bserver\s*\{")
    public = [b for b in servers if re.search(r"listen\s+\d+\s+ssl", b)]
    private = [b for b in servers if b not in public]
    for body in public:
        locations = nginx_blocks(body, r"\blocation\b[^{]*\{")
        outside = body
        for location in locations:
            outside = outside.replace(location, "")
        for where, text in [("the public server", outside)] + [
            ("a public location", loc) for loc in locations if "proxy_set_header" in loc
        ]:
            if not re.search(rf'proxy_set_header\s+{re.escape(header)}\s+"";', text):
                problems.append(f"nginx.conf: {where} passes a client's {header} on")
    for body in private:
        for location in nginx_blocks(body, r"location\s*=\s*/webhooks/whatsapp/webhook\s*\{"):
            if f'if ({variable} = "")' not in location:
                problems.append(f"nginx.conf: the private webhook takes requests without {header}")
    if not public or not private:
        problems.append("nginx.conf: one public (ssl) and one private server expected")
    return problems


def check_nginx_copies(m: Manifests) -> list[str]:
    maps = _config_maps(m)
    nginx = maps.get("nginx", {})
    problems = []
    if nginx.get("nginx.conf") != m.nginx_conf:
        problems.append("40-nginx.yaml: its nginx.conf differs from deploy/nginx/nginx.conf")
    if nginx.get("upstreams.conf") != m.upstreams["k8s"]:
        problems.append("40-nginx.yaml: its upstreams.conf differs from upstreams.k8s.conf")
    return problems


def check_dockerfile(m: Manifests) -> list[str]:
    problems = []
    lines = [line.strip() for line in m.dockerfile.splitlines()]
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    if not users or users[-1].split(":")[0] in {"0", "root"}:
        problems.append(f"Dockerfile: the processes run as {users[-1] if users else 'root'}")
    if not re.search(r"pip install[^\n]*-c constraints\.txt -r requirements\.txt", m.dockerfile):
        problems.append("Dockerfile: requirements are not installed under constraints.txt")
    if "rasa train --fixed-model-name cobranza --out models" not in m.dockerfile:
        problems.append("Dockerfile: the model models/cobranza.tar.gz is not trained")
    entry = re.search(r'^ENTRYPOINT \["(/app/)?([^"]+)"\]', m.dockerfile, re.M)
    if not entry:
        problems.append("Dockerfile: no ENTRYPOINT")
    else:
        script = ROOT / entry.group(2)
        if not script.is_file() or not os.access(script, os.X_OK):
            problems.append(f"Dockerfile: {entry.group(2)} is not an executable file")
    for needed in ("Dockerfile", "deploy/entrypoint.sh", "deploy/healthcheck.py", "data"):
        if needed != "Dockerfile" and _ignored(needed, m.dockerignore):
            problems.append(f".dockerignore keeps {needed} out of the image")
    for kept_out in (".venv", "var", "models", ".git", "deploy/secrets", ".env"):
        if not _ignored(kept_out, m.dockerignore):
            problems.append(f".dockerignore lets {kept_out} into the build context")
    return problems


CHECKS: dict[str, Callable[[Manifests], list[str]]] = {
    "compose_schema": check_compose_schema,
    "k8s_schemas": check_k8s_schemas,
    "settings": check_settings,
    "commands": check_commands,
    "ports": check_ports,
    "secrets": check_secrets,
    "replicas": check_replicas,
    "images": check_images,
    "outreach_rate": check_outreach_rate,
    "exposure": check_exposure,
    "nginx_copies": check_nginx_copies,
    "routing": check_routing,
    "dockerfile": check_dockerfile,
}


@pytest.fixture(scope="module")
def manifests() -> Manifests:
    return load_manifests()


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_the_deployment_files_pass(name: str, manifests: Manifests) -> None:
    assert CHECKS[name](manifests) == []


def test_every_kubernetes_kind_has_its_schema_and_nothing_more(manifests: Manifests) -> None:
    used = {_k8s_schema_file(doc).name for _, doc in manifests.k8s}
    vendored = {path.name for path in K8S_SCHEMAS.glob("*.json")}
    assert used == vendored


def test_the_schemas_are_the_recorded_ones() -> None:
    """deploy/schemas/README.md records each vendored file's SHA-256."""
    import hashlib

    readme = (SCHEMAS / "README.md").read_text(encoding="utf-8")
    recorded = dict(
        (name, digest)
        for digest, name in re.findall(r"`([0-9a-f]{64})`\s+`([\w./-]+\.json)`", readme)
    )
    files = {
        str(path.relative_to(SCHEMAS)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in SCHEMAS.rglob("*.json")
    }
    assert recorded == files


def test_pending_entries_name_what_their_branch_provides() -> None:
    """Once a branch has landed its marker, every module and file it was to provide exists
    (settings are then held by check_settings like any other)."""
    for branch, pending in PENDING.items():
        if not pending.landed():
            continue
        missing = [m for m in pending.modules if not _module_exists(m)]
        missing += [f for f in pending.files if not (ROOT / f).is_file()]
        assert missing == [], f"{branch} has landed without {missing}"


def test_rasa_reads_the_variables_we_give_it_as_its_own() -> None:
    rasa = Path(importlib.util.find_spec("rasa").origin or "").parent  # type: ignore[union-attr]
    source = "\n".join(p.read_text(encoding="utf-8") for p in (rasa / "core").glob("*.py"))
    for name in RASA_SETTINGS:
        assert f'os.environ.get("{name}"' in source, name


def test_config_settings_are_collected_from_the_source() -> None:
    """The collection finds variables read every way config.py reads them."""
    names = config_settings()
    for expected in (
        "DATABASE_URL",  # env.get
        "ACTIONS_PORT",  # _port(env, …)
        "WHATSAPP_APP_SECRET",  # WhatsAppSettings.REQUIRED
        "WEBCHAT_SESSION_SECRET",  # _secret(env, WEBCHAT_SECRET_ENV)
        "CONSOLE_TRUSTED_PROXIES",
        "RASA_URL",
    ):
        assert expected in names
    assert "INFO" not in names  # a value, not a variable


# ---------------------------------------------------------------------------------------------
# Each check fails on a broken copy.


def _service(m: Manifests, name: str) -> dict[str, Any]:
    service: dict[str, Any] = m.compose["services"][name]
    return service


def _doc(m: Manifests, kind: str, name: str) -> dict[str, Any]:
    return next(d for _, d in m.k8s if d.get("kind") == kind and d["metadata"]["name"] == name)


def _container(m: Manifests, kind: str, name: str, index: int = 0) -> dict[str, Any]:
    container: dict[str, Any] = _doc(m, kind, name)["spec"]["template"]["spec"]["containers"][index]
    return container


def _set_env(container: dict[str, Any], name: str, value: str) -> None:
    container["env"] = [e for e in container["env"] if e["name"] != name] + [
        {"name": name, "value": value}
    ]


def _rasa_server(m: Manifests) -> dict[str, Any]:
    return _service(m, "rasa-0-server")


def _unhook_first_replica(m: Manifests) -> None:
    m.upstreams["compose"] = m.upstreams["compose"].replace(
        "    server rasa-0:5005 resolve max_fails=1 fail_timeout=10s;\n", "", 1
    )


def _endpoints_without_actions_port(m: Manifests) -> None:
    server = _rasa_server(m)
    server["command"] = [
        w if w != "endpoints.cluster.yml" else "endpoints.yml" for w in server["command"]
    ]
    del server["environment"]["ACTIONS_PORT"]


def _literal_database_url(m: Manifests) -> None:
    _set_env(_container(m, "Deployment", "console"), "DATABASE_URL", "postgresql://cobranza@db/c")


MUTATIONS: list[tuple[str, str, Callable[[Manifests], None], str]] = [
    (
        "compose_schema",
        "an unknown key in a service",
        lambda m: _service(m, "console").update(restart_policy="always"),
        "restart_policy",
    ),
    (
        "compose_schema",
        "a healthcheck that is not a list or string",
        lambda m: _service(m, "redis")["healthcheck"].update(test={"cmd": "ping"}),
        "healthcheck",
    ),
    (
        "k8s_schemas",
        "replicas as a word",
        lambda m: _doc(m, "StatefulSet", "rasa")["spec"].update(replicas="two"),
        "replicas",
    ),
    (
        "k8s_schemas",
        "a misspelt field in a container",
        lambda m: _container(m, "Deployment", "gateway").update(readinesProbe={}),
        "readinesProbe",
    ),
    (
        "settings",
        "a misspelt setting in Compose",
        lambda m: _service(m, "outreach")["environment"].update(
            COBRANZA_CONTACT_HOUR="08:00-20:00"
        ),
        "COBRANZA_CONTACT_HOUR",
    ),
    (
        "settings",
        "a setting nothing reads in Kubernetes",
        lambda m: _set_env(_container(m, "Deployment", "console"), "CONSOLE_PORTS", "5006"),
        "CONSOLE_PORTS",
    ),
    (
        "settings",
        "Rasa's endpoints need a variable the container lacks",
        _endpoints_without_actions_port,
        "needs ACTIONS_PORT",
    ),
    (
        "settings",
        "a key its ConfigMap does not have",
        lambda m: _doc(m, "ConfigMap", "cobranza-services")["data"].pop("REDIS_HOST"),
        "no key REDIS_HOST in its ConfigMap",
    ),
    (
        "settings",
        "Sanic's body bound set by hand",
        lambda m: _rasa_server(m)["environment"].update(SANIC_REQUEST_MAX_SIZE="9999999"),
        "SANIC_REQUEST_MAX_SIZE",
    ),
    (
        "commands",
        "a module that does not exist",
        lambda m: _service(m, "console").update(command=["python", "-m", "cobranza.consola"]),
        "no module cobranza.consola",
    ),
    (
        "commands",
        "a cobranza sub-command that does not exist",
        lambda m: _container(m, "Job", "cobranza-migrate").update(
            args=["cobranza", "db", "upgrad"]
        ),
        "not a cobranza command",
    ),
    (
        "commands",
        "a credentials file that is not in the repository",
        lambda m: _doc(m, "StatefulSet", "rasa")["spec"]["template"]["spec"]["containers"][0][
            "args"
        ].__setitem__(9, "credentials.production.yml"),
        "credentials.production.yml is not in the image",
    ),
    (
        "commands",
        "a health check script that is not in the image",
        lambda m: _service(m, "console")["healthcheck"].update(
            test=["CMD", "python", "deploy/health.py", "http://127.0.0.1:5006/"]
        ),
        "deploy/health.py is not in the image",
    ),
    (
        "ports",
        "an nginx upstream on the wrong port",
        lambda m: m.upstreams.__setitem__(
            "compose", m.upstreams["compose"].replace("gateway:5080", "gateway:5081")
        ),
        "nothing in gateway listens on 5081",
    ),
    (
        "ports",
        "a Service whose targetPort no container has",
        lambda m: _doc(m, "Service", "console")["spec"]["ports"][0].update(targetPort=5007),
        "targetPort 5007",
    ),
    (
        "ports",
        "a container listening elsewhere than it declares",
        lambda m: _set_env(_container(m, "Deployment", "console"), "CONSOLE_PORT", "5007"),
        "listens on 5007",
    ),
    (
        "ports",
        "a health check on another port",
        lambda m: _service(m, "console")["healthcheck"].update(
            test=["CMD", "python", "deploy/healthcheck.py", "http://127.0.0.1:5005/"]
        ),
        "health check asks port 5005",
    ),
    (
        "ports",
        "the console calling Rasa at a port nginx does not listen on",
        lambda m: _service(m, "console")["environment"].update(RASA_URL="http://nginx:5005"),
        "nothing in nginx listens on 5005",
    ),
    (
        "ports",
        "the gateway forwarding to a Service that does not exist",
        lambda m: _set_env(
            _container(m, "Deployment", "gateway"),
            "GATEWAY_UPSTREAM_URL",
            "http://nginx-private.cobranza.svc.cluster.local:8080/webhooks/whatsapp/webhook",
        ),
        "no Service nginx-private",
    ),
    (
        "ports",
        "nginx sending to an upstream group that is not defined",
        lambda m: setattr(
            m,
            "nginx_conf",
            m.nginx_conf.replace("proxy_pass http://gateway;", "proxy_pass http://gw;"),
        ),
        "sends to gw",
    ),
    (
        "secrets",
        "a token written in Compose",
        lambda m: _service(m, "console")["environment"].update(RASA_API_TOKEN="x" * 40),
        "RASA_API_TOKEN is written here",
    ),
    (
        "secrets",
        "a database URL written in Kubernetes",
        _literal_database_url,
        "DATABASE_URL is written here",
    ),
    (
        "secrets",
        "a value in a Secret template",
        lambda m: _doc(m, "Secret", "cobranza-secrets")["stringData"].update(
            RASA_API_TOKEN="0123456789abcdef0123456789abcdef"
        ),
        "values for ['RASA_API_TOKEN']",
    ),
    (
        "secrets",
        "a password inside a URL in a ConfigMap",
        lambda m: _doc(m, "ConfigMap", "cobranza-settings")["data"].update(
            RABBITMQ_HOST="amqp://cobranza:s3cret@rabbitmq.example.internal"
        ),
        "a URL with a password",
    ),
    (
        "secrets",
        "a secret file this service does not mount",
        lambda m: _service(m, "console")["environment"].update(
            PAYMENTS_API_TOKEN_FILE="/run/secrets/payments_api_token"
        ),
        "not a secret this service mounts",
    ),
    (
        "secrets",
        "Rasa's API token given to the outreach worker",
        lambda m: _container(m, "Deployment", "outreach")["env"].append(
            {
                "name": "RASA_API_TOKEN",
                "valueFrom": {
                    "secretKeyRef": {"name": "cobranza-secrets", "key": "RASA_API_TOKEN"}
                },
            }
        ),
        "outreach process must not hold RASA_API_TOKEN",
    ),
    (
        "secrets",
        "a secret baked into the image",
        lambda m: setattr(m, "dockerfile", m.dockerfile + "ENV WHATSAPP_APP_SECRET=abc\n"),
        "Dockerfile bakes a secret",
    ),
    (
        "replicas",
        "a replica missing from one nginx group",
        _unhook_first_replica,
        "upstreams.compose.conf rasa_by_sender",
    ),
    (
        "replicas",
        "a StatefulSet grown without nginx",
        lambda m: _doc(m, "StatefulSet", "rasa")["spec"].update(replicas=3),
        "StatefulSet has",
    ),
    (
        "replicas",
        "two replicas with one name",
        lambda m: _service(m, "rasa-1-server")["environment"].update(COBRANZA_REPLICA="rasa-0"),
        "COBRANZA_REPLICA must name each replica once",
    ),
    (
        "replicas",
        "a replica without its action server",
        lambda m: m.compose["services"].pop("rasa-1-actions"),
        "not one Rasa and its action server",
    ),
    (
        "images",
        "an image on latest",
        lambda m: _service(m, "redis").update(image="redis:latest"),
        "redis:latest is not pinned",
    ),
    (
        "images",
        "an image without a tag",
        lambda m: _container(m, "Deployment", "nginx").update(image="nginx"),
        "nginx is not pinned",
    ),
    (
        "images",
        "our image at another version than the package",
        lambda m: _container(m, "Deployment", "console").update(image="cobranza:0.0.9"),
        "the package is at",
    ),
    (
        "images",
        "a floating base image",
        lambda m: setattr(
            m,
            "dockerfile",
            m.dockerfile.replace("python:3.10.16-slim-bookworm", "python:3.10-slim"),
        ),
        "not python:3.10.N-slim",
    ),
    (
        "outreach_rate",
        "three workers at 40 messages/s",
        lambda m: _doc(m, "Deployment", "outreach")["spec"].update(replicas=3),
        "k8s: the outreach workers send up to 120/s",
    ),
    (
        "outreach_rate",
        "two workers at the default rate",
        lambda m: _service(m, "outreach")["environment"].pop("OUTREACH_MESSAGES_PER_SECOND"),
        "compose: the outreach workers send up to 160/s",
    ),
    (
        "exposure",
        "the console published on every address",
        lambda m: _service(m, "console").update(ports=["5006:5006"]),
        "bound beyond loopback",
    ),
    (
        "exposure",
        "PostgreSQL on a network with a way out",
        lambda m: _service(m, "postgres").update(networks=["backend", "outbound"]),
        "compose:postgres: on outbound",
    ),
    (
        "exposure",
        "the console behind a load balancer",
        lambda m: _doc(m, "Service", "console")["spec"].update(type="LoadBalancer"),
        "Service/console: exposed outside",
    ),
    (
        "exposure",
        "the replicas open to anyone",
        lambda m: _doc(m, "NetworkPolicy", "rasa")["spec"]["ingress"][0].pop("from"),
        "NetworkPolicy/rasa: open to anyone",
    ),
    (
        "exposure",
        "no default deny",
        lambda m: m.k8s.remove(
            next(x for x in m.k8s if x[1]["metadata"]["name"] == "default-deny-ingress")
        ),
        "no NetworkPolicy denies all ingress",
    ),
    (
        "routing",
        "the replicas hashed on a header the gateway does not send",
        lambda m: m.upstreams.__setitem__(
            "k8s",
            m.upstreams["k8s"].replace("$http_x_cobranza_route", "$http_x_cobranza_sender"),
        ),
        "rasa_by_sender does not hash $http_x_cobranza_route",
    ),
    (
        "routing",
        "a public location that passes a client's route header on",
        lambda m: setattr(
            m,
            "nginx_conf",
            m.nginx_conf.replace(
                'proxy_set_header X-Cobranza-Route "";\n            proxy_set_header Upgrade',
                "proxy_set_header Upgrade",
            ),
        ),
        "a public location passes a client's X-Cobranza-Route on",
    ),
    (
        "routing",
        "the private webhook open to requests without the header",
        lambda m: setattr(
            m, "nginx_conf", m.nginx_conf.replace('if ($http_x_cobranza_route = "")', "if ($x)")
        ),
        "the private webhook takes requests without X-Cobranza-Route",
    ),
    (
        "nginx_copies",
        "the ConfigMap's nginx.conf edited by hand",
        lambda m: _doc(m, "ConfigMap", "nginx")["data"].update(
            {
                "nginx.conf": m.nginx_conf.replace(
                    "client_max_body_size 512k", "client_max_body_size 5m"
                )
            }
        ),
        "differs from deploy/nginx/nginx.conf",
    ),
    (
        "dockerfile",
        "running as root",
        lambda m: setattr(m, "dockerfile", m.dockerfile.replace("USER 10001:10001", "USER root")),
        "run as root",
    ),
    (
        "dockerfile",
        "requirements without the constraints",
        lambda m: setattr(
            m,
            "dockerfile",
            m.dockerfile.replace("-c constraints.txt -r requirements.txt", "-r requirements.txt"),
        ),
        "not installed under constraints.txt",
    ),
    (
        "dockerfile",
        "the virtualenv let into the build context",
        lambda m: m.dockerignore.remove(".venv"),
        "lets .venv into the build context",
    ),
]


@pytest.mark.parametrize(
    ("check", "mutate", "expected"),
    [
        pytest.param(check, mutate, expected, id=f"{check}: {what}")
        for check, what, mutate, expected in MUTATIONS
    ],
)
def test_each_check_fails_on_a_broken_copy(
    check: str, mutate: Callable[[Manifests], None], expected: str, manifests: Manifests
) -> None:
    broken = copy.deepcopy(manifests)
    mutate(broken)
    problems = CHECKS[check](broken)
    assert any(expected in problem for problem in problems), problems


def test_every_check_has_a_broken_copy() -> None:
    assert {check for check, *_ in MUTATIONS} == set(CHECKS)


# ---------------------------------------------------------------------------------------------
# The scripts the image and the Compose file run, as real processes.

ENTRYPOINT = DEPLOY / "entrypoint.sh"


def _entrypoint(
    tmp_path: Path, env: dict[str, str], *argv: str
) -> subprocess.CompletedProcess[str]:
    base = {
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "PYTHONTZPATH": "",
    }
    return subprocess.run(
        [str(ENTRYPOINT), *argv], env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def test_the_entrypoint_reads_secrets_from_files(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("t" * 40 + "\n")
    done = _entrypoint(tmp_path, {"ACTION_SERVER_TOKEN_FILE": str(secret)}, "env")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "ACTION_SERVER_TOKEN=" + "t" * 40 in lines
    assert not any(line.startswith("ACTION_SERVER_TOKEN_FILE=") for line in lines)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"RASA_API_TOKEN": "x" * 40, "RASA_API_TOKEN_FILE": "{file}"}, "both RASA_API_TOKEN and"),
        ({"RASA_API_TOKEN_FILE": "{missing}"}, "RASA_API_TOKEN_FILE names a file this user cannot"),
    ],
)
def test_the_entrypoint_refuses_an_ambiguous_or_missing_secret(
    tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    secret = tmp_path / "token"
    secret.write_text("s" * 40)
    filled = {k: v.format(file=secret, missing=tmp_path / "nope") for k, v in env.items()}
    done = _entrypoint(tmp_path, filled, "env")
    assert done.returncode == 1
    assert expected in done.stderr
    assert "s" * 40 not in done.stderr + done.stdout


def test_the_entrypoint_gives_rasa_its_bounds_and_api_token(tmp_path: Path) -> None:
    """`rasa …` runs with Sanic's bounds from RASA_MAX_REQUEST_BYTES, and with the API on only
    when RASA_API_TOKEN is set. A stand-in `rasa` on PATH prints what it was given."""
    (tmp_path / "bin").mkdir()
    fake = tmp_path / "bin" / "rasa"
    fake.write_text('#!/bin/sh\necho "args: $*"\nenv | grep ^SANIC_ | sort\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    token = tmp_path / "token"
    token.write_text("a" * 40)
    with_api = _entrypoint(
        tmp_path,
        {"RASA_API_TOKEN_FILE": str(token), "RASA_MAX_REQUEST_BYTES": "100000"},
        "rasa",
        "run",
        "--port",
        "5005",
    )
    assert with_api.returncode == 0, with_api.stderr
    assert f"args: run --port 5005 --enable-api --auth-token={'a' * 40}" in with_api.stdout
    assert "SANIC_REQUEST_MAX_SIZE=100000" in with_api.stdout
    assert "SANIC_WEBSOCKET_MAX_SIZE=100000" in with_api.stdout
    without = _entrypoint(tmp_path, {}, "rasa", "run")
    assert without.returncode == 0, without.stderr
    assert "args: run\n" in without.stdout
    bad = _entrypoint(tmp_path, {"RASA_MAX_REQUEST_BYTES": "10"}, "rasa", "run")
    assert bad.returncode != 0
    assert "RASA_MAX_REQUEST_BYTES" in bad.stderr
    assert "args:" not in bad.stdout


def test_the_healthcheck_script_answers_for_a_real_server(tmp_path: Path) -> None:
    """0 for a 2xx, 1 for an error status or a closed port; it asks loopback only."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/health" else 503)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    script = [sys.executable, str(DEPLOY / "healthcheck.py")]

    def status(url: str) -> int:
        return subprocess.run([*script, url], capture_output=True, timeout=30).returncode

    try:
        assert status(f"http://127.0.0.1:{port}/health") == 0
        assert status(f"http://127.0.0.1:{port}/other") == 1
        assert status(f"http://localhost:{port}/health") == 1
    finally:
        server.shutdown()
        server.server_close()
    assert status(f"http://127.0.0.1:{port}/health") == 1  # closed now


def test_the_secrets_script_makes_every_secret_the_compose_file_mounts(tmp_path: Path) -> None:
    """deploy/secrets.sh generates what it can, consistently (the database URL carries the
    PostgreSQL password, RabbitMQ's config its password), lists what only the operator has, and
    keeps what exists."""
    directory = tmp_path / "secrets"
    run = [str(DEPLOY / "secrets.sh")]
    first = subprocess.run(
        run, env={**os.environ, "SECRETS_DIR": str(directory)}, capture_output=True, text=True
    )
    assert first.returncode == 1  # the operator's files are missing
    operators = {"whatsapp_app_secret", "whatsapp_access_token", "tls.crt", "tls.key"}
    assert {
        line.split("/")[-1] for line in first.stdout.splitlines() if line.startswith("missing")
    } == operators
    compose = yaml.safe_load((DEPLOY / "compose.yml").read_text(encoding="utf-8"))
    mounted = {Path(spec["file"]).name for spec in compose["secrets"].values()}
    assert {p.name for p in directory.iterdir()} == mounted - operators

    def read(name: str) -> str:
        return (directory / name).read_text().strip()

    for name in ("rasa_api_token", "action_server_token", "webchat_session_secret"):
        assert TOKEN_PATTERN.fullmatch(read(name))
        assert (directory / name).stat().st_mode & 0o777 == 0o400
    assert (
        read("database_url")
        == f"postgresql://cobranza:{read('postgres_password')}@postgres:5432/cobranza"
    )
    assert f"default_pass = {read('rabbitmq_password')}" in read("rabbitmq.conf")
    before = read("rasa_api_token")
    for name in operators:
        (directory / name).write_text("x\n")
    again = subprocess.run(
        run, env={**os.environ, "SECRETS_DIR": str(directory)}, capture_output=True, text=True
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert read("rasa_api_token") == before


def test_the_sync_script_writes_what_the_check_expects() -> None:
    """deploy/nginx/sync_k8s.py renders 40-nginx.yaml exactly as it is: the copies it writes are
    the ones check_nginx_copies compares, and it keeps the rest of the file."""
    spec = importlib.util.spec_from_file_location("sync_k8s", DEPLOY / "nginx" / "sync_k8s.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.render() == (DEPLOY / "k8s" / "40-nginx.yaml").read_text(encoding="utf-8")
