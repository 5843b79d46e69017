"""``python -m cobranza.events``: the consumer of Rasa's events, until SIGTERM or SIGINT.

Exits 1 with the reason when a setting is missing or wrong (``EVENTS_SENDER_KEY`` first of
all), when the Rasa config names no FallbackClassifier, or when the database has no
``conversation_turns`` table yet (``cobranza db upgrade``). A RabbitMQ that is down is not a
reason to exit: the consumer waits for it (cobranza/events/consumer.py)."""

from __future__ import annotations

import logging
import sys

from cobranza import bootstrap, db
from cobranza.config import ConfigError, load_events_settings, load_settings
from cobranza.errors import CobranzaError
from cobranza.events.consumer import serve
from cobranza.events.turns import fallback_threshold

TABLE = "conversation_turns"


def main() -> int:
    try:
        settings = load_settings()
        events = load_events_settings()
        logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
        try:
            config_text = events.nlu_config.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(
                f"cannot read the Rasa config {events.nlu_config} ({type(error).__name__})"
            ) from error
        threshold = fallback_threshold(config_text)
        app = bootstrap.build(settings)
        if TABLE not in db.table_names(app.engine):
            raise ConfigError(f"the database has no {TABLE} table: run `cobranza db upgrade`")
        serve(app, events, threshold)
    except CobranzaError as error:
        print(f"error: events consumer: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
