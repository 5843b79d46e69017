"""Every exception the assistant defines has one root, CobranzaError, so entry points catch
ours and never a built-in (a bug must not pass for "not found"). Exceptions that must be a
framework's own type to work (Sanic answers its SanicException, Rasa its RasaException) are
named here."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import cobranza
from cobranza.errors import CobranzaError

FRAMEWORK_TYPED = {
    "cobranza.action_server.Refused",  # SanicException: Sanic turns it into the HTTP answer
    "cobranza.channels.twilio.TwilioCredentialsError",  # RasaException: Rasa reports it at start
}


def _defined_exceptions() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(cobranza.__path__, "cobranza."):
        if module_info.name.endswith(".__main__"):  # importing it would start a server
            continue
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


def test_every_exception_of_ours_has_the_one_root() -> None:
    exceptions = _defined_exceptions()
    assert "cobranza.db.repository.DebtorNotFound" in exceptions  # the walk finds them
    strays = sorted(
        name
        for name, cls in exceptions.items()
        if not issubclass(cls, CobranzaError) and name not in FRAMEWORK_TYPED
    )
    assert strays == []


def test_none_of_ours_is_a_builtin_lookup_or_value_error() -> None:
    """Catching LookupError or ValueError must never catch one of ours by accident, nor the
    other way round."""
    for name, cls in _defined_exceptions().items():
        if issubclass(cls, CobranzaError):
            assert not issubclass(cls, (LookupError, ValueError, RuntimeError)), name
