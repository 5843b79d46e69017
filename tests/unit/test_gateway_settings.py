"""The WhatsApp gateway's settings (cobranza.config.load_gateway_settings): the defaults the
contract between the cluster branches names, the two required secrets, and malformed values
refused with the variable's name (and never a value that may hold a password)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cobranza.config import ConfigError, load_gateway_settings

REQUIRED = {"WHATSAPP_APP_SECRET": "secreto", "WHATSAPP_VERIFY_TOKEN": "verifica"}


def test_defaults_listen_on_loopback_and_forward_to_the_private_server() -> None:
    settings = load_gateway_settings(REQUIRED)
    assert (settings.host, settings.port) == ("127.0.0.1", 5080)
    assert settings.upstream_url == "http://127.0.0.1:5090/webhooks/whatsapp/webhook"
    assert settings.redis_url.reveal() == "redis://127.0.0.1:6379/0"
    assert settings.dedup_ttl == timedelta(hours=168)
    assert settings.max_request_bytes == 512 * 1024  # the replicas' RASA_MAX_REQUEST_BYTES
    assert settings.app_secret.reveal() == "secreto"
    assert "secreto" not in repr(settings) and "verifica" not in repr(settings)


def test_every_setting_is_read() -> None:
    settings = load_gateway_settings(
        {
            **REQUIRED,
            "GATEWAY_HOST": "0.0.0.0",
            "GATEWAY_PORT": "6080",
            "GATEWAY_UPSTREAM_URL": "http://nginx:8080/webhooks/whatsapp/webhook",
            "GATEWAY_REDIS_URL": "redis://:clave@redis:6379/1",
            "GATEWAY_DEDUP_TTL_HOURS": "24",
            "RASA_MAX_REQUEST_BYTES": "1048576",
            "COBRANZA_LOG_LEVEL": "warning",
        }
    )
    assert (settings.host, settings.port) == ("0.0.0.0", 6080)
    assert settings.upstream_url.startswith("http://nginx:8080/")
    assert settings.redis_url.reveal() == "redis://:clave@redis:6379/1"
    assert settings.dedup_ttl == timedelta(hours=24)
    assert settings.max_request_bytes == 1048576
    assert settings.log_level == "WARNING"
    assert "clave" not in repr(settings)


@pytest.mark.parametrize("missing", ["WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN"])
def test_a_missing_secret_is_named(missing: str) -> None:
    env = {**REQUIRED, missing: "  "}
    with pytest.raises(ConfigError, match=missing):
        load_gateway_settings(env)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GATEWAY_PORT", "70000"),
        ("GATEWAY_PORT", "cinco"),
        ("GATEWAY_UPSTREAM_URL", "nginx:8080"),
        ("GATEWAY_DEDUP_TTL_HOURS", "0"),
        ("RASA_MAX_REQUEST_BYTES", "1024"),
        ("COBRANZA_LOG_LEVEL", "TODO"),
    ],
)
def test_a_malformed_value_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        load_gateway_settings({**REQUIRED, name: value})


def test_a_malformed_redis_url_is_named_without_repeating_it() -> None:
    with pytest.raises(ConfigError, match="GATEWAY_REDIS_URL") as error:
        load_gateway_settings({**REQUIRED, "GATEWAY_REDIS_URL": "http://:clave@redis"})
    assert "clave" not in str(error.value)
