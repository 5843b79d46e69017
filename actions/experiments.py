"""The experiments on conversation responses, as the action server sees them
(docs/experiments.md): read once per process from the designers' files, with the campaigns and
templates they are checked against (``cobranza.outreach.worker.load_files``); a change to the
files takes effect when the action server restarts, as with the outreach worker.

Broken files do not stop the conversation: every response is then said as written (the
control, no exposure recorded) and the problem count is logged once; ``make validate`` and
``cobranza campaigns validate`` name the problems."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from cobranza.bootstrap import App
from cobranza.outreach import worker
from cobranza.outreach.files import OutreachFilesError
from cobranza.services.experiments import ResponseExperiments

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loaded: dict[tuple[Path, Path, Path], ResponseExperiments] = {}


def response_experiments(app: App) -> ResponseExperiments:
    """The response experiments of the files ``app``'s settings name (loaded once)."""
    settings = app.settings.outreach
    key = (settings.campaigns_dir, settings.templates_dir, settings.experiments_dir)
    with _lock:
        if key not in _loaded:
            _loaded[key] = _load(app)
        return _loaded[key]


def _load(app: App) -> ResponseExperiments:
    try:
        files = worker.load_files(app)
    except OutreachFilesError as error:
        logger.error(
            "experiments: %d problem(s) in the campaign, template or experiment files; every "
            "response is said as written until they are fixed (cobranza campaigns validate)",
            len(error.problems),
        )
        return ResponseExperiments()
    return ResponseExperiments.of(files.experiments.values())
