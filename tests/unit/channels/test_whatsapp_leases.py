"""The replica's name (``COBRANZA_REPLICA``, the holder of its WhatsApp conversation leases)
and the lease times, without a database."""

from __future__ import annotations

import socket

import pytest

from cobranza.channels.whatsapp.config import LEASES, LeaseTimes
from cobranza.config import ConfigError, load_settings


def test_the_replica_is_named_after_the_host_unless_set() -> None:
    assert load_settings({}).replica == socket.gethostname()
    assert load_settings({"COBRANZA_REPLICA": " replica-2 "}).replica == "replica-2"
    assert load_settings({"COBRANZA_REPLICA": "rasa-7f9c.pod:5005"}).replica == "rasa-7f9c.pod:5005"


def test_the_default_name_is_stable_across_restarts() -> None:
    """A restarted replica must find its own leases under the same name."""
    assert load_settings({}).replica == load_settings({}).replica


@pytest.mark.parametrize(
    "value",
    [
        "replica 1",  # a space
        "-replica",  # starts with a dash
        "r" * 101,  # longer than the column
        "réplica",  # not ASCII
        "replica-1'; DROP TABLE conversation_leases;--",
        "replica\n2",
    ],
)
def test_a_malformed_replica_name_fails_fast_with_its_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="COBRANZA_REPLICA"):
        load_settings({"COBRANZA_REPLICA": value})


def test_a_host_name_that_cannot_be_a_holder_asks_for_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(socket, "gethostname", lambda: "")
    with pytest.raises(ConfigError, match="set COBRANZA_REPLICA"):
        load_settings({})


def test_the_default_lease_is_renewed_well_before_it_lapses() -> None:
    assert LEASES.lifetime == 30.0
    assert LEASES.renew_every == 10.0
    assert LEASES.orphan_after < LEASES.sweep_every < LEASES.lifetime
    assert LEASES.retry <= LEASES.retry_max < LEASES.lifetime


@pytest.mark.parametrize(
    "times",
    [
        {"lifetime": 0},
        {"sweep_every": -1},
        {"retry": 0},
        {"orphan_after": -0.1},
        {"retry": 2.0, "retry_max": 1.0},
    ],
)
def test_lease_times_must_make_sense(times: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"lease times|retry_max"):
        LeaseTimes(**times)
