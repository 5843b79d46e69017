"""Mexican phone numbers: E.164 (``+52`` + 10 digits) is the debtor key.

WhatsApp sends Mexican mobiles as ``521XXXXXXXXXX``; people type ``55 1234 5678`` or
``+52 55 1234 5678``. All of them normalise to ``+525512345678``.
"""

from __future__ import annotations

import re

import phonenumbers

from cobranza.errors import Rejected

# The three metropolitan areas with two-digit area codes (ladas); every other lada has three.
TWO_DIGIT_LADAS = frozenset({"55", "56", "33", "81"})


class InvalidPhone(Rejected):
    """Not a Mexican phone number."""


def normalize_phone(raw: str) -> str:
    """Any common writing of a Mexican number → E.164 ``+52XXXXXXXXXX``."""
    digits = re.sub(r"\D", "", raw or "")
    if len(digits) == 13 and digits.startswith("521"):
        national = digits[3:]
    elif len(digits) == 12 and digits.startswith("52"):
        national = digits[2:]
    elif len(digits) == 10:
        national = digits
    else:
        raise InvalidPhone(f"no es un número de 10 dígitos de México: {mask_phone(raw)}")
    if national[0] in "01":
        raise InvalidPhone(f"no es un número de 10 dígitos de México: {mask_phone(raw)}")
    parsed = phonenumbers.parse("+52" + national, None)
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhone(f"no es un número posible en México: {mask_phone(raw)}")
    return "+52" + national


def national_number(e164: str) -> str:
    return normalize_phone(e164)[3:]


def whatsapp_id(e164: str) -> str:
    """The id WhatsApp uses for a Mexican mobile: ``521`` + 10 digits."""
    return "521" + national_number(e164)


def area_code(e164: str) -> str:
    national = national_number(e164)
    return national[:2] if national[:2] in TWO_DIGIT_LADAS else national[:3]


def mask_phone(raw: str) -> str:
    """Keep only the last four digits, for logs: ``+52******5678``."""
    digits = re.sub(r"\D", "", raw or "")
    if len(digits) <= 4:
        return "*" * len(digits)
    return "*" * (len(digits) - 4) + digits[-4:]
