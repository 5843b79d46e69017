"""The transport settings (cobranza/config.py) and the bounded inflater, without a server."""

from __future__ import annotations

import zlib
from http import HTTPStatus

import pytest

from cobranza.action_server import Refused, inflate, rasa_environment, require_token
from cobranza.config import ConfigError, load_settings

TOKEN = "0123456789abcdef" * 4


def test_defaults_are_private_and_bounded() -> None:
    settings = load_settings({})
    assert settings.action_server_token is None
    assert (settings.actions_host, settings.actions_port) == ("127.0.0.1", 5055)
    assert settings.actions_max_request_bytes == 8 * 1024 * 1024
    assert settings.rasa_max_request_bytes == 512 * 1024
    assert rasa_environment(settings) == {
        "SANIC_REQUEST_MAX_SIZE": "524288",
        "SANIC_WEBSOCKET_MAX_SIZE": "524288",
    }
    with pytest.raises(ConfigError, match="ACTION_SERVER_TOKEN"):
        require_token(settings)


def test_the_token_is_a_secret() -> None:
    settings = load_settings({"ACTION_SERVER_TOKEN": TOKEN})
    assert require_token(settings) == TOKEN
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.action_server_token)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ACTION_SERVER_TOKEN", "x" * 31),  # too short to be a secret
        ("ACTION_SERVER_TOKEN", "x" * 31 + "&"),  # would break the query string
        ("ACTION_SERVER_TOKEN", "x" * 31 + "$"),  # would break ${…} in endpoints.yml
        ("ACTION_SERVER_TOKEN", "x" * 31 + " "),
        ("ACTIONS_PORT", "0"),
        ("ACTIONS_PORT", "65536"),
        ("ACTIONS_PORT", "cinco"),
        ("ACTIONS_MAX_REQUEST_BYTES", "1024"),
        ("ACTIONS_MAX_REQUEST_BYTES", "8MB"),
        ("RASA_MAX_REQUEST_BYTES", "-1"),
    ],
)
def test_bad_values_fail_fast_with_their_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name) as raised:
        load_settings({name: value})
    if name == "ACTION_SERVER_TOKEN":  # a rejected secret is not echoed either
        assert value.strip() not in str(raised.value)


def test_settings_from_the_environment() -> None:
    settings = load_settings(
        {
            "ACTION_SERVER_TOKEN": f" {TOKEN} ",
            "ACTIONS_HOST": "0.0.0.0",
            "ACTIONS_PORT": "6055",
            "ACTIONS_MAX_REQUEST_BYTES": "16777216",
            "RASA_MAX_REQUEST_BYTES": "1048576",
        }
    )
    assert require_token(settings) == TOKEN
    assert (settings.actions_host, settings.actions_port) == ("0.0.0.0", 6055)
    assert settings.actions_max_request_bytes == 16 * 1024 * 1024
    assert rasa_environment(settings)["SANIC_REQUEST_MAX_SIZE"] == "1048576"


def test_inflate_stops_at_the_bound() -> None:
    limit = 100_000
    assert inflate(zlib.compress(b"a" * limit), limit) == b"a" * limit
    with pytest.raises(Refused) as raised:
        inflate(zlib.compress(b"a" * (limit + 1)), limit)
    assert raised.value.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE


@pytest.mark.parametrize(
    "data",
    [b"", b"{}", zlib.compress(b"{}")[:-1], zlib.compress(b"{}") + b"x", b"\x78\x9c\xff\xff"],
)
def test_inflate_refuses_what_is_not_one_whole_zlib_stream(data: bytes) -> None:
    with pytest.raises(Refused) as raised:
        inflate(data, 1000)
    assert raised.value.status_code == HTTPStatus.BAD_REQUEST
