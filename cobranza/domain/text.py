"""Text limits of the channels (WhatsApp: button titles 20, list rows 24/72 characters)."""

from __future__ import annotations


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut between words (with "…") when it must be cut."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and text[limit - 1] != " ":
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"
