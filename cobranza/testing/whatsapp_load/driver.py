"""The driver of a WhatsApp load: many simulated debtors at once (:mod:`.debtors`), each through
a whole conversation, against one Rasa server or a cluster of them; counted by :mod:`.counts`
with what :mod:`.checks` reads.

A debtor sends its next message only once the previous one's turn is over: the assistant marks
the stored message done after the turn's answers went out (``whatsapp_inbound``;
:class:`InboxWatcher` reads it), or, without a database, :class:`QuietCompletion` waits for the
answers to stop. A turn's time runs from its webhook POST to the arrival at the fake Graph API
of the last reply that answered it.

Deliveries are Meta's: signed webhooks (:func:`cobranza.simulation.fake_graph.signed_request`),
and a delivery not answered 2xx is delivered again, the same payload with the same message id,
after a back-off (Meta retries too). A message is *accepted* when one of its deliveries got a
2xx."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import requests
from sqlalchemy import select
from sqlalchemy.engine import Engine

from cobranza.db.models import WhatsAppInbound
from cobranza.domain.vocabulary import InboundStatus
from cobranza.simulation.fake_graph import (
    FakeGraphAPI,
    signed_request,
    text_message,
    webhook_payload,
)
from cobranza.testing.whatsapp_load.checks import (
    last_promise_id,
    processed_counts,
    promises_since,
    reply_links,
)
from cobranza.testing.whatsapp_load.counts import SentRecord, Tally, TurnRecord, tally
from cobranza.testing.whatsapp_load.debtors import SCRIPT, SimulatedDebtor


def server_env(graph: FakeGraphAPI, app_secret: str, verify_token: str = "") -> dict[str, str]:
    """What a Rasa server (or a cluster: every replica and the gateway) needs to talk WhatsApp
    with the fake Graph API: the channel's settings, and no flood limit (every debtor writes
    through one loopback address, and the gateway's). For a cluster, what keeps it apart from
    any other on the same Redis and RabbitMQ: Rasa's conversation locks under a prefix of this
    run's own (the demo debtors' ids are the same in every copy of the portfolio), and the
    events on an exchange and a queue of the load's, not the default ones a cluster started by
    hand (or by its own tests) consumes."""
    return {
        "RASA_CREDENTIALS": "credentials.whatsapp.yml",
        "WHATSAPP_VERIFY_TOKEN": verify_token or secrets.token_urlsafe(16),
        "WHATSAPP_APP_SECRET": app_secret,
        "WHATSAPP_ACCESS_TOKEN": graph.access_token,
        "WHATSAPP_PHONE_NUMBER_ID": graph.phone_number_id,
        "WHATSAPP_API_URL": graph.base_url,
        "COBRANZA_RATE_LIMIT_PER_MINUTE": "100000",
        "COBRANZA_RATE_LIMIT_PER_ADDRESS_PER_MINUTE": "100000",
        "OUTREACH_WORKER": "off",  # on the wall clock it would write to the debtors meanwhile
        "LOCK_KEY_PREFIX": f"load{secrets.token_hex(6)}",
        "RASA_EVENTS_EXCHANGE": "cobranza-load-exchange",
        "RASA_EVENTS_QUEUE": "cobranza_load_events",
    }


# --------------------------------------------------------------------------- completion


class Completion(Protocol):
    """Tells when a turn is over: its answers went out."""

    def wait(self, turn: TurnRecord, timeout: float) -> str:
        """``done``, ``failed`` (the assistant gave up on the message) or ``timeout``."""
        ...


class InboxWatcher:
    """Reads the assistant's inbox (``whatsapp_inbound``) for the turns being waited for, all at
    once, every ``poll`` seconds, from one thread: the assistant marks a message done or failed
    once its turn, answers included, went out (or could not)."""

    def __init__(self, engine: Engine, poll: float = 0.1) -> None:
        self.engine = engine
        self.poll = poll
        self._lock = threading.Lock()
        self._waiting: dict[str, threading.Event] = {}
        self._outcomes: dict[str, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inbox-watcher", daemon=True)
        self.errors: list[str] = []

    def __enter__(self) -> InboxWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def wait(self, turn: TurnRecord, timeout: float) -> str:
        event = threading.Event()
        with self._lock:
            self._waiting[turn.message_id] = event
        try:
            if not event.wait(timeout):
                return "timeout"
            with self._lock:
                return self._outcomes.pop(turn.message_id)
        finally:
            with self._lock:
                self._waiting.pop(turn.message_id, None)

    def _run(self) -> None:
        while not self._stop.wait(self.poll):
            with self._lock:
                ids = list(self._waiting)
            if not ids:
                continue
            try:
                with self.engine.connect() as connection:
                    rows = connection.execute(
                        select(WhatsAppInbound.message_id, WhatsAppInbound.status).where(
                            WhatsAppInbound.message_id.in_(ids),
                            WhatsAppInbound.status != InboundStatus.PENDING.value,
                        )
                    ).all()
            except Exception as exc:  # noqa: BLE001 - the database may blink; poll again
                self.errors.append(type(exc).__name__)
                continue
            with self._lock:
                for message_id, status in rows:
                    event = self._waiting.get(message_id)
                    if event is not None and not event.is_set():
                        failed = status == InboundStatus.FAILED.value
                        self._outcomes[message_id] = "failed" if failed else "done"
                        event.set()


class QuietCompletion:
    """Without a database: a turn is over once a reply to the debtor arrived after its POST and
    none followed for ``quiet`` seconds (slower, and blind to a turn that answers late)."""

    def __init__(self, graph: FakeGraphAPI, quiet: float = 0.5) -> None:
        self.graph = graph
        self.quiet = quiet

    def wait(self, turn: TurnRecord, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            arrivals = [
                arrived
                for payload, _wamid, arrived in self.graph.records()
                if payload.get("to") == turn.wa_id and arrived >= turn.posted
            ]
            if arrivals and time.monotonic() - max(arrivals) >= self.quiet:
                return "done"
            time.sleep(min(0.05, self.quiet / 4))
        return "timeout"


# --------------------------------------------------------------------------- the driver


@dataclass
class LoadSettings:
    turn_timeout: float = 120.0  # seconds for a turn to be over (a failover takes ~45 s)
    post_timeout: float = 30.0  # seconds for one webhook POST
    deliveries: int = 6  # deliveries of one message before giving up (Meta retries for days)
    first_retry: float = 1.0  # seconds before the first redelivery, doubling
    think: float = 0.0  # seconds a debtor waits between an answer and its next message
    deadline: float = 900.0  # seconds for the whole load: no debtor starts a turn after it


class Load:
    """``debtors`` each through ``script`` at once, over signed webhooks to ``webhook_url``.
    ``engine`` (the assistant's database) gives the turns' ends, the reply links, Rasa's tracker
    and the promises; without it, :class:`QuietCompletion` and the time decide.

    :meth:`start`, then :meth:`wait_turns` (e.g. to kill a replica half-way), then
    :meth:`finish`; or :meth:`run` for all three."""

    def __init__(
        self,
        webhook_url: str,
        app_secret: str,
        graph: FakeGraphAPI,
        debtors: Sequence[SimulatedDebtor],
        *,
        engine: Engine | None = None,
        script: Sequence[str] = SCRIPT,
        settings: LoadSettings | None = None,
    ) -> None:
        self.webhook_url = webhook_url
        self.app_secret = app_secret
        self.graph = graph
        self.debtors = list(debtors)
        self.engine = engine
        self.script = tuple(script)
        self.settings = settings or LoadSettings()
        self.run_id = secrets.token_hex(4)
        self.turns: list[TurnRecord] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._over = 0
        self._progress = threading.Condition(self._lock)
        self._graph_start = 0
        self._promise_baseline = 0
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Any] = []
        self._watcher: InboxWatcher | None = None
        self._completion: Completion | None = None
        self._deadline = 0.0

    @property
    def planned(self) -> int:
        return len(self.debtors) * len(self.script)

    def turns_over(self) -> int:
        with self._lock:
            return self._over

    def start(self) -> Load:
        self._graph_start = len(self.graph.messages)
        if self.engine is not None:
            self._promise_baseline = last_promise_id(self.engine)
            self._watcher = InboxWatcher(self.engine).__enter__()
            self._completion = self._watcher
        else:
            self._completion = QuietCompletion(self.graph)
        self._deadline = time.monotonic() + self.settings.deadline
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(self.debtors)))
        self._futures = [self._pool.submit(self._converse, d) for d in self.debtors]
        return self

    def wait_turns(self, count: int, timeout: float) -> bool:
        """Block until ``count`` turns are over (answered, failed or timed out)."""
        deadline = time.monotonic() + timeout
        with self._progress:
            while self._over < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or all(f.done() for f in self._futures):
                    return self._over >= count
                self._progress.wait(min(remaining, 1.0))
            return True

    def finish(self, settle: float = 2.0) -> Tally:
        """Wait for every debtor, give late replies ``settle`` seconds, then count."""
        assert self._pool is not None, "start() first"
        for future in self._futures:
            try:
                future.result()
            except Exception as exc:  # noqa: BLE001 - one debtor's crash is counted, not raised
                self.errors.append(f"debtor thread: {type(exc).__name__}: {exc}")
        self._pool.shutdown()
        if self._watcher is not None:
            self._watcher.__exit__()
            self.errors += [f"inbox poll failed: {e}" for e in self._watcher.errors[:5]]
        time.sleep(settle)
        return self.count()

    def run(self, settle: float = 2.0) -> Tally:
        return self.start().finish(settle)

    def count(self) -> Tally:
        sent = [
            SentRecord(str(payload.get("to")), wamid, arrived, payload)
            for payload, wamid, arrived in self.graph.records(self._graph_start)
        ]
        links = processed = promises = None
        if self.engine is not None:
            ids = [t.message_id for t in self.turns]
            wa_ids = [d.wa_id for d in self.debtors]
            links = reply_links(self.engine, ids)
            processed = processed_counts(self.engine, wa_ids)
            promises = promises_since(
                self.engine, self._promise_baseline, [d.phone for d in self.debtors]
            )
        return tally(
            self.turns,
            sent,
            debtors=len(self.debtors),
            planned=self.planned,
            links=links,
            processed=processed,
            promises=promises,
            errors=self.errors,
        )

    # ------------------------------------------------------------------------- one debtor

    def _converse(self, debtor: SimulatedDebtor) -> None:
        session = requests.Session()
        try:
            for index, words in enumerate(debtor.turns(self.script)):
                if time.monotonic() > self._deadline:
                    with self._lock:
                        self.errors.append(f"load deadline: a debtor stopped before turn {index}")
                    return
                turn = TurnRecord(
                    debtor.wa_id, index, f"wamid.load.{self.run_id}.{debtor.wa_id}.{index}", words
                )
                with self._lock:
                    self.turns.append(turn)
                self._deliver(session, turn)
                if not turn.accepted:
                    self._over_one()
                    return  # Meta would keep trying; the debtor's conversation stops here
                assert self._completion is not None
                turn.outcome = self._completion.wait(turn, self.settings.turn_timeout)
                self._over_one()
                if self.settings.think:
                    time.sleep(self.settings.think)
        finally:
            session.close()

    def _over_one(self) -> None:
        with self._progress:
            self._over += 1
            self._progress.notify_all()

    def _deliver(self, session: requests.Session, turn: TurnRecord) -> None:
        """POST the message until a delivery gets a 2xx (Meta's redelivery: same payload)."""
        item = text_message(turn.wa_id, turn.text, turn.message_id, int(time.time()))
        body, headers = signed_request(webhook_payload(item), self.app_secret)
        wait = self.settings.first_retry
        for attempt in range(self.settings.deliveries):
            if attempt:
                time.sleep(wait)
                wait *= 2
            started = time.monotonic()
            if not turn.deliveries:
                turn.posted = started
            turn.deliveries += 1
            try:
                answer = session.post(
                    self.webhook_url,
                    data=body,
                    headers=headers,
                    timeout=self.settings.post_timeout,
                )
            except requests.RequestException as exc:
                turn.statuses.append(type(exc).__name__)
                continue
            turn.statuses.append(answer.status_code)
            if 200 <= answer.status_code < 300:
                turn.accepted = True
                return


def drive(
    webhook_url: str,
    app_secret: str,
    graph: FakeGraphAPI,
    debtors: Sequence[SimulatedDebtor],
    *,
    engine: Engine | None = None,
    settings: LoadSettings | None = None,
    midway: Callable[[], None] | None = None,
    midway_at: float = 0.4,
) -> Tally:
    """One load; ``midway`` (e.g. kill a replica) runs once ``midway_at`` of the turns are
    over, while the load goes on."""
    load = Load(webhook_url, app_secret, graph, debtors, engine=engine, settings=settings)
    load.start()
    if midway is not None:
        load.wait_turns(round(midway_at * load.planned), timeout=3600)
        midway()
    return load.finish()
