"""Rasa's check of the action server's answers with its schema checked once
(cobranza/channels/action_calls.py): the same verdicts and messages as Rasa's own, the
meta-schema check once per process, and in place wherever our tracker store is built."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import ValidationError
from jsonschema.validators import validator_for
from rasa.core.actions.action import RemoteAction

from cobranza.channels import action_calls

RASAS_OWN = RemoteAction._validate_action_result  # as Rasa ships it, before anything installs ours

VALID: list[dict[str, Any]] = [
    {"events": [], "responses": []},
    {
        "events": [
            {"event": "slot", "name": "esperando", "value": None, "timestamp": None},
            {"event": "action", "name": "action_listen", "policy": None, "confidence": None},
        ],
        "responses": [{"response": "utter_saldo", "buttons": [], "saldo": "$1,200.00"}],
    },
    {},
]
INVALID: list[dict[str, Any]] = [
    {"events": "slot", "responses": []},
    {"events": [{"event": "slot", "name": 3}], "responses": []},
    {"events": [{"event": "no_such_event"}], "responses": []},
    {"events": [], "responses": ["utter_saldo"]},
    {"events": [{"name": "action_listen"}], "responses": []},
]


@pytest.fixture
def ours() -> Iterator[None]:
    """Our method in place for the test, Rasa's back afterwards."""
    action_calls.validator.cache_clear()
    assert action_calls.install()
    yield
    RemoteAction._validate_action_result = RASAS_OWN


def _verdict(answer: dict[str, Any]) -> str | None:
    try:
        RemoteAction("action_informar_saldo", None)._validate_action_result(answer)
    except ValidationError as error:
        return error.message
    return None


@pytest.mark.parametrize("answer", VALID + INVALID)
def test_the_same_verdict_and_message_as_rasas_own(answer: dict[str, Any], ours: None) -> None:
    RemoteAction._validate_action_result = RASAS_OWN
    rasas = _verdict(answer)
    assert action_calls.install()
    assert (_verdict(answer) is None) is (answer in VALID)
    assert _verdict(answer) == rasas


def test_the_schema_is_checked_once_per_process(
    ours: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    checks: list[object] = []
    cls = validator_for(RemoteAction.action_response_format_spec())
    original = cls.check_schema

    def counted(schema: object) -> None:
        checks.append(schema)
        original(schema)

    monkeypatch.setattr(cls, "check_schema", counted)
    for answer in VALID * 5 + INVALID:
        _verdict(answer)
    assert len(checks) == 1


def test_rasas_check_stays_under_another_rasa(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(action_calls.rasa, "__version__", "3.7.0")
    monkeypatch.setattr(RemoteAction, "_validate_action_result", RASAS_OWN)
    assert not action_calls.install()
    assert RemoteAction._validate_action_result is RASAS_OWN


def test_our_tracker_store_puts_it_in_place(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Rasa server of ours builds the store (endpoints.yml), so every one has it."""
    from rasa.shared.core.domain import Domain

    from cobranza import bootstrap
    from cobranza.channels.tracker_store import CobranzaTrackerStore
    from cobranza.config import load_settings

    monkeypatch.setattr(RemoteAction, "_validate_action_result", RASAS_OWN)
    settings = load_settings({"DATABASE_URL": f"sqlite:///{tmp_path / 'store.db'}"})
    store = CobranzaTrackerStore(Domain.empty(), app=bootstrap.build(settings, profiles={}))
    assert RemoteAction._validate_action_result is action_calls.validate_action_result
    store.engine.dispose()
