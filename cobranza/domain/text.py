"""Text limits: what a debtor may send (``MAX_MESSAGE_CHARS``) and what the channels can show
(WhatsApp: button titles 20, list rows 24/72 characters)."""

from __future__ import annotations

# The longest message the assistant reads, in characters (code points, not bytes). No debtor
# needs more, and the NLU's memory grows with the square of a message's length: one 100 KB
# message once grew Rasa to 24 GB. Longer messages are cut by the channels
# (cobranza/channels/limits.py) and answered "too long" by the NLU (cobranza/nlu/limits.py).
MAX_MESSAGE_CHARS = 4000


def shorten(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut between words (with "…") when it must be cut."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and text[limit - 1] != " ":
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "…"
