"""What the public channels hand to Rasa: a bounded text, and not too many messages.

* :func:`bound_user_text` caps the text a channel puts in a Rasa ``UserMessage``. Rasa keeps that
  text in the tracker's ``UserUttered`` event and sends the whole tracker to the action server
  on every turn, so a 200 KB message must not get that far. The NLU (``cobranza/nlu/limits.py``)
  answers a bounded text "too long".
* :class:`RateLimiter` and :class:`InboundGate`: per sender (a WhatsApp/Twilio number, a web chat
  session) and per client address (web chat), a token bucket of ``N`` messages that refills at
  ``N`` per minute (settings ``COBRANZA_RATE_LIMIT_PER_MINUTE`` and
  ``COBRANZA_RATE_LIMIT_PER_ADDRESS_PER_MINUTE``). A message over the limit never reaches Rasa
  (nothing is parsed or stored for it); the sender gets one polite answer from ``domain.yml``
  (``utter_demasiados_mensajes``) at most once a minute, not one per dropped message.

The limiter lives in the process: each Rasa instance counts on its own. Behind a load balancer
that spreads one sender's messages over several instances the limits multiply by their number;
the cluster's routing (docs/deployment.md) sends each sender, and each web chat address, to one
replica, so there each budget holds once. Its memory is bounded: a key idle for a whole minute
is forgotten (its bucket would be full again anyway), and at most ``max_keys`` keys are kept per
kind (the least recently seen go first, which can only make the limiter more lenient).
"""

from __future__ import annotations

import enum
import logging
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from rasa.core.channels.channel import UserMessage

from cobranza import bootstrap, responses
from cobranza.bootstrap import App
from cobranza.clock import Clock
from cobranza.config import Settings
from cobranza.domain.phones import mask_phone
from cobranza.domain.text import MAX_MESSAGE_CHARS

logger = logging.getLogger(__name__)

RATE_LIMIT_NOTICE = "utter_demasiados_mensajes"
MAX_TRACKED_KEYS = 50_000
WINDOW_SECONDS = 60.0


def bound_user_text(text: str) -> str:
    """The text a channel may put in a Rasa ``UserMessage``.

    Rasa's ``UserMessage`` strips surrounding whitespace, so this strips too and counts
    characters (code points, as ``len`` does) after that. A text of at most
    ``MAX_MESSAGE_CHARS`` characters comes back unchanged (stripped); a longer one comes back as
    its first ``MAX_MESSAGE_CHARS`` characters plus the next non-blank one. The contract:

    * ``len(result) <= MAX_MESSAGE_CHARS + 1``, and ``result == result.strip()``;
    * ``len(result) > MAX_MESSAGE_CHARS`` exactly when ``len(text.strip()) > MAX_MESSAGE_CHARS``.

    The one extra character is the signal: the NLU cuts the text to ``MAX_MESSAGE_CHARS`` and
    classifies it ``mensaje_muy_largo`` (cobranza/nlu/limits.py), so a cut message is never read
    as if it were whole, and no flag that a client could forge is needed. It is never blank, or
    Rasa's strip would remove it and the signal with it.
    """
    text = text.strip()
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    # text[MAX:] ends with text's last character, which is not blank: lstrip() leaves some
    return text[:MAX_MESSAGE_CHARS] + text[MAX_MESSAGE_CHARS:].lstrip()[0]


class Verdict(enum.Enum):
    ALLOW = "allow"  # hand the message to Rasa
    REFUSE_AND_TELL = "refuse-and-tell"  # drop it and answer the sender politely
    REFUSE = "refuse"  # drop it; the sender was told less than a minute ago


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float  # seconds, on the limiter's clock
    told: float | None = None  # when this sender was last told about the limit


class _Buckets:
    """Token buckets of one kind of key (senders or addresses), least recently seen first."""

    def __init__(self, capacity: int, window: float, max_keys: int) -> None:
        if capacity < 1:
            raise ValueError("a rate limit must allow at least one message per window")
        if max_keys < 1:
            raise ValueError("the limiter must remember at least one key")
        self.capacity = capacity
        self.window = window
        self.max_keys = max_keys
        self.rate = capacity / window  # tokens per second
        self.items: OrderedDict[str, _Bucket] = OrderedDict()

    def get(self, key: str, now: float) -> _Bucket:
        bucket = self.items.get(key)
        if bucket is None:
            bucket = self.items[key] = _Bucket(float(self.capacity), now)
        else:
            elapsed = max(0.0, now - bucket.updated)  # a clock set back refills nothing
            bucket.tokens = min(self.capacity, bucket.tokens + elapsed * self.rate)
            bucket.updated = now
            self.items.move_to_end(key)
        return bucket

    def evict(self, now: float) -> None:
        """Forget keys idle for a whole window (their bucket is full, their notice old: the same
        as a key never seen), then the least recently seen beyond ``max_keys``."""
        while self.items:
            oldest = next(iter(self.items.values()))
            if now - oldest.updated < self.window:
                break
            self.items.popitem(last=False)
        while len(self.items) > self.max_keys:
            self.items.popitem(last=False)


class RateLimiter:
    """Per-sender and per-address token buckets. Thread safe and async safe: :meth:`check` takes
    a lock and never awaits, so concurrent requests (threads or tasks) are counted exactly."""

    def __init__(
        self,
        per_sender: int,
        per_address: int,
        clock: Clock,
        window_seconds: float = WINDOW_SECONDS,
        max_keys: int = MAX_TRACKED_KEYS,
    ) -> None:
        self.clock = clock
        self.window = window_seconds
        self._senders = _Buckets(per_sender, window_seconds, max_keys)
        self._addresses = _Buckets(per_address, window_seconds, max_keys)
        self._lock = threading.Lock()

    def tracked(self) -> tuple[int, int]:
        """How many senders and addresses are remembered (memory is bounded by ``max_keys``)."""
        with self._lock:
            return len(self._senders.items), len(self._addresses.items)

    def check(self, sender: str, address: str | None = None) -> Verdict:
        """Count one message from ``sender`` (and from ``address``, when the channel knows the
        client's address). It passes only if both buckets have a token; a refused message uses
        none, so a sender who stops flooding is served again within seconds."""
        now = self.clock.now().timestamp()
        with self._lock:
            verdict = self._count(sender, address, now)
            self._senders.evict(now)  # the keys just used are the most recent: never evicted
            self._addresses.evict(now)
            return verdict

    def _count(self, sender: str, address: str | None, now: float) -> Verdict:
        by_sender = self._senders.get(sender, now)
        by_address = self._addresses.get(address, now) if address else None
        if by_sender.tokens >= 1 and (by_address is None or by_address.tokens >= 1):
            by_sender.tokens -= 1
            if by_address is not None:
                by_address.tokens -= 1
            return Verdict.ALLOW
        if by_sender.told is not None and now - by_sender.told < self.window:
            return Verdict.REFUSE
        by_sender.told = now
        return Verdict.REFUSE_AND_TELL


class InboundGate:
    """The rate limit as the channels apply it: :meth:`admit` before ``on_new_message``."""

    def __init__(self, limiter: RateLimiter, notice: str) -> None:
        self.limiter = limiter
        self.notice = notice

    @classmethod
    def from_settings(cls, settings: Settings, clock: Clock) -> InboundGate:
        limiter = RateLimiter(
            settings.rate_limit_per_minute, settings.rate_limit_per_address_per_minute, clock
        )
        return cls(limiter, responses.text(RATE_LIMIT_NOTICE))

    @classmethod
    def for_app(cls, app: App | None = None) -> InboundGate:
        """The gate on the App's settings and clock (the process's own when none is given)."""
        app = app or bootstrap.app()
        return cls.from_settings(app.settings, app.clock)

    async def admit(
        self,
        message: UserMessage,
        address: str | None = None,
        tell: Callable[[str], Awaitable[None]] | None = None,
    ) -> bool:
        """True: pass the message to Rasa. False: drop it; the first time in a minute the sender
        is told, through ``tell`` or else the message's own output channel."""
        verdict = self.limiter.check(message.sender_id, address)
        if verdict is Verdict.REFUSE_AND_TELL:
            logger.info(
                "%s: rate limit reached for sender %s; dropping messages for now",
                message.input_channel,
                mask_phone(message.sender_id) or "(no digits)",
            )
            if tell is not None:
                await tell(self.notice)
            elif message.output_channel is not None:
                await message.output_channel.send_text_message(message.sender_id, self.notice)
        return verdict is Verdict.ALLOW
