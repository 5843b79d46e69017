"""Twilio WhatsApp channel: Rasa's Twilio channel with signature checks and Spanish intact.

Rasa 3.6's ``rasa.core.channels.twilio`` has two problems for us:

* ``TwilioInput`` rewrites every ``"¡"`` of the *incoming* text into ``"@"`` (an SMS-carrier
  workaround), so "¡Ya pagué!" reaches the NLU as "@Ya pagué!". The outgoing side
  (``TwilioOutput``) does not touch the text.
* It never checks ``X-Twilio-Signature``: anyone who knows the URL can post fake messages in
  any debtor's name.

``TwilioWhatsAppInput`` keeps everything else of Rasa's behaviour (sender id ``whatsapp:+521…``
as Twilio sends it, location messages, 204 answer, media/custom JSON on the way out) and
rejects with 403, before anything reaches Rasa, every POST whose signature does not match.
A text reaches Rasa cut to ``MAX_MESSAGE_CHARS + 1`` characters (the NLU answers it "too long"),
and a sender over the rate limit (``cobranza/channels/limits.py``) is not passed on at all: one
polite answer (``utter_demasiados_mensajes``) a minute at most.

Configuration (``credentials.yml``; Rasa loads custom channels by module path)::

    cobranza.channels.twilio.TwilioWhatsAppInput:
      account_sid: ${TWILIO_ACCOUNT_SID}
      auth_token: ${TWILIO_AUTH_TOKEN}
      twilio_number: ${TWILIO_WHATSAPP_NUMBER}   # whatsapp:+14155238886
      webhook_url: ${TWILIO_WEBHOOK_URL}         # https://bot.example.mx/webhooks/twilio_whatsapp/webhook

``${VAR}`` is expanded by Rasa's YAML loader only in *unquoted* values; an unset variable stops
Rasa at start-up, an empty one is refused by :meth:`TwilioWhatsAppInput.from_credentials`.

Webhook URL (Twilio console → "When a message comes in", POST)::

    https://<public host>/webhooks/twilio_whatsapp/webhook

(``/webhooks/`` is Rasa's route prefix, ``twilio_whatsapp`` is :meth:`TwilioWhatsAppInput.name`).
Twilio signs the exact URL it calls; behind a proxy or TLS terminator Sanic's ``request.url``
is not that URL, so set ``webhook_url`` to exactly what is configured in Twilio. Without it the
channel falls back to ``request.url``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.channels.twilio import TwilioInput, TwilioOutput
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request, RequestParameters
from sanic.response import HTTPResponse
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from cobranza.channels.limits import InboundGate, bound_user_text
from cobranza.channels.startup import freeze_after_start
from cobranza.domain.phones import mask_phone

if TYPE_CHECKING:
    from twilio.rest.api.v2010.account.message import MessageInstance

logger = logging.getLogger(__name__)

CHANNEL_NAME = "twilio_whatsapp"
SIGNATURE_HEADER = "X-Twilio-Signature"
WHATSAPP_PREFIX = "whatsapp:"
REQUIRED_CREDENTIALS = ("account_sid", "auth_token", "twilio_number")


class TwilioCredentialsError(RasaException):
    """credentials.yml does not give what the Twilio WhatsApp channel needs."""


def whatsapp_address(address: str) -> str:
    """``+14155238886`` → ``whatsapp:+14155238886`` (unchanged if already prefixed)."""
    return address if address.startswith(WHATSAPP_PREFIX) else WHATSAPP_PREFIX + address


def _credential(credentials: dict[str, Any], key: str) -> str | None:
    value = credentials.get(key)
    if value is None:
        return None
    text = str(value).strip()
    if "${" in text:
        raise TwilioCredentialsError(
            f"Twilio WhatsApp: '{key}' was not expanded from the environment. Write it "
            f"unquoted in credentials.yml (e.g. {key}: ${{TWILIO_...}}), Rasa only expands "
            f"unquoted values."
        )
    return text or None


class TwilioWhatsAppOutput(TwilioOutput):
    """Rasa's Twilio output with WhatsApp addresses and logs without phone numbers or text.

    The text goes to Twilio exactly as written (``"¡Hola!"`` stays ``"¡Hola!"``).
    """

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    async def _send_message(self, message_data: dict[str, Any]) -> MessageInstance | None:
        data = dict(message_data)
        if data.get("to"):
            data["to"] = whatsapp_address(str(data["to"]))
        if data.get("from_"):
            data["from_"] = whatsapp_address(str(data["from_"]))
        try:
            return self.messages.create(**data)
        except TwilioRestException as e:
            # e.msg can quote the number; log only Twilio's codes and the masked recipient.
            logger.error(
                "Twilio rejected a message to %s (HTTP %s, Twilio code %s)",
                mask_phone(str(data.get("to", ""))),
                e.status,
                e.code,
            )
            return None


class TwilioWhatsAppInput(TwilioInput):
    """Twilio WhatsApp webhook that checks ``X-Twilio-Signature`` on every POST."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InputChannel:
        if not credentials:
            raise TwilioCredentialsError(
                f"Twilio WhatsApp: credentials.yml has no values under "
                f"{cls.__module__}.{cls.__name__} (needs {', '.join(REQUIRED_CREDENTIALS)})."
            )
        values = {key: _credential(credentials, key) for key in REQUIRED_CREDENTIALS}
        missing = [key for key, value in values.items() if not value]
        if missing:
            why = (
                " Without auth_token no X-Twilio-Signature can be checked."
                if "auth_token" in missing
                else ""
            )
            raise TwilioCredentialsError(
                f"Twilio WhatsApp: missing or empty {', '.join(missing)} in credentials.yml "
                f"(e.g. auth_token: ${{TWILIO_AUTH_TOKEN}}, unquoted).{why}"
            )
        webhook_url = _credential(credentials, "webhook_url")
        if webhook_url and urlsplit(webhook_url).scheme not in ("http", "https"):
            raise TwilioCredentialsError(
                "Twilio WhatsApp: webhook_url must be the full public URL configured in Twilio "
                "(https://…/webhooks/twilio_whatsapp/webhook)."
            )
        return cls(
            values["account_sid"],
            values["auth_token"],
            values["twilio_number"],
            webhook_url=webhook_url,
        )

    def __init__(
        self,
        account_sid: str | None,
        auth_token: str | None,
        twilio_number: str | None,
        debug_mode: bool = True,
        webhook_url: str | None = None,
        gate: InboundGate | None = None,
    ) -> None:
        if not auth_token:
            raise TwilioCredentialsError(
                "Twilio WhatsApp: auth_token is required to check X-Twilio-Signature."
            )
        super().__init__(account_sid, auth_token, twilio_number, debug_mode)
        self.auth_token: str = auth_token
        self.webhook_url = webhook_url
        self.validator = RequestValidator(auth_token)
        self.gate = gate or InboundGate.for_app()
        if not webhook_url:
            logger.warning(
                "Twilio WhatsApp: no webhook_url; checking signatures against request.url, "
                "which is wrong behind a proxy or TLS terminator."
            )

    def _signed_url(self, request: Request) -> str:
        """The URL Twilio called (and signed), query string included."""
        if not self.webhook_url:
            return str(request.url)
        if request.query_string and "?" not in self.webhook_url:
            return f"{self.webhook_url}?{request.query_string}"
        return self.webhook_url

    @staticmethod
    def _form_params(request: Request) -> RequestParameters:
        # Twilio signs every parameter, blank ones included (Body="" with media);
        # Sanic's request.form drops blanks, so parse the raw body ourselves.
        body = request.body.decode("utf-8", errors="replace") if request.body else ""
        return RequestParameters(parse_qs(body, keep_blank_values=True))

    def is_valid_request(self, request: Request, params: RequestParameters) -> bool:
        signature = request.headers.get(SIGNATURE_HEADER)
        if not signature:
            return False
        return bool(self.validator.validate(self._signed_url(request), params, signature))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # Its own name: Sanic refuses two blueprints called "twilio_webhook" in one app.
        twilio_webhook = Blueprint("twilio_whatsapp_webhook", __name__)
        freeze_after_start(twilio_webhook)

        @twilio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @twilio_webhook.route("/webhook", methods=["POST"])
        async def message(request: Request) -> HTTPResponse:
            params = self._form_params(request)
            if not self.is_valid_request(request, params):
                logger.warning(
                    "Twilio WhatsApp: rejected POST with %s X-Twilio-Signature",
                    "invalid" if request.headers.get(SIGNATURE_HEADER) else "no",
                )
                return response.text("invalid signature", status=403)

            sender = params.get("From")
            text = params.get("Body")
            if params.get("Latitude") and params.get("Longitude"):
                # Same text Rasa builds for a location (Body is empty then).
                text = "/locationData{{'Latitude': {lat},'Longitude': {long}}}".format(
                    lat=params.get("Latitude"), long=params.get("Longitude")
                )

            if not sender or not text:
                logger.debug("Twilio WhatsApp: message without sender or text ignored")
                return response.text("", status=204)

            try:
                # Unlike Rasa's TwilioInput, no "¡" → "@" rewriting: the text goes as sent.
                user_message = UserMessage(
                    bound_user_text(text),
                    self.get_output_channel(),
                    sender,
                    input_channel=self.name(),
                    metadata=self.get_metadata(request),
                )
                if await self.gate.admit(user_message):
                    await on_new_message(user_message)
            except Exception as e:
                # The exception text may quote the message; log its type and the masked sender.
                logger.error(
                    "Twilio WhatsApp: %s while handling a message from %s",
                    type(e).__name__,
                    mask_phone(sender),
                )
                if self.debug_mode:
                    raise
            return response.text("", status=204)

        return twilio_webhook

    def get_output_channel(self) -> OutputChannel:
        return TwilioWhatsAppOutput(self.account_sid, self.auth_token, self.twilio_number)
