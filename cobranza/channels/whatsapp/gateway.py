"""The WhatsApp gateway of the scale-out topology (docs/deployment.md):
``python -m cobranza.channels.whatsapp.gateway``.

Meta POSTs every notification of the business number to one URL, and one delivery may carry
several senders' messages and statuses. The replicas must each see all of one sender's messages
(their turns run in order, under the sender's lease, where that sender's conversation lives),
so the gateway sits between nginx's public server and the replicas:

* ``GET /webhooks/whatsapp/webhook``: Meta's verification handshake (``hub.verify_token``
  compared in constant time); ``GET /health``: 200.
* ``POST /webhooks/whatsapp/webhook``: the body is read up to the replicas' own bound
  (``RASA_MAX_REQUEST_BYTES``; 413 beyond, never buffered past it; compressed bodies 415), its
  ``X-Hub-Signature-256`` checked (401 missing, 403 forged), its JSON and shape checked as a
  replica would (400). Then the delivery is split per sender (messages by ``from``, statuses
  by ``recipient_id``), each part a complete webhook payload of the same shape; the items the
  gateway already forwarded (their ids in Redis) are left out; each remaining part is
  re-serialised, signed again with the app secret and POSTed (concurrently, a bounded number
  at a time, 10 s each) to ``GATEWAY_UPSTREAM_URL`` with ``X-Cobranza-Route``: the
  HMAC-SHA256 of the sender's id under the app secret, never the number, which nginx's
  private server hashes to a replica. Meta gets 200 only when every part got a 2xx (or
  nothing was left to forward), else 502 and delivers the whole batch again.

De-duplication, and what it guarantees. An item's key (a message's wamid; a status's wamid and
status) is written to Redis, with a TTL of ``GATEWAY_DEDUP_TTL_HOURS``, only *after* the
upstream accepted its part, so a part that failed is forwarded again on the redelivery and a
part that was accepted is not. Within one gateway process, a delivery that carries an item
another delivery is forwarding at that moment waits for that forward instead of sending its
own (and answers 502 if it failed): identical deliveries racing into one process are
forwarded once. Across gateway processes the Redis check-then-set is not atomic: two
processes may both find an id unseen and both forward it; so may one process whose Redis is
down (it forwards everything) or whose id was evicted. The replica's inbox is the final
de-duplication: a message id is its primary key in PostgreSQL, a status its (id, status).

Nothing logged names a sender, a message id, a route key or a text: counts, HTTP statuses and
exception classes only. Redis unreachable is logged once per outage (and once when it is back).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import signal
import sys
import time
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from redis.exceptions import RedisError

from cobranza.channels.whatsapp.parse import (
    handshake_challenge,
    parse_webhook,
    signature,
    signature_valid,
)
from cobranza.config import ConfigError, GatewaySettings, load_gateway_settings

# Named, not __name__: run with -m, this module is __main__.
logger = logging.getLogger("cobranza.channels.whatsapp.gateway")

ROUTE_HEADER = "X-Cobranza-Route"
SIGNATURE_HEADER = "X-Hub-Signature-256"
WEBHOOK_PATH = "/webhooks/whatsapp/webhook"
SEEN_PREFIX = "cobranza:gateway:seen:"
OBJECT = "whatsapp_business_account"
FORWARD_TIMEOUT = 10.0  # seconds per forward, connection included
FORWARDS_AT_ONCE = 16  # per process: a large batch does not open a connection per sender
REDIS_TIMEOUT = 1.0  # seconds: a Redis that does not answer must not hold Meta's delivery
REDIS_RETRY = 5.0  # seconds between attempts while Redis is down
SHUTDOWN_GRACE = 15.0  # SIGTERM: deliveries in hand get their forwards' timeout and a margin
# Per kind of item: the list it sits in, and the field naming its sender.
ITEM_KINDS = (("messages", "from"), ("statuses", "recipient_id"))

JSON = dict[str, Any]


# --------------------------------------------------------------------------- the pure half


def route_key(sender: str, app_secret: str) -> str:
    """``X-Cobranza-Route``: the sender named by a keyed hash (hex HMAC-SHA256 under the app
    secret). Stable, so nginx's consistent hash sends a sender to one replica; keyed, so
    neither nginx's logs nor anyone without the secret can turn it back into the number."""
    return hmac.new(app_secret.encode(), sender.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Part:
    """One sender's share of a delivery: a complete webhook payload, and the keys of its
    items (what Redis remembers once the part is accepted)."""

    sender: str
    payload: JSON
    keys: tuple[str, ...]


def _list(container: Mapping[str, Any], name: str) -> list[Any]:
    value = container.get(name) or []
    if not isinstance(value, list):
        raise ValueError(f"{name} is not a list")
    return value


def _object(value: Any, what: str) -> JSON:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")
    return value


def _item_key(kind: str, item: Mapping[str, Any]) -> str:
    """A message: its wamid. A status: its message's wamid and the status, since one outbound
    message gets several (sent, delivered, read) and the replica stores each once."""
    item_id = str(item.get("id") or "")
    if not item_id:
        raise ValueError(f"an item of {kind} without id")
    return item_id if kind == "messages" else f"{item_id}:{item.get('status') or ''}"


def _share(value: Mapping[str, Any], sender: str, items: Mapping[str, list[JSON]]) -> JSON:
    """The change ``value`` as the sender sees it: every field kept (messaging_product,
    metadata, …) but the lists of contacts, messages and statuses, cut to the sender's."""
    share: JSON = {}
    for name, content in value.items():
        if name == "contacts":
            mine = [
                c for c in _list(value, name) if isinstance(c, dict) and c.get("wa_id") == sender
            ]
            if mine:
                share[name] = mine
        elif name in items:
            share[name] = items[name]
        elif name not in ("messages", "statuses"):
            share[name] = content
    return share


def split_by_sender(payload: Any, skip: Collection[str] = frozenset()) -> list[Part]:
    """The delivery as one payload per sender, in the order the senders first appear, each of
    Meta's shape (object, entries with their id, changes with their field, values with their
    metadata) holding only that sender's contacts, messages and statuses. Items whose key is
    in ``skip``, and a second item with a key already taken, are left out; a sender with
    nothing left gets no part. Changes with neither messages nor statuses (no sender to route
    by; the replicas read nothing else) are not forwarded. ``ValueError`` on a foreign shape.
    The delivery itself is not changed."""
    if not isinstance(payload, dict) or payload.get("object") != OBJECT:
        raise ValueError(f"not a {OBJECT} notification")
    taken = set(skip)
    entries: dict[str, list[JSON]] = {}
    keys: dict[str, list[str]] = {}
    for entry in _list(payload, "entry"):
        entry = _object(entry, "an entry")
        changes: dict[str, list[JSON]] = {}
        for change in _list(entry, "changes"):
            change = _object(change, "a change")
            value = _object(change.get("value") or {}, "a change's value")
            items: dict[str, dict[str, list[JSON]]] = {}
            for kind, owner in ITEM_KINDS:
                for item in _list(value, kind):
                    item = _object(item, f"an item of {kind}")
                    sender = str(item.get(owner) or "")
                    if not sender:
                        raise ValueError(f"an item of {kind} without {owner}")
                    key = _item_key(kind, item)
                    if key in taken:
                        continue
                    taken.add(key)
                    items.setdefault(sender, {}).setdefault(kind, []).append(item)
                    keys.setdefault(sender, []).append(key)
            for sender, own in items.items():
                share = {**change, "value": _share(value, sender, own)}
                changes.setdefault(sender, []).append(share)
        for sender, own_changes in changes.items():
            entries.setdefault(sender, []).append({**entry, "changes": own_changes})
    return [
        Part(sender, {**payload, "entry": entries[sender]}, tuple(keys[sender]))
        for sender in entries
    ]


def delivery_keys(payload: Any) -> list[str]:
    """The keys of every item of a delivery (each once), in the order of the parts."""
    return [key for part in split_by_sender(payload) for key in part.keys]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def read_delivery(raw: bytes) -> tuple[JSON, list[Part]]:
    """The delivery's JSON and its parts, or ``ValueError`` when a replica could not read it:
    not JSON (NaN and Infinity included: they could not be sent on), nested beyond the
    parser's depth, not Meta's shape, or an item the channel's parser refuses."""
    try:
        payload = json.loads(raw, parse_constant=_no_constant)
        parts = split_by_sender(payload)
        parse_webhook(payload)
    except (ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise ValueError(type(exc).__name__) from exc
    return payload, parts


def serialise(payload: JSON) -> bytes:
    """A part's body: compact UTF-8 JSON, as Meta sends it (never larger than the delivery's
    share it came from)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


async def read_bounded(request: web.BaseRequest, limit: int) -> bytes | None:
    """The body, or None when it is larger than ``limit``: refused from its Content-Length
    when declared, else once the bytes read pass the bound; never more than ``limit + 1``
    bytes held."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


# --------------------------------------------------------------------------- the process


class Gateway:
    """The handlers and what they share: the HTTP client to the upstream, Redis, and the items
    being forwarded right now (by key, the outcome of their forward)."""

    def __init__(
        self,
        settings: GatewaySettings,
        *,
        key_prefix: str = SEEN_PREFIX,
        forward_timeout: float = FORWARD_TIMEOUT,
        redis_retry: float = REDIS_RETRY,
    ) -> None:
        self.settings = settings
        self.redis_retry = redis_retry
        self.key_prefix = key_prefix
        self._secret = settings.app_secret.reveal()
        self._timeout = aiohttp.ClientTimeout(total=forward_timeout)
        self._ttl = int(settings.dedup_ttl.total_seconds())
        self._session: aiohttp.ClientSession | None = None
        self._redis: aioredis.Redis | None = None
        self._forwards: asyncio.Semaphore | None = None
        self._in_flight: dict[str, asyncio.Future[bool]] = {}
        self._redis_down = False
        self._redis_retry_at = 0.0

    # -- life cycle

    async def running(self, _app: web.Application) -> AsyncIterator[None]:
        """The clients, opened when the server starts and closed when it stops."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=FORWARDS_AT_ONCE), timeout=self._timeout
        )
        self._forwards = asyncio.Semaphore(FORWARDS_AT_ONCE)
        self._redis = aioredis.Redis.from_url(
            self.settings.redis_url.reveal(),
            socket_connect_timeout=REDIS_TIMEOUT,
            socket_timeout=REDIS_TIMEOUT,
        )

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._redis is not None:
            await self._redis.close(close_connection_pool=True)

    # -- Redis: the ids already forwarded

    def _redis_usable(self) -> bool:
        return not self._redis_down or time.monotonic() >= self._redis_retry_at

    def _redis_failed(self, exc: BaseException) -> None:
        if not self._redis_down:
            # The class only: a message could carry the URL (and its password).
            logger.warning(
                "Redis unreachable (%s): forwarding every item until it answers again; the "
                "replicas' inbox drops what they already have",
                type(exc).__name__,
            )
        self._redis_down = True
        self._redis_retry_at = time.monotonic() + self.redis_retry

    def _redis_answered(self) -> None:
        if self._redis_down:
            logger.warning("Redis answers again: de-duplication resumed")
        self._redis_down = False

    async def _already_forwarded(self, keys: list[str]) -> set[str]:
        if not keys or self._redis is None or not self._redis_usable():
            return set()
        try:
            values = await self._redis.mget([self.key_prefix + key for key in keys])
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._redis_failed(exc)
            return set()
        self._redis_answered()
        return {key for key, value in zip(keys, values, strict=True) if value is not None}

    async def _remember(self, keys: Iterable[str]) -> None:
        keys = list(keys)
        if not keys or self._redis is None or not self._redis_usable():
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(self.key_prefix + key, b"1", ex=self._ttl)
                await pipe.execute()
        except (RedisError, OSError, asyncio.TimeoutError) as exc:
            self._redis_failed(exc)
            return
        self._redis_answered()

    # -- forwarding

    async def _forward(self, part: Part) -> bool:
        """POST one part upstream, signed again and named by its route key: True on a 2xx."""
        assert self._session is not None and self._forwards is not None  # started
        body = serialise(part.payload)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature(body, self._secret),
            ROUTE_HEADER: route_key(part.sender, self._secret),
        }
        async with self._forwards:
            try:
                async with self._session.post(
                    self.settings.upstream_url, data=body, headers=headers
                ) as response:
                    accepted = 200 <= response.status < 300
                    if not accepted:
                        logger.warning("a forward was refused upstream: HTTP %d", response.status)
                    return accepted
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                logger.warning("a forward failed: %s", type(exc).__name__)
                return False

    async def _deliver(self, payload: JSON, keys: list[str]) -> tuple[bool, int, int]:
        """Forward what nobody forwarded yet: (every part accepted, parts sent, items left
        out). Items another delivery of this process is forwarding now are waited for."""
        loop = asyncio.get_running_loop()
        mine: dict[str, asyncio.Future[bool]] = {}
        waiting: dict[int, asyncio.Future[bool]] = {}
        for key in keys:  # no await in this loop: registering is atomic within the process
            if key in self._in_flight:
                other = self._in_flight[key]
                waiting[id(other)] = other
            else:
                mine[key] = self._in_flight[key] = loop.create_future()
        try:
            seen = await self._already_forwarded(list(mine))
            for key in seen:
                mine[key].set_result(True)
            todo = split_by_sender(payload, skip=set(keys) - (set(mine) - seen))
            results = await asyncio.gather(*(self._forward(part) for part in todo))
            await self._remember(
                key for part, ok in zip(todo, results, strict=True) if ok for key in part.keys
            )
            for part, ok in zip(todo, results, strict=True):
                for key in part.keys:
                    mine[key].set_result(ok)
            others = await asyncio.gather(*waiting.values())
        finally:
            for key, future in mine.items():
                if not future.done():
                    future.set_result(False)
                if self._in_flight.get(key) is future:
                    del self._in_flight[key]
        left_out = len(keys) - sum(len(part.keys) for part in todo)
        return all(results) and all(others), len(todo), left_out

    # -- handlers

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def handshake(self, request: web.Request) -> web.Response:
        challenge = handshake_challenge(request.query, self.settings.verify_token.reveal())
        if challenge is None:
            logger.warning("webhook verification refused")
            return web.Response(status=403, text="verificación rechazada")
        return web.Response(text=challenge, content_type="text/plain")

    async def receive(self, request: web.Request) -> web.Response:
        if request.headers.get("Content-Encoding", "identity").strip().lower() != "identity":
            return web.json_response({"error": "compressed bodies are not accepted"}, status=415)
        raw = await read_bounded(request, self.settings.max_request_bytes)
        if raw is None:
            logger.warning("webhook body over %d bytes: refused", self.settings.max_request_bytes)
            return web.json_response({"error": "body too large"}, status=413)
        header = request.headers.get(SIGNATURE_HEADER)
        if not header:
            logger.warning("webhook without a signature: refused")
            return web.json_response({"error": "missing signature"}, status=401)
        if not signature_valid(raw, header, self._secret):
            logger.warning("webhook with an invalid signature: refused")
            return web.json_response({"error": "invalid signature"}, status=403)
        try:
            payload, parts = read_delivery(raw)
        except ValueError as exc:
            logger.warning("signed webhook not understood (%s): refused", exc)
            return web.json_response({"error": "payload not understood"}, status=400)
        keys = [key for part in parts for key in part.keys]
        accepted, sent, left_out = await self._deliver(payload, keys)
        logger.info(
            "delivery: %d sender(s), %d part(s) forwarded, %d item(s) left out, %s",
            len(parts),
            sent,
            left_out,
            "accepted" if accepted else "NOT accepted (502: Meta delivers again)",
        )
        if not accepted:
            return web.json_response({"error": "not every part was accepted"}, status=502)
        return web.json_response({"senders": len(parts), "forwarded": sent, "left_out": left_out})


class AccessLog(AbstractAccessLogger):
    """Method, path, status and time: never the query string (``hub.verify_token``) nor a
    header."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %d %.3fs", request.method, request.path, response.status, time)


def build_app(
    settings: GatewaySettings,
    *,
    key_prefix: str = SEEN_PREFIX,
    forward_timeout: float = FORWARD_TIMEOUT,
    redis_retry: float = REDIS_RETRY,
) -> web.Application:
    """The gateway's aiohttp application (tests run it in-process; :func:`main` serves it).
    Request bodies are never inflated (``auto_decompress`` off): :meth:`Gateway.receive`
    refuses compressed ones."""
    gateway = Gateway(
        settings, key_prefix=key_prefix, forward_timeout=forward_timeout, redis_retry=redis_retry
    )
    app = web.Application(
        client_max_size=settings.max_request_bytes,
        handler_args={"auto_decompress": False},
    )
    app.cleanup_ctx.append(gateway.running)
    app.router.add_get("/health", gateway.health)
    app.router.add_get(WEBHOOK_PATH, gateway.handshake)
    app.router.add_post(WEBHOOK_PATH, gateway.receive)
    return app


async def serve(settings: GatewaySettings) -> None:
    """Until SIGTERM or SIGINT; then no new connection is accepted, the deliveries in hand
    get up to ``SHUTDOWN_GRACE`` seconds to finish, and the clients are closed."""
    runner = web.AppRunner(
        build_app(settings), access_log_class=AccessLog, shutdown_timeout=SHUTDOWN_GRACE
    )
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await web.TCPSite(runner, settings.host, settings.port).start()
        logger.info("WhatsApp gateway on %s:%d", settings.host, settings.port)
        await stop.wait()
        logger.info("WhatsApp gateway stopping")
    finally:
        await runner.cleanup()


def main() -> int:
    try:
        settings = load_gateway_settings()
    except ConfigError as error:
        print(f"error: WhatsApp gateway: {error}", file=sys.stderr)
        return 1
    logging.basicConfig(level=settings.log_level, format="%(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(serve(settings))
    except OSError as error:  # the port is taken, the host is not ours
        print(f"error: WhatsApp gateway: cannot listen ({error.strerror})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
