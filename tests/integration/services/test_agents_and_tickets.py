"""Agent accounts (hashed passwords, expiring sessions) and the hand-off queue as agents work it:
order, an atomic claim raced by two agents at once (SQLite and PostgreSQL), close, hand back,
and the audit trail with the agent's name."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.config import load_settings
from cobranza.db.models import Agent, AgentSession, AuditLog, HandoffTicket
from cobranza.services import agents, tickets
from tests.support.clock import NOW

CLOCK = FixedClock(NOW)


def _factory(engine: Engine) -> sessionmaker:
    db.upgrade(engine)
    return db.make_session_factory(engine)


@pytest.fixture
def sessions(migrated_sqlite: Engine) -> Iterator[sessionmaker]:
    yield db.make_session_factory(migrated_sqlite)


def _ticket(session: Session, priority: int, minutes_ago: int, sender: str) -> int:
    ticket = HandoffTicket(
        sender_id=sender,
        channel="whatsapp",
        reason="solicitud_agente",
        priority=priority,
        status="open",
        context={"messages": []},
        created_at=NOW - timedelta(minutes=minutes_ago),
    )
    session.add(ticket)
    session.flush()
    return int(ticket.id)


def test_passwords_are_hashed_and_checked(sessions: sessionmaker) -> None:
    with db.session_scope(sessions) as session:
        agent = agents.add_agent(session, "ana.ruiz", "Ana Ruiz", "una-clave-larga", CLOCK)
        assert "una-clave-larga" not in agent.password_hash
        assert agent.password_hash.startswith("scrypt$")
        assert agents.password_matches("una-clave-larga", agent.password_hash)
        assert not agents.password_matches("otra-clave-larga", agent.password_hash)
        assert not agents.password_matches("x", "md5$abc")
    with db.session_scope(sessions) as session, pytest.raises(agents.AgentError):
        agents.add_agent(session, "ana.ruiz", "Otra", "una-clave-larga", CLOCK)
    for username, password in (("A", "una-clave-larga"), ("beto", "corta")):
        with db.session_scope(sessions) as session, pytest.raises(agents.AgentError):
            agents.add_agent(session, username, "", password, CLOCK)


def test_login_sessions_expire_and_store_no_token(sessions: sessionmaker) -> None:
    policy = load_settings({}).console
    with db.session_scope(sessions) as session:
        agents.add_agent(session, "ana.ruiz", "Ana Ruiz", "una-clave-larga", CLOCK)
    assert agents.log_in(sessions, "ana.ruiz", "mal", "127.0.0.1", CLOCK, policy) is None
    assert agents.log_in(sessions, "nadie", "una-clave-larga", "127.0.0.1", CLOCK, policy) is None
    login = agents.log_in(sessions, "ana.ruiz", "una-clave-larga", "127.0.0.1", CLOCK, policy)
    assert login is not None
    with db.session_scope(sessions) as session:
        stored = session.execute(select(AgentSession.token_hash)).scalars().all()
        assert login.token not in stored and len(stored) == 1
    with db.session_scope(sessions) as session:
        assert agents.agent_for_token(session, login.token, CLOCK).username == "ana.ruiz"  # type: ignore[union-attr]
        assert agents.agent_for_token(session, "inventado", CLOCK) is None
    with db.session_scope(sessions) as session:  # busy all day: the absolute lifetime ends it
        for minutes in range(20, agents.SESSION_HOURS * 60, 20):
            busy = FixedClock(NOW + timedelta(minutes=minutes))
            assert agents.agent_for_token(session, login.token, busy) is not None
        later = FixedClock(NOW + timedelta(hours=agents.SESSION_HOURS, seconds=1))
        assert agents.agent_for_token(session, login.token, later) is None
    again = agents.log_in(sessions, "ana.ruiz", "una-clave-larga", "127.0.0.1", CLOCK, policy)
    assert again is not None
    with db.session_scope(sessions) as session:
        agents.log_out(session, again.token)
        assert agents.agent_for_token(session, again.token, CLOCK) is None
        actions = session.execute(select(AuditLog.action)).scalars().all()
        assert actions.count("agent_login_failed") == 2 and "agent_login" in actions


def test_idle_sessions_end_and_polls_do_not_count(sessions: sessionmaker) -> None:
    policy = load_settings({"CONSOLE_IDLE_TIMEOUT_MINUTES": "10"}).console
    with db.session_scope(sessions) as session:
        agents.add_agent(session, "ana.ruiz", "Ana Ruiz", "una-clave-larga", CLOCK)
    login = agents.log_in(sessions, "ana.ruiz", "una-clave-larga", "::1", CLOCK, policy)
    assert login is not None

    def seen(minutes: int, activity: bool = True) -> bool:
        at = FixedClock(NOW + timedelta(minutes=minutes))
        with db.session_scope(sessions) as session:
            agent = agents.agent_for_token(session, login.token, at, policy.idle_timeout, activity)
            return agent is not None

    assert seen(9) and seen(18) and seen(27, activity=False) and seen(36, activity=False) is False
    assert not seen(1), "an ended session stays ended"


def test_queue_order_claim_close_and_hand_back(sessions: sessionmaker) -> None:
    with db.session_scope(sessions) as session:
        low_old = _ticket(session, 10, 50, "5215500000001")
        high_new = _ticket(session, 60, 5, "5215500000002")
        high_old = _ticket(session, 60, 30, "5215500000003")
    with db.session_scope(sessions) as session:
        listed = tickets.queue(session, NOW)
        assert [t["id"] for t in listed] == [high_old, high_new, low_old]
        assert listed[0]["waiting_minutes"] == 30
        assert tickets.claim(session, high_old, "ana.ruiz", CLOCK)
        assert not tickets.claim(session, high_old, "beto", CLOCK)
        with pytest.raises(tickets.TicketError):
            tickets.claim(session, 999, "ana.ruiz", CLOCK)
        with pytest.raises(tickets.TicketError):
            tickets.close(session, high_old, "beto", "sin_acuerdo", CLOCK)  # not beto's
        with pytest.raises(tickets.TicketError):
            tickets.close(session, high_old, "ana.ruiz", "inventado", CLOCK)
        tickets.close(session, high_old, "ana.ruiz", "promesa_registrada", CLOCK)
        assert tickets.claim(session, high_new, "beto", CLOCK)
        back = tickets.hand_back(session, high_new, "beto", CLOCK)
        assert (back.status, back.outcome) == ("closed", "devuelto_al_asistente")
        assert [t["id"] for t in tickets.queue(session, NOW)] == [low_old]
        trail = session.execute(select(AuditLog.actor, AuditLog.action).order_by(AuditLog.id)).all()
        assert [tuple(r) for r in trail] == [
            ("agent:ana.ruiz", "ticket_claimed"),
            ("agent:ana.ruiz", "ticket_closed"),
            ("agent:beto", "ticket_claimed"),
            ("agent:beto", "ticket_closed"),
        ]


def _race(factory: sessionmaker, ticket_id: int, contenders: int = 2) -> list[bool]:
    """Each agent in its own thread and connection, released at the same instant."""
    start = threading.Barrier(contenders)
    results: list[bool] = []
    lock = threading.Lock()

    def attempt(name: str) -> None:
        start.wait()
        with db.session_scope(factory) as session:
            won = tickets.claim(session, ticket_id, name, CLOCK)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=attempt, args=(f"asesor{n}",)) for n in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _race_many(factory: sessionmaker) -> None:
    for round_ in range(10):
        with db.session_scope(factory) as session:
            ticket_id = _ticket(session, 10, 1, f"52155000100{round_:02d}")
        assert sorted(_race(factory, ticket_id)) == [False, True]
        with db.session_scope(factory) as session:
            ticket = session.get(HandoffTicket, ticket_id)
            assert ticket is not None and ticket.status == "claimed"
            claims = session.execute(
                select(AuditLog).where(AuditLog.action == "ticket_claimed")
            ).scalars()
            assert [c.details["ticket"] for c in claims].count(ticket_id) == 1


def test_two_agents_claiming_at_once_on_sqlite(migrated_sqlite: Engine) -> None:
    _race_many(db.make_session_factory(migrated_sqlite))


def test_two_agents_claiming_at_once_on_postgresql(empty_postgres: Engine) -> None:
    _race_many(_factory(empty_postgres))


def test_agent_cli_reads_the_password_from_stdin(migrated_sqlite: Engine) -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    cobranza = str(Path(sys.executable).with_name("cobranza"))
    env = {**os.environ, "DATABASE_URL": str(migrated_sqlite.url)}
    added = subprocess.run(
        [cobranza, "agent", "add", "ana.ruiz", "--name", "Ana Ruiz", "--password-stdin"],
        input="una-clave-larga\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert added.returncode == 0, added.stderr
    assert "una-clave-larga" not in added.stdout + added.stderr
    short = subprocess.run(
        [cobranza, "agent", "add", "beto", "--password-stdin"],
        input="corta\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert short.returncode == 1 and "al menos 10" in short.stderr
    listed = subprocess.run(
        [cobranza, "agent", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert "ana.ruiz" in listed.stdout and "Ana Ruiz" in listed.stdout
    with db.session_scope(db.make_session_factory(migrated_sqlite)) as session:
        assert session.execute(select(Agent.username)).scalars().all() == ["ana.ruiz"]
