"""The Rasa output channel: the assistant's messages to one WhatsApp id, as text, reply buttons,
lists, or the approved template when the 24-hour service window is closed.

An output made for one inbound message (``reply_to``, as the input channel makes one per
message) numbers the messages it sends 0, 1, 2… and records each attempt before the Graph API
call (:meth:`WhatsAppStore.attempt`): when a crash made the turn run again, a reply already
attempted is not sent again, the later ones are. An output without ``reply_to`` (what Rasa
asks :meth:`WhatsAppInput.get_output_channel` for: reminders, an agent's messages) sends
without that record."""

from __future__ import annotations

import logging
from typing import Any

from rasa.core.channels.channel import OutputChannel

from cobranza.channels.whatsapp.config import (
    BUTTON_BODY,
    CHANNEL,
    LIST_BUTTON,
    MAX_BUTTONS,
    MAX_ROWS,
    MAX_TEXT,
    ROW_DESCRIPTION,
    ROW_ID,
    ROW_TITLE,
    SERVICE_WINDOW,
)
from cobranza.channels.whatsapp.store import Reply, WhatsAppStore
from cobranza.clock import Clock
from cobranza.domain.phones import mask_phone
from cobranza.domain.text import shorten
from cobranza.outreach.graph import GraphClient

logger = logging.getLogger(__name__)


class WhatsAppOutput(OutputChannel):
    """Sends the assistant's messages to one WhatsApp id (as Meta sent it: ``521…``). ``clock``
    decides whether the 24-hour window is still open; ``reply_to`` is the inbound message whose
    turn this output answers (its replies are sent at most once, see the module)."""

    def __init__(
        self,
        client: GraphClient,
        store: WhatsAppStore,
        clock: Clock,
        reply_to: str | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.clock = clock
        self.reply_to = reply_to
        self._replies = 0  # messages this output has sent, or skipped as sent before

    async def _first_attempt(self, wa_id: str) -> tuple[bool, Reply | None]:
        """Number this message of the turn and record its attempt: (send it?, its key)."""
        if self.reply_to is None:
            return True, None
        reply = (self.reply_to, self._replies)
        self._replies += 1
        if await self.store.attempt(reply):
            return True, reply
        logger.info(
            "reply %d to a message from %s was sent before a crash: not sent again",
            reply[1],
            mask_phone(wa_id),
        )
        return False, reply

    @classmethod
    def name(cls) -> str:
        return CHANNEL

    async def _within_window(self, wa_id: str) -> bool:
        last = await self.store.last_inbound(wa_id)
        return last is not None and self.clock.now() - last < SERVICE_WINDOW

    async def _post(self, wa_id: str, kind: str, body: dict[str, Any]) -> None:
        first, reply = await self._first_attempt(wa_id)
        if not first:
            return
        if kind != "template" and not await self._within_window(wa_id):
            # Outside the 24-hour window only an approved template may be sent: it invites the
            # debtor to answer, which reopens the window (README: templates to create).
            logger.info("outside the 24 h window for %s: template instead", mask_phone(wa_id))
            kind, body = "template", self.template_body()
        payload = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id}
        payload.update(body)
        message_id = await self.client.send(payload)
        await self.store.sent(message_id, wa_id, kind, reply)

    def template_body(self, parameters: list[str] | None = None) -> dict[str, Any]:
        template: dict[str, Any] = {
            "name": self.client.config.template_name,
            "language": {"code": self.client.config.template_language},
        }
        if parameters:
            template["components"] = [
                {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
            ]
        return {"type": "template", "template": template}

    async def send_template(self, wa_id: str, parameters: list[str] | None = None) -> None:
        """A business-initiated message (ask the compliance engine first)."""
        await self._post(wa_id, "template", self.template_body(parameters))

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        for start in range(0, len(text), MAX_TEXT):
            chunk = text[start : start + MAX_TEXT]
            await self._post(recipient_id, "text", {"type": "text", "text": {"body": chunk}})

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        """A long choice comes as buttons *and* a ``{"type": "list"}`` custom payload: send the
        list only, once."""
        custom = message.get("custom")
        if isinstance(custom, dict) and custom.get("type") == "list" and message.get("text"):
            rows = [r for r in custom.get("rows") or [] if isinstance(r, dict)]
            await self._send_list(recipient_id, str(message["text"]), rows)
            return
        await super().send_response(recipient_id, message)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        choices = [
            {"id": str(b.get("payload") or b.get("title") or ""), "title": str(b.get("title"))}
            for b in buttons
            if b.get("title")
        ]
        if not choices:
            await self.send_text_message(recipient_id, text)
        elif len(choices) <= MAX_BUTTONS and all(len(c["id"]) <= 256 for c in choices):
            if len(text) > BUTTON_BODY:
                await self.send_text_message(recipient_id, text)
                text = "Elige una opción:"
            reply_buttons = [
                {"type": "reply", "reply": {"id": c["id"], "title": shorten(c["title"], 20)}}
                for c in choices
            ]
            await self._post(
                recipient_id,
                "buttons",
                {
                    "type": "interactive",
                    "interactive": {
                        "type": "button",
                        "body": {"text": text},
                        "action": {"buttons": reply_buttons},
                    },
                },
            )
        else:
            await self._send_list(recipient_id, text, choices)

    async def _send_list(self, recipient_id: str, text: str, rows: list[dict[str, Any]]) -> None:
        built = []
        for row in rows[:MAX_ROWS]:
            title = str(row.get("title") or "")
            item: dict[str, Any] = {
                "id": str(row.get("id") or title)[:ROW_ID],
                "title": shorten(title, ROW_TITLE),
            }
            description = str(row.get("description") or (title if len(title) > ROW_TITLE else ""))
            if description:
                item["description"] = shorten(description, ROW_DESCRIPTION)
            built.append(item)
        if not built:
            await self.send_text_message(recipient_id, text)
            return
        await self._post(
            recipient_id,
            "list",
            {
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "body": {"text": text[:MAX_TEXT]},
                    "action": {
                        "button": shorten("Ver opciones", LIST_BUTTON),
                        "sections": [{"title": "Opciones", "rows": built}],
                    },
                },
            },
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        if json_message.get("type") == "list":
            await self._send_list(recipient_id, "Elige una opción:", json_message.get("rows", []))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, image)

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, attachment)
