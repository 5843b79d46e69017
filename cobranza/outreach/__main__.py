"""``python -m cobranza.outreach``: the outreach worker as scripts/run.sh starts it (the same as
``cobranza outreach worker``)."""

from __future__ import annotations

import logging
import sys

from cobranza import bootstrap
from cobranza.config import load_settings
from cobranza.errors import CobranzaError
from cobranza.outreach import worker


def main() -> int:
    try:
        settings = load_settings()
        logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
        worker.serve(bootstrap.build(settings))
    except CobranzaError as error:  # a bad setting or a broken campaign file: say which
        print(f"error: outreach worker: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
