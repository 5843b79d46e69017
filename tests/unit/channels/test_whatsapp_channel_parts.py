"""The WhatsApp connector's pure parts: configuration, signature, payload parsing, limits."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest

from cobranza.channels.whatsapp.config import polite_replies
from cobranza.channels.whatsapp.parse import parse_webhook, signature_valid
from cobranza.config import ConfigError, load_whatsapp_settings
from cobranza.domain.text import shorten
from tests.fixtures import fixture_names, load_fixture

ENV = {
    "WHATSAPP_VERIFY_TOKEN": "verificame",
    "WHATSAPP_APP_SECRET": "secreto-de-la-app",
    "WHATSAPP_ACCESS_TOKEN": "EAAG-token",
    "WHATSAPP_PHONE_NUMBER_ID": "123456789012345",
    "WHATSAPP_API_URL": "http://127.0.0.1:9/v21.0/",
}


def test_config_from_env_hides_secrets() -> None:
    config = load_whatsapp_settings(ENV)
    assert config.api_url == "http://127.0.0.1:9/v21.0"
    assert config.template_language == "es_MX"
    assert "secreto" not in repr(config) and "EAAG" not in repr(config)


def test_missing_settings_are_all_named() -> None:
    env = {k: v for k, v in ENV.items() if k not in ("WHATSAPP_APP_SECRET", "WHATSAPP_API_URL")}
    with pytest.raises(ConfigError) as error:
        load_whatsapp_settings(env)
    assert "WHATSAPP_APP_SECRET" in str(error.value) and "WHATSAPP_API_URL" in str(error.value)
    assert "WHATSAPP_ACCESS_TOKEN" not in str(error.value)


def test_signature() -> None:
    body = b'{"object":"whatsapp_business_account"}'
    good = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert signature_valid(body, good, "k")
    assert signature_valid(body, good.upper().replace("SHA256=", "sha256="), "k")
    assert not signature_valid(body + b" ", good, "k")
    assert not signature_valid(body, good, "otra")
    assert not signature_valid(body, None, "k")
    assert not signature_valid(body, good.replace("sha256=", "sha1="), "k")


ANA = "5215512345678"


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("whatsapp/text", ("text", "¡Hola! ¿Cuánto debo? 😀", "")),
        ("whatsapp/button_reply", ("interactive", '/informar{"plan_elegido": "pago_total"}', "")),
        ("whatsapp/list_reply", ("interactive", '/informar{"plan_elegido": "plan_6"}', "")),
        ("whatsapp/context_reply", ("text", "Sí, ese mismo, lo pago el viernes", "")),
        ("whatsapp/image", ("image", None, "imagen")),
        ("whatsapp/audio_voice", ("audio", None, "audio")),
        ("whatsapp/location", ("location", None, "ubicacion")),
        ("whatsapp/sticker", ("sticker", None, "sticker")),
        ("whatsapp/unsupported", ("unsupported", None, "otro")),
    ],
)
def test_parse_each_kind_of_recorded_message(
    fixture: str, expected: tuple[str, str | None, str]
) -> None:
    """Text and the id of a tapped button or row go to Rasa; the rest gets a polite answer."""
    payload = load_fixture(fixture)
    raw = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    messages, statuses = parse_webhook(json.loads(json.dumps(payload)))
    (message,) = messages
    assert (message.message_type, message.text, message.kind) == expected
    assert (message.message_id, message.wa_id) == (raw["id"], ANA)
    assert message.sent_at == datetime.fromtimestamp(int(raw["timestamp"]), tz=timezone.utc)
    assert statuses == []


def test_parse_recorded_statuses() -> None:
    messages, statuses = parse_webhook(load_fixture("whatsapp/statuses"))
    assert messages == []
    assert [(s.status, s.wa_id, s.error_code, s.error_title) for s in statuses] == [
        ("sent", ANA, None, None),
        ("delivered", ANA, None, None),
        ("read", ANA, None, None),
    ]
    assert [s.occurred_at.timestamp() for s in statuses] == [1795000010, 1795000011, 1795000030]
    _, (failed,) = parse_webhook(load_fixture("whatsapp/status_failed"))
    assert failed.status == "failed" and failed.error_code == 131047
    assert failed.error_title == "Re-engagement message"


def test_parse_a_recorded_batch_of_two_entries() -> None:
    """Every message and status of every entry and change, in the order Meta sent them (the
    channel orders a sender's messages by their timestamps when it processes them)."""
    messages, statuses = parse_webhook(load_fixture("whatsapp/batch_multi_entry"))
    assert [(m.wa_id, m.text) for m in messages] == [
        ("5213398765432", "Buenas tardes"),
        (ANA, "¿Me mandan mi comprobante?"),
        (ANA, "Ya pagué"),
    ]
    assert [(s.status, s.wa_id) for s in statuses] == [("read", ANA)]


@pytest.mark.parametrize("fixture", fixture_names("whatsapp"))
def test_every_recorded_payload_is_understood(fixture: str) -> None:
    messages, statuses = parse_webhook(load_fixture(fixture))
    assert messages or statuses


@pytest.mark.parametrize(
    "payload",
    [
        None,
        [],
        {"object": "page"},
        {
            "object": "whatsapp_business_account",
            "entry": [
                {"changes": [{"value": {"messages": [{"from": "52155", "timestamp": "1"}]}}]}
            ],
        },
    ],
)
def test_bad_payloads_are_refused(payload: object) -> None:
    with pytest.raises(ValueError):
        parse_webhook(payload)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Pago total", 20, "Pago total"),
        ("6 pagos quincenales de $1,250.00", 20, "6 pagos quincenales…"),
        ("Liquidación con descuento", 20, "Liquidación con…"),
        ("Supercalifragilisticoespialidoso", 20, "Supercalifragilisti…"),
        ("  espacios   de   más  ", 24, "espacios de más"),
    ],
)
def test_shorten_cuts_between_words(text: str, limit: int, expected: str) -> None:
    assert shorten(text, limit) == expected
    assert len(shorten(text, limit)) <= limit


def test_every_kind_has_a_polite_reply_in_the_domain() -> None:
    replies = polite_replies()
    assert set(replies) >= {
        "imagen",
        "audio",
        "video",
        "documento",
        "sticker",
        "ubicacion",
        "contactos",
        "reaccion",
        "otro",
    }
