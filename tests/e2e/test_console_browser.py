"""The whole hand-off loop in two browser pages (Debian's Chromium, Playwright) against the real
servers of scripts/run.sh: a debtor identified on the web chat asks for a person → the ticket
appears live in the agents' console → an agent logs in, claims it, reads the transcript (with
what the debtor wrote while waiting) and replies → the debtor sees the reply on the web chat →
the agent records a promise and a plan agreement, and hands the conversation back → the assistant answers the
debtor's next message. The queue shows the debtor's score band and expected recovery once she is
scored ("sin puntaje" before), and nothing of it ever reaches the debtor's chat. And a stranger
who typed the debtor's number and failed her date of birth: the agent sees only the claimed
number, unverified, "sin puntaje", and cannot record a promise for it.
Screenshots: results/console-agent.png, results/console-debtor.png,
results/console-unverified.png."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cobranza import db
from cobranza.clock import SystemClock
from cobranza.config import PROJECT_ROOT
from cobranza.db.models import AuditLog, DebtorScore, HandoffTicket, PaymentAgreement, Promise
from cobranza.services import agents
from cobranza.testing.servers import Servers, running_servers
from tests.support.scores import model_card, score

pytestmark = pytest.mark.slow

TIMEOUT_MS = 30_000
RESULTS = PROJECT_ROOT / "results"
MARIA = "+525512345678"  # María Fernanda, $8,450.00 in the demo portfolio
# Her score as `cobranza score run` writes it: 44 % × $8,450.00; what only agents may read.
SCORE_SHOWN = "Banda C · $3,718.00 esperados"
HORIZON_DAYS = 14  # her score's model's horizon, from its card (not a fixed 30)
SCORE_TITLE = (
    f"Probabilidad estimada de pago en {HORIZON_DAYS} días; recuperación esperada = "
    "probabilidad × saldo"
)
NO_SCORE_TITLE = "Probabilidad estimada de pago en el horizonte del modelo; recuperación"
SCORE_WORDS = ("3,718", "3718", "Banda", "banda", "puntaje", "Probabilidad", "probabilidad")


@pytest.fixture(scope="module")
def servers(
    model: Path, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Servers]:
    sessions = db.make_session_factory(db.make_engine(database_url))
    with db.session_scope(sessions) as session:
        agents.add_agent(session, "ana.ruiz", "Ana Ruiz", "clave-de-ana-123", SystemClock())
    cards = model_card(tmp_path_factory.mktemp("scoring"), HORIZON_DAYS)
    extra = {"SCORING_MODEL_DIR": str(cards)}
    with running_servers(database_url, model, extra_env=extra) as running:
        yield running


def score_maria(database_url: str) -> None:
    """María's current score (once), dated yesterday in Mexico City: the servers read scores
    current on their wall-clock day."""
    yesterday = datetime.now(ZoneInfo("America/Mexico_City")).date() - timedelta(days=1)
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        scored = select(DebtorScore.id).where(DebtorScore.debtor_phone == MARIA)
        if session.execute(scored).first() is None:
            score(session, MARIA, 0.44, "C", as_of=yesterday, expected="3718.00")
    engine.dispose()


def test_agent_takes_over_from_the_web_chat_and_hands_back(
    browser: Any,
    servers: Servers,
    database_url: str,
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    debtor = browser.new_context(locale="es-MX").new_page()
    debtor.goto(f"http://127.0.0.1:{servers.rasa_port}/webchat/")
    expect(debtor.get_by_test_id("status")).to_have_text("En línea")
    chat = debtor.get_by_test_id("messages")

    def debtor_says(text: str, expected: str | None) -> None:
        box = debtor.get_by_label("Tu mensaje")
        box.fill(text)
        box.press("Enter")
        if expected:
            expect(chat).to_contain_text(expected)

    debtor_says("cuanto debo?", "número de celular")
    debtor_says("55 1234 5678", "fecha de nacimiento")
    debtor_says("12/03/1985", "$8,450.00")
    debtor_says("quiero hablar con un asesor", "asesor")
    debtor_says("sigo aquí, gracias", None)

    agent = browser.new_context(locale="es-MX", viewport={"width": 1280, "height": 800}).new_page()
    agent.goto(servers.console_url + "/")
    agent.get_by_label("Usuario").fill("ana.ruiz")
    agent.get_by_label("Contraseña").fill("clave-de-ana-123")
    agent.get_by_role("button", name="Entrar").click()
    expect(agent.get_by_test_id("agent-name")).to_contain_text("Ana Ruiz")
    ticket = agent.get_by_test_id("ticket").first
    expect(ticket).to_contain_text("Pidió un asesor")
    ticket_score = ticket.get_by_test_id("ticket-score")
    expect(ticket_score).to_have_text("sin puntaje")  # verified, not scored yet
    score_maria(database_url)
    expect(ticket_score).to_have_text(SCORE_SHOWN)  # the next poll
    expect(ticket_score).to_have_attribute("title", re.compile(re.escape(SCORE_TITLE)))
    ticket.get_by_role("button").first.click()
    transcript = agent.get_by_test_id("transcript")
    expect(transcript).to_contain_text("sigo aquí, gracias")
    expect(agent.get_by_test_id("debtor")).to_contain_text("$8,450.00")
    expect(agent.get_by_test_id("identity")).to_have_text("Número verificado")
    agent.get_by_test_id("claim").click()
    reply = agent.get_by_test_id("reply-text")
    reply.fill("Hola María Fernanda, soy Ana. ¿Qué día podrías hacer un pago?")
    agent.get_by_test_id("reply-send").click()

    expect(chat).to_contain_text("soy Ana. ¿Qué día podrías hacer un pago?")
    debtor_says("el miércoles puedo dar 1500", None)
    expect(transcript).to_contain_text("el miércoles puedo dar 1500")

    due = datetime.now(ZoneInfo("America/Mexico_City")).date() + timedelta(days=3)
    agent.get_by_label("Monto").fill("1500")
    agent.get_by_label("Fecha").fill(due.isoformat())
    agent.get_by_test_id("promise-submit").click()
    expect(agent.get_by_test_id("promise-result")).to_contain_text("PP-")
    folio = re.findall(r"PP-\d{8}-\w+", agent.get_by_test_id("promise-result").inner_text())[0]
    offers = agent.get_by_label("Oferta")
    expect(offers.locator("option")).not_to_have_count(1)
    offers.select_option(index=1)
    agent.get_by_test_id("agreement-submit").click()
    expect(agent.get_by_test_id("agreement-result")).to_contain_text("CV-")
    RESULTS.mkdir(exist_ok=True)
    agent.screenshot(path=str(RESULTS / "console-agent.png"))
    agent.get_by_test_id("resume").click()
    expect(agent.get_by_test_id("ticket")).to_have_count(0)

    debtor_says("hola de nuevo", "Soy Cobi")
    debtor_says("cuanto debo?", "$8,450.00")  # the assistant answers a scored debtor as before
    RESULTS.mkdir(exist_ok=True)
    debtor.screenshot(path=str(RESULTS / "console-debtor.png"))
    for word in SCORE_WORDS:  # the score is for agents only
        assert word not in chat.inner_text(), word

    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        promise = session.execute(select(Promise).where(Promise.folio == folio)).scalar_one()
        assert promise.created_by == "agent:ana.ruiz" and promise.channel == "webchat"
        assert promise.debtor_phone == "+525512345678"
        agreement = session.execute(
            select(PaymentAgreement).where(PaymentAgreement.created_by == "agent:ana.ruiz")
        ).scalar_one()
        assert agreement.channel == "webchat" and agreement.debtor_phone == "+525512345678"
    engine.dispose()


def test_a_stranger_on_the_web_chat_never_shows_the_debtors_file(
    browser: Any,
    servers: Servers,
    database_url: str,
) -> None:
    """Someone types María's number on the web chat and fails her date of birth three times:
    the conversation goes to a person, and the agent sees only the claimed number, marked
    unverified, without María's score; a promise on her behalf is refused."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    score_maria(database_url)
    stranger = browser.new_context(locale="es-MX").new_page()
    stranger.goto(f"http://127.0.0.1:{servers.rasa_port}/webchat/")
    expect(stranger.get_by_test_id("status")).to_have_text("En línea")
    chat = stranger.get_by_test_id("messages")

    def says(text: str, expected: str) -> None:
        box = stranger.get_by_label("Tu mensaje")
        box.fill(text)
        box.press("Enter")
        expect(chat).to_contain_text(expected)

    says("cuanto debo?", "número de celular")
    says("55 1234 5678", "fecha de nacimiento")
    says("01/01/1990", "Te quedan 2")
    says("02/02/1991", "Te quedan 1")
    says("03/03/1992", "varios intentos fallidos")
    assert "$8,450.00" not in chat.inner_text()
    for word in SCORE_WORDS:
        assert word not in chat.inner_text(), word

    agent = browser.new_context(locale="es-MX", viewport={"width": 1280, "height": 800}).new_page()
    agent.goto(servers.console_url + "/")
    agent.get_by_label("Usuario").fill("ana.ruiz")
    agent.get_by_label("Contraseña").fill("clave-de-ana-123")
    agent.get_by_role("button", name="Entrar").click()
    ticket = agent.get_by_test_id("ticket").filter(has_text="Identidad bloqueada")
    expect(ticket).to_have_count(1)
    expect(ticket.get_by_test_id("ticket-score")).to_have_text("sin puntaje")
    expect(ticket.get_by_test_id("ticket-score")).to_have_attribute(
        "title", re.compile(re.escape(NO_SCORE_TITLE))
    )
    ticket.get_by_role("button").click()
    debtor = agent.get_by_test_id("debtor")
    expect(agent.get_by_test_id("identity")).to_have_text("Número no verificado")
    expect(debtor).to_contain_text("+525512345678")
    for secret in ("$8,450.00", "María", "Promesas", "Perfil", "Saldo"):
        expect(debtor).not_to_contain_text(secret)

    agent.get_by_test_id("claim").click()
    agent.get_by_label("Monto").fill("1500")
    due = datetime.now(ZoneInfo("America/Mexico_City")).date() + timedelta(days=3)
    agent.get_by_label("Fecha").fill(due.isoformat())
    agent.get_by_test_id("promise-submit").click()
    expect(agent.get_by_test_id("error")).to_contain_text("número no verificado")
    expect(agent.get_by_label("Oferta")).to_be_disabled()
    RESULTS.mkdir(exist_ok=True)
    agent.screenshot(path=str(RESULTS / "console-unverified.png"))
    agent.get_by_label("Resultado").select_option("sin_acuerdo")
    agent.get_by_test_id("close").click()
    expect(agent.get_by_test_id("ticket")).to_have_count(0)

    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        closed = session.execute(
            select(HandoffTicket).where(HandoffTicket.reason == "identidad_bloqueada")
        ).scalar_one()
        viewed = session.execute(
            select(AuditLog).where(AuditLog.action == "agent_viewed_debtor")
        ).scalars()
        assert closed.id not in [v.details["ticket"] for v in viewed]
        refused = session.execute(
            select(Promise).where(Promise.created_by == "agent:ana.ruiz")
        ).scalars()
        assert [p.channel for p in refused] == ["webchat"], "only the first test's promise"
    engine.dispose()
