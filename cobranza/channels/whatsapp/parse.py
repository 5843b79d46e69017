"""Meta's webhook → our messages: the signature check and the payload parser. Pure: no I/O, no
clock (a message's time is its own ``timestamp``), so recorded payloads test it as it is."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from cobranza.channels.whatsapp.config import SUPPORTED_MEDIA


def signature(raw_body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends, and the gateway sends with each part it
    forwards: ``sha256=`` and the HMAC-SHA256 of the raw body under the app secret, in hex."""
    return "sha256=" + hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()


def signature_valid(raw_body: bytes, header: str | None, app_secret: str) -> bool:
    """``sha256=<hex>`` of the raw body, compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = signature(raw_body, app_secret)[len("sha256=") :]
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower())


def handshake_challenge(query: Mapping[str, str], verify_token: str) -> str | None:
    """Meta's verification handshake (``GET`` on the webhook): the ``hub.challenge`` to answer
    when ``hub.mode`` is ``subscribe`` and ``hub.verify_token`` is ours (compared in constant
    time), else None (answer 403)."""
    token = query.get("hub.verify_token") or ""
    if query.get("hub.mode") == "subscribe" and hmac.compare_digest(
        token.encode(), verify_token.encode()
    ):
        return query.get("hub.challenge") or ""
    return None


@dataclass(frozen=True)
class Inbound:
    message_id: str
    wa_id: str
    message_type: str
    sent_at: datetime
    text: str | None  # what goes to Rasa; None: a kind of message we answer politely
    kind: str = ""  # for the polite answer: imagen, audio, …


@dataclass(frozen=True)
class StatusUpdate:
    message_id: str
    wa_id: str
    status: str
    occurred_at: datetime
    error_code: int | None
    error_title: str | None


def _timestamp(value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value), tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError) as exc:
        raise ValueError(f"bad timestamp {value!r}") from exc


def _inbound(message: Mapping[str, Any]) -> Inbound:
    message_id, wa_id = str(message.get("id") or ""), str(message.get("from") or "")
    if not message_id or not wa_id.isdigit():
        raise ValueError("message without id or sender")
    kind = str(message.get("type") or "unsupported")
    sent_at = _timestamp(message.get("timestamp"))
    text: str | None = None
    if kind == "text":
        text = str((message.get("text") or {}).get("body") or "")
    elif kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get(interactive.get("type") or "") or {}
        text = str(reply.get("id") or reply.get("title") or "")
    elif kind == "button":  # a template's quick-reply button
        button = message.get("button") or {}
        text = str(button.get("payload") or button.get("text") or "")
    if text is not None and text.strip():
        return Inbound(message_id, wa_id, kind, sent_at, text)
    polite = SUPPORTED_MEDIA.get(kind, "otro")
    if kind == "audio" and (message.get("audio") or {}).get("voice"):
        polite = "audio"
    return Inbound(message_id, wa_id, kind, sent_at, None, polite)


def parse_webhook(payload: Any) -> tuple[list[Inbound], list[StatusUpdate]]:
    """Every message and status of a (possibly batched) notification. ``ValueError`` when the
    shape is not a WhatsApp Business Account notification."""
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        raise ValueError("not a whatsapp_business_account notification")
    messages: list[Inbound] = []
    statuses: list[StatusUpdate] = []
    for entry in payload.get("entry") or []:
        for change in (entry or {}).get("changes") or []:
            value = (change or {}).get("value") or {}
            if not isinstance(value, dict):
                raise ValueError("change without a value object")
            for message in value.get("messages") or []:
                messages.append(_inbound(message))
            for status in value.get("statuses") or []:
                errors = status.get("errors") or [{}]
                code = errors[0].get("code")
                statuses.append(
                    StatusUpdate(
                        str(status.get("id") or ""),
                        str(status.get("recipient_id") or ""),
                        str(status.get("status") or ""),
                        _timestamp(status.get("timestamp")),
                        int(code) if isinstance(code, int | str) and str(code).isdigit() else None,
                        (str(errors[0].get("title"))[:200] if errors[0].get("title") else None),
                    )
                )
    return messages, statuses
