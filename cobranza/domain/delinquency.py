"""Delinquency buckets by days past due, as collections teams report them."""

from __future__ import annotations

BUCKETS = ("1-30", "31-60", "61-90", "90+")
CURRENT = "al_corriente"


def bucket_for(days_past_due: int) -> str:
    if days_past_due < 0:
        raise ValueError("days past due cannot be negative")
    if days_past_due == 0:
        return CURRENT
    if days_past_due <= 30:
        return "1-30"
    if days_past_due <= 60:
        return "31-60"
    if days_past_due <= 90:
        return "61-90"
    return "90+"
