"""The WhatsApp connector's pure parts: configuration, signature, payload parsing, limits."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from cobranza.channels.whatsapp.config import polite_replies
from cobranza.channels.whatsapp.parse import parse_webhook, signature_valid
from cobranza.config import ConfigError, load_whatsapp_settings
from cobranza.domain.text import shorten

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


def _notification(*messages: dict[str, object], statuses: list[dict[str, object]] | None = None):  # type: ignore[no-untyped-def]
    value: dict[str, object] = {"messaging_product": "whatsapp", "messages": list(messages)}
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }


def test_parse_text_interactive_media_and_statuses() -> None:
    payload = _notification(
        {
            "id": "wamid.1",
            "from": "5215512345678",
            "timestamp": "1795000000",
            "type": "text",
            "text": {"body": "¡Hola! 😀"},
        },
        {
            "id": "wamid.2",
            "from": "5215512345678",
            "timestamp": "1795000001",
            "type": "interactive",
            "interactive": {
                "type": "button_reply",
                "button_reply": {
                    "id": '/informar{"plan_elegido": "pago_total"}',
                    "title": "Pago total",
                },
            },
        },
        {
            "id": "wamid.3",
            "from": "5215512345678",
            "timestamp": "1795000002",
            "type": "audio",
            "audio": {"id": "m1", "voice": True},
        },
        {
            "id": "wamid.4",
            "from": "5215512345678",
            "timestamp": "1795000003",
            "type": "unsupported",
            "errors": [{"code": 131051}],
        },
        statuses=[
            {
                "id": "wamid.out",
                "recipient_id": "5215512345678",
                "status": "failed",
                "timestamp": "1795000004",
                "errors": [{"code": 131047, "title": "Re-engagement"}],
            }
        ],
    )
    messages, statuses = parse_webhook(json.loads(json.dumps(payload)))
    assert [(m.message_id, m.text, m.kind) for m in messages] == [
        ("wamid.1", "¡Hola! 😀", ""),
        ("wamid.2", '/informar{"plan_elegido": "pago_total"}', ""),
        ("wamid.3", None, "audio"),
        ("wamid.4", None, "otro"),
    ]
    assert statuses[0].status == "failed" and statuses[0].error_code == 131047


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
