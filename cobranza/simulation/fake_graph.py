"""A local fake of Meta's WhatsApp Cloud API "send message" endpoint, plus builders for the
inbound webhooks Meta sends. Development tooling: ``cobranza simulate`` sends its campaign
messages to it (hence its place in :mod:`cobranza.simulation`, a layer the entry points may
import), and the tests and benches use it; nothing the assistant runs in production imports it.

:class:`FakeGraphAPI` is a real HTTP server on 127.0.0.1 (standard library only, served from a
background thread) so it works from synchronous pytest and from asyncio code alike. It accepts
``POST {base_url}/{phone_number_id}/messages`` and rejects what Graph would reject, with the
status and error envelope Graph uses::

    with FakeGraphAPI("token", "1234567890") as graph:
        os.environ["WHATSAPP_API_URL"] = graph.base_url   # http://127.0.0.1:PORT/v21.0
        ...  # exercise the connector
        graph.wait_for(1)
        assert graph.rejected == []

Supported outbound payloads: ``text``, ``interactive`` (``button`` and ``list``) and
``template`` (text parameters; given ``templates``, only those names with that many body
parameters, as Meta checks against the approved templates: :func:`registered` turns our
templates into that map). The "mark as read" call on the same endpoint
(``{"messaging_product": "whatsapp", "status": "read", "message_id": ...}``) is accepted too and
recorded in :attr:`FakeGraphAPI.read_receipts`, not in :attr:`FakeGraphAPI.messages`.
:meth:`FakeGraphAPI.client` is a Graph API client pointed at the fake.

The webhook half: :func:`text_message`, :func:`interactive_reply`, :func:`template_button_reply`,
:func:`media_message` and :func:`status_update` each build the inside of one change ``value``;
:func:`webhook_payload` wraps them in Meta's envelope, and :func:`sign` computes
``X-Hub-Signature-256``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from cobranza.config import Secret, WhatsAppSettings
from cobranza.errors import CobranzaError
from cobranza.outreach.graph import GraphClient
from cobranza.outreach.templates import Template

__all__ = [
    "DEFAULT_DISPLAY_PHONE_NUMBER",
    "DEFAULT_PHONE_NUMBER_ID",
    "DEFAULT_WABA_ID",
    "FakeGraphAPI",
    "InjectedFailure",
    "Rejection",
    "interactive_reply",
    "media_message",
    "registered",
    "sign",
    "signed_request",
    "status_update",
    "template_button_reply",
    "text_message",
    "validate_message",
    "webhook_payload",
]

JSON = dict[str, Any]

# Limits of the Cloud API, counted in characters (len of str), not bytes.
TEXT_BODY_MAX = 4096
BUTTON_BODY_MAX = 1024
LIST_BODY_MAX = 4096
HEADER_TEXT_MAX = 60
FOOTER_TEXT_MAX = 60
BUTTONS_MAX = 3
BUTTON_ID_MAX = 256
BUTTON_TITLE_MAX = 20
LIST_BUTTON_MAX = 20
SECTIONS_MAX = 10
ROWS_MAX = 10
ROW_ID_MAX = 200
ROW_TITLE_MAX = 24
ROW_DESCRIPTION_MAX = 72
SECTION_TITLE_MAX = 24
TEMPLATE_BODY_PARAM_MAX = 32768
TEMPLATE_HEADER_PARAM_MAX = 60

_TO_RE = re.compile(r"[0-9]{8,15}")
_TEMPLATE_NAME_RE = re.compile(r"[a-z0-9_]+")
_LANGUAGE_CODE_RE = re.compile(r"[a-z]{2,3}(_[A-Za-z0-9]{2,4})?")
_BAD_PARAM_TEXT_RE = re.compile(r"[\n\t]| {5,}")

_TRANSIENT_ERRORS: dict[int, tuple[int, str]] = {
    429: (130429, "Rate limit hit"),
    500: (131000, "Something went wrong"),
    503: (2, "Service temporarily unavailable"),
}


class Rejection(NamedTuple):
    """A request the fake refused: HTTP status, Graph error message, raw request body."""

    status: int
    message: str
    body: bytes


class InjectedFailure(NamedTuple):
    """A failure returned because of ``fail_plan``: 1-based request number and HTTP status."""

    request_number: int
    status: int


class _GraphError(CobranzaError):
    """An error response in Graph's envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: int,
        error_type: str = "OAuthException",
        subcode: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.error_type = error_type
        self.subcode = subcode

    def payload(self) -> JSON:
        error: JSON = {
            "message": self.message,
            "type": self.error_type,
            "code": self.code,
            "error_subcode": self.subcode,
            "fbtrace_id": secrets.token_urlsafe(16),
        }
        if self.status == 400:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.message}
        return {"error": error}


def _invalid(path: str, problem: str) -> _GraphError:
    return _GraphError(400, f"(#100) Param {path} {problem}", code=100)


# --------------------------------------------------------------------------- payload validation


def _at(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}['{key}']" if path else key


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _require(parent: Mapping[str, Any], key: str, path: str) -> Any:
    if key not in parent or parent[key] is None:
        raise _invalid(_at(path, key), "is required")
    return parent[key]


def _obj(parent: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> JSON | None:
    if not required and key not in parent:
        return None
    value = _require(parent, key, path)
    if not isinstance(value, dict):
        raise _invalid(_at(path, key), f"must be an object, got {_type_name(value)}")
    return value


def _need_obj(parent: Mapping[str, Any], key: str, path: str) -> JSON:
    value = _obj(parent, key, path)
    assert value is not None
    return value


def _str(
    parent: Mapping[str, Any],
    key: str,
    path: str,
    *,
    max_len: int | None = None,
    min_len: int = 1,
    required: bool = True,
) -> str | None:
    if not required and key not in parent:
        return None
    value = _require(parent, key, path)
    where = _at(path, key)
    if not isinstance(value, str):
        raise _invalid(where, f"must be a string, got {_type_name(value)}")
    if len(value) < min_len:
        raise _invalid(where, "must not be empty" if min_len == 1 else f"is too short: {value!r}")
    if max_len is not None and len(value) > max_len:
        raise _invalid(where, f"must be at most {max_len} characters long, got {len(value)}")
    return value


def _need_str(parent: Mapping[str, Any], key: str, path: str, *, max_len: int | None = None) -> str:
    value = _str(parent, key, path, max_len=max_len)
    assert value is not None
    return value


def _list(
    parent: Mapping[str, Any], key: str, path: str, *, min_items: int, max_items: int | None
) -> list[Any]:
    value = _require(parent, key, path)
    where = _at(path, key)
    if not isinstance(value, list):
        raise _invalid(where, f"must be an array, got {_type_name(value)}")
    if len(value) < min_items:
        raise _invalid(where, f"must have at least {min_items} item(s), got {len(value)}")
    if max_items is not None and len(value) > max_items:
        raise _invalid(where, f"must have at most {max_items} items, got {len(value)}")
    return value


def _item(value: Any, path: str) -> JSON:
    if not isinstance(value, dict):
        raise _invalid(path, f"must be an object, got {_type_name(value)}")
    return value


def _one_of(parent: Mapping[str, Any], key: str, path: str, allowed: Iterable[str]) -> str:
    value = _need_str(parent, key, path)
    options = list(allowed)
    if value not in options:
        raise _invalid(_at(path, key), f"must be one of {', '.join(options)}, got {value!r}")
    return value


def _no_unknown_keys(obj: Mapping[str, Any], path: str, allowed: set[str]) -> None:
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise _invalid(_at(path, unknown[0]), "is not a valid parameter")


def validate_message(payload: object) -> str | None:
    """The Graph error message (``"(#100) Param ..."``) naming the first offending field of a
    send-message payload, or None if the fake would accept it. Handy for testing payload
    builders without HTTP."""
    try:
        _validate_message(payload)
    except _GraphError as error:
        return error.message
    return None


def _validate_message(payload: object) -> None:
    if not isinstance(payload, dict):
        raise _GraphError(
            400,
            f"(#100) The request body must be a JSON object, got {_type_name(payload)}",
            code=100,
        )
    if payload.get("messaging_product") != "whatsapp":
        if "messaging_product" not in payload:
            raise _invalid("messaging_product", "is required")
        raise _invalid(
            "messaging_product", f"must be 'whatsapp', got {payload['messaging_product']!r}"
        )
    if "recipient_type" in payload and payload["recipient_type"] != "individual":
        raise _invalid("recipient_type", f"must be 'individual', got {payload['recipient_type']!r}")
    to = _need_str(payload, "to", "")
    if not _TO_RE.fullmatch(to):
        raise _invalid("to", f"must be 8 to 15 digits with no '+', spaces or dashes, got {to!r}")
    kind = _one_of(payload, "type", "", ("text", "interactive", "template"))
    if "context" in payload:
        _need_str(_need_obj(payload, "context", ""), "message_id", "context")
    if kind == "text":
        _validate_text(_need_obj(payload, "text", ""))
    elif kind == "interactive":
        _validate_interactive(_need_obj(payload, "interactive", ""))
    else:
        _validate_template(_need_obj(payload, "template", ""))


def _validate_text(text: JSON) -> None:
    _no_unknown_keys(text, "text", {"body", "preview_url"})
    _str(text, "body", "text", max_len=TEXT_BODY_MAX)
    if "preview_url" in text and not isinstance(text["preview_url"], bool):
        raise _invalid(
            "text['preview_url']", f"must be a boolean, got {_type_name(text['preview_url'])}"
        )


def _validate_interactive(interactive: JSON) -> None:
    path = "interactive"
    kind = _one_of(interactive, "type", path, ("button", "list"))
    body = _need_obj(interactive, "body", path)
    body_max = BUTTON_BODY_MAX if kind == "button" else LIST_BODY_MAX
    _str(body, "text", _at(path, "body"), max_len=body_max)
    header = _obj(interactive, "header", path, required=False)
    if header is not None:
        _validate_header(header, kind)
    footer = _obj(interactive, "footer", path, required=False)
    if footer is not None:
        _str(footer, "text", _at(path, "footer"), max_len=FOOTER_TEXT_MAX)
    action = _need_obj(interactive, "action", path)
    if kind == "button":
        _validate_buttons(action)
    else:
        _validate_list(action)


def _validate_header(header: JSON, kind: str) -> None:
    path = "interactive['header']"
    allowed = ("text", "image", "video", "document") if kind == "button" else ("text",)
    header_type = _one_of(header, "type", path, allowed)
    if header_type == "text":
        _str(header, "text", path, max_len=HEADER_TEXT_MAX)
        return
    media = _need_obj(header, header_type, path)
    if not media.get("id") and not media.get("link"):
        raise _invalid(_at(path, header_type), "must have an 'id' or a 'link'")


def _validate_buttons(action: JSON) -> None:
    path = "interactive['action']"
    buttons = _list(action, "buttons", path, min_items=1, max_items=BUTTONS_MAX)
    ids: set[str] = set()
    titles: set[str] = set()
    for index, raw in enumerate(buttons):
        where = _at(_at(path, "buttons"), index)
        button = _item(raw, where)
        _one_of(button, "type", where, ("reply",))
        reply = _need_obj(button, "reply", where)
        reply_path = _at(where, "reply")
        button_id = _need_str(reply, "id", reply_path, max_len=BUTTON_ID_MAX)
        if button_id != button_id.strip():
            raise _invalid(_at(reply_path, "id"), "must not have leading or trailing spaces")
        title = _need_str(reply, "title", reply_path, max_len=BUTTON_TITLE_MAX)
        if button_id in ids:
            raise _invalid(_at(reply_path, "id"), f"must be unique, {button_id!r} is repeated")
        if title in titles:
            raise _invalid(_at(reply_path, "title"), f"must be unique, {title!r} is repeated")
        ids.add(button_id)
        titles.add(title)


def _validate_list(action: JSON) -> None:
    path = "interactive['action']"
    _str(action, "button", path, max_len=LIST_BUTTON_MAX)
    sections = _list(action, "sections", path, min_items=1, max_items=SECTIONS_MAX)
    section_rows: list[tuple[str, list[Any]]] = []
    for s_index, raw_section in enumerate(sections):
        s_path = _at(_at(path, "sections"), s_index)
        section = _item(raw_section, s_path)
        _str(section, "title", s_path, max_len=SECTION_TITLE_MAX, required=len(sections) > 1)
        section_rows.append((s_path, _list(section, "rows", s_path, min_items=1, max_items=None)))
    total_rows = sum(len(rows) for _, rows in section_rows)
    if total_rows > ROWS_MAX:
        raise _invalid(
            _at(path, "sections"),
            f"must have at most {ROWS_MAX} rows in total across all sections, got {total_rows}",
        )
    row_ids: set[str] = set()
    for s_path, rows in section_rows:
        for r_index, raw_row in enumerate(rows):
            r_path = _at(_at(s_path, "rows"), r_index)
            row = _item(raw_row, r_path)
            row_id = _need_str(row, "id", r_path, max_len=ROW_ID_MAX)
            _str(row, "title", r_path, max_len=ROW_TITLE_MAX)
            _str(row, "description", r_path, max_len=ROW_DESCRIPTION_MAX, required=False)
            if row_id in row_ids:
                raise _invalid(_at(r_path, "id"), f"must be unique, {row_id!r} is repeated")
            row_ids.add(row_id)


def _validate_template(template: JSON) -> None:
    path = "template"
    name = _need_str(template, "name", path, max_len=512)
    if not _TEMPLATE_NAME_RE.fullmatch(name):
        raise _invalid(
            "template['name']", f"must contain only lowercase letters, digits and '_', got {name!r}"
        )
    language = _need_obj(template, "language", path)
    code = _need_str(language, "code", "template['language']")
    if not _LANGUAGE_CODE_RE.fullmatch(code):
        raise _invalid("template['language']['code']", f"is not a language code: {code!r}")
    if "policy" in language and language["policy"] != "deterministic":
        raise _invalid("template['language']['policy']", "must be 'deterministic'")
    if "components" not in template:
        return
    components = _list(template, "components", path, min_items=0, max_items=None)
    seen: set[str] = set()
    for index, raw in enumerate(components):
        where = _at(_at(path, "components"), index)
        component = _item(raw, where)
        kind = _one_of(component, "type", where, ("header", "body", "button"))
        if kind == "button":
            sub_type = _one_of(component, "sub_type", where, ("quick_reply", "url"))
            position = _require(component, "index", where)
            if isinstance(position, bool) or str(position) not in {str(i) for i in range(10)}:
                raise _invalid(_at(where, "index"), f"must be 0 to 9, got {position!r}")
            key = f"button {position}"
        else:
            sub_type = ""
            key = kind
        if key in seen:
            raise _invalid(where, f"repeats the {key} component")
        seen.add(key)
        params = _list(
            component, "parameters", where, min_items=1, max_items=1 if kind != "body" else None
        )
        for p_index, raw_param in enumerate(params):
            p_path = _at(_at(where, "parameters"), p_index)
            param = _item(raw_param, p_path)
            if sub_type == "quick_reply":
                _one_of(param, "type", p_path, ("payload",))
                _str(param, "payload", p_path, max_len=BUTTON_ID_MAX)
                continue
            _one_of(param, "type", p_path, ("text",))
            limit = TEMPLATE_HEADER_PARAM_MAX if kind == "header" else TEMPLATE_BODY_PARAM_MAX
            text = _need_str(param, "text", p_path, max_len=limit)
            if kind != "button" and _BAD_PARAM_TEXT_RE.search(text):
                raise _invalid(
                    _at(p_path, "text"),
                    "cannot have new-line/tab characters or more than 4 consecutive spaces",
                )


def _validate_read_receipt(payload: JSON) -> None:
    if payload.get("messaging_product") != "whatsapp":
        raise _invalid("messaging_product", "must be 'whatsapp'")
    _one_of(payload, "status", "", ("read",))
    _need_str(payload, "message_id", "")
    indicator = _obj(payload, "typing_indicator", "", required=False)
    if indicator is not None:
        _one_of(indicator, "type", "typing_indicator", ("text",))


# --------------------------------------------------------------------------------- the server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up stop()
    request_queue_size = 1024  # the default listen backlog (5) resets bursts of connections
    fake: FakeGraphAPI

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client dropping its connection (e.g. closing an idle keep-alive) is not an error."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    timeout = 10  # seconds an idle keep-alive connection is kept

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean."""

    def do_POST(self) -> None:
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            error = _GraphError(400, "(#100) Malformed Content-Length or chunked body", code=100)
            self.send_json(400, error.payload(), {"Connection": "close"})
            return
        self.server.fake._handle(self, body)

    do_GET = do_POST
    do_PUT = do_POST
    do_DELETE = do_POST

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send_json(self, status: int, payload: JSON, extra_headers: Mapping[str, str]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def _new_wamid() -> str:
    return "wamid." + base64.b64encode(secrets.token_bytes(30)).decode()


def registered(templates: Mapping[str, Template]) -> dict[str, int]:
    """What Meta knows of our approved templates, as ``FakeGraphAPI(templates=...)`` takes it:
    name → number of body parameters."""
    return {name: len(template.parameters) for name, template in templates.items()}


class FakeGraphAPI:
    """A loopback fake of ``POST /{version}/{phone_number_id}/messages``.

    ``fail_plan`` maps the 1-based number of a request (every request the server receives
    counts) to an HTTP status returned instead of processing it, e.g. ``{1: 429, 2: 503}``; a
    429 carries ``Retry-After: 0``. Such failures land in :attr:`injected_failures`, neither in
    :attr:`messages` nor in :attr:`rejected` (which is for requests the real API would refuse).
    """

    def __init__(
        self,
        access_token: str,
        phone_number_id: str,
        version: str = "v21.0",
        fail_plan: dict[int, int] | None = None,
        templates: Mapping[str, int] | None = None,
    ) -> None:
        for number, status in (fail_plan or {}).items():
            if number < 1 or not 400 <= status <= 599:
                raise ValueError(f"fail_plan entry {number}: {status} is not request>=1: 4xx/5xx")
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.version = version
        self.fail_plan = dict(fail_plan or {})
        # The approved templates (name → number of body parameters); None accepts any name.
        self.templates = None if templates is None else dict(templates)
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._messages: list[JSON] = []
        self._message_ids: list[str] = []
        self._arrival_times: list[float] = []
        self._read_receipts: list[JSON] = []
        self._rejected: list[Rejection] = []
        self._injected: list[InjectedFailure] = []
        self._request_count = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # ----------------------------------------------------------------------------- lifecycle

    def start(self) -> FakeGraphAPI:
        """Bind a free port on 127.0.0.1 and serve from a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeGraphAPI is already running")
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (idempotent)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeGraphAPI:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeGraphAPI is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/{version}``: what the connector gets as WHATSAPP_API_URL."""
        return f"http://127.0.0.1:{self.port}/{self.version}"

    @property
    def messages_url(self) -> str:
        """The full send-message URL: ``{base_url}/{phone_number_id}/messages``."""
        return f"{self.base_url}/{self.phone_number_id}/messages"

    def settings(self, **overrides: Any) -> WhatsAppSettings:
        """The WhatsApp settings of a connector pointed at this fake (its token, its phone
        number id, its URL); ``overrides`` replace any field, e.g. ``max_attempts=3``."""
        fields: dict[str, Any] = {
            "verify_token": Secret("fake-verify-token"),
            "app_secret": Secret("fake-app-secret"),
            "access_token": Secret(self.access_token),
            "phone_number_id": self.phone_number_id,
            "api_url": self.base_url,
        }
        return WhatsAppSettings(**{**fields, **overrides})

    def client(self, **overrides: Any) -> GraphClient:
        """A Graph API client that sends to this fake (see :meth:`settings`); close it after."""
        return GraphClient(self.settings(**overrides))

    # ----------------------------------------------------------------------------- records

    @property
    def messages(self) -> list[JSON]:
        """Accepted send-message payloads, in arrival order (a copy)."""
        with self._lock:
            return list(self._messages)

    @property
    def message_ids(self) -> list[str]:
        """The ``wamid`` returned for each accepted message, parallel to :attr:`messages`."""
        with self._lock:
            return list(self._message_ids)

    @property
    def arrival_times(self) -> list[float]:
        """When each accepted message arrived (``time.monotonic()`` of this process), parallel
        to :attr:`messages`: the load driver measures a turn up to its last reply's arrival."""
        with self._lock:
            return list(self._arrival_times)

    def records(self, start: int = 0) -> list[tuple[JSON, str, float]]:
        """``(payload, wamid, arrival time)`` of the accepted messages from index ``start`` on,
        read at one instant (the three lists above, read one by one, may differ in length)."""
        with self._lock:
            return list(
                zip(
                    self._messages[start:],
                    self._message_ids[start:],
                    self._arrival_times[start:],
                    strict=True,
                )
            )

    @property
    def read_receipts(self) -> list[JSON]:
        """Accepted "mark as read" payloads (a copy)."""
        with self._lock:
            return list(self._read_receipts)

    @property
    def rejected(self) -> list[Rejection]:
        """``(status, error_message, raw_body)`` of every refused request (a copy)."""
        with self._lock:
            return list(self._rejected)

    @property
    def injected_failures(self) -> list[InjectedFailure]:
        """The failures returned because of ``fail_plan`` (a copy)."""
        with self._lock:
            return list(self._injected)

    @property
    def request_count(self) -> int:
        """Every request received so far, whatever its outcome."""
        with self._lock:
            return self._request_count

    def wait_for(self, count: int, timeout: float = 5.0) -> list[JSON]:
        """Block until at least ``count`` messages were accepted; return them all.

        Raises ``TimeoutError`` describing what did arrive (accepted, rejected, injected)."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self._messages) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._describe_shortfall(count, timeout))
                self._arrived.wait(remaining)
            return list(self._messages)

    def _describe_shortfall(self, count: int, timeout: float) -> str:
        lines = [
            f"expected {count} accepted message(s) within {timeout:g}s, got "
            f"{len(self._messages)} ({self._request_count} request(s) in all)"
        ]
        for payload in self._messages:
            lines.append(f"  accepted: {json.dumps(payload, ensure_ascii=False)[:300]}")
        for rejection in self._rejected:
            body = rejection.body.decode("utf-8", "replace")[:300]
            lines.append(f"  rejected {rejection.status}: {rejection.message} <- {body}")
        for failure in self._injected:
            lines.append(f"  injected {failure.status} for request #{failure.request_number}")
        return "\n".join(lines)

    # ----------------------------------------------------------------------------- handling

    def _handle(self, handler: _Handler, body: bytes) -> None:
        with self._lock:
            self._request_count += 1
            number = self._request_count
            planned = self.fail_plan.get(number)
            if planned is not None:
                self._injected.append(InjectedFailure(number, planned))
        if planned is not None:
            code, message = _TRANSIENT_ERRORS.get(planned, (1, "An unknown error occurred"))
            error = _GraphError(planned, f"(#{code}) {message}", code=code)
            headers = {"Retry-After": "0"} if planned == 429 else {}
            handler.send_json(planned, error.payload(), headers)
            return
        try:
            status, response = self._process(handler, body)
        except _GraphError as error:
            with self._lock:
                self._rejected.append(Rejection(error.status, error.message, body))
            handler.send_json(error.status, error.payload(), {})
            return
        except Exception as exc:  # noqa: BLE001 - a bug in the fake must still answer the client
            bug = _GraphError(500, f"FakeGraphAPI bug: {exc!r}", code=1)
            with self._lock:
                self._rejected.append(Rejection(500, bug.message, body))
            handler.send_json(500, bug.payload(), {})
            return
        handler.send_json(status, response, {})

    def _process(self, handler: _Handler, body: bytes) -> tuple[int, JSON]:
        self._check_auth(handler.headers.get("Authorization"))
        path = urlsplit(handler.path).path.rstrip("/")
        expected = f"/{self.version}/{self.phone_number_id}/messages"
        if path != expected:
            raise self._not_found(path)
        if handler.command != "POST":
            raise _GraphError(
                400,
                f"Unsupported {handler.command.lower()} request.",
                code=100,
                error_type="GraphMethodException",
                subcode=33,
            )
        content_type = handler.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise _GraphError(
                400, f"(#100) Content-Type must be application/json, got {content_type!r}", code=100
            )
        try:
            payload = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _GraphError(
                400, f"(#100) The request body is not valid JSON: {exc}", code=100
            ) from exc
        if isinstance(payload, dict) and "status" in payload and "to" not in payload:
            _validate_read_receipt(payload)
            with self._lock:
                self._read_receipts.append(payload)
            return 200, {"success": True}
        _validate_message(payload)
        if payload["type"] == "template":
            self._check_registered(payload["template"])
        wamid = _new_wamid()
        sent: JSON = {"id": wamid}
        if payload["type"] == "template":
            sent["message_status"] = "accepted"
        with self._arrived:
            self._messages.append(payload)
            self._message_ids.append(wamid)
            self._arrival_times.append(time.monotonic())
            self._arrived.notify_all()
        to = payload["to"]
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [sent],
        }

    def _check_registered(self, template: JSON) -> None:
        """What Meta checks against the approved templates: the name, the body's parameters."""
        if self.templates is None:
            return
        name = template["name"]
        if name not in self.templates:
            raise _GraphError(
                404,
                f"(#132001) Template name does not exist in the translation: {name}",
                code=132001,
            )
        bodies = [c for c in template.get("components", []) if c.get("type") == "body"]
        given = len(bodies[0]["parameters"]) if bodies else 0
        if given != self.templates[name]:
            raise _GraphError(
                400,
                f"(#132000) Number of parameters does not match the expected number of params "
                f"({given} given, {self.templates[name]} expected)",
                code=132000,
            )

    def _check_auth(self, header: str | None) -> None:
        if not header:
            raise _GraphError(
                401, "An access token is required to request this resource.", code=104
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.access_token.encode()
        ):
            raise _GraphError(
                401,
                "Invalid OAuth access token - Cannot parse access token",
                code=190,
                subcode=467,
            )

    def _not_found(self, path: str) -> _GraphError:
        parts = path.strip("/").split("/")
        if not parts or parts[0] != self.version:
            found = parts[0] if parts and parts[0] else "(none)"
            return _GraphError(
                404,
                f"Unknown path components: /{found} (expected version {self.version})",
                code=2500,
            )
        if len(parts) >= 2 and parts[1] != self.phone_number_id:
            return _GraphError(
                404,
                f"Unsupported post request. Object with ID '{parts[1]}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation.",
                code=100,
                error_type="GraphMethodException",
                subcode=33,
            )
        extra = "/".join(parts[2:]) or "(none)"
        return _GraphError(404, f"Unknown path components: /{extra}", code=2500)


# ------------------------------------------------------------------------------ webhooks

DEFAULT_WABA_ID = "102290129340398"
DEFAULT_PHONE_NUMBER_ID = "106540352242922"
DEFAULT_DISPLAY_PHONE_NUMBER = "525550001234"

MediaType = Literal[
    "image",
    "audio",
    "video",
    "document",
    "sticker",
    "location",
    "contacts",
    "reaction",
    "unsupported",
]
StatusType = Literal["sent", "delivered", "read", "failed"]

FAILURE_TITLES: dict[int, str] = {
    130429: "Rate limit hit",
    131000: "Something went wrong",
    131026: "Message undeliverable",
    131047: "Re-engagement message",
    131048: "Spam rate limit hit",
    131049: "This message was not delivered to maintain healthy ecosystem engagement.",
    131050: "Unable to deliver the message. This recipient has chosen to stop receiving "
    "marketing messages on WhatsApp from your business.",
    131056: "(Business Account, Consumer Account) pair rate limit hit",
    132000: "Template Param Count Mismatch",
    132001: "Template does not exist",
}


def _timestamp(timestamp: int | str | None) -> str:
    return str(int(time.time()) if timestamp is None else timestamp)


def _inbound(
    wa_id: str, msg_id: str | None, timestamp: int | str | None, kind: str, profile_name: str
) -> tuple[JSON, JSON]:
    message: JSON = {
        "from": wa_id,
        "id": msg_id or _new_wamid(),
        "timestamp": _timestamp(timestamp),
        "type": kind,
    }
    value: JSON = {
        "contacts": [{"profile": {"name": profile_name}, "wa_id": wa_id}],
        "messages": [message],
    }
    return value, message


def text_message(
    wa_id: str,
    text: str,
    msg_id: str | None = None,
    timestamp: int | str | None = None,
    *,
    profile_name: str = "Cliente",
) -> JSON:
    """The ``contacts`` + ``messages`` of an inbound text, for :func:`webhook_payload`."""
    value, message = _inbound(wa_id, msg_id, timestamp, "text", profile_name)
    message["text"] = {"body": text}
    return value


def interactive_reply(
    wa_id: str,
    kind: Literal["button_reply", "list_reply"] = "button_reply",
    reply_id: str = "",
    title: str = "",
    msg_id: str | None = None,
    timestamp: int | str | None = None,
    *,
    description: str | None = None,
    context_id: str | None = None,
    business_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
    profile_name: str = "Cliente",
) -> JSON:
    """A tap on a reply button or list row. ``context_id`` is the wamid of the message that
    carried the button/list (generated if omitted); ``description`` only for list rows."""
    if kind not in ("button_reply", "list_reply"):
        raise ValueError(f"kind must be 'button_reply' or 'list_reply', not {kind!r}")
    if description is not None and kind != "list_reply":
        raise ValueError("only list replies carry a description")
    value, message = _inbound(wa_id, msg_id, timestamp, "interactive", profile_name)
    reply: JSON = {"id": reply_id, "title": title}
    if description is not None:
        reply["description"] = description
    message["context"] = {"from": business_number, "id": context_id or _new_wamid()}
    message["interactive"] = {"type": kind, kind: reply}
    return value


def template_button_reply(
    wa_id: str,
    payload: str,
    text: str,
    msg_id: str | None = None,
    timestamp: int | str | None = None,
    *,
    context_id: str | None = None,
    business_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
    profile_name: str = "Cliente",
) -> JSON:
    """A tap on a template's quick-reply button: ``type: "button"`` with the button's
    ``payload`` and label ``text`` (not an ``interactive`` reply)."""
    value, message = _inbound(wa_id, msg_id, timestamp, "button", profile_name)
    message["context"] = {"from": business_number, "id": context_id or _new_wamid()}
    message["button"] = {"payload": payload, "text": text}
    return value


def _media(media_id: str, mime_type: str) -> JSON:
    return {
        "mime_type": mime_type,
        "sha256": hashlib.sha256(media_id.encode()).hexdigest(),
        "id": media_id,
        "url": f"https://lookaside.fbsbx.com/whatsapp_business/attachments/?mid={media_id}",
    }


def media_message(
    wa_id: str,
    media_type: MediaType,
    msg_id: str | None = None,
    timestamp: int | str | None = None,
    *,
    voice: bool = False,
    caption: str | None = None,
    profile_name: str = "Cliente",
) -> JSON:
    """A non-text inbound message. ``voice=True`` (audio only) is a recorded voice note;
    ``caption`` applies to image/video/document. ``unsupported`` mimics error 131051."""
    if voice and media_type != "audio":
        raise ValueError("voice=True only applies to audio")
    if caption is not None and media_type not in ("image", "video", "document"):
        raise ValueError(f"{media_type} messages have no caption")
    value, message = _inbound(wa_id, msg_id, timestamp, media_type, profile_name)
    media_id = str(secrets.randbelow(10**15) + 10**15)
    content: JSON
    if media_type == "image":
        content = _media(media_id, "image/jpeg")
    elif media_type == "audio":
        content = _media(media_id, "audio/ogg; codecs=opus" if voice else "audio/mpeg")
        content["voice"] = voice
    elif media_type == "video":
        content = _media(media_id, "video/mp4")
    elif media_type == "document":
        content = _media(media_id, "application/pdf")
        content["filename"] = "comprobante.pdf"
    elif media_type == "sticker":
        content = _media(media_id, "image/webp")
        content["animated"] = False
    elif media_type == "location":
        content = {
            "latitude": 19.432608,
            "longitude": -99.133209,
            "name": "Zócalo",
            "address": "Plaza de la Constitución, Centro, Cuauhtémoc, 06000 CDMX",
        }
    elif media_type == "contacts":
        message["contacts"] = [
            {
                "name": {
                    "formatted_name": "María López",
                    "first_name": "María",
                    "last_name": "López",
                },
                "phones": [
                    {"phone": "+52 1 55 1234 5678", "wa_id": "5215512345678", "type": "CELL"}
                ],
            }
        ]
        return value
    elif media_type == "reaction":
        content = {"message_id": _new_wamid(), "emoji": "\U0001f44d"}
    elif media_type == "unsupported":
        message["errors"] = [
            {
                "code": 131051,
                "title": "Message type unknown",
                "message": "Message type unknown",
                "error_data": {"details": "Message type is currently not supported."},
            }
        ]
        content = {"type": "poll_creation"}
    else:
        raise ValueError(f"unknown media_type {media_type!r}")
    if caption is not None:
        content["caption"] = caption
    message[media_type] = content
    return value


def status_update(
    wa_id: str,
    msg_id: str,
    status: StatusType,
    timestamp: int | str | None = None,
    error_code: int | None = None,
) -> JSON:
    """A delivery status for an outbound message (``msg_id`` is the wamid we were given).
    ``failed`` carries ``errors`` (default code 131026, "Message undeliverable")."""
    if status not in ("sent", "delivered", "read", "failed"):
        raise ValueError(f"status must be sent, delivered, read or failed, not {status!r}")
    if error_code is not None and status != "failed":
        raise ValueError("error_code only applies to failed statuses")
    entry: JSON = {
        "id": msg_id,
        "status": status,
        "timestamp": _timestamp(timestamp),
        "recipient_id": wa_id,
    }
    if status in ("sent", "delivered"):
        entry["pricing"] = {
            "billable": True,
            "pricing_model": "PMP",
            "type": "regular",
            "category": "utility",
        }
    if status == "failed":
        code = 131026 if error_code is None else error_code
        title = FAILURE_TITLES.get(code, "Unknown error")
        entry["errors"] = [
            {
                "code": code,
                "title": title,
                "message": title,
                "error_data": {"details": title},
                "href": "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/",
            }
        ]
    return {"statuses": [entry]}


def webhook_payload(
    entries: JSON | Iterable[JSON],
    *,
    phone_number_id: str = DEFAULT_PHONE_NUMBER_ID,
    display_phone_number: str = DEFAULT_DISPLAY_PHONE_NUMBER,
    waba_id: str = DEFAULT_WABA_ID,
) -> JSON:
    """Wrap builder outputs (one or many) in the envelope Meta POSTs to the webhook: one
    ``entry`` with one ``messages`` change per item."""
    items = [entries] if isinstance(entries, Mapping) else list(entries)
    entry_list = []
    for item in items:
        value: JSON = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": display_phone_number,
                "phone_number_id": phone_number_id,
            },
            **item,
        }
        entry_list.append({"id": waba_id, "changes": [{"value": value, "field": "messages"}]})
    return {"object": "whatsapp_business_account", "entry": entry_list}


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value Meta sends: ``sha256=<hex HMAC of body>``."""
    digest = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def signed_request(payload: Mapping[str, Any], app_secret: str) -> tuple[bytes, dict[str, str]]:
    """Serialise a webhook payload as Meta does and return ``(body, headers)`` to POST."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app_secret)}
    return body, headers
