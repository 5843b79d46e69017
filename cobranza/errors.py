"""Our exceptions, under one root. Entry points (actions, channels, console, CLI) catch these,
never built-ins: a bug (``KeyError``, ``TypeError``…) is not one of ours, so it is logged and
answered as a technical error instead of being mistaken for "not found" or "refused"."""

from __future__ import annotations


class CobranzaError(Exception):
    """Anything the assistant raises on purpose."""


class NotFound(CobranzaError):
    """What was asked for does not exist: a debtor, an offer, a ticket."""


class Rejected(CobranzaError):
    """A request that breaks a rule (a promise too far ahead, a malformed number); the message
    or the exception's reason says which."""


class Conflict(CobranzaError):
    """The state changed under the request: another agent has the ticket, it is closed."""


class InvalidFiles(CobranzaError):
    """Files a person edits (persona profiles, the demo portfolio) do not validate; ``problems``
    lists every one as ``file: key: message``, so a designer fixes them all in one pass."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))
