"""Rasa's REST channel made safe for local development.

Rasa's own ``rest`` channel is anonymous and lets the caller choose the sender id *and* the
``input_channel``; trackers are keyed by sender id only, so a caller using a debtor's WhatsApp
id as ``sender`` would join that debtor's conversation. This subclass:

* namespaces every sender as ``rest:<id>``: a REST conversation can never be a WhatsApp
  conversation, and its sender id never reads as a phone number (the visitor types the number
  and proves it with the date of birth, as on the web chat);
* ignores a caller-supplied ``input_channel`` and ``metadata``;
* refuses a body without a text ``sender`` and ``message`` with 400;
* bounds the text (``bound_user_text``) and applies the per-sender rate limit of the public
  channels (``cobranza/channels/limits.py``); no streaming mode.

It is for development and tests on loopback (``credentials.yml``); production configurations
(``credentials.whatsapp.yml``) have no REST channel. It says so when the server starts.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from cobranza.channels.limits import InboundGate, bound_user_text
from cobranza.channels.startup import freeze_after_start

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

    def __init__(self, gate: InboundGate | None = None) -> None:
        self.gate = gate or InboundGate.for_app()

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> LocalRestInput:
        logger.warning(
            "REST channel on (/webhooks/rest/webhook): anonymous, for local development and "
            "tests only; production configurations must not list it"
        )
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint(f"custom_webhook_{type(self).__name__}", __name__)
        freeze_after_start(webhook)

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            body = _body(request)
            sender = namespaced_sender(body.get("sender"))
            text = body.get("message")
            if not isinstance(text, str):
                raise InvalidUsage("'message' must be a text")
            collector = CollectingOutputChannel()
            # The caller's input_channel and metadata are never taken as fact.
            message = UserMessage(bound_user_text(text), collector, sender, input_channel="rest")
            # Per sender only: every local caller shares 127.0.0.1 (tests, benchmarks).
            if await self.gate.admit(message):
                await on_new_message(message)
            return response.json(collector.messages)

        return webhook
