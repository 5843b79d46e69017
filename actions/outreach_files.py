"""The designers' outreach files as the action server sees them: the campaigns, templates and
experiments (``cobranza.outreach.worker.load_files``), checked against each other, read once
per process and kept; a change to the files takes effect when the action server restarts, as
with the outreach worker. The conversation uses the experiments on responses
(actions/experiments.py) and the campaigns: a reminder the debtor asks for is announced at the
moment the campaign for that commitment writes (actions/consent.py).

Broken files do not stop the conversation: it goes on as if there were no campaign and no
experiment (every response is said as written; no reminder is promised, and the debtor is told
so), and the problem count is logged once, nothing about any debtor; ``make validate`` and
``cobranza campaigns validate`` name the problems."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from cobranza.bootstrap import App
from cobranza.outreach import worker
from cobranza.outreach.files import OutreachFilesError

logger = logging.getLogger(__name__)

_lock = threading.Lock()
Key = tuple[Path, Path, Path]
_loaded: dict[Key, worker.OutreachFiles] = {}


def files_key(app: App) -> Key:
    """Which files ``app``'s settings name (the folders of campaigns, templates, experiments)."""
    settings = app.settings.outreach
    return settings.campaigns_dir, settings.templates_dir, settings.experiments_dir


def outreach_files(app: App) -> worker.OutreachFiles:
    """The outreach files ``app``'s settings name (loaded once; empty when they are broken)."""
    key = files_key(app)
    with _lock:
        if key not in _loaded:
            _loaded[key] = _load(app)
        return _loaded[key]


def _load(app: App) -> worker.OutreachFiles:
    try:
        return worker.load_files(app)
    except OutreachFilesError as error:
        logger.error(
            "outreach files: %d problem(s) in the campaign, template or experiment files; "
            "until they are fixed (cobranza campaigns validate) every response is said as "
            "written and no reminder is promised",
            len(error.problems),
        )
        return worker.OutreachFiles(campaigns={}, templates={})
