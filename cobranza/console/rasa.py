"""The console's client of Rasa's token-protected HTTP API, and how it reads a transcript.

A conversation id (the sender id on its channel) is opaque to the console: Rasa's URLs carry it
percent-encoded. Rasa 3.6's routes do not decode a conversation id, so an id that encoding would
change could only be reached under another id: the console does not talk to Rasa about such a
conversation at all (no transcript, no reply, no resume) instead of reaching the wrong one.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from cobranza.config import ConsoleSettings
from cobranza.errors import CobranzaError, Rejected

# Characters a URL path segment may carry as they are (RFC 3986 pchar minus the unreserved
# ones, which quote() never touches): an id made only of these reaches Rasa byte for byte.
PATH_SAFE = "!$&'()*+,;=:@"


class RasaError(CobranzaError):
    """Rasa's HTTP API refused or failed."""


class UnaddressableConversation(Rejected):
    """A conversation id that would reach Rasa changed by percent-encoding, or as a dot
    segment that clients and proxies resolve: Rasa would read or write another conversation."""


def addressable(sender_id: str) -> bool:
    """True when the id travels in a URL path segment exactly as it is."""
    return sender_id not in ("", ".", "..") and quote(sender_id, safe=PATH_SAFE) == sender_id


def conversation_path(sender_id: str, suffix: str) -> str:
    """``/conversations/<id>/<suffix>`` with the id escaped; refuses ids escaping would change
    (see the module docstring)."""
    if not addressable(sender_id):
        raise UnaddressableConversation(sender_id)
    return f"/conversations/{quote(sender_id, safe=PATH_SAFE)}/{suffix}"


class RasaApi:
    """The few calls the console makes to Rasa's token-protected HTTP API."""

    def __init__(self, config: ConsoleSettings) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None

    async def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _call(
        self, method: str, path: str, body: Any = None, **params: str
    ) -> dict[str, Any]:
        session = await self._client()
        # encoded=True: the path is sent as built (already escaped), never re-quoted or resolved.
        url = URL(f"{self.config.rasa_url}{path}", encoded=True).update_query(
            {"token": self.config.rasa_token.reveal(), **params}
        )
        async with session.request(method, url, json=body) as reply:
            if reply.status >= 400:
                raise RasaError(f"Rasa {method} {path.rsplit('/', 1)[-1]}: HTTP {reply.status}")
            result: dict[str, Any] = await reply.json(content_type=None) or {}
            return result

    async def tracker(self, sender_id: str) -> dict[str, Any]:
        return await self._call("GET", conversation_path(sender_id, "tracker"))

    async def append(self, sender_id: str, events: list[dict[str, Any]]) -> None:
        await self._call("POST", conversation_path(sender_id, "tracker/events"), events)

    async def resume(self, sender_id: str) -> None:
        """Un-pause, and listen: without ``action_listen`` the next message would follow the
        hand-off action in the policy's eyes and no rule would answer it."""
        await self.append(
            sender_id, [{"event": "resume"}, {"event": "action", "name": "action_listen"}]
        )

    async def execute(self, sender_id: str, action: str) -> None:
        await self._call(
            "POST",
            conversation_path(sender_id, "execute"),
            {"name": action},
            output_channel="latest",
        )


def transcript(tracker: dict[str, Any]) -> list[dict[str, Any]]:
    """Debtor, assistant and agent messages in order (an agent's reply is the bot message that
    follows ``action_mensaje_asesor``)."""
    lines: list[dict[str, Any]] = []
    last_action = ""
    for event in tracker.get("events") or []:
        kind = event.get("event")
        if kind == "action":
            last_action = str(event.get("name") or "")
        elif kind in ("user", "bot") and event.get("text"):
            who = "deudor" if kind == "user" else "asistente"
            if kind == "bot" and last_action == "action_mensaje_asesor":
                who = "asesor"
            at = datetime.fromtimestamp(float(event.get("timestamp") or 0), tz=timezone.utc)
            lines.append({"from": who, "text": str(event["text"]), "at": at.isoformat()})
    return lines


def last_debtor_message(lines: list[dict[str, Any]]) -> datetime | None:
    for line in reversed(lines):
        if line["from"] == "deudor":
            return datetime.fromisoformat(line["at"])
    return None
