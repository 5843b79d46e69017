"""A whole debtor conversation on the web chat page, in Debian's Chromium driven by Playwright,
against the real servers started by scripts/run.sh (the page is served by Rasa itself): phone
number and date of birth, the balance, a plan chosen with a button, a promise read back and
recorded — then checked in the database. Saves results/webchat-conversation.png. And a
counter-proposal read back with its calendar and stored with the "Sí, registrar" chip."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cobranza import db
from cobranza.config import PROJECT_ROOT
from cobranza.db.models import PaymentAgreement, Promise
from cobranza.testing.servers import Servers, running_servers

pytestmark = pytest.mark.slow

SCREENSHOT = PROJECT_ROOT / "results" / "webchat-conversation.png"
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def servers(model: Path, database_url: str) -> Iterator[Servers]:
    with running_servers(database_url, model) as running:
        yield running


def open_chat(browser: Any, servers: Servers) -> tuple[Any, Callable[[str, str], None]]:
    """The page, and ``say(text, expected)``: type a message, wait for the text expected."""
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    page = browser.new_context(locale="es-MX", viewport={"width": 480, "height": 900}).new_page()
    page.goto(f"http://127.0.0.1:{servers.rasa_port}/webchat/")
    expect(page.get_by_test_id("status")).to_have_text("En línea")
    box = page.get_by_label("Tu mensaje")
    bot = page.get_by_test_id("msg-bot")

    def say(text: str, expected: str) -> None:
        before = bot.count()
        box.fill(text)
        box.press("Enter")
        expect(bot.nth(before)).to_be_visible()
        expect(page.get_by_test_id("messages")).to_contain_text(expected)

    return page, say


def test_a_whole_conversation_on_the_page(
    browser: Any,
    servers: Servers,
    database_url: str,
) -> None:
    from playwright.sync_api import expect

    page, say = open_chat(browser, servers)
    say("hola", "número de celular y tu fecha de nacimiento")
    say("cuanto debo?", "número de celular a 10 dígitos")
    assert "$" not in page.get_by_test_id("messages").inner_text()
    say("55 1234 5678", "fecha de nacimiento")
    assert "$" not in page.get_by_test_id("messages").inner_text()
    say("12 de marzo de 1985", "$8,450.00")
    say("que opciones de pago tengo", "prefieres")
    chips = page.get_by_test_id("choices").last.get_by_test_id("chip")
    expect(chips.first).to_be_enabled()
    chips.first.click()
    expect(page.get_by_test_id("messages")).to_contain_text("CV-")
    say("te pago 500 el viernes", "¿Confirmas $500.00")
    say("sí", "folio PP-")
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    transcript = page.get_by_test_id("messages").inner_text()
    folio = re.findall(r"PP-\d{8}-\w+", transcript)[0]
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        promise = session.execute(select(Promise).where(Promise.folio == folio)).scalar_one()
        assert promise.debtor_phone == "+525512345678" and promise.channel == "webchat"
        agreement = session.execute(
            select(PaymentAgreement).where(PaymentAgreement.channel == "webchat")
        ).scalar_one()
        assert agreement.folio in transcript
    engine.dispose()


def test_a_counter_proposal_with_its_calendar_stored_with_the_chip(
    browser: Any,
    servers: Servers,
    database_url: str,
) -> None:
    from playwright.sync_api import expect

    page, say = open_chat(browser, servers)
    say("buenas", "número de celular y tu fecha de nacimiento")
    say("66 4123 4567", "fecha de nacimiento")
    say("02/11/1979", "identidad confirmada")
    say("puedo dar 2500 cada quincena", "Sí se puede: 9 pagos de $2,500.00 cada quincena")
    say("ver calendario", "10. ")
    chips = page.get_by_test_id("choices").last.get_by_test_id("chip")
    expect(chips.first).to_have_text("Sí, registrar")
    chips.first.click()
    expect(page.get_by_test_id("messages")).to_contain_text("registré tu convenio con folio CV-")

    folio = re.findall(r"CV-\d{8}-\w+", page.get_by_test_id("messages").inner_text())[-1]
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        agreement = session.execute(
            select(PaymentAgreement).where(PaymentAgreement.folio == folio)
        ).scalar_one()
        assert (agreement.debtor_phone, agreement.channel) == ("+526641234567", "webchat")
        assert len(agreement.installments) == 10
        assert sum(i.amount for i in agreement.installments) == agreement.total_amount
    engine.dispose()
