"""Many simulated debtors at once, each through a whole WhatsApp conversation, against one Rasa
server or a cluster of them: the driver of `make bench-cluster` and tests/e2e/test_cluster.py.

Each debtor is a demo-portfolio debtor writing from its own number (its WhatsApp id is its
phone): a greeting, its date of birth, "how much do I owe", a payment promise for tomorrow, "yes"
to confirm it, goodbye (:data:`SCRIPT`). A debtor sends its next message only once the previous
one's turn is over: the assistant marks the stored message done after the turn's answers went out
(``whatsapp_inbound``; :class:`InboxWatcher` reads it), or, without a database,
:class:`QuietCompletion` waits for the answers to stop. A turn's time runs from its webhook
POST to the arrival at the fake Graph API of the last reply that answered it.

Deliveries are Meta's: signed webhooks (:func:`cobranza.simulation.fake_graph.signed_request`),
and a delivery not answered 2xx is delivered again, the same payload with the same message id,
after a back-off (Meta retries too). A message is *accepted* when one of its deliveries got a
2xx.

What is counted (:func:`tally`, a pure function the unit tests exercise):

* each reply the fake Graph API received is attributed to the inbound message it answers: by the
  assistant's own record when there is one (``whatsapp_reply_attempts`` links Meta's id of the
  reply to the inbound message), else by time (the debtor's latest message posted before it);
* *missing*: an accepted message with no reply; *duplicates*: a reply that repeats, word for
  word, an earlier reply to the same message (a turn run twice); *reprocessed*: a message that
  is in Rasa's tracker more than once (``events``);
* promises: per debtor, the rows the run added to ``promises``: none although the assistant
  confirmed one is a promise *lost*, two or more a promise *duplicated*.

:func:`lock_errors` finds the lock errors in the servers' logs. Development tooling, like the
rest of ``cobranza.testing``: nothing in the assistant imports it.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import requests
from sqlalchemy import column, func, select, table
from sqlalchemy.engine import Engine

from cobranza import responses
from cobranza.db.models import (
    Consent,
    ContactBlock,
    Debt,
    Debtor,
    PaymentAgreement,
    Promise,
    WhatsAppInbound,
    WhatsAppReplyAttempt,
)
from cobranza.domain.phones import whatsapp_id
from cobranza.domain.vocabulary import ConsentStatus, DebtStatus, InboundStatus, PromiseStatus
from cobranza.simulation.fake_graph import (
    FakeGraphAPI,
    signed_request,
    text_message,
    webhook_payload,
)

JSON = dict[str, Any]

PROMISE_AMOUNT = Decimal("500")
# The conversation every simulated debtor has ({dob}: its date of birth, {amount}: the promise).
SCRIPT: tuple[str, ...] = (
    "hola",
    "{dob}",
    "cuanto debo",
    "te pago {amount} mañana",
    "si",
    "gracias, adios",
)
CONFIRM_TURN = 4  # the turn whose answer confirms the promise
# What the assistant says once a promise is stored: the fixed start of utter_promesa_registrada.
PROMISE_CONFIRMED = responses.text("utter_promesa_registrada").split("{")[0].strip()

# Rasa's tracker (its ``events`` table, no model of ours) and the key under which the WhatsApp
# channel stores a message's id in a user event's metadata (MESSAGE_ID_KEY of
# cobranza.channels.whatsapp.config, a module of a sibling layer this one may not import; a unit
# test checks they agree).
_EVENTS = table("events", column("sender_id"), column("type_name"), column("data"))
MESSAGE_ID_KEY = "whatsapp_message_id"

# Lines of a server log that report a lock failure: Rasa's lock store, PostgreSQL, our leases.
LOCK_ERROR = re.compile(
    r"LockError|could not acquire lock|lock timeout|lock wait timeout|deadlock detected"
    r"|taken by another replica",
    re.IGNORECASE,
)


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


# --------------------------------------------------------------------------- the debtors


@dataclass(frozen=True)
class SimulatedDebtor:
    phone: str  # E.164
    date_of_birth: date

    @property
    def wa_id(self) -> str:
        return whatsapp_id(self.phone)

    def turns(self, script: Sequence[str] = SCRIPT) -> list[str]:
        dob = self.date_of_birth.strftime("%d/%m/%Y")
        return [t.format(dob=dob, amount=int(PROMISE_AMOUNT)) for t in script]


def pick_debtors(engine: Engine, count: int) -> list[SimulatedDebtor]:
    """``count`` demo debtors a promise for tomorrow suits: one debt, active, with a balance
    above the promise; no promise pending, no agreement, no blocked number, no consent record
    other than a grant (the demo's revoked ones would be told they opted out). In phone order:
    the same database gives the same debtors."""
    with engine.connect() as connection:
        single = (
            select(Debt.debtor_phone)
            .group_by(Debt.debtor_phone)
            .having(func.count(Debt.id) == 1)
            .scalar_subquery()
        )
        query = (
            select(Debtor.phone, Debtor.date_of_birth)
            .join(Debt, Debt.debtor_phone == Debtor.phone)
            .where(
                Debtor.phone.in_(single),
                Debt.status == DebtStatus.ACTIVE.value,
                Debt.current_balance >= 2 * PROMISE_AMOUNT,
                Debtor.hardship_declared_at.is_(None),
                ~select(Promise.id)
                .where(
                    Promise.debtor_phone == Debtor.phone,
                    Promise.status == PromiseStatus.PENDING.value,
                )
                .exists(),
                ~select(PaymentAgreement.id)
                .where(PaymentAgreement.debtor_phone == Debtor.phone)
                .exists(),
                ~select(ContactBlock.id).where(ContactBlock.phone == Debtor.phone).exists(),
                ~select(Consent.id)
                .where(
                    Consent.debtor_phone == Debtor.phone,
                    Consent.status != ConsentStatus.GRANTED.value,
                )
                .exists(),
            )
            .order_by(Debtor.phone)
            .limit(count)
        )
        found = [SimulatedDebtor(phone, born) for phone, born in connection.execute(query)]
    if len(found) < count:
        raise ValueError(f"only {len(found)} demo debtors suit the conversation, {count} asked")
    return found


# --------------------------------------------------------------------------- the records


@dataclass
class TurnRecord:
    """One message a debtor sent, and what became of it."""

    wa_id: str
    index: int  # its place in the script
    message_id: str
    text: str
    posted: float = 0.0  # time.monotonic() of its first delivery
    deliveries: int = 0
    statuses: list[int | str] = field(default_factory=list)  # HTTP status, or the error's class
    accepted: bool = False
    outcome: str = ""  # done | failed | timeout (the turn's end as the completion saw it)


@dataclass(frozen=True)
class SentRecord:
    """A message the fake Graph API accepted."""

    to: str
    wamid: str
    arrived: float
    payload: JSON

    @property
    def content(self) -> str:
        """What the debtor reads, as a key: two replies with the same key say the same."""
        kind = self.payload.get("type")
        return json.dumps([kind, self.payload.get(str(kind))], sort_keys=True, ensure_ascii=False)

    @property
    def text(self) -> str:
        body = self.payload.get("text") or (self.payload.get("interactive") or {}).get("body")
        return str((body or {}).get("body") or (body or {}).get("text") or "")


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


# --------------------------------------------------------------------------- the tally


def percentile(values: Sequence[float], pct: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


@dataclass
class Tally:
    """The counts of one load; :meth:`lines` prints them, :meth:`problems` says what is wrong."""

    debtors: int = 0
    planned: int = 0  # messages the script would send
    sent: int = 0  # messages the debtors got to send (a debtor stops at an unaccepted one)
    deliveries: int = 0  # webhook POSTs, redeliveries included
    statuses: Counter[str] = field(default_factory=Counter)
    accepted: int = 0
    not_accepted: int = 0
    answered: int = 0  # accepted messages with at least one reply
    missing: int = 0  # accepted messages with no reply
    duplicates: int = 0  # replies repeating an earlier reply to the same message
    replies: int = 0  # replies attributed to our messages
    unattributed: int = 0  # replies to our debtors before any of their messages
    failed: int = 0  # messages the assistant marked failed
    timeouts: int = 0  # turns not over within the turn timeout
    reprocessed: int = 0  # messages in Rasa's tracker more than once
    unprocessed: int = 0  # accepted messages not in Rasa's tracker
    promised: int = 0  # debtors whose promise the assistant confirmed
    promises_lost: int = 0
    promises_duplicated: int = 0
    promises_unconfirmed: int = 0  # a row stored, the confirmation never arrived
    # Debtors every message of whom was answered once, yet the conversation never reached a
    # promise: the assistant took another path (e.g. a turn run again after a crash).
    derailed: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds per answered turn
    # The conversations of a few debtors something went wrong with, as they read (demo data).
    transcripts: dict[str, list[str]] = field(default_factory=dict)
    elapsed: float = 0.0  # first POST to last reply
    errors: list[str] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """Answered turns per second."""
        return self.answered / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def exactly_once(self) -> bool:
        return not (self.missing or self.duplicates or self.reprocessed or self.unprocessed)

    def problems(self) -> list[str]:
        """What breaks the guarantees: a message not accepted, not answered or answered twice,
        a promise lost or duplicated, an error."""
        checks = {
            "messages never accepted": self.not_accepted,
            "messages not sent (debtor stopped)": self.planned - self.sent,
            "accepted messages without an answer": self.missing,
            "duplicate replies": self.duplicates,
            "messages processed twice": self.reprocessed,
            "accepted messages never processed": self.unprocessed,
            "messages failed": self.failed,
            "turns timed out": self.timeouts,
            "promises lost": self.promises_lost,
            "promises duplicated": self.promises_duplicated,
            "promises stored but not confirmed": self.promises_unconfirmed,
            "debtors without a promise, a message lost on the way": (
                self.debtors - self.promised - self.derailed
            ),
        }
        found = [f"{name}: {count}" for name, count in checks.items() if count]
        return found + self.errors[:20]

    def details(self) -> str:
        """The transcripts of the debtors something went wrong with (a few)."""
        blocks = []
        for wa_id, lines in self.transcripts.items():
            blocks.append("\n".join([f"debtor {wa_id}:", *(f"  {line}" for line in lines)]))
        return "\n".join(blocks)

    def lines(self) -> list[str]:
        ms = [1000 * s for s in self.latencies]
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return [
            f"{self.debtors} debtors, {self.sent}/{self.planned} messages sent in "
            f"{self.deliveries} deliveries ({statuses})",
            f"throughput {self.throughput:.1f} turns/s ({self.answered} answered turns in "
            f"{self.elapsed:.1f} s); per turn p50 {percentile(ms, 50):.0f} ms, "
            f"p95 {percentile(ms, 95):.0f} ms, max {max(ms, default=0):.0f} ms",
            f"accepted {self.accepted}, answered {self.answered}, missing {self.missing}, "
            f"duplicates {self.duplicates}, reprocessed {self.reprocessed}, "
            f"unprocessed {self.unprocessed}, failed {self.failed}, timeouts {self.timeouts}, "
            f"not accepted {self.not_accepted}",
            f"promises: {self.promised} confirmed, lost {self.promises_lost}, duplicated "
            f"{self.promises_duplicated}, stored unconfirmed {self.promises_unconfirmed}; "
            f"conversations derailed {self.derailed}",
        ]


def attribute(
    turns: Sequence[TurnRecord], sent: Sequence[SentRecord], links: Mapping[str, str]
) -> tuple[dict[str, list[SentRecord]], int]:
    """The replies of each message id, and how many replies to our debtors came before any of
    their messages. ``links`` (Meta's id of a reply → the message it answered) wins; else a
    reply answers its debtor's latest message posted before it arrived."""
    by_id = {t.message_id: t for t in turns}
    timeline: dict[str, list[TurnRecord]] = {}
    for turn in sorted((t for t in turns if t.deliveries), key=lambda t: t.posted):
        timeline.setdefault(turn.wa_id, []).append(turn)
    replies: dict[str, list[SentRecord]] = {t.message_id: [] for t in turns}
    unattributed = 0
    for record in sorted(sent, key=lambda r: r.arrived):
        linked = links.get(record.wamid)
        if linked in by_id:
            replies[linked].append(record)
            continue
        before = [t for t in timeline.get(record.to, []) if t.posted <= record.arrived]
        if before:
            replies[before[-1].message_id].append(record)
        elif record.to in timeline:
            unattributed += 1
    return replies, unattributed


TRANSCRIPTS = 5  # troubled debtors whose conversation a tally keeps


def transcript(
    turns: Sequence[TurnRecord], replies: Mapping[str, list[SentRecord]], wa_id: str
) -> list[str]:
    """One debtor's conversation as the fake Graph API saw it: each message (its deliveries'
    statuses, how its turn ended) and the replies attributed to it."""
    lines = []
    start = min((t.posted for t in turns if t.wa_id == wa_id and t.deliveries), default=0.0)
    for turn in sorted((t for t in turns if t.wa_id == wa_id), key=lambda t: t.index):
        statuses = ",".join(str(s) for s in turn.statuses)
        lines.append(f"> {turn.text} [{statuses}] {turn.outcome} at {turn.posted - start:.1f} s")
        for answer in replies.get(turn.message_id, []):
            lines.append(f"    < {answer.text[:120]} (+{answer.arrived - turn.posted:.1f} s)")
    return lines


def _conversations(
    turns: Sequence[TurnRecord],
    replies: Mapping[str, list[SentRecord]],
    confirmed: set[str],
    promises: Mapping[str, int] | None,
) -> tuple[int, set[str]]:
    """One pass over the turns: how many debtors derailed (every message sent, accepted and
    answered once, and no promise reached, none confirmed, none stored: a dialogue gone astray,
    not a message lost), and the debtors something went wrong with (a message not accepted,
    unanswered, answered twice or not over; no confirmed promise; not exactly the one promise
    row it confirmed)."""
    answered_once: dict[str, bool] = {}  # every message of the debtor accepted, answered once
    furthest: dict[str, int] = {}  # the debtor's last message's place in the script
    troubled: set[str] = set()
    for turn in turns:
        answers = replies.get(turn.message_id, [])
        once = turn.accepted and bool(answers) and len({a.content for a in answers}) == len(answers)
        answered_once[turn.wa_id] = answered_once.get(turn.wa_id, True) and once
        furthest[turn.wa_id] = max(furthest.get(turn.wa_id, turn.index), turn.index)
        if turn.deliveries and not (once and turn.outcome == "done"):
            troubled.add(turn.wa_id)
    unconfirmed = set(answered_once) - confirmed
    stored = promises or {}
    derailed = sum(
        answered_once[w] and not stored.get(w, 0) and furthest[w] >= CONFIRM_TURN
        for w in unconfirmed
    )
    troubled |= unconfirmed
    if promises is not None:
        troubled |= {w for w in confirmed if promises.get(w, 0) != 1}
        troubled |= {w for w, count in promises.items() if count and w not in confirmed}
    return derailed, troubled


def tally(
    turns: Sequence[TurnRecord],
    sent: Sequence[SentRecord],
    *,
    debtors: int,
    planned: int,
    links: Mapping[str, str] | None = None,
    processed: Mapping[str, int] | None = None,
    promises: Mapping[str, int] | None = None,
    errors: Sequence[str] = (),
) -> Tally:
    """Count one load from its records: the turns the debtors sent, what the fake Graph API
    received (``sent``, every recipient: only our debtors' count), the assistant's reply links,
    the times Rasa's tracker holds each message id (``processed``; None: not checked), and
    the promises the run added per debtor's WhatsApp id (None: not checked)."""
    ours = {t.wa_id for t in turns}
    replies, unattributed = attribute(turns, [s for s in sent if s.to in ours], links or {})
    result = Tally(debtors=debtors, planned=planned, errors=list(errors))
    result.unattributed = unattributed
    first = min((t.posted for t in turns if t.deliveries), default=0.0)
    last = first
    confirmed: set[str] = set()
    for turn in turns:
        if not turn.deliveries:
            continue
        result.sent += 1
        result.deliveries += turn.deliveries
        result.statuses.update(str(s) for s in turn.statuses)
        result.failed += turn.outcome == "failed"
        result.timeouts += turn.outcome == "timeout"
        if not turn.accepted:
            result.not_accepted += 1
            continue
        result.accepted += 1
        answers = replies[turn.message_id]
        result.replies += len(answers)
        seen: set[str] = set()
        for answer in answers:
            result.duplicates += answer.content in seen
            seen.add(answer.content)
        if not answers:
            result.missing += 1
            continue
        result.answered += 1
        done = max(a.arrived for a in answers)
        result.latencies.append(done - turn.posted)
        last = max(last, done)
        if turn.index == CONFIRM_TURN and any(PROMISE_CONFIRMED in a.text for a in answers):
            confirmed.add(turn.wa_id)
        if processed is not None:
            times = processed.get(turn.message_id, 0)
            result.reprocessed += times > 1
            result.unprocessed += times == 0
    result.elapsed = last - first
    result.promised = len(confirmed)
    result.derailed, troubled = _conversations(turns, replies, confirmed, promises)
    for wa_id in sorted(troubled)[:TRANSCRIPTS]:
        result.transcripts[wa_id] = transcript(turns, replies, wa_id)
    if promises is not None:
        for wa_id in ours:
            stored = promises.get(wa_id, 0)
            result.promises_lost += wa_id in confirmed and stored == 0
            result.promises_duplicated += stored > 1
            result.promises_unconfirmed += wa_id not in confirmed and stored > 0
    return result


# --------------------------------------------------------------------------- the database


def last_promise_id(engine: Engine) -> int:
    """The largest promise id: a row above it was added by the run."""
    with engine.connect() as connection:
        return int(connection.execute(select(func.max(Promise.id))).scalar() or 0)


def promises_since(engine: Engine, after_id: int, phones: Iterable[str]) -> dict[str, int]:
    """Promise rows added since ``after_id``, per debtor's WhatsApp id (any status: one
    superseded by a re-run turn is a duplicate too)."""
    wanted = list(phones)
    with engine.connect() as connection:
        rows = connection.execute(
            select(Promise.debtor_phone, func.count(Promise.id))
            .where(Promise.id > after_id, Promise.debtor_phone.in_(wanted))
            .group_by(Promise.debtor_phone)
        ).all()
    return {whatsapp_id(phone): int(count) for phone, count in rows}


def reply_links(engine: Engine, message_ids: Iterable[str]) -> dict[str, str]:
    """Meta's id of each reply the assistant recorded → the inbound message it answered."""
    ids = list(message_ids)
    links: dict[str, str] = {}
    with engine.connect() as connection:
        for start in range(0, len(ids), 500):
            rows = connection.execute(
                select(WhatsAppReplyAttempt.message_id, WhatsAppReplyAttempt.reply_to).where(
                    WhatsAppReplyAttempt.reply_to.in_(ids[start : start + 500]),
                    WhatsAppReplyAttempt.message_id.is_not(None),
                )
            ).all()
            links.update({str(wamid): str(reply_to) for wamid, reply_to in rows})
    return links


def processed_counts(engine: Engine, senders: Iterable[str]) -> Counter[str]:
    """How many times each WhatsApp message id is in Rasa's tracker (``events``: a user event
    carries the id in its metadata): exactly once for every message whose turn ran."""
    counts: Counter[str] = Counter()
    wanted = list(senders)
    with engine.connect() as connection:
        rows = connection.execute(
            select(_EVENTS.c.data).where(
                _EVENTS.c.type_name == "user", _EVENTS.c.sender_id.in_(wanted)
            )
        )
        for (data,) in rows:
            metadata = (json.loads(data) or {}).get("metadata") or {}
            message_id = metadata.get(MESSAGE_ID_KEY)
            if message_id:
                counts[str(message_id)] += 1
    return counts


def lock_errors(paths: Iterable[Path]) -> list[str]:
    """``file: line`` for every log line reporting a lock failure."""
    found = []
    for path in paths:
        if not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as log:
            for line in log:
                if LOCK_ERROR.search(line):
                    found.append(f"{path.name}: {line.strip()[:300]}")
    return found


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


def summary(name: str, result: Tally) -> str:
    """The printed block of one phase."""
    return "\n".join([f"{name}:", *(f"  {line}" for line in result.lines())])
