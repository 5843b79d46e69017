"""Rasa's event classes found by type name once, not by walking every Event subclass per event.

Rasa 3.6 turns every stored event back into an object with ``Event.resolve_by_type(name)``,
which walks the whole tree of ``Event`` subclasses (``all_subclasses``, with an
``inspect.isabstract`` test per class) and returns the first whose ``type_name`` matches. It
runs for every event of a tracker each time one is read (our tracker store's load, every turn),
and for every event the action server returns: three quarters of the time it takes to rebuild a
62-event tracker (6 ms of 8 on this machine, docs/latency.md). Here each name is looked up once
by Rasa's own function and the class it found is kept; defining a new ``Event`` subclass (a
plug-in imported later) empties the cache, so the answer is always what Rasa's own lookup would
say now. Names Rasa does not find (``topic``, unknown ones with or without a default) are not
cached: they go to Rasa's function every time, as before.

The tracker store installs it (:func:`install`), like :mod:`cobranza.channels.action_calls`. It
replaces one method of Rasa's, so it is tied to Rasa 3.6 (the pinned series): under another
version nothing is replaced (:mod:`cobranza.channels.pinned_rasa`).
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

from rasa.shared.core.events import Event

from cobranza.channels import pinned_rasa

_rasas_own = inspect.getattr_static(Event, "resolve_by_type").__func__
_found: dict[str, type[Event]] = {}
_lock = threading.Lock()


def resolve_by_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    """``Event.resolve_by_type`` with the classes it found kept by name."""
    found = _found.get(type_name)
    if found is not None:
        return found
    resolved: type[Event] | None = _rasas_own(type_name, default)
    if resolved is not None and resolved is not default:
        with _lock:
            _found[type_name] = resolved
    return resolved


def _forget(cls: type[Event], **kwargs: Any) -> None:
    """A new Event subclass: what Rasa's lookup answers may have changed."""
    with _lock:
        _found.clear()
    super(Event, cls).__init_subclass__(**kwargs)


def _replace() -> None:
    with _lock:
        _found.clear()
    Event.__init_subclass__ = classmethod(_forget)
    Event.resolve_by_type = staticmethod(resolve_by_type)


def install() -> bool:
    """Replace Rasa's lookup (once; only under Rasa 3.6). True when ours is in place."""
    return pinned_rasa.install("its lookup of event classes", _replace)
