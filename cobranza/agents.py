"""Collection agents: accounts with hashed passwords and console sessions that expire.

Passwords are hashed with scrypt (standard library; N=2**14, r=8, p=1, 16-byte salt) and
compared in constant time. A session token is shown once, to the browser; only its SHA-256 is
stored, so a copy of the database does not let anyone log in.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cobranza import audit
from cobranza.adapters.models import Agent, AgentSession
from cobranza.clock import Clock

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PASSWORD = 10
SESSION_HOURS = 8
USERNAME = re.compile(r"[a-z][a-z0-9._-]{2,59}")


class AgentError(ValueError):
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
    session: Session, username: str, display_name: str, password: str, clock: Clock
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
    )
    session.add(agent)
    session.flush()
    audit.record(session, clock.now(), "agent_added", None, {"agent": username}, actor="cli")
    return agent


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Login:
    token: str  # give it to the browser once; it is not stored
    agent: Agent
    expires_at: datetime


def log_in(session: Session, username: str, password: str, clock: Clock) -> Login | None:
    """None for an unknown user, a wrong password or an inactive account (same answer)."""
    agent = session.execute(select(Agent).where(Agent.username == username)).scalar_one_or_none()
    stored = agent.password_hash if agent else hash_password(secrets.token_hex(8))  # same cost
    if agent is None or not agent.active or not password_matches(password, stored):
        audit.record(session, clock.now(), "agent_login_failed", None, {"agent": username})
        return None
    now = clock.now()
    token = secrets.token_urlsafe(32)
    expires = now + timedelta(hours=SESSION_HOURS)
    session.execute(delete(AgentSession).where(AgentSession.expires_at <= now))
    session.add(
        AgentSession(
            token_hash=_token_hash(token), agent_id=agent.id, created_at=now, expires_at=expires
        )
    )
    audit.record(session, now, "agent_login", None, {}, actor=f"agent:{agent.username}")
    session.flush()
    return Login(token, agent, expires)


def agent_for_token(session: Session, token: str, clock: Clock) -> Agent | None:
    """The agent of a live session; None when unknown or expired."""
    row = session.get(AgentSession, _token_hash(token or ""))
    if row is None or row.expires_at <= clock.now():
        return None
    agent = session.get(Agent, row.agent_id)
    return agent if agent is not None and agent.active else None


def log_out(session: Session, token: str) -> None:
    session.execute(delete(AgentSession).where(AgentSession.token_hash == _token_hash(token)))
