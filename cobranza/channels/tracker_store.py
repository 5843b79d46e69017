"""Rasa's conversations in our database: a paused hand-off or a verified identity survives a
restart or a crash (Rasa's default tracker store is in memory).

endpoints.yml names this class (``tracker_store: type: cobranza.channels.tracker_store.
CobranzaTrackerStore``) and nothing else: the database is ``DATABASE_URL`` from our settings, the
one source of truth, so no URL or password is ever written in a YAML file. It is Rasa's
:class:`SQLTrackerStore` (the ``events`` table, one row per event, sessions as domain.yml's
``session_config`` bounds them) on the engine of the process's :class:`cobranza.bootstrap.App`
(the one composition root), the very engine the WhatsApp channel's inbox uses in the Rasa
server: SQLite gets the same WAL mode and busy timeout as the action server and the console
writing the same file, and no log line carries the URL's password.

It lives with the channels, not in ``cobranza/db/``: like them it is a plug-in Rasa loads by
class path in the Rasa server, and like them it takes its engine from :mod:`cobranza.bootstrap`,
which sits above ``db`` in the layers (.importlinter). Rasa runs the store's queries and commits
on the server's event loop, where every webhook waits for them; here they run in a worker
thread (Rasa's per-conversation lock still serialises the turns of one conversation).

The ``events`` table is Rasa's: it is created here, not by our migrations, and Alembic ignores
it (migrations/env.py).

Building the store also puts :mod:`cobranza.channels.action_calls` in place (Rasa's check of the
action server's answers without re-checking Rasa's own schema at every call, and a kept
connection to the action server) and :mod:`cobranza.channels.event_types` (event classes found
by name once, not per event): this class is the one plug-in of ours every configuration of the
Rasa server loads.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.exc import SQLAlchemyError

from cobranza import bootstrap, db
from cobranza.bootstrap import App
from cobranza.channels import action_calls, event_types
from cobranza.config import ConfigError, Settings

logger = logging.getLogger(__name__)

# Every turn asks for the conversation's latest session start (on retrieve; Rasa asks again on
# save, which this store spares when it loaded the tracker itself):
# ``max(timestamp) WHERE sender_id = ? AND type_name = 'session_started'``. Rasa indexes
# sender_id alone, so that reads every event the debtor ever had (months of reminders and
# replies). This index answers it from the index alone.
SESSION_START_INDEX = "ix_events_sender_type_time"
_CREATE_SESSION_START_INDEX = sa.text(
    f"CREATE INDEX IF NOT EXISTS {SESSION_START_INDEX} ON events (sender_id, type_name, timestamp)"
)
# Set on a tracker this store loaded: how many of its events are stored (see _stored_count).
_STORED_EVENTS = "_cobranza_stored_events"


class CobranzaTrackerStore(SQLTrackerStore):
    """:class:`SQLTrackerStore` on ``DATABASE_URL``.

    Rasa creates a custom tracker store with ``host`` (the block's ``url``), ``domain``,
    ``event_broker`` and every other key of the block; any connection setting there is refused,
    naming the key and never echoing its value. ``app`` is for tests and tools; Rasa's store
    uses the process's own (:func:`cobranza.bootstrap.app`).
    """

    def __init__(
        self,
        domain: Domain | None = None,
        event_broker: EventBroker | None = None,
        host: str | None = None,
        app: App | None = None,
        **kwargs: Any,
    ) -> None:
        given = sorted(kwargs) + (["url"] if host is not None else [])
        if given:
            raise ConfigError(
                "endpoints.yml: the tracker store takes its database from DATABASE_URL only; "
                f"remove {', '.join(given)} from the tracker_store block"
            )
        if not isinstance(app, App | None):
            raise ConfigError("tracker store: app must come from cobranza.bootstrap")
        app = app or bootstrap.app()
        settings = app.settings
        self.engine = app.engine
        try:
            self._create_table()
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise ConfigError(
                "the tracker store cannot use the database in DATABASE_URL "
                f"({db.masked_url(settings.database_url)}): {_reason(exc, settings)}"
            ) from None  # the driver's exception is not chained: nothing more to leak
        self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        TrackerStore.__init__(self, domain, event_broker)
        action_calls.install()  # every Rasa server of ours builds this store: see the modules
        event_types.install()
        logger.info("conversations are stored in %s", self.engine.dialect.name)

    def _create_table(self) -> None:
        """Rasa's table and our index, when missing. Two processes starting together may both
        find the table missing and one CREATE fail: the second look finds it."""
        for attempt in (1, 2):
            try:
                with self.engine.begin() as connection:
                    self.Base.metadata.create_all(connection)
                    connection.execute(_CREATE_SESSION_START_INDEX)
                return
            except SQLAlchemyError:
                if attempt == 2:
                    raise

    async def _retrieve(
        self, sender_id: str, fetch_events_from_all_sessions: bool
    ) -> DialogueStateTracker | None:
        return await asyncio.to_thread(self._load, sender_id, fetch_events_from_all_sessions)

    def _load(self, sender_id: str, all_sessions: bool) -> DialogueStateTracker | None:
        """Rasa's ``_retrieve``, as a plain function for a worker thread. Only the ``data``
        column is read (Rasa loads whole rows as ORM objects and reads that column alone).

        A tracker of the latest session remembers how many of its events are stored: they are
        exactly the rows Rasa's save would count again (the same query), so the save that
        follows needs no count (:meth:`_stored_count`)."""
        with self.session_scope() as session:
            query = self._event_query(
                session, sender_id, fetch_events_from_all_sessions=all_sessions
            ).with_entities(self.SQLEvent.data)
            events = [json.loads(data) for (data,) in query.all()]
        if not (self.domain and events):
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        if not all_sessions:
            setattr(tracker, _STORED_EVENTS, len(events))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)  # the event broker, if any, on the server's loop
        await asyncio.to_thread(self._store_new_events, tracker)

    def _store_new_events(self, tracker: DialogueStateTracker) -> None:
        """Rasa's ``save`` (the events not stored yet, one row each), for a worker thread: the
        rows go in one batch (``executemany``) rather than one ORM flush per event."""
        with self.session_scope() as session:
            stored = self._stored_count(session, tracker)
            rows = [self._row(tracker.sender_id, event) for event in list(tracker.events)[stored:]]
            if rows:
                session.execute(sa.insert(self.SQLEvent.__table__), rows)
            session.commit()

    def _stored_count(self, session: sa.orm.Session, tracker: DialogueStateTracker) -> int:
        """How many of the tracker's events are stored already. Rasa counts them with a query
        on every save (``_additional_events``); a tracker this store has just loaded knows the
        answer, since that count runs the very query the load ran and Rasa's lock on the
        conversation keeps anyone else from writing to it meanwhile. Only the first save after
        the load takes it: once saved, the next save counts again, as Rasa does."""
        known = getattr(tracker, _STORED_EVENTS, None)
        if known is not None:
            delattr(tracker, _STORED_EVENTS)
            return int(known)
        return self._event_query(
            session, tracker.sender_id, fetch_events_from_all_sessions=False
        ).count()

    @staticmethod
    def _row(sender_id: str, event: Event) -> dict[str, Any]:
        """One ``events`` row, as Rasa's ``save`` writes it."""
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }


def _reason(error: SQLAlchemyError, settings: Settings) -> str:
    """The driver's first line (e.g. "Connection refused"), with the password scrubbed should a
    driver ever echo it."""
    original = getattr(error, "orig", None) or error
    first = (str(original).strip().splitlines() or [""])[0][:200]
    password = sa.engine.make_url(settings.database_url).password
    if password:
        first = first.replace(str(password), "***")
    return f"{type(original).__name__}: {first}"
