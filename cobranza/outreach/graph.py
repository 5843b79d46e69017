"""The Graph API client: ``POST {api_url}/{phone_number_id}/messages`` with timeouts. Logs carry
the masked recipient and Meta's codes only.

Two ways to send, because Meta's send API has no idempotency key:

* :meth:`GraphClient.send` — the conversation's replies: retries with backoff on 429/5xx. A
  reply sent twice after a lost response is a nuisance the debtor already expects from chat.
* :meth:`GraphClient.send_once` — business-initiated messages (cobranza/outreach/dispatcher.py):
  one request, and a :class:`SendResult` that says whether the message was certainly *not*
  sent (safe to schedule again), accepted (with its ``wamid``), refused for good, or unknown (a
  timeout or a 5xx after the request left: it may have gone out, so it is never sent again)."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from enum import Enum
from typing import Any

import aiohttp

from cobranza.config import WhatsAppSettings
from cobranza.domain.phones import mask_phone
from cobranza.errors import CobranzaError

logger = logging.getLogger(__name__)


class GraphError(CobranzaError):
    """The Graph API refused a message (after the retries)."""


class Outcome(str, Enum):
    ACCEPTED = "accepted"  # Meta returned a wamid
    THROTTLED = "throttled"  # not sent: a rate limit or a connection never made; try later
    REFUSED = "refused"  # not sent, and sending it again would be refused again
    UNKNOWN = "unknown"  # may have been sent: never sent again


# Meta's codes for "not sent, try later": rate limits (130429 throughput, 131056 pair rate,
# 80007 WABA rate, 4 app calls) and "temporarily unavailable" (2, 133004 server down).
THROTTLING_CODES = frozenset({2, 4, 80007, 130429, 131056, 133004})


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    wamid: str | None = None
    code: int | None = None  # Meta's error code, or the HTTP status when there is none
    retry_after: float | None = None  # seconds, from Retry-After


def classify(status: int, body: Any, retry_after: str | None) -> SendResult:
    """A Graph API answer as a :class:`SendResult` (pure, for the dispatcher and its tests)."""
    if status == 200:
        try:
            return SendResult(Outcome.ACCEPTED, wamid=str(body["messages"][0]["id"]))
        except (KeyError, IndexError, TypeError):
            return SendResult(Outcome.UNKNOWN, code=status)  # 200 without an id: unknowable
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    code = code if isinstance(code, int) else status
    wait = None
    if retry_after and retry_after.strip().isdigit():
        wait = float(retry_after.strip())
    if status == 429 or code in THROTTLING_CODES:
        return SendResult(Outcome.THROTTLED, code=code, retry_after=wait)
    if status >= 500:
        return SendResult(Outcome.UNKNOWN, code=code)
    return SendResult(Outcome.REFUSED, code=code)


class GraphClient:
    """POST ``{api_url}/{phone_number_id}/messages`` with retries on 429/5xx and timeouts."""

    def __init__(self, config: WhatsAppSettings) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
                headers={"Authorization": f"Bearer {self.config.access_token.reveal()}"},
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send_once(self, payload: dict[str, Any]) -> SendResult:
        """One request, never retried here: the caller decides, knowing what the outcome
        proves (a connection never made or a rate limit: not sent; a timeout: unknown)."""
        url = f"{self.config.api_url}/{self.config.phone_number_id}/messages"
        try:
            session = await self._client()
            async with session.post(url, json=payload) as reply:
                try:
                    body = await reply.json(content_type=None)
                except ValueError:
                    body = None
                result = classify(reply.status, body, reply.headers.get("Retry-After"))
        except aiohttp.ClientConnectorError:
            result = SendResult(Outcome.THROTTLED)  # no connection: nothing was sent
        except (aiohttp.ClientError, asyncio.TimeoutError):
            result = SendResult(Outcome.UNKNOWN)  # the request may have arrived
        if result.outcome is not Outcome.ACCEPTED:
            logger.warning(
                "Graph API %s for %s (code %s)",
                result.outcome.value,
                mask_phone(str(payload.get("to", ""))),
                result.code,
            )
        return result

    async def send(self, payload: dict[str, Any]) -> str:
        url = f"{self.config.api_url}/{self.config.phone_number_id}/messages"
        who = mask_phone(str(payload.get("to", "")))
        delay = 0.5
        for attempt in range(1, self.config.max_attempts + 1):
            try:
                session = await self._client()
                async with session.post(url, json=payload) as reply:
                    body = await reply.json(content_type=None)
                    if reply.status == 200:
                        return str(body["messages"][0]["id"])
                    error = (body or {}).get("error") or {}
                    retry = reply.status == 429 or reply.status >= 500
                    logger.warning(
                        "Graph API %s for %s (attempt %d/%d, code %s)",
                        reply.status,
                        who,
                        attempt,
                        self.config.max_attempts,
                        error.get("code"),
                    )
                    if not retry:
                        raise GraphError(f"Graph API {reply.status}, code {error.get('code')}")
                    wait = float(reply.headers.get("Retry-After") or delay)
            except (aiohttp.ClientError, asyncio.TimeoutError, ValueError, KeyError) as exc:
                logger.warning(
                    "Graph API unreachable for %s (attempt %d/%d): %s",
                    who,
                    attempt,
                    self.config.max_attempts,
                    type(exc).__name__,
                )
                wait = delay
            if attempt < self.config.max_attempts:
                await asyncio.sleep(min(wait, 5.0) + random.uniform(0, delay / 4))
                delay *= 2
        raise GraphError(f"Graph API did not accept the message after {attempt} attempts")
