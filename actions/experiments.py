"""The experiments on conversation responses, as the action server sees them
(docs/experiments.md): those of the designers' files, read once per process
(actions/outreach_files.py); a change to the files takes effect when the action server
restarts, as with the outreach worker. Broken files leave every response said as written (the
control, no exposure recorded)."""

from __future__ import annotations

import threading

from actions.outreach_files import Key, files_key, outreach_files
from cobranza.bootstrap import App
from cobranza.services.experiments import ResponseExperiments

_lock = threading.Lock()
_derived: dict[Key, ResponseExperiments] = {}


def response_experiments(app: App) -> ResponseExperiments:
    """The response experiments of the files ``app``'s settings name (derived once)."""
    key = files_key(app)
    with _lock:
        if key not in _derived:
            _derived[key] = ResponseExperiments.of(outreach_files(app).experiments.values())
        return _derived[key]
