"""Rasa's REST channel made safe for local development.

Rasa's own ``rest`` channel is anonymous and lets the caller choose the sender id *and* the
``input_channel``; trackers are keyed by sender id only, so a caller using a debtor's WhatsApp
id as ``sender`` would join that debtor's conversation. This subclass:

* namespaces every sender as ``rest:<id>``: a REST conversation can never be a WhatsApp
  conversation, and its sender id never reads as a phone number (the visitor types the number
  and proves it with the date of birth, as on the web chat);
* ignores a caller-supplied ``input_channel`` and ``metadata``;
* refuses a body without a text ``sender`` and ``message`` with 400.

It is for development and tests on loopback (``credentials.yml``); production configurations
(``credentials.whatsapp.yml``) have no REST channel. It says so when the server starts.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.channels.rest import RestInput
from sanic.exceptions import InvalidUsage
from sanic.request import Request

logger = logging.getLogger(__name__)

SENDER_PREFIX = "rest:"
MAX_SENDER_CHARS = 64


def namespaced_sender(raw: object) -> str:
    """``rest:<id>`` for a caller's sender id; a missing, empty or oversized one is refused."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_SENDER_CHARS:
        raise InvalidUsage(f"'sender' must be a text of 1 to {MAX_SENDER_CHARS} characters")
    return SENDER_PREFIX + raw.strip()


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json
    except Exception as exc:
        raise InvalidUsage("the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise InvalidUsage("the body must be a JSON object")
    return body


class LocalRestInput(RestInput):
    """``POST /webhooks/rest/webhook {"sender": "ana", "message": "hola"}``, development only."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> LocalRestInput:
        logger.warning(
            "REST channel on (/webhooks/rest/webhook): anonymous, for local development and "
            "tests only; production configurations must not list it"
        )
        return cls()

    async def _extract_sender(self, req: Request) -> str:
        return namespaced_sender(_body(req).get("sender"))

    def _extract_message(self, req: Request) -> str:
        message = _body(req).get("message")
        if not isinstance(message, str):
            raise InvalidUsage("'message' must be a text")
        return message

    def _extract_input_channel(self, req: Request) -> str:
        return self.name()  # never the caller's word

    def get_metadata(self, request: Request) -> dict[str, Any] | None:
        return None  # nothing the caller says is stored as fact
