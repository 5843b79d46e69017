"""Our replacements of Rasa's own functions go in under Rasa 3.6 only
(cobranza/channels/pinned_rasa.py): under another version Rasa's code stays, and the log says so."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.events import Event

from cobranza.channels import action_calls, event_types, pinned_rasa

# module -> (its install, the Rasa class it changes, the attributes it replaces)
INSTALLS: dict[str, tuple[Callable[[], bool], type, tuple[str, ...]]] = {
    "action_calls": (action_calls.install, RemoteAction, ("_validate_action_result", "run")),
    "event_types": (event_types.install, Event, ("resolve_by_type", "__init_subclass__")),
}


def _placeholders(owner: type, names: tuple[str, ...], monkeypatch: pytest.MonkeyPatch) -> dict:
    """Each attribute set to a fresh object (restored after the test), so that whatever an
    install puts in place shows, even if an earlier test installed ours already."""
    placed = {name: object() for name in names}
    for name, value in placed.items():
        monkeypatch.setattr(owner, name, value, raising=False)
    return placed


@pytest.mark.parametrize("module", INSTALLS)
def test_replaced_under_rasa_36(module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    install, owner, names = INSTALLS[module]
    placed = _placeholders(owner, names, monkeypatch)
    assert install()
    assert all(owner.__dict__[name] is not placed[name] for name in names)


@pytest.mark.parametrize("module", INSTALLS)
def test_rasas_own_stays_under_another_rasa(
    module: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    install, owner, names = INSTALLS[module]
    monkeypatch.setattr(pinned_rasa.rasa, "__version__", "3.7.0")
    placed = _placeholders(owner, names, monkeypatch)
    with caplog.at_level(logging.WARNING, logger=pinned_rasa.__name__):
        assert not install()
    assert all(owner.__dict__[name] is placed[name] for name in names)
    assert "Rasa 3.7.0 is not 3.6.x" in caplog.text
