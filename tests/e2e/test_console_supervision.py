"""The supervisor's view in a browser (Debian's Chromium, Playwright) against the console's own
process (``python -m cobranza.console``, as scripts/run.sh starts it; the supervisor's calls never
reach Rasa, so none runs). A supervisor logs in, opens "Supervisión", sees Ana's and Beto's
claimed tickets and the unclaimed one, reassigns Ana's ticket to Beto and reads Ana's activity;
Ana logs in and has neither the view nor the API (403).
Screenshots: results/console-supervision.png, results/console-supervision-agent.png."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from cobranza import db
from cobranza.clock import SystemClock
from cobranza.db.models import AuditLog, HandoffTicket
from cobranza.domain.vocabulary import ConsoleRole
from cobranza.services import agents, tickets
from tests.e2e.conftest import RESULTS, ConsoleProcess

pytestmark = pytest.mark.slow

TIMEOUT_MS = 30_000
ANA, BETO, SOFIA = "ana.ruiz", "beto.diaz", "sofia.mora"
PASSWORDS = {ANA: "clave-de-ana-123", BETO: "clave-de-beto-123", SOFIA: "clave-de-sofia-123"}


def _seed(database_url: str) -> dict[str, int]:
    """Ana and Beto (agents) with a claimed ticket each, Sofía (supervisor), one unclaimed."""
    clock = SystemClock()
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        agents.add_agent(session, ANA, "Ana Ruiz", PASSWORDS[ANA], clock)
        agents.add_agent(session, BETO, "Beto Díaz", PASSWORDS[BETO], clock)
        role = ConsoleRole.SUPERVISOR
        agents.add_agent(session, SOFIA, "Sofía Mora", PASSWORDS[SOFIA], clock, role)
        ids = {}
        for name, sender in (
            ("ana", "5215500088001"),
            ("beto", "5215500088002"),
            ("free", "5215500088003"),
        ):
            ticket = HandoffTicket(
                sender_id=sender,
                channel="whatsapp",
                reason="solicitud_agente",
                priority=20,
                status="open",
                context={"reason": "solicitud_agente", "messages": []},
                created_at=clock.now() - timedelta(minutes=4),
            )
            session.add(ticket)
            session.flush()
            ids[name] = int(ticket.id)
        assert tickets.claim(session, ids["ana"], ANA, clock)
        assert tickets.claim(session, ids["beto"], BETO, clock)
    engine.dispose()
    return ids


@pytest.fixture(scope="module")
def console(
    database_url: str, console_process: ConsoleProcess
) -> Iterator[tuple[str, dict[str, int]]]:
    """The console's process on a free port, over a copy of today's demo database."""
    ids = _seed(database_url)
    with console_process(database_url, "console-supervision.log") as url:
        yield url, ids


def _log_in(browser: Any, url: str, username: str) -> Any:
    page = browser.new_context(locale="es-MX", viewport={"width": 1366, "height": 900}).new_page()
    page.goto(url + "/")
    page.get_by_label("Usuario").fill(username)
    page.get_by_label("Contraseña").fill(PASSWORDS[username])
    page.get_by_role("button", name="Entrar").click()
    return page


def test_a_supervisor_reassigns_a_ticket_and_an_agent_has_no_supervision(
    browser: Any, console: tuple[str, dict[str, int]], database_url: str
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    url, ids = console
    page = _log_in(browser, url, SOFIA)
    expect(page.get_by_test_id("agent-name")).to_have_text("Sofía Mora")
    expect(page.get_by_test_id("ticket")).to_have_count(3)  # her own queue view, as agents have
    page.get_by_test_id("nav-supervision").click()
    board = page.get_by_test_id("supervision")
    expect(board).to_be_visible()
    expect(page.get_by_test_id("queue")).to_be_hidden()
    ana = board.locator("[data-testid='sup-agent'][data-username='ana.ruiz']")
    beto = board.locator("[data-testid='sup-agent'][data-username='beto.diaz']")
    expect(ana.get_by_test_id("sup-ticket")).to_have_count(1)
    expect(ana.get_by_test_id("sup-ticket")).to_contain_text(f"#{ids['ana']}")
    expect(ana.get_by_test_id("sup-agent-counts")).to_have_text("1 tomado · 0 cerrados hoy")
    expect(beto.get_by_test_id("sup-ticket")).to_contain_text(f"#{ids['beto']}")
    expect(page.get_by_test_id("sup-unclaimed")).to_contain_text(f"#{ids['free']}")
    expect(page.get_by_test_id("sup-summary")).to_have_text(
        "1 sin tomar · 2 tomados · 3 asesores activos"
    )

    page.get_by_label(f"Reasignar el ticket #{ids['ana']} a").select_option(label="Beto Díaz")
    ana.get_by_test_id("sup-reassign").click()
    expect(page.get_by_test_id("notice")).to_have_text(
        f"Ticket #{ids['ana']} reasignado a Beto Díaz."
    )
    expect(beto.get_by_test_id("sup-ticket")).to_have_count(2)
    expect(ana).to_contain_text("Sin tickets tomados.")
    ana.get_by_test_id("sup-activity-open").click()
    activity = page.get_by_test_id("activity-list")
    expect(page.get_by_role("heading", name="Actividad de Ana Ruiz")).to_be_visible()
    expect(activity.get_by_test_id("activity-item").first).to_contain_text(
        f"Ticket reasignado · ticket #{ids['ana']} · de Ana Ruiz a Beto Díaz · por Sofía Mora"
    )
    expect(activity).to_contain_text(f"Tomó el ticket · ticket #{ids['ana']}")
    RESULTS.mkdir(exist_ok=True)
    page.screenshot(path=str(RESULTS / "console-supervision.png"), full_page=True)

    agent = _log_in(browser, url, ANA)
    expect(agent.get_by_test_id("agent-name")).to_have_text("Ana Ruiz")
    expect(agent.get_by_test_id("ticket")).to_have_count(3)
    expect(agent.get_by_test_id("nav-supervision")).to_have_count(0)
    expect(agent.get_by_test_id("supervision")).to_have_count(0)
    expect(agent.get_by_text("Supervisión")).to_have_count(0)
    statuses = agent.evaluate(
        """async (ticket) => {
          const get = await fetch("/api/supervisor/queues");
          const move = await fetch(`/api/supervisor/tickets/${ticket}/release`, {
            method: "POST",
            headers: { "Content-Type": "application/json", "X-Consola": "1" },
            body: JSON.stringify({ from: "beto.diaz", role: "supervisor" }),
          });
          return [get.status, move.status, (await move.json()).error];
        }""",
        ids["ana"],
    )
    assert statuses == [403, 403, "Tu rol no permite esta acción."]
    agent.screenshot(path=str(RESULTS / "console-supervision-agent.png"))

    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        ticket = session.get(HandoffTicket, ids["ana"])
        assert ticket is not None and (ticket.status, ticket.claimed_by) == ("claimed", BETO)
        moves = session.execute(
            select(AuditLog).where(AuditLog.action.in_(["ticket_reassigned", "ticket_released"]))
        ).scalars()
        assert [(m.actor, m.details) for m in moves] == [
            (f"agent:{SOFIA}", {"ticket": ids["ana"], "from": ANA, "to": BETO})
        ]
    engine.dispose()
