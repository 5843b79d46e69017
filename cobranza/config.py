"""Settings read once from the environment.

Call :func:`load_settings` at start-up and pass the result down; nothing reads ``os.environ``
elsewhere. Secrets are wrapped in :class:`Secret` so they never show up in a repr or a log line.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from cobranza.clock import Clock, FixedClock, SystemClock
from cobranza.errors import CobranzaError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(CobranzaError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Secret:
    """A value that must not be printed."""

    _value: str = field(repr=False)

    def reveal(self) -> str:
        return self._value

    def __str__(self) -> str:
        return "**********"

    def __repr__(self) -> str:
        return "Secret('**********')"


@dataclass(frozen=True)
class ConsoleSecurity:
    """How the agents' console guards logins and sessions (cobranza/console/,
    cobranza/services/agents.py).

    Failed logins are counted per user name and per client address in the database, so a restart
    does not reset them; a user or address over its limit is locked out for ``lockout``.
    ``secure_cookie`` must be on whenever agents reach the console over HTTPS (behind a TLS
    proxy): the browser then never sends the session cookie over plain HTTP.
    ``trusted_proxies`` are the addresses whose ``X-Forwarded-For`` names the real client."""

    max_failures_per_user: int = 5
    max_failures_per_address: int = 20
    failure_window: timedelta = timedelta(minutes=15)
    lockout: timedelta = timedelta(minutes=15)
    idle_timeout: timedelta = timedelta(minutes=30)
    secure_cookie: bool = False
    trusted_proxies: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ConsoleSettings:
    """Where the agents' console listens and how it reaches Rasa's HTTP API.

    Read only by the console process (:func:`load_console_settings`), never as part of
    :class:`Settings`: the Rasa API token lets its holder read and write every conversation,
    and the action server and the CLI must not hold it even in memory."""

    rasa_url: str
    rasa_token: Secret
    host: str = "127.0.0.1"
    port: int = 5006


@dataclass(frozen=True)
class OutreachSettings:
    """How business-initiated messages go out (cobranza/outreach/, docs/outreach.md).

    ``messages_per_second``: WhatsApp's throughput per business number is 80 messages/s; an
    operator may go lower, never higher. ``daily_recipients``: the unique recipients the
    business's messaging tier allows in a rolling 24 hours (250, 2,000, 10,000, 100,000): set it
    to the tier Meta shows for the number. ``weekdays_only``: business-initiated contact Monday
    to Friday only (the debtor's local day). ``sending_timeout``: a row still ``sending`` after
    this (a crash between marking and sending, no wamid) becomes ``unknown``: never retried."""

    messages_per_second: float = 80.0
    daily_recipients: int = 1000
    weekdays_only: bool = False
    sending_timeout: timedelta = timedelta(minutes=10)
    campaigns_dir: Path = PROJECT_ROOT / "campaigns"
    templates_dir: Path = PROJECT_ROOT / "templates"
    experiments_dir: Path = PROJECT_ROOT / "experiments"


MAX_MESSAGES_PER_SECOND = 80.0


@dataclass(frozen=True)
class ScoringSettings:
    """The propensity-to-pay score (cobranza/scoring/, docs/scoring.md).

    ``model_dir``: where ``cobranza score train`` saves models and their cards, and which one is
    active (``current``). ``use_age``: age is a protected attribute and stays out of the model
    unless the operator switches it on *and* writes why in ``age_justification``; both go into
    the model card."""

    model_dir: Path = PROJECT_ROOT / "var" / "scoring"
    use_age: bool = False
    age_justification: str | None = None


@dataclass(frozen=True)
class Settings:
    # The URL may carry the database password: a Secret, so a repr of the settings never
    # shows it; :attr:`database_url` reveals it for the engine, :func:`cobranza.db.masked_url`
    # hides it for logs and CLI output.
    database: Secret
    persona_profiles_dir: Path
    default_time_zone: str
    log_level: str
    agent_hours: tuple[time, time] = (time(9, 0), time(19, 0))
    # Compliance (cobranza/compliance/). The legal window is 07:00–22:00 local; an operator may
    # narrow it, never widen it.
    contact_hours: tuple[time, time] = (time(7, 0), time(22, 0))
    daily_contact_cap: int = 1
    weekly_contact_cap: int = 3
    reply_window: timedelta = timedelta(minutes=60)
    privacy_notice_url: str = "https://cobranza-demo.example/aviso-de-privacidad"
    # A verified identity lasts as long as a Rasa session: domain.yml's session_expiration_time.
    verification_ttl: timedelta = timedelta(minutes=30)
    # Transport (cobranza/action_server.py, scripts/run.sh). Only Rasa may call the action
    # server: it sends this token; the server refuses to start without one.
    action_server_token: Secret | None = None
    actions_host: str = "127.0.0.1"
    actions_port: int = 5055
    actions_max_request_bytes: int = 8 * 1024 * 1024
    rasa_max_request_bytes: int = 512 * 1024
    console: ConsoleSecurity = ConsoleSecurity()
    # Public channels (cobranza/channels/limits.py): messages per minute per sender (a WhatsApp
    # or Twilio number, a web chat session) and per client address (web chat).
    rate_limit_per_minute: int = 20
    rate_limit_per_address_per_minute: int = 120
    # The web chat's session signing key (cobranza/channels/webchat.py). Unset: the channel
    # makes a random one per process, and sessions do not survive a restart.
    webchat_session_secret: Secret | None = None
    # Several replicas: the web chat's Socket.IO events go through this Redis (python-socketio's
    # AsyncRedisManager), so a reply emitted on one replica (the console's, through another
    # replica than the one holding the browser's socket) reaches the browser. Unset: one process.
    webchat_redis_url: Secret | None = None
    outreach: OutreachSettings = OutreachSettings()
    # Reconciliation (cobranza/services/reconciliation.py): a promise is kept when payments
    # between its creation and its due date + this many days reach the amount, broken after.
    promise_grace_days: int = 2
    # Lenders who push payments call POST /api/payments on the console with this bearer token;
    # unset, the endpoint answers 404 (scripts/run.sh does not generate one).
    payments_api_token: Secret | None = None
    scoring: ScoringSettings = ScoringSettings()
    # This Rasa server's name among the replicas sharing the database: it holds the WhatsApp
    # conversation leases (cobranza/channels/whatsapp/store.py). Stable across restarts, so a
    # restarted replica takes back its own leases at once; unique in a cluster, or two replicas
    # would both think they hold one sender.
    replica: str = "localhost"

    @property
    def database_url(self) -> str:
        """The database URL, password included: for the engine and migrations only."""
        return self.database.reveal()


LEGAL_CONTACT_HOURS = (time(7, 0), time(22, 0))


def _hours(env: Mapping[str, str], name: str, default: str) -> tuple[time, time]:
    """``HH:MM-HH:MM``, opening before closing; 24:00 is not a time, so 22:00 ends the day."""
    hours = env.get(name, "").strip() or default
    try:
        opening, closing = (time.fromisoformat(part.strip()) for part in hours.split("-"))
    except ValueError as exc:
        raise ConfigError(f"{name} must look like {default}, got {hours!r}") from exc
    if opening >= closing:
        raise ConfigError(f"{name} must open before it closes: {hours!r}")
    return opening, closing


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ConfigError(f"{name} must be a whole number ≥ 0, got {raw!r}")
    return int(raw)


# A token travels in a query string (Rasa's EndpointConfig) and through ${VAR} substitution in
# endpoints.yml: only URL-unreserved characters survive both unchanged.
TOKEN_PATTERN = re.compile(r"[A-Za-z0-9._~-]{32,}")
MIN_REQUEST_BYTES = 64 * 1024


def _token(env: Mapping[str, str], name: str) -> Secret | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    if not TOKEN_PATTERN.fullmatch(raw):
        raise ConfigError(
            f"{name} must be at least 32 characters from A-Z a-z 0-9 . _ ~ - "
            "(scripts/run.sh generates one when it is unset)"
        )
    return Secret(raw)


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    port = _count(env, name, default)
    if not 1 <= port <= 65535:
        raise ConfigError(f"{name} must be a TCP port (1-65535), got {port}")
    return port


def _bytes(env: Mapping[str, str], name: str, default: int) -> int:
    limit = _count(env, name, default)
    if limit < MIN_REQUEST_BYTES:
        raise ConfigError(f"{name} must be at least {MIN_REQUEST_BYTES} bytes, got {limit}")
    return limit


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in {"true", "false", "1", "0", "yes", "no"}:
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    return raw in {"true", "1", "yes"}


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _count(env, name, default)
    if value < 1:
        raise ConfigError(f"{name} must be a whole number ≥ 1, got {value}")
    return value


def _console_security(env: Mapping[str, str]) -> ConsoleSecurity:
    """CONSOLE_* settings of the agents' console; every limit must be at least 1."""
    import ipaddress

    proxies = [p.strip() for p in env.get("CONSOLE_TRUSTED_PROXIES", "").split(",") if p.strip()]
    for proxy in proxies:
        try:
            ipaddress.ip_address(proxy)
        except ValueError as exc:
            raise ConfigError(
                f"CONSOLE_TRUSTED_PROXIES must be IP addresses separated by commas, got {proxy!r}"
            ) from exc
    return ConsoleSecurity(
        max_failures_per_user=_positive(env, "CONSOLE_LOGIN_MAX_FAILURES_PER_USER", 5),
        max_failures_per_address=_positive(env, "CONSOLE_LOGIN_MAX_FAILURES_PER_ADDRESS", 20),
        failure_window=timedelta(minutes=_positive(env, "CONSOLE_LOGIN_WINDOW_MINUTES", 15)),
        lockout=timedelta(minutes=_positive(env, "CONSOLE_LOGIN_LOCKOUT_MINUTES", 15)),
        idle_timeout=timedelta(minutes=_positive(env, "CONSOLE_IDLE_TIMEOUT_MINUTES", 30)),
        secure_cookie=_flag(env, "CONSOLE_SECURE_COOKIE", False),
        trusted_proxies=frozenset(str(ipaddress.ip_address(p)) for p in proxies),
    )


def _secret(env: Mapping[str, str], name: str) -> Secret | None:
    raw = env.get(name, "").strip()
    return Secret(raw) if raw else None


WEBCHAT_SECRET_ENV = "WEBCHAT_SESSION_SECRET"  # noqa: S105 (the variable's name, not a secret)


def _outreach(env: Mapping[str, str]) -> OutreachSettings:
    raw_rate = env.get("OUTREACH_MESSAGES_PER_SECOND", "").strip()
    try:
        rate = float(raw_rate) if raw_rate else OutreachSettings.messages_per_second
    except ValueError as exc:
        raise ConfigError(
            f"OUTREACH_MESSAGES_PER_SECOND must be a number, got {raw_rate!r}"
        ) from exc
    if not 0 < rate <= MAX_MESSAGES_PER_SECOND:
        raise ConfigError(
            f"OUTREACH_MESSAGES_PER_SECOND must be above 0 and at most {MAX_MESSAGES_PER_SECOND:g} "
            f"(WhatsApp's limit per number), got {raw_rate!r}"
        )
    return OutreachSettings(
        messages_per_second=rate,
        daily_recipients=_positive(
            env, "OUTREACH_DAILY_RECIPIENTS", OutreachSettings.daily_recipients
        ),
        weekdays_only=_flag(env, "COBRANZA_CONTACT_WEEKDAYS_ONLY", False),
        sending_timeout=timedelta(minutes=_positive(env, "OUTREACH_SENDING_TIMEOUT_MINUTES", 10)),
        campaigns_dir=Path(env.get("CAMPAIGNS_DIR", "").strip() or PROJECT_ROOT / "campaigns"),
        templates_dir=Path(env.get("TEMPLATES_DIR", "").strip() or PROJECT_ROOT / "templates"),
        experiments_dir=Path(
            env.get("EXPERIMENTS_DIR", "").strip() or PROJECT_ROOT / "experiments"
        ),
    )


def _scoring(env: Mapping[str, str]) -> ScoringSettings:
    use_age = _flag(env, "SCORING_USE_AGE", False)
    justification = env.get("SCORING_AGE_JUSTIFICATION", "").strip() or None
    if use_age and (justification is None or len(justification) < 20):
        raise ConfigError(
            "SCORING_USE_AGE=true exige SCORING_AGE_JUSTIFICATION: por qué la edad es una "
            "variable que este acreedor puede usar (al menos 20 caracteres; va a la ficha del "
            "modelo)"
        )
    directory = env.get("SCORING_MODEL_DIR", "").strip()
    return ScoringSettings(
        model_dir=Path(directory) if directory else PROJECT_ROOT / "var" / "scoring",
        use_age=use_age,
        age_justification=justification if use_age else None,
    )


REPLICA_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


def _replica(env: Mapping[str, str]) -> str:
    """``COBRANZA_REPLICA``, else the host name: stable across restarts (a per-process random
    name would leave a restarted replica waiting for the leases of its own previous life). A
    cluster on one host (or containers sharing one host name) must name each replica."""
    given = env.get("COBRANZA_REPLICA", "").strip()
    name = given or socket.gethostname().strip()
    if not REPLICA_PATTERN.fullmatch(name):
        source = "COBRANZA_REPLICA" if given else "the host name (set COBRANZA_REPLICA)"
        raise ConfigError(
            f"{source} must be 1-100 characters from A-Z a-z 0-9 . _ : - starting with a letter "
            f"or digit, got {name!r}"
        )
    return name


def _log_level(env: Mapping[str, str]) -> str:
    log_level = (env.get("COBRANZA_LOG_LEVEL", "").strip() or "INFO").upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(
            f"COBRANZA_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR: {log_level!r}"
        )
    return log_level


def default_database_url(root: Path = PROJECT_ROOT) -> str:
    return f"sqlite:///{root / 'var' / 'cobranza.db'}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read every setting once. Unknown values fail fast with the variable's name."""
    env = os.environ if environ is None else environ
    database_url = env.get("DATABASE_URL", "").strip() or default_database_url()
    if "://" not in database_url:
        raise ConfigError(
            "DATABASE_URL must be an SQLAlchemy URL such as sqlite:///var/cobranza.db or "
            "postgresql://user:password@host/db"
        )
    profiles = Path(
        env.get("PERSONA_PROFILES_DIR", "").strip() or PROJECT_ROOT / "persona_profiles"
    )
    time_zone = env.get("COBRANZA_DEFAULT_TIME_ZONE", "").strip() or "America/Mexico_City"
    from zoneinfo import ZoneInfoNotFoundError

    try:
        ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"COBRANZA_DEFAULT_TIME_ZONE is not an IANA zone: {time_zone!r}") from exc
    log_level = _log_level(env)
    agent_hours = _hours(env, "COBRANZA_AGENT_HOURS", "09:00-19:00")
    contact_hours = _hours(env, "COBRANZA_CONTACT_HOURS", "07:00-22:00")
    if contact_hours[0] < LEGAL_CONTACT_HOURS[0] or contact_hours[1] > LEGAL_CONTACT_HOURS[1]:
        raise ConfigError(
            "COBRANZA_CONTACT_HOURS may only narrow the legal window 07:00-22:00, "
            f"got {env.get('COBRANZA_CONTACT_HOURS')!r}"
        )
    url = env.get("COBRANZA_PRIVACY_NOTICE_URL", "").strip() or Settings.privacy_notice_url
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"COBRANZA_PRIVACY_NOTICE_URL must be an http(s) URL, got {url!r}")
    return Settings(
        agent_hours=agent_hours,
        contact_hours=contact_hours,
        daily_contact_cap=_count(env, "COBRANZA_CONTACT_CAP_DAY", 1),
        weekly_contact_cap=_count(env, "COBRANZA_CONTACT_CAP_WEEK", 3),
        reply_window=timedelta(minutes=_count(env, "COBRANZA_REPLY_WINDOW_MINUTES", 60)),
        verification_ttl=timedelta(minutes=_count(env, "COBRANZA_VERIFICATION_MINUTES", 30)),
        privacy_notice_url=url,
        action_server_token=_token(env, "ACTION_SERVER_TOKEN"),
        actions_host=env.get("ACTIONS_HOST", "").strip() or Settings.actions_host,
        actions_port=_port(env, "ACTIONS_PORT", Settings.actions_port),
        actions_max_request_bytes=_bytes(
            env, "ACTIONS_MAX_REQUEST_BYTES", Settings.actions_max_request_bytes
        ),
        rasa_max_request_bytes=_bytes(
            env, "RASA_MAX_REQUEST_BYTES", Settings.rasa_max_request_bytes
        ),
        console=_console_security(env),
        rate_limit_per_minute=_positive(
            env, "COBRANZA_RATE_LIMIT_PER_MINUTE", Settings.rate_limit_per_minute
        ),
        rate_limit_per_address_per_minute=_positive(
            env,
            "COBRANZA_RATE_LIMIT_PER_ADDRESS_PER_MINUTE",
            Settings.rate_limit_per_address_per_minute,
        ),
        webchat_session_secret=_secret(env, WEBCHAT_SECRET_ENV),
        webchat_redis_url=_redis_url(env, "WEBCHAT_REDIS_URL"),
        outreach=_outreach(env),
        promise_grace_days=_count(env, "COBRANZA_PROMISE_GRACE_DAYS", Settings.promise_grace_days),
        payments_api_token=_token(env, "PAYMENTS_API_TOKEN"),
        scoring=_scoring(env),
        replica=_replica(env),
        database=Secret(database_url),
        persona_profiles_dir=profiles,
        default_time_zone=time_zone,
        log_level=log_level,
    )


def load_console_settings(
    environ: Mapping[str, str] | None = None, root: Path = PROJECT_ROOT
) -> ConsoleSettings:
    """The console's own settings: ``CONSOLE_HOST`` and ``CONSOLE_PORT`` (where it listens),
    ``RASA_URL`` (else ``http://127.0.0.1:$RASA_PORT``) and ``RASA_API_TOKEN`` (else the file
    scripts/run.sh creates, ``var/rasa_api_token``). Without a token the console cannot start."""
    env = os.environ if environ is None else environ
    token = env.get("RASA_API_TOKEN", "").strip()
    if not token:
        token_file = root / "var" / "rasa_api_token"
        token = token_file.read_text().strip() if token_file.is_file() else ""
    if not token:
        raise ConfigError("the console needs RASA_API_TOKEN (scripts/run.sh sets it)")
    rasa_port = _port(env, "RASA_PORT", 5005)
    url = env.get("RASA_URL", "").strip() or f"http://127.0.0.1:{rasa_port}"
    if not url.startswith(("https://", "http://")):
        raise ConfigError(f"RASA_URL must be an http(s) URL, got {url!r}")
    return ConsoleSettings(
        rasa_url=url.rstrip("/"),
        rasa_token=Secret(token),
        host=env.get("CONSOLE_HOST", "").strip() or ConsoleSettings.host,
        port=_port(env, "CONSOLE_PORT", ConsoleSettings.port),
    )


@dataclass(frozen=True)
class EventsSettings:
    """The consumer of Rasa's events (cobranza/events/, ``python -m cobranza.events``): where
    RabbitMQ is, which queue Rasa's pika event broker fills, and the key that turns a sender id
    into a keyed hash. Read only by that process (:func:`load_events_settings`): no other process
    needs the key, and a process that never holds it cannot leak it.

    ``broker_url`` carries the password (a :class:`Secret`); ``broker_display`` is the same URL
    with the password replaced, for logs. ``sender_key``: HMAC-SHA256 key, the same on every
    consumer (two consumers must turn one event into one key, or a redelivery would be counted
    twice); changing it starts new sender keys. ``prefetch``: messages RabbitMQ hands a consumer
    before its acks. ``max_message_bytes``: a larger message is not parsed. ``nlu_config``: the
    Rasa config whose FallbackClassifier threshold says which messages were not understood."""

    broker_url: Secret
    broker_display: str
    sender_key: Secret
    queue: str = "rasa_events"
    prefetch: int = 50
    max_message_bytes: int = 256 * 1024
    reconnect_max_seconds: float = 30.0
    nlu_config: Path = PROJECT_ROOT / "config.yml"


EVENTS_KEY_ENV = "EVENTS_SENDER_KEY"
# AMQP allows 255 bytes of any text; ours are names an operator types into two files.
QUEUE_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,255}")
MAX_PREFETCH = 10_000
MIN_EVENT_BYTES = 4 * 1024


def _amqp_url(env: Mapping[str, str]) -> tuple[str, str]:
    """The broker's URL with and without its password, from the variables Rasa's pika broker
    reads in endpoints.cluster.yml: ``RABBITMQ_HOST`` (a host name, or an ``amqp(s)://`` URL as
    Rasa accepts it: then its port, user, virtual host and query win), ``RABBITMQ_PORT``,
    ``RABBITMQ_USERNAME`` and ``RABBITMQ_PASSWORD`` (guest/guest on loopback by default:
    RabbitMQ refuses guest from any other address)."""
    from urllib.parse import quote, unquote, urlsplit

    raw = env.get("RABBITMQ_HOST", "").strip() or "127.0.0.1"
    port = _port(env, "RABBITMQ_PORT", 5672)
    user = env.get("RABBITMQ_USERNAME", "").strip() or "guest"
    password = env.get("RABBITMQ_PASSWORD", "") or "guest"
    scheme, path, query = "amqp", "/", ""
    if "://" in raw:
        try:
            parts = urlsplit(raw)
            host, url_port = parts.hostname, parts.port
        except ValueError as exc:
            raise ConfigError("RABBITMQ_HOST is not a valid amqp:// URL") from exc
        if parts.scheme not in {"amqp", "amqps"} or not host:
            raise ConfigError("RABBITMQ_HOST must be a host name or an amqp:// or amqps:// URL")
        scheme, port = parts.scheme, url_port or port
        user = unquote(parts.username) if parts.username else user
        password = unquote(parts.password) if parts.password else password
        path, query = parts.path or "/", parts.query
    else:
        host = raw
    if not re.fullmatch(r"[A-Za-z0-9.:_-]{1,253}", host):
        raise ConfigError("RABBITMQ_HOST must be a host name, an IP address or an amqp:// URL")
    netloc_host = f"[{host}]" if ":" in host else host
    tail = f"{netloc_host}:{port}{path}" + (f"?{query}" if query else "")
    login = quote(user, safe="")
    return (
        f"{scheme}://{login}:{quote(password, safe='')}@{tail}",
        f"{scheme}://{login}:***@{tail}",
    )


def load_events_settings(
    environ: Mapping[str, str] | None = None, root: Path = PROJECT_ROOT
) -> EventsSettings:
    """The events consumer's settings: the broker (:func:`_amqp_url`), ``RASA_EVENTS_QUEUE``
    (``rasa_events``, the queue endpoints.cluster.yml binds), ``EVENTS_SENDER_KEY`` (required,
    at least 32 characters), ``EVENTS_PREFETCH`` (50), ``EVENTS_MAX_MESSAGE_BYTES`` (256 KiB),
    ``EVENTS_RECONNECT_MAX_SECONDS`` (30) and ``EVENTS_NLU_CONFIG`` (config.yml)."""
    env = os.environ if environ is None else environ
    key = env.get(EVENTS_KEY_ENV, "").strip()
    if len(key) < 32:
        raise ConfigError(
            f"{EVENTS_KEY_ENV} is required: at least 32 characters, the same on "
            "every consumer (it keys the hash that stands for a sender)"
        )
    queue = env.get("RASA_EVENTS_QUEUE", "").strip() or EventsSettings.queue
    if not QUEUE_PATTERN.fullmatch(queue):
        raise ConfigError(
            f"RASA_EVENTS_QUEUE must be 1 to 255 characters from A-Z a-z 0-9 _ . : -, got {queue!r}"
        )
    prefetch = _positive(env, "EVENTS_PREFETCH", EventsSettings.prefetch)
    if prefetch > MAX_PREFETCH:
        raise ConfigError(f"EVENTS_PREFETCH must be at most {MAX_PREFETCH}, got {prefetch}")
    max_bytes = _count(env, "EVENTS_MAX_MESSAGE_BYTES", EventsSettings.max_message_bytes)
    if max_bytes < MIN_EVENT_BYTES:
        raise ConfigError(
            f"EVENTS_MAX_MESSAGE_BYTES must be at least {MIN_EVENT_BYTES}, got {max_bytes}"
        )
    url, display = _amqp_url(env)
    nlu_config = env.get("EVENTS_NLU_CONFIG", "").strip()
    return EventsSettings(
        broker_url=Secret(url),
        broker_display=display,
        sender_key=Secret(key),
        queue=queue,
        prefetch=prefetch,
        max_message_bytes=max_bytes,
        reconnect_max_seconds=float(_positive(env, "EVENTS_RECONNECT_MAX_SECONDS", 30)),
        nlu_config=Path(nlu_config) if nlu_config else root / "config.yml",
    )


@dataclass(frozen=True)
class WhatsAppSettings:
    """The WhatsApp Cloud API channel's settings (cobranza/channels/whatsapp/). Read only when
    that channel starts: the other processes do not need them."""

    verify_token: Secret
    app_secret: Secret
    access_token: Secret
    phone_number_id: str
    api_url: str
    template_name: str = "mensaje_pendiente"
    template_language: str = "es_MX"
    timeout_seconds: float = 10.0
    max_attempts: int = 4

    REQUIRED = (
        "WHATSAPP_VERIFY_TOKEN",
        "WHATSAPP_APP_SECRET",
        "WHATSAPP_ACCESS_TOKEN",
        "WHATSAPP_PHONE_NUMBER_ID",
        "WHATSAPP_API_URL",
    )


def load_whatsapp_settings(environ: Mapping[str, str] | None = None) -> WhatsAppSettings:
    """Every WHATSAPP_* variable at once; a missing one stops the channel with its name."""
    env = os.environ if environ is None else environ
    values = {name: env.get(name, "").strip() for name in WhatsAppSettings.REQUIRED}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ConfigError(
            "the WhatsApp channel cannot start: set "
            + ", ".join(missing)
            + " (README: Connecting a WhatsApp Business number)"
        )
    api_url = values["WHATSAPP_API_URL"].rstrip("/")
    if not api_url.startswith(("https://", "http://")):
        raise ConfigError(f"WHATSAPP_API_URL must be an http(s) URL, got {api_url!r}")
    return WhatsAppSettings(
        verify_token=Secret(values["WHATSAPP_VERIFY_TOKEN"]),
        app_secret=Secret(values["WHATSAPP_APP_SECRET"]),
        access_token=Secret(values["WHATSAPP_ACCESS_TOKEN"]),
        phone_number_id=values["WHATSAPP_PHONE_NUMBER_ID"],
        api_url=api_url,
        template_name=env.get("WHATSAPP_TEMPLATE_NAME", "").strip()
        or WhatsAppSettings.template_name,
        template_language=env.get("WHATSAPP_TEMPLATE_LANGUAGE", "").strip()
        or WhatsAppSettings.template_language,
    )


@dataclass(frozen=True)
class GatewaySettings:
    """The WhatsApp gateway's settings (cobranza/channels/whatsapp/gateway.py, docs/
    deployment.md), read only by that process (:func:`load_gateway_settings`): it holds Meta's
    app secret (to check deliveries and sign its forwards) and the verify token, never the
    access token nor the database.

    ``upstream_url``: nginx's private server, which hashes ``X-Cobranza-Route`` to a replica.
    ``redis_url`` may carry a password (a :class:`Secret`). ``dedup_ttl``: how long a forwarded
    message id is remembered (Meta redelivers for up to 7 days). ``max_request_bytes``: the
    replicas' bound (``RASA_MAX_REQUEST_BYTES``), so the gateway refuses what they would."""

    app_secret: Secret
    verify_token: Secret
    redis_url: Secret
    host: str = "127.0.0.1"
    port: int = 5080
    upstream_url: str = "http://127.0.0.1:5090/webhooks/whatsapp/webhook"
    dedup_ttl: timedelta = timedelta(hours=168)
    max_request_bytes: int = 512 * 1024
    log_level: str = "INFO"

    REQUIRED = ("WHATSAPP_APP_SECRET", "WHATSAPP_VERIFY_TOKEN")


DEFAULT_GATEWAY_REDIS_URL = "redis://127.0.0.1:6379/0"


def _redis_url(env: Mapping[str, str], name: str) -> Secret | None:
    """A Redis URL setting, None when unset (it may carry a password: a Secret, never repeated
    in a message)."""
    url = env.get(name, "").strip()
    if not url:
        return None
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{name} must be a redis://, rediss:// or unix:// URL")
    return Secret(url)


def load_gateway_settings(environ: Mapping[str, str] | None = None) -> GatewaySettings:
    """``WHATSAPP_APP_SECRET`` and ``WHATSAPP_VERIFY_TOKEN`` (required), ``GATEWAY_HOST``
    (127.0.0.1), ``GATEWAY_PORT`` (5080), ``GATEWAY_UPSTREAM_URL``, ``GATEWAY_REDIS_URL``
    (redis://127.0.0.1:6379/0), ``GATEWAY_DEDUP_TTL_HOURS`` (168), ``RASA_MAX_REQUEST_BYTES``
    and ``COBRANZA_LOG_LEVEL``; a missing or malformed one stops the gateway with its name."""
    env = os.environ if environ is None else environ
    values = {name: env.get(name, "").strip() for name in GatewaySettings.REQUIRED}
    missing = [name for name, value in values.items() if not value]
    if missing:
        raise ConfigError("the WhatsApp gateway cannot start: set " + ", ".join(missing))
    upstream = env.get("GATEWAY_UPSTREAM_URL", "").strip() or GatewaySettings.upstream_url
    if not upstream.startswith(("https://", "http://")):
        raise ConfigError(f"GATEWAY_UPSTREAM_URL must be an http(s) URL, got {upstream!r}")
    redis_url = _redis_url(env, "GATEWAY_REDIS_URL") or Secret(DEFAULT_GATEWAY_REDIS_URL)
    return GatewaySettings(
        app_secret=Secret(values["WHATSAPP_APP_SECRET"]),
        verify_token=Secret(values["WHATSAPP_VERIFY_TOKEN"]),
        redis_url=redis_url,
        host=env.get("GATEWAY_HOST", "").strip() or GatewaySettings.host,
        port=_port(env, "GATEWAY_PORT", GatewaySettings.port),
        upstream_url=upstream,
        dedup_ttl=timedelta(hours=_positive(env, "GATEWAY_DEDUP_TTL_HOURS", 168)),
        max_request_bytes=_bytes(env, "RASA_MAX_REQUEST_BYTES", Settings.rasa_max_request_bytes),
        log_level=_log_level(env),
    )


NLU_TODAY_ENV = "COBRANZA_NLU_TODAY"


def nlu_clock(environ: Mapping[str, str] | None = None) -> Clock:
    """The NLU's clock (cobranza/nlu/normalizer.py): fixed at noon, Mexico City, of
    ``COBRANZA_NLU_TODAY`` when it is set (evaluations against a reference date, which is that
    same date in every Mexican zone), else the system clock. A malformed value is an error: an
    evaluation must not silently use today."""
    env = os.environ if environ is None else environ
    raw = env.get(NLU_TODAY_ENV, "").strip()
    if not raw:
        return SystemClock()
    try:
        day = date.fromisoformat(raw)
    except ValueError as error:
        raise ValueError(f"{NLU_TODAY_ENV} is not an ISO date (YYYY-MM-DD): {raw!r}") from error
    return FixedClock(datetime.combine(day, time(12), tzinfo=ZoneInfo("America/Mexico_City")))
