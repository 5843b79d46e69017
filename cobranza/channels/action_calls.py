"""Rasa's calls to the action server: the answer's schema checked once, the connection kept.

**The schema, checked once.**
After every custom action call, Rasa 3.6 (``RemoteAction._validate_action_result``) validates the
action server's JSON with ``jsonschema.validate(answer, schema)``. That function first checks the
*schema* against JSON Schema's meta-schema, then builds a validator, then validates. The schema is
a constant Rasa ships (its event schemas), and checking it is what costs: 25–30 ms per call on this
machine, about a fifth of a whole action turn (docs/latency.md), while validating the answer takes
about 1 ms. Here the schema is checked once per process and its validator kept; every answer is
still validated against the same schema, and an invalid one fails with the same
``ValidationError`` and message as in Rasa.

**The connection, kept.** Rasa 3.6's ``EndpointConfig.request`` opens a new aiohttp
``ClientSession`` for every call, so every custom action opens (and closes) a TCP connection to
the action server: 1.5–3 ms per action turn on this machine (docs/latency.md). Here a remote
action's endpoint is a :class:`KeptAliveEndpoint`, the same endpoint whose ``request`` (Rasa's,
line for line) uses one session per event loop, kept between calls. Its connections are
reused for at most :data:`KEEPALIVE_SECONDS`, less than the action server's own keep-alive
timeout (Sanic's ``KEEP_ALIVE_TIMEOUT``, 5 s), so the client never picks a connection the server
is closing; a connection the server did close is not reused. Nothing is retried: a failed call
fails as in Rasa.

The tracker store installs both (:func:`install`), so they run in our Rasa server whatever the
channels. They replace two methods of Rasa's, so they are tied to Rasa 3.6 (the pinned series):
under another version nothing is replaced and Rasa's own code runs
(:mod:`cobranza.channels.pinned_rasa`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import ssl
import weakref
from typing import Any

import aiohttp
from aiohttp.client_exceptions import ContentTypeError
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from rasa.core.actions import action as rasa_action
from rasa.core.actions.action import RemoteAction
from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
from rasa.shared.exceptions import FileNotFoundException
from rasa.utils.endpoints import ClientResponseError, EndpointConfig, concat_url

from cobranza.channels import pinned_rasa

# Rasa's own words after the validator's message (rasa/core/actions/action.py, 3.6).
RASA_SUFFIX = (
    ". Failed to validate Action server response from API, "
    "make sure your response from the Action endpoint is valid. "
    "For more information about the format visit "
    f"{rasa_action.DOCS_BASE_URL}/custom-actions"
)


@functools.lru_cache(maxsize=4)
def validator(schema_json: str) -> Any:
    """The validator of a schema, the schema checked once against the meta-schema (keyed by
    its JSON text: Rasa builds the schema afresh at every call)."""
    schema = json.loads(schema_json)
    cls = validator_for(schema)
    cls.check_schema(schema)  # a broken schema fails here, as in jsonschema.validate
    return cls(schema)


def validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """``RemoteAction._validate_action_result`` with the checked schema kept."""
    schema = json.dumps(self.action_response_format_spec(), sort_keys=True)
    error = best_match(validator(schema).iter_errors(result))
    if error is not None:
        error.message += RASA_SUFFIX
        raise error
    return True


# How long an idle connection to the action server is kept: under Sanic's KEEP_ALIVE_TIMEOUT
# (5 s by default), so the server never closes one the client is about to use.
KEEPALIVE_SECONDS = 4.0
# Set on Rasa's action endpoint (the processor's, long-lived): its kept-alive twin.
_KEPT = "_cobranza_kept_alive"


class KeptAliveEndpoint(EndpointConfig):
    """An :class:`EndpointConfig` whose requests share one aiohttp session per event loop.

    A session (and its connections) belongs to the loop that made it, so each loop gets its
    own; a closed session is replaced. No limit on connections at once, like Rasa's one
    session per call."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sessions: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aiohttp.ClientSession]
        self._sessions = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, endpoint: EndpointConfig) -> KeptAliveEndpoint:
        """The same endpoint (url, params, headers, auth, token, CA file, other keys)."""
        twin = cls(
            endpoint.url,
            endpoint.params,
            endpoint.headers,
            endpoint.basic_auth,
            endpoint.token,
            endpoint.token_name,
            endpoint.cafile,
            **endpoint.kwargs,
        )
        twin.type = endpoint.type
        return twin

    def kept_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        session = self._sessions.get(loop)
        if session is None or session.closed:
            auth = None
            if self.basic_auth:
                auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"])
            session = aiohttp.ClientSession(
                headers=self.headers,
                auth=auth,
                timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
                connector=aiohttp.TCPConnector(limit=0, keepalive_timeout=KEEPALIVE_SECONDS),
            )
            self._sessions[loop] = session
            _SESSIONS.setdefault(loop, []).append(session)
        return session

    async def request(
        self,
        method: str = "post",
        subpath: str | None = None,
        content_type: str | None = "application/json",
        compress: bool = False,
        **kwargs: Any,
    ) -> Any | None:
        """Rasa 3.6.21's ``EndpointConfig.request``, on the kept session."""
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if "headers" in kwargs:
            headers.update(kwargs["headers"])
            del kwargs["headers"]
        if self.headers:
            headers.update(self.headers)
        url = concat_url(self.url, subpath)
        sslcontext = None
        if self.cafile:
            try:
                sslcontext = ssl.create_default_context(cafile=self.cafile)
            except FileNotFoundError as e:
                raise FileNotFoundException(
                    f"Failed to find certificate file, "
                    f"'{os.path.abspath(self.cafile)}' does not exist."
                ) from e
        async with self.kept_session().request(
            method,
            url,
            headers=headers,
            params=self.combine_parameters(kwargs),
            compress=compress,
            ssl=sslcontext,
            **kwargs,
        ) as response:
            if response.status >= 400:
                raise ClientResponseError(
                    response.status, response.reason, await response.content.read()
                )
            try:
                return await response.json()
            except ContentTypeError:
                return None


# Every kept session by loop, for close_kept_sessions.
_SESSIONS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[aiohttp.ClientSession]]
_SESSIONS = weakref.WeakKeyDictionary()


async def close_kept_sessions() -> None:
    """Close the sessions kept on the running loop; the next call on it opens a new one. Tests
    call it; Rasa's server leaves its session to the process's exit (stopping it after a call
    logs nothing)."""
    for session in _SESSIONS.pop(asyncio.get_running_loop(), []):
        await session.close()


_rasas_run = RemoteAction.run


async def run_remote_action(self: RemoteAction, *args: Any, **kwargs: Any) -> Any:
    """``RemoteAction.run`` on the kept-alive twin of Rasa's action endpoint (Rasa builds a
    ``RemoteAction`` per call, with the processor's endpoint)."""
    endpoint = self.action_endpoint
    if endpoint is not None and not isinstance(endpoint, KeptAliveEndpoint):
        twin = getattr(endpoint, _KEPT, None)
        if twin is None:
            twin = KeptAliveEndpoint.of(endpoint)
            setattr(endpoint, _KEPT, twin)
        self.action_endpoint = twin
    return await _rasas_run(self, *args, **kwargs)


def _replace() -> None:
    RemoteAction._validate_action_result = validate_action_result
    RemoteAction.run = run_remote_action


def install() -> bool:
    """Replace Rasa's methods (once; only under Rasa 3.6). True when ours are in place."""
    return pinned_rasa.install("its calls to the action server", _replace)
