"""The Graph API client: ``POST {api_url}/{phone_number_id}/messages`` with timeouts, and
retries with backoff on 429/5xx. Logs carry the masked recipient and Meta's codes only."""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any

import aiohttp

from cobranza.config import WhatsAppSettings
from cobranza.domain.phones import mask_phone
from cobranza.errors import CobranzaError

logger = logging.getLogger(__name__)


class GraphError(CobranzaError):
    """The Graph API refused a message (after the retries)."""


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
