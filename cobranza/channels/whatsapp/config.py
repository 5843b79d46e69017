"""The WhatsApp channel's limits (the Cloud API's and ours) and its polite answers.

The ``WHATSAPP_*`` settings themselves are :class:`cobranza.config.WhatsAppSettings`, read by
:func:`cobranza.config.load_whatsapp_settings` (the settings are the one reader of the
environment); they are re-exported here for the channel's modules.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    "LEASES",
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
    "LeaseTimes",
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


@dataclass(frozen=True)
class LeaseTimes:
    """How a replica holds a sender's conversation lease, in seconds (input.py, store.py).

    * ``lifetime``: how long a lease lasts unless renewed. A turn may outlast any lifetime we
      would want a dead replica's senders to wait (Rasa waits up to 300 s for an action; the
      Graph API client tries a reply 4 times, 10 s each, with back-off), so the holder renews
      it every third of it while it holds it; a dead holder's lease lapses within
      ``lifetime``. The replicas' clocks must agree to well within it (NTP).
    * ``sweep_every``: how often every replica looks for pending messages no live lease covers
      (a dead replica's), and answers them.
    * ``orphan_after``: how old a pending message must be before a sweep takes it: a fresh one
      belongs to the replica that stored it, whose worker is about to take the lease.
    * ``retry`` … ``retry_max``: the waits (doubling) of a worker whose sender another live
      replica holds, while the sender still has pending messages.

    Tests pass short times through :class:`~cobranza.channels.whatsapp.input.WhatsAppInput`."""

    lifetime: float = 30.0
    sweep_every: float = 12.0
    orphan_after: float = 5.0
    retry: float = 0.25
    retry_max: float = 4.0

    def __post_init__(self) -> None:
        if min(self.lifetime, self.sweep_every, self.retry) <= 0 or self.orphan_after < 0:
            raise ValueError("lease times must be positive")
        if self.retry_max < self.retry:
            raise ValueError("retry_max must be at least retry")

    @property
    def renew_every(self) -> float:
        """The holder renews this often: while renewals succeed, two thirds are always left."""
        return self.lifetime / 3


LEASES = LeaseTimes()


def polite_replies(domain_path: Path = responses.DOMAIN) -> dict[str, str]:
    """``utter_no_soportado_<tipo>`` texts from domain.yml, by kind (``otro`` as fallback)."""
    replies = responses.first_texts("utter_no_soportado_", domain_path)
    if "otro" not in replies:
        raise ConfigError("domain.yml needs utter_no_soportado_otro for the WhatsApp channel")
    return replies
