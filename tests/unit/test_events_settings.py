"""The events consumer's settings (cobranza/config.py, load_events_settings): loopback and
guest by default, Rasa's variables for the broker, the password and the key never shown."""

from __future__ import annotations

import pytest

from cobranza.config import PROJECT_ROOT, ConfigError, load_events_settings

KEY = "k" * 32


def test_defaults_are_loopback_and_rasas_queue() -> None:
    settings = load_events_settings({"EVENTS_SENDER_KEY": KEY})
    assert settings.broker_url.reveal() == "amqp://guest:guest@127.0.0.1:5672/"
    assert settings.broker_display == "amqp://guest:***@127.0.0.1:5672/"
    assert (settings.queue, settings.prefetch, settings.reconnect_max_seconds) == (
        "rasa_events",
        50,
        30.0,
    )
    assert settings.max_message_bytes == 256 * 1024
    assert settings.nlu_config == PROJECT_ROOT / "config.yml"


def test_the_key_and_the_password_never_show() -> None:
    settings = load_events_settings(
        {
            "EVENTS_SENDER_KEY": KEY,
            "RABBITMQ_HOST": "rabbit.internal",
            "RABBITMQ_PORT": "5673",
            "RABBITMQ_USERNAME": "rasa",
            "RABBITMQ_PASSWORD": "p@ss:w/rd",
        }
    )
    assert settings.broker_url.reveal() == "amqp://rasa:p%40ss%3Aw%2Frd@rabbit.internal:5673/"
    assert settings.broker_display == "amqp://rasa:***@rabbit.internal:5673/"
    for shown in (repr(settings), str(settings)):
        assert "p@ss" not in shown and "p%40ss" not in shown and KEY not in shown


def test_a_url_in_rabbitmq_host_as_rasa_accepts_it() -> None:
    settings = load_events_settings(
        {
            "EVENTS_SENDER_KEY": KEY,
            "RABBITMQ_HOST": "amqps://svc:secret@mq.example:5671/cobranza?heartbeat=30",
            "RABBITMQ_PASSWORD": "ignored",
        }
    )
    assert (
        settings.broker_url.reveal() == "amqps://svc:secret@mq.example:5671/cobranza?heartbeat=30"
    )
    assert settings.broker_display == "amqps://svc:***@mq.example:5671/cobranza?heartbeat=30"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EVENTS_SENDER_KEY", ""),
        ("EVENTS_SENDER_KEY", "short"),
        ("RASA_EVENTS_QUEUE", "rasa events"),
        ("RASA_EVENTS_QUEUE", "x" * 256),
        ("EVENTS_PREFETCH", "0"),
        ("EVENTS_PREFETCH", "100000"),
        ("EVENTS_PREFETCH", "muchos"),
        ("EVENTS_MAX_MESSAGE_BYTES", "100"),
        ("EVENTS_RECONNECT_MAX_SECONDS", "0"),
        ("RABBITMQ_PORT", "70000"),
        ("RABBITMQ_HOST", "http://mq.example"),
        ("RABBITMQ_HOST", "mq.example/../x"),
        ("RABBITMQ_HOST", "amqp://:5672"),
    ],
)
def test_bad_values_fail_fast_with_their_name(name: str, value: str) -> None:
    env = {"EVENTS_SENDER_KEY": KEY, name: value}
    with pytest.raises(ConfigError, match=name) as raised:
        load_events_settings(env)
    if name == "EVENTS_SENDER_KEY" and value:
        assert value not in str(raised.value)
