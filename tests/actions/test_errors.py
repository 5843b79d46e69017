"""What an action answers when something it did not expect goes wrong: a bug (a built-in
exception) or one of our errors it does not handle. Either way nothing is stored, the debtor is
told there was a technical problem (``utter_error_tecnico``), and the log never names the debtor;
only a bug is logged with its traceback."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from actions import balance
from actions.balance import ActionInformarSaldo
from cobranza.bootstrap import App
from cobranza.db.repository import DebtorNotFound
from tests.support.actions import (
    Domain,
    TrackerFactory,
    responses,
    run_action,
    verify_on_server,
)

MARIA = "5215512345678"
VERIFIED = {
    "deudor_encontrado": True,
    "persona": "olvidadizo",
    "zona_horaria": "America/Mexico_City",
    "identidad_verificada": True,
}


def _run(
    action_app: App,
    tracker_factory: TrackerFactory,
    domain: Domain,
    caplog: pytest.LogCaptureFixture,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    verify_on_server(action_app, MARIA, "+525512345678")
    tracker = tracker_factory(slots=VERIFIED, intent="consultar_saldo")
    with caplog.at_level(logging.INFO):
        return run_action(ActionInformarSaldo(), tracker, domain)


def test_a_bug_is_a_technical_error_logged_with_its_traceback(
    action_app: App,
    tracker_factory: TrackerFactory,
    domain: Domain,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object) -> object:
        raise KeyError("creditor")

    monkeypatch.setattr(balance, "open_debts", broken)
    events, messages = _run(action_app, tracker_factory, domain, caplog)
    assert responses(messages) == ["utter_error_tecnico"] and events == []
    bugs = [r for r in caplog.records if r.exc_info and r.exc_info[0] is KeyError]
    assert bugs and bugs[0].levelno == logging.ERROR
    assert "5512345678" not in caplog.text


def test_our_unhandled_error_is_answered_without_naming_the_debtor(
    action_app: App,
    tracker_factory: TrackerFactory,
    domain: Domain,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """DebtorNotFound's message is the number: it must not reach the log."""

    def vanished(session: object, phone: str) -> object:
        raise DebtorNotFound(phone)

    monkeypatch.setattr(balance, "open_debts", vanished)
    events, messages = _run(action_app, tracker_factory, domain, caplog)
    assert responses(messages) == ["utter_error_tecnico"] and events == []
    assert "5512345678" not in caplog.text
    ours = [r for r in caplog.records if "DebtorNotFound" in r.getMessage()]
    assert ours and ours[0].levelno == logging.WARNING and not ours[0].exc_info
