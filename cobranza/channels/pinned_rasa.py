"""Our replacements for a few of Rasa's own functions are written against Rasa 3.6 (the pinned
series): they repeat what its code does, faster, or call its private methods. Each module that
has one installs it through :func:`install`, which does nothing under another version but say
so: Rasa's own code then runs, slower but right, until someone re-reads ours against it."""

from __future__ import annotations

import logging
from collections.abc import Callable

import rasa

logger = logging.getLogger(__name__)

RASA_SERIES = "3.6."


def install(what: str, replace: Callable[[], None]) -> bool:
    """Run ``replace`` under Rasa 3.6 only; under another version log that ``what`` stays as
    Rasa has it. True when ours is in place."""
    if not rasa.__version__.startswith(RASA_SERIES):
        logger.warning("Rasa %s is not %sx: %s stays as it is", rasa.__version__, RASA_SERIES, what)
        return False
    replace()
    return True
