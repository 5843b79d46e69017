"""`make bench`'s probe: where a turn's time goes inside the servers, and how many queries it runs.

scripts/bench.py puts this directory first on ``PYTHONPATH`` of the servers it starts (ours
through scripts/run.sh, and Rasa's starter bot), so Python imports this module at start-up
(``sitecustomize``). With ``COBRANZA_BENCH_PROBE=<dir>`` set it wraps a few functions of Rasa,
rasa-sdk and ours as their modules load, and adds a SQLAlchemy listener to every engine; each
process adds seconds and calls per label into ``<dir>/<pid>.probe`` (a small memory-mapped
file), which the bench reads before and after every message. Without the variable it does
nothing. Nothing in the assistant imports it: it is benchmarking tooling only.

The wrappers cost a few microseconds per call; the starter bot runs under the same probe, so both
sides of the ratio pay it.
"""

from __future__ import annotations

import functools
import gc
import importlib.abc
import importlib.machinery
import inspect
import mmap
import os
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ENVIRONMENT = "COBRANZA_BENCH_PROBE"

# Label -> what it measures. Each label holds [seconds, calls]; nested labels are noted.
LABELS: dict[str, str] = {
    "handle": "Rasa: the whole message (MessageProcessor.handle_message)",
    "get_tracker": "Rasa: tracker loaded from the store (MessageProcessor.get_tracker)",
    "save_tracker": "Rasa: tracker saved to the store (MessageProcessor.save_tracker)",
    "nlu": "Rasa: NLU pipeline (MessageProcessor.parse_message)",
    "policies": "Rasa: next action, policies or a follow-up (_predict_next_with_tracker)",
    "remote_action": "Rasa: custom action call, whole (RemoteAction.run)",
    "action_payload": "Rasa: tracker + domain as the call's JSON dict (in remote_action)",
    "action_http": "Rasa: HTTP call to the action server, JSON both ways (in remote_action)",
    "nlg": "Rasa: response templates filled (TemplatedNaturalLanguageGenerator.generate)",
    "queries": "SQL statements run by Rasa's process (tracker store, inbox)",
    "action_queries": "SQL statements run by the action server (our actions)",
    "sdk_run": "action server: ActionExecutor.run (tracker parsed, action, events validated)",
    "sdk_tracker": "action server: Tracker.from_dict (in sdk_run)",
    "our_action": "action server: our action's body in its worker thread (in sdk_run)",
    "gc": "Python's garbage collector, every process (any generation; pauses the process)",
    "gc_full": "Python's garbage collector, full collections (generation 2, in gc)",
}
INDEX = {label: n for n, label in enumerate(LABELS)}
SLOT = struct.Struct("<dd")  # seconds, calls
SIZE = SLOT.size * len(LABELS)


def read(path: Path) -> dict[str, tuple[float, float]]:
    """The counters a process has written so far: label -> (seconds, calls)."""
    data = path.read_bytes()
    if len(data) < SIZE:
        return {label: (0.0, 0.0) for label in LABELS}
    return {label: SLOT.unpack_from(data, n * SLOT.size) for label, n in INDEX.items()}


class _Counters:
    def __init__(self, directory: Path) -> None:
        path = directory / f"{os.getpid()}.probe"
        with path.open("wb") as out:
            out.write(b"\0" * SIZE)
        self._file = path.open("r+b")
        self._map = mmap.mmap(self._file.fileno(), SIZE)
        self._lock = threading.Lock()

    def add(self, label: str, seconds: float) -> None:
        offset = INDEX[label] * SLOT.size
        with self._lock:
            total, calls = SLOT.unpack_from(self._map, offset)
            SLOT.pack_into(self._map, offset, total + seconds, calls + 1)


def _timed(counters: _Counters, label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(function):

        @functools.wraps(function)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                counters.add(label, time.perf_counter() - started)

        return timed_async

    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            counters.add(label, time.perf_counter() - started)

    return timed


def _wrap(counters: _Counters, owner: Any, name: str, label: str) -> None:
    raw = inspect.getattr_static(owner, name)
    if isinstance(raw, classmethod):
        setattr(owner, name, classmethod(_timed(counters, label, raw.__func__)))
    elif isinstance(raw, staticmethod):
        setattr(owner, name, staticmethod(_timed(counters, label, raw.__func__)))
    else:
        setattr(owner, name, _timed(counters, label, raw))


def _patches(counters: _Counters) -> dict[str, Callable[[ModuleType], None]]:
    def processor(module: ModuleType) -> None:
        cls = module.MessageProcessor
        for name, label in (
            ("handle_message", "handle"),
            ("get_tracker", "get_tracker"),
            ("save_tracker", "save_tracker"),
            ("parse_message", "nlu"),
            ("_predict_next_with_tracker", "policies"),
        ):
            _wrap(counters, cls, name, label)

    def action(module: ModuleType) -> None:
        _wrap(counters, module.RemoteAction, "run", "remote_action")
        _wrap(counters, module.RemoteAction, "_action_call_format", "action_payload")

    def endpoints(module: ModuleType) -> None:
        _wrap(counters, module.EndpointConfig, "request", "action_http")

    def action_calls(module: ModuleType) -> None:
        # Our kept-alive action endpoint has its own request (Rasa's, on a kept session).
        _wrap(counters, module.KeptAliveEndpoint, "request", "action_http")

    def nlg(module: ModuleType) -> None:
        _wrap(counters, module.TemplatedNaturalLanguageGenerator, "generate", "nlg")

    def executor(module: ModuleType) -> None:
        _wrap(counters, module.ActionExecutor, "run", "sdk_run")

    def interfaces(module: ModuleType) -> None:
        _wrap(counters, module.Tracker, "from_dict", "sdk_tracker")

    def actions_base(module: ModuleType) -> None:
        _wrap(counters, module.DbAction, "_run_sync", "our_action")

    def actions_session(module: ModuleType) -> None:
        module._context = _timed(counters, "our_action", module._context)

    def database(module: ModuleType) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        def before(conn: Any, *_: Any) -> None:
            conn.info.setdefault("probe_started", []).append(time.perf_counter())

        # The action server runs as ``python -m cobranza.action_server``; any other process with
        # an engine of ours is Rasa's (its tracker store and WhatsApp inbox).
        label = "action_queries" if "action_server" in sys.argv[0] else "queries"

        def after(conn: Any, *_: Any) -> None:
            counters.add(label, time.perf_counter() - conn.info["probe_started"].pop())

        event.listen(Engine, "before_cursor_execute", before)
        event.listen(Engine, "after_cursor_execute", after)

    return {
        "rasa.core.processor": processor,
        "rasa.core.actions.action": action,
        "rasa.utils.endpoints": endpoints,
        "cobranza.channels.action_calls": action_calls,
        "rasa.core.nlg.response": nlg,
        "rasa_sdk.executor": executor,
        "rasa_sdk.interfaces": interfaces,
        "actions.base": actions_base,
        "actions.session": actions_session,
        "cobranza.db": database,
    }


class _PatchingFinder(importlib.abc.MetaPathFinder):
    """Finds the named modules with the other finders and patches each right after it runs."""

    def __init__(self, patches: dict[str, Callable[[ModuleType], None]]) -> None:
        self._patches = patches

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        patch = self._patches.pop(name, None)
        if patch is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run(module)
            patch(module)

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _watch_collector(counters: _Counters) -> None:
    """Adds the collector's pauses: each one stops the whole process, whatever it was doing."""
    started = [0.0]

    def callback(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        seconds = time.perf_counter() - started[0]
        counters.add("gc", seconds)
        if info["generation"] == 2:
            counters.add("gc_full", seconds)

    gc.callbacks.append(callback)


def install() -> None:
    directory = os.environ.get(ENVIRONMENT)
    if not directory:
        return
    counters = _Counters(Path(directory))
    _watch_collector(counters)
    sys.meta_path.insert(0, _PatchingFinder(_patches(counters)))


install()
