"""Collection agents: accounts with hashed passwords and console sessions that expire.

Passwords are hashed with scrypt (standard library; N=2**14, r=8, p=1, 16-byte salt) and
compared in constant time. A session token is shown once, to the browser; only its SHA-256 is
stored, so a copy of the database does not let anyone log in. A session ends after
``SESSION_HOURS``, after the console's idle timeout, at logout, or when the agent is disabled.

An account has a role (``agent`` or ``supervisor``, :class:`ConsoleRole`): the console reads it
from the session's account on every request, so a change (:func:`set_role`) applies at once; it
also ends the account's sessions, so the page starts again with the new role's view.

Failed logins are counted in the database per user name and per client address (so neither a
restart nor many concurrent requests reset them); over a limit the name or the address is
locked out for a while (``ConsoleSecurity`` in cobranza/config.py).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from cobranza.clock import Clock
from cobranza.config import ConsoleSecurity
from cobranza.db import audit, session_scope
from cobranza.db.models import Agent, AgentSession, ConsoleLockout, ConsoleLoginAttempt
from cobranza.domain.vocabulary import AuditAction, ConsoleRole, LockoutScope, LoginOutcome
from cobranza.errors import Rejected

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 10
SESSION_HOURS = 8
USERNAME = re.compile(r"[a-z][a-z0-9._-]{2,59}")
# What people read and type (the CLI, the console); the stored codes are ConsoleRole's.
ROLE_NAMES = {ConsoleRole.AGENT: "agente", ConsoleRole.SUPERVISOR: "supervisor"}


class AgentError(Rejected):
    """A problem with an agent account, in Spanish, for the CLI or the console."""


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    encode = base64.urlsafe_b64encode
    return (
        f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"
    )


def password_matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.urlsafe_b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(),
            salt=base64.urlsafe_b64decode(salt),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def add_agent(
    session: Session,
    username: str,
    display_name: str,
    password: str,
    clock: Clock,
    role: ConsoleRole = ConsoleRole.AGENT,
) -> Agent:
    if not USERNAME.fullmatch(username):
        raise AgentError(
            "el usuario debe empezar con letra y usar minúsculas, números, punto, guion o "
            "guion bajo (3 a 60 caracteres)"
        )
    if len(password) < MIN_PASSWORD:
        raise AgentError(f"la contraseña debe tener al menos {MIN_PASSWORD} caracteres")
    if session.execute(select(Agent.id).where(Agent.username == username)).first():
        raise AgentError(f"ya existe el usuario {username!r}")
    agent = Agent(
        username=username,
        display_name=display_name.strip() or username,
        password_hash=hash_password(password),
        active=True,
        created_at=clock.now(),
        role=ConsoleRole(role).value,
    )
    session.add(agent)
    session.flush()
    details = {"agent": username, "role": agent.role}
    audit.record(session, clock.now(), AuditAction.AGENT_ADDED, None, details, actor="cli")
    return agent


def _account(session: Session, username: str) -> Agent:
    agent = session.execute(select(Agent).where(Agent.username == username)).scalar_one_or_none()
    if agent is None:
        raise AgentError(f"no existe el usuario {username!r}")
    return agent


def _end_sessions(session: Session, agent: Agent) -> int:
    ended = session.execute(delete(AgentSession).where(AgentSession.agent_id == agent.id))
    return int(ended.rowcount)


def set_active(session: Session, username: str, active: bool, clock: Clock) -> int:
    """Disable (or enable again) an agent. Disabling ends every session of the agent at once,
    so a browser that is still open stops working on its next request. Returns the number of
    sessions ended."""
    agent = _account(session, username)
    agent.active = active
    ended = 0 if active else _end_sessions(session, agent)
    action = AuditAction.AGENT_ENABLED if active else AuditAction.AGENT_DISABLED
    details = {"agent": username, "sessions_ended": ended}
    audit.record(session, clock.now(), action, None, details, actor="cli")
    session.flush()
    return int(ended)


def set_role(
    session: Session, username: str, role: ConsoleRole, clock: Clock, actor: str = "cli"
) -> int:
    """Make an account an agent or a supervisor. The change is audited (from, to) and ends the
    account's sessions, so its page logs in again with the new role's view. Returns the number
    of sessions ended; raises :class:`AgentError` for an unknown user or the role it has."""
    agent = _account(session, username)
    new, previous = ConsoleRole(role), ConsoleRole(agent.role)
    if new == previous:
        raise AgentError(f"{username!r} ya tiene el rol {ROLE_NAMES[new]}")
    agent.role = new.value
    ended = _end_sessions(session, agent)
    details = {"agent": username, "from": previous.value, "to": new.value, "sessions_ended": ended}
    audit.record(session, clock.now(), AuditAction.AGENT_ROLE_CHANGED, None, details, actor=actor)
    session.flush()
    return ended


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Login:
    token: str  # give it to the browser once; it is not stored
    agent: Agent
    expires_at: datetime


class LoginLocked(Rejected):
    """Too many failed logins for this user name or from this address: try again later."""

    def __init__(self, retry_after: timedelta) -> None:
        super().__init__("login locked")
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Candidate:
    """What the password check needs, read before it so no transaction stays open meanwhile."""

    attempt_id: int
    agent_id: int | None
    password_hash: str


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    """A hash nobody knows the password of: unknown users cost one scrypt, like known ones."""
    return hash_password(secrets.token_hex(16))


def user_key(username: str) -> str:
    """The name failures are counted under, whether or not such an agent exists."""
    return username.strip().lower()[:60]


def log_in(
    factory: sessionmaker,
    username: str,
    password: str,
    address: str,
    clock: Clock,
    policy: ConsoleSecurity,
) -> Login | None:
    """None for an unknown user, a wrong password or a disabled account (same answer, same
    cost: one scrypt). Raises :class:`LoginLocked` while the user name or the address is locked
    out, without checking the password.

    The attempt is written and committed *before* the password is checked, and the check runs
    only if the attempts counted after that commit are within the limit: each of N concurrent
    guesses sees at least the ones committed before it, so at most ``max_failures_per_user``
    passwords are ever tried in a window, however many requests arrive at once."""
    key = user_key(username)
    with session_scope(factory) as session:
        now = clock.now()
        _forget_old(session, now, policy)
        locked = _locked_until(session, key, address, now)
        outcome = LoginOutcome.PENDING if locked is None else LoginOutcome.REFUSED
        attempt = ConsoleLoginAttempt(
            occurred_at=now, username=key, address=address, outcome=outcome
        )
        session.add(attempt)
        if locked is not None:
            details = {"agent": key, "address": address}
            audit.record(session, now, AuditAction.AGENT_LOGIN_REFUSED, None, details)
        session.flush()
        attempt_id = int(attempt.id)
    if locked is not None:  # raised after the refusal is committed
        raise LoginLocked(locked - now)
    with session_scope(factory) as session:
        candidate = _admit(session, attempt_id, username, key, address, clock, policy)
    if isinstance(candidate, timedelta):
        raise LoginLocked(candidate)
    matches = password_matches(password, candidate.password_hash)
    with session_scope(factory) as session:
        login = _succeed(session, candidate, key, clock) if matches else None
        if login is None:
            _fail(session, attempt_id, key, address, clock, policy)
        return login


def _admit(
    session: Session,
    attempt_id: int,
    username: str,
    key: str,
    address: str,
    clock: Clock,
    policy: ConsoleSecurity,
) -> _Candidate | timedelta:
    """Count the attempts in the window, this one included. Within the limits: what the
    password check needs. Over a limit: lock, refuse, and how long until the lockout ends."""
    now = clock.now()
    by_user, by_address = _failures(session, key, address, now - policy.failure_window)
    over = {
        LockoutScope.USER: by_user > policy.max_failures_per_user,
        LockoutScope.ADDRESS: by_address > policy.max_failures_per_address,
    }
    if any(over.values()):
        for scope, subject in ((LockoutScope.USER, key), (LockoutScope.ADDRESS, address)):
            if over[scope]:
                _lock(session, scope, subject, now, policy)
        _mark(session, attempt_id, LoginOutcome.REFUSED)
        audit.record(
            session, now, AuditAction.AGENT_LOGIN_REFUSED, None, {"agent": key, "address": address}
        )
        session.flush()
        return (_locked_until(session, key, address, now) or now + policy.lockout) - now
    agent = session.execute(select(Agent).where(Agent.username == username)).scalar_one_or_none()
    if agent is None:
        return _Candidate(attempt_id, None, _decoy_hash())
    return _Candidate(attempt_id, int(agent.id), str(agent.password_hash))


def _succeed(session: Session, candidate: _Candidate, key: str, clock: Clock) -> Login | None:
    """A session, and the user's earlier failures forgiven (the address's are not). None when
    there is no such agent or the agent is disabled (read again: it may have just happened)."""
    agent = session.get(Agent, candidate.agent_id) if candidate.agent_id is not None else None
    if agent is None or not agent.active:
        return None
    now = clock.now()
    _mark(session, candidate.attempt_id, LoginOutcome.SUCCEEDED)
    session.execute(
        update(ConsoleLoginAttempt)
        .where(
            ConsoleLoginAttempt.username == key,
            ConsoleLoginAttempt.outcome == LoginOutcome.FAILED,
        )
        .values(outcome=LoginOutcome.FORGIVEN)
        .execution_options(synchronize_session=False)
    )
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=SESSION_HOURS)
    session.execute(delete(AgentSession).where(AgentSession.expires_at <= now))
    session.add(
        AgentSession(
            token_hash=_token_hash(token),
            agent_id=agent.id,
            created_at=now,
            expires_at=expires,
            last_seen_at=now,
        )
    )
    audit.record(session, now, AuditAction.AGENT_LOGIN, None, {}, actor=f"agent:{agent.username}")
    session.flush()
    return Login(token, agent, expires)


def _fail(
    session: Session,
    attempt_id: int,
    key: str,
    address: str,
    clock: Clock,
    policy: ConsoleSecurity,
) -> None:
    """Audit the failure; the one that reaches a limit starts the lockout."""
    now = clock.now()
    _mark(session, attempt_id, LoginOutcome.FAILED)
    audit.record(
        session, now, AuditAction.AGENT_LOGIN_FAILED, None, {"agent": key, "address": address}
    )
    session.flush()
    by_user, by_address = _failures(session, key, address, now - policy.failure_window)
    if by_user >= policy.max_failures_per_user:
        _lock(session, LockoutScope.USER, key, now, policy)
    if by_address >= policy.max_failures_per_address:
        _lock(session, LockoutScope.ADDRESS, address, now, policy)


COUNTED = (LoginOutcome.PENDING, LoginOutcome.FAILED)
KEEP_ATTEMPTS = timedelta(days=1)  # the audit log keeps every failure and lockout for good


def _forget_old(session: Session, now: datetime, policy: ConsoleSecurity) -> None:
    """Attempts and lockouts that can no longer count, so the tables stay small."""
    before = now - max(KEEP_ATTEMPTS, policy.failure_window, policy.lockout)
    session.execute(delete(ConsoleLoginAttempt).where(ConsoleLoginAttempt.occurred_at < before))
    session.execute(delete(ConsoleLockout).where(ConsoleLockout.locked_until < before))


def _failures(session: Session, key: str, address: str, since: datetime) -> tuple[int, int]:
    def count(column: Any, value: str) -> int:
        return int(
            session.execute(
                select(func.count())
                .select_from(ConsoleLoginAttempt)
                .where(
                    column == value,
                    ConsoleLoginAttempt.occurred_at > since,
                    ConsoleLoginAttempt.outcome.in_(COUNTED),
                )
            ).scalar_one()
        )

    return (
        count(ConsoleLoginAttempt.username, key),
        count(ConsoleLoginAttempt.address, address),
    )


def _mark(session: Session, attempt_id: int, outcome: str) -> None:
    session.execute(
        update(ConsoleLoginAttempt)
        .where(ConsoleLoginAttempt.id == attempt_id)
        .values(outcome=outcome)
        .execution_options(synchronize_session=False)
    )


def _locked_until(session: Session, key: str, address: str, now: datetime) -> datetime | None:
    """The end of the longest lockout in force on this user name or this address."""
    until = session.execute(
        select(func.max(ConsoleLockout.locked_until)).where(
            or_(
                and_(ConsoleLockout.scope == LockoutScope.USER, ConsoleLockout.subject == key),
                and_(
                    ConsoleLockout.scope == LockoutScope.ADDRESS, ConsoleLockout.subject == address
                ),
            ),
            ConsoleLockout.locked_until > now,
        )
    ).scalar_one_or_none()
    return until if until is None else _aware(until)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _lock(
    session: Session, scope: str, subject: str, now: datetime, policy: ConsoleSecurity
) -> None:
    """Start a lockout unless one is already in force (two racing requests may both start one;
    that is harmless: the longest decides)."""
    active = session.execute(
        select(ConsoleLockout.id).where(
            ConsoleLockout.scope == scope,
            ConsoleLockout.subject == subject,
            ConsoleLockout.locked_until > now,
        )
    ).first()
    if active:
        return
    until = now + policy.lockout
    session.add(ConsoleLockout(scope=scope, subject=subject, locked_at=now, locked_until=until))
    details = {"scope": scope, "subject": subject, "until": until.isoformat()}
    audit.record(session, now, AuditAction.AGENT_LOGIN_LOCKED, None, details)


TOUCH_EVERY = timedelta(seconds=30)


def agent_for_token(
    session: Session,
    token: str,
    clock: Clock,
    idle_timeout: timedelta = ConsoleSecurity.idle_timeout,
    activity: bool = True,
) -> Agent | None:
    """The agent of a live session; None when unknown, past its absolute lifetime, idle for
    ``idle_timeout``, or when the agent was disabled (an ended session is deleted).
    ``activity`` is false for the page's background polls: they do not keep a session alive.
    The last activity is written at most every 30 s, not on every request."""
    row = session.get(AgentSession, _token_hash(token or ""))
    if row is None:
        return None
    now = clock.now()
    agent = session.get(Agent, row.agent_id)
    idle = now - row.last_seen_at >= idle_timeout
    if row.expires_at <= now or idle or agent is None or not agent.active:
        session.delete(row)
        return None
    if activity and now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
    return agent


def log_out(session: Session, token: str) -> None:
    session.execute(delete(AgentSession).where(AgentSession.token_hash == _token_hash(token)))


def list_agents(session: Session) -> list[Agent]:
    """Every agent account, active or not, by user name."""
    return list(session.execute(select(Agent).order_by(Agent.username)).scalars())
