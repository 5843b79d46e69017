"""Python's garbage collector and a server that has just started.

A Rasa server holds about 930,000 objects once its model is loaded (TensorFlow, the pipeline,
the domain), nearly all of them for the life of the process. The collector's full pass walks
every one of them: about 0.5 s on a 2-core machine, during which the event loop, and so every
conversation on the replica, waits. Under load it runs every few tens of seconds (`make bench`
counts its pauses; docs/latency.md). :func:`freeze` runs one collection at start-up, then moves
every object alive into the collector's permanent generation (``gc.freeze``): later passes walk
only what was made since. Frozen objects are still freed when nothing refers to them; only
reference cycles among them are never collected, and start-up leaves none worth keeping (the
collection just before finds them).
"""

from __future__ import annotations

import gc
import logging
import threading
import time

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_frozen = False


def freeze(server: str) -> bool:
    """Collect, then freeze what is alive, once per process (the first caller's; later calls
    do nothing). ``server`` names the process in the log. True when this call froze."""
    global _frozen
    with _lock:
        if _frozen:
            return False
        started = time.perf_counter()
        gc.collect()
        gc.freeze()
        _frozen = True
    logger.info(
        "%s: %d objects from start-up kept out of the garbage collector's passes (%.0f ms)",
        server,
        gc.get_freeze_count(),
        (time.perf_counter() - started) * 1000,
    )
    return True
