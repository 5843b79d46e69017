"""What people read of a propensity-to-pay score (docs/scoring.md): the bands and how a
reason's effect is said. Pure: the scoring model, the campaign loader, the services and the CLI
all take the bands from here, so a band is defined once.

A band is a letter, ``A`` (most likely to pay) to ``E``; a debtor not scored yet has no band
(shown as :data:`NO_SCORE`). A reason carries its feature's Spanish label, written with it by
the model (cobranza/scoring/features.py is the one list of features and labels)."""

from __future__ import annotations

SCORE_BANDS = ("A", "B", "C", "D", "E")
NO_SCORE = "sin puntaje"

EFFECT_LABELS = {"up": "a favor", "down": "en contra"}


def effect_label(effect: object) -> str:
    """A reason's effect as a reader says it: "a favor" or "en contra" of paying. A number is
    read by its sign; anything else is shown as it is."""
    if isinstance(effect, bool):
        return str(effect)
    if isinstance(effect, (int, float)):
        if effect > 0:
            return EFFECT_LABELS["up"]
        return EFFECT_LABELS["down"] if effect < 0 else "neutral"
    text = str(effect)
    lowered = text.strip().lower()
    if lowered in ("up", "+", "positive", "increase", "increases"):
        return EFFECT_LABELS["up"]
    if lowered in ("down", "-", "negative", "decrease", "decreases"):
        return EFFECT_LABELS["down"]
    return text
