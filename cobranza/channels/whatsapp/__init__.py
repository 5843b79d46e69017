"""WhatsApp Cloud API channel: our own Rasa connector.

Route: ``/webhooks/whatsapp/webhook``.

* ``GET``: Meta's verification handshake (``hub.mode=subscribe``, ``hub.verify_token``).
* ``POST``: accepted only with a valid ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body with
  the app secret), else 403 and nothing is read. Every message of a batch is stored in our
  database as ``pending``, with what processing needs, *before* the webhook answers 200 (Meta
  does not deliver again what we acknowledged); its id de-duplicates deliveries, also across
  restarts. The conversation runs after: a worker per sender takes that sender's pending rows
  from the database in order of their timestamps and marks each ``done`` or ``failed`` (with the
  error's class, no content) exactly once; at start-up it picks up whatever a crash left
  pending. Status callbacks are stored for metrics.
* Several Rasa replicas may share the database: a worker runs a sender's turns only while it
  holds that sender's lease in the database (``conversation_leases``; Rasa's lock stores are
  not safe across replicas, so the database is our lock store), and every replica sweeps for
  pending messages no live lease covers (a dead replica's). Each reply to an inbound message
  is recorded before it is sent, so a turn re-run after a crash does not send it twice.
* Text and interactive replies (the button's or row's id is the payload that drives the
  conversation) go to Rasa; images, voice notes, stickers, locations… get a polite answer from
  ``domain.yml`` (``utter_no_soportado_<tipo>``).
* Outbound: text, reply buttons (≤3, titles cut to 20 characters between words), lists (≤10
  rows, 24/72 characters), and an approved template when the debtor has not written in the last
  24 hours. Async HTTP with timeouts and retries with backoff on 429/5xx. Logs never carry a
  phone number (masked) or a message's text.

The parts, one module each:

* :mod:`.config`: the channel's limits and constants, the polite answers from ``domain.yml``;
  the ``WHATSAPP_*`` settings are read by :func:`cobranza.config.load_whatsapp_settings`.
* :mod:`.parse`: the signature check and webhook payload → our messages (pure, no I/O).
* :mod:`.store`: the inbox (pending → done/failed), the leases, the reply attempts, outbound
  and status rows in our database.
* :mod:`cobranza.outreach.graph`: the Graph API client (timeouts, retries with backoff), shared
  with the outreach dispatcher.
* :mod:`.output`: the Rasa output channel (the 24-hour window, buttons, lists, templates).
* :mod:`.input`: the Rasa input channel (the webhook, a worker per sender under its lease,
  crash recovery, the sweep).

The database, the clock and the rate limits come from :func:`cobranza.bootstrap.app`, the one
composition root; no part reads the wall clock or the environment itself.

* :mod:`.gateway`: the scale-out topology's front (``python -m
  cobranza.channels.whatsapp.gateway``): checks Meta's signature, splits a batch per sender
  and forwards each part to the replica of that sender. It runs without Rasa.

``credentials.whatsapp.yml`` names ``cobranza.channels.whatsapp.WhatsAppInput``: it is
re-exported here so that class path stays the channel's public name, and imported only when
asked for (PEP 562), so the gateway, in this package too, does not load Rasa (a second and
about 100 MB).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cobranza.channels.whatsapp.input import WhatsAppInput

__all__ = ["WhatsAppInput"]


def __getattr__(name: str) -> Any:
    if name == "WhatsAppInput":
        from cobranza.channels.whatsapp.input import WhatsAppInput

        return WhatsAppInput
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
