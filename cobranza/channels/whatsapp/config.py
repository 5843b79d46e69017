"""The WhatsApp channel's limits (the Cloud API's and ours) and its polite answers.

The ``WHATSAPP_*`` settings themselves are :class:`cobranza.config.WhatsAppSettings`, read by
:func:`cobranza.config.load_whatsapp_settings` (the settings are the one reader of the
environment); they are re-exported here for the channel's modules.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cobranza import responses
from cobranza.config import ConfigError, WhatsAppSettings, load_whatsapp_settings
from cobranza.domain.vocabulary import InboundStatus

__all__ = [
    "ACTIONS_PATIENCE",
    "BUTTON_BODY",
    "BUTTON_TITLE",
    "CHANNEL",
    "CONCURRENT_CONVERSATIONS",
    "DONE",
    "FAILED",
    "LIST_BUTTON",
    "MAX_BUTTONS",
    "MAX_ROWS",
    "MAX_TEXT",
    "MESSAGE_ID_KEY",
    "PENDING",
    "PENDING_BATCH",
    "ROW_DESCRIPTION",
    "ROW_ID",
    "ROW_TITLE",
    "SERVICE_WINDOW",
    "SUPPORTED_MEDIA",
    "WhatsAppSettings",
    "load_whatsapp_settings",
    "polite_replies",
]

CHANNEL = "whatsapp"
SERVICE_WINDOW = timedelta(hours=24)
MAX_BUTTONS, BUTTON_TITLE, BUTTON_BODY = 3, 20, 1024
MAX_ROWS, ROW_TITLE, ROW_DESCRIPTION, ROW_ID, LIST_BUTTON = 10, 24, 72, 200, 20
MAX_TEXT = 4096
CONCURRENT_CONVERSATIONS = 4
PENDING, DONE, FAILED = InboundStatus.PENDING, InboundStatus.DONE, InboundStatus.FAILED
MESSAGE_ID_KEY = "whatsapp_message_id"  # in the UserMessage metadata Rasa stores with the turn
PENDING_BATCH = 100  # pending rows a worker takes from the database at a time
ACTIONS_PATIENCE = 120.0  # seconds to wait for the action server at start-up
SUPPORTED_MEDIA = {
    "image": "imagen",
    "audio": "audio",
    "voice": "audio",
    "video": "video",
    "document": "documento",
    "sticker": "sticker",
    "location": "ubicacion",
    "contacts": "contactos",
    "reaction": "reaccion",
}


def polite_replies(domain_path: Path = responses.DOMAIN) -> dict[str, str]:
    """``utter_no_soportado_<tipo>`` texts from domain.yml, by kind (``otro`` as fallback)."""
    replies = responses.first_texts("utter_no_soportado_", domain_path)
    if "otro" not in replies:
        raise ConfigError("domain.yml needs utter_no_soportado_otro for the WhatsApp channel")
    return replies
