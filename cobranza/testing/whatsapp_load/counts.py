"""What a WhatsApp load counts, from its records alone (pure: the unit tests exercise it): the
turns the debtors sent and what the fake Graph API received.

* each reply the fake Graph API received is attributed to the inbound message it answers: by the
  assistant's own record when there is one (``whatsapp_reply_attempts`` links Meta's id of the
  reply to the inbound message), else by time (the debtor's latest message posted before it);
* *missing*: an accepted message with no reply; *duplicates*: a reply that repeats, word for
  word, an earlier reply to the same message (a turn run twice); *reprocessed*: a message that
  is in Rasa's tracker more than once (``events``);
* promises: per debtor, the rows the run added to ``promises``: none although the assistant
  confirmed one is a promise *lost*, two or more a promise *duplicated*.

What the assistant's database and logs say is read by :mod:`.checks`."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cobranza.testing.whatsapp_load.debtors import CONFIRM_TURN, PROMISE_CONFIRMED

JSON = dict[str, Any]


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


def summary(name: str, result: Tally) -> str:
    """The printed block of one phase."""
    return "\n".join([f"{name}:", *(f"  {line}" for line in result.lines())])
