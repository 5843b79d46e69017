"""Opt-out words and opposition phrases: pure text rules the NLU and the channels share.

A debtor may oppose contact in any words (LFPDPPP derecho de oposición; REDECO): these decide,
without a model and without a database, whether a message is one.
"""

from __future__ import annotations

import re
import unicodedata

OPT_OUT_KEYWORDS = frozenset({"baja", "alto", "stop", "unsubscribe", "cancelar suscripcion"})


def is_opt_out_keyword(text: str) -> bool:
    """BAJA, ALTO or STOP alone (any case, accents, punctuation or emoji around it)."""
    plain = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    words = re.sub(r"[^a-z ]+", " ", plain).split()
    return " ".join(words) in OPT_OUT_KEYWORDS


# Unmistakable opposition in a sentence. Used only when the model did not understand the message
# (nlu_fallback): honouring an opposition the model missed is the safe side of the error.
_OPPOSITION = tuple(
    re.compile(p)
    for p in (
        r"\b(borr|elimin|quit|sa[cq])\w*\b.{0,25}\b(mi|mis)\s+(numero|datos|telefono|cel)",
        r"\b(sa[cq]|elimin|borr|quit)\w*(me|nme)\b.{0,25}\b(lista|base|registro)",
        r"\b(darme|denme|dame|me dan|me den|me das|quiero darme) de baja\b",
        r"\bdej\w* de (escrib|mand|contact|molest|llam|marc|busc)",
        r"\bno me (vuelvan a |sigan |esten |vuelvas a )?(escrib|contact|llam|mand|marq|molest)",
        r"\bya no (me )?(escrib|contact|llam|mand|molest|marq)",
        r"\b(revoc|retir|cancel)\w* (mi |el |la )?(consentimiento|autorizacion|permiso)",
        r"\bno (les )?autorizo\b",
        r"\b(me opongo|derecho de oposicion)\b",
    )
)


def is_opposition_phrase(text: str) -> bool:
    """ "borren mi número de sus registros", "dejen de escribirme", "no autorizo más mensajes"."""
    plain = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in plain if not unicodedata.combining(c)).lower()
    return any(p.search(" ".join(plain.split())) for p in _OPPOSITION)
