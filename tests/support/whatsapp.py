"""Reading what the bot sent on WhatsApp: the messages the fake Graph API received."""

from __future__ import annotations

from typing import Any

# The fake Graph API's access token and phone number id in the channel's tests.
TOKEN, PHONE_ID = "EAAG-prueba", "109876543210987"


def body(messages: list[dict[str, Any]]) -> str:
    """The text a debtor reads in ``messages`` (text and interactive bodies), one per line."""
    parts = []
    for m in messages:
        if m["type"] == "text":
            parts.append(m["text"]["body"])
        elif m["type"] == "interactive":
            parts.append(m["interactive"]["body"]["text"])
    return "\n".join(parts)
