"""End to end in a real browser: Debian's Chromium (driven by Playwright, no downloaded browser)
on the web chat page served by the channel, against the stub bot of the channel's integration
tests (tests/support/webchat.py). Install the browser with scripts/ensure_chromium.sh."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from cobranza.config import PROJECT_ROOT
from cobranza.domain.text import MAX_MESSAGE_CHARS
from tests.support.webchat import (
    BUTTONS,
    LIST_ROWS,
    StubServer,
    serve_stub,
    webchat,
)

pytestmark = pytest.mark.slow

SCREENSHOT = PROJECT_ROOT / "results" / "webchat.png"
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def server() -> Iterator[StubServer]:
    with serve_stub(webchat()) as running:
        yield running


def test_chat_in_the_browser(browser: Any, server: StubServer) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    context = browser.new_context(locale="es-MX", viewport={"width": 480, "height": 820})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    outside: list[str] = []
    page.on(
        "request",
        lambda request: None if request.url.startswith(server.url) else outside.append(request.url),
    )

    page.goto(server.url + "/webchat/")
    expect(page).to_have_title("Asistente de cobranza")
    expect(page.get_by_role("heading", name="Asistente de cobranza")).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_text("En línea")
    root = page.get_by_test_id("webchat")
    session_id = root.get_attribute("data-session-id")
    assert session_id and session_id.startswith("web-")
    expect(page.get_by_test_id("messages")).to_have_attribute("aria-live", "polite")

    # type and press Enter
    box = page.get_by_label("Tu mensaje")
    expect(box).to_have_attribute("placeholder", "Escribe tu mensaje…")
    # the server's limit, rendered into the page: the box takes no more, the script sends no more
    expect(box).to_have_attribute("maxlength", str(MAX_MESSAGE_CHARS))
    assert (
        page.evaluate(
            "() => { const box = document.getElementById('chat-input');"
            f" box.value = 'x'.repeat({MAX_MESSAGE_CHARS + 1});"
            " document.getElementById('chat-form').requestSubmit(); return box.value.length; }"
        )
        == MAX_MESSAGE_CHARS + 1
    )  # refused by the script: still in the box
    expect(page.get_by_test_id("msg-error").last).to_contain_text("muy largo")
    box.fill("hola")
    box.press("Enter")
    expect(page.get_by_test_id("msg-user").last).to_contain_text("hola")
    expect(page.get_by_test_id("msg-bot").last).to_contain_text("eco: hola")
    expect(box).to_have_value("")
    chips = page.get_by_test_id("chip")
    expect(chips).to_have_count(2)

    # a button sends its payload and shows its title as the debtor's message
    page.get_by_role("button", name=BUTTONS[1]["title"]).click()
    expect(page.get_by_test_id("msg-user").last).to_have_text(f"Tú: {BUTTONS[1]['title']}")
    expect(page.get_by_test_id("msg-bot").last).to_contain_text(
        f"Recibí tu elección: {BUTTONS[1]['payload']}"
    )
    expect(page.get_by_role("button", name=BUTTONS[0]["title"])).to_be_disabled()

    # bot content is text, never HTML
    attack = '<img src=x onerror="window.__xss = 1">'
    box.fill(attack)
    page.get_by_role("button", name="Enviar").click()
    expect(page.get_by_test_id("msg-bot").last).to_contain_text("eco: " + attack)
    assert page.evaluate("window.__xss") is None
    expect(page.locator("#chat-log img")).to_have_count(0)

    # a custom list alone: its rows are choices too
    box.fill("menú")
    box.press("Enter")
    row = page.get_by_role("button", name=LIST_ROWS[2]["title"])
    expect(row).to_be_enabled()
    row.click()
    expect(page.get_by_test_id("msg-bot").last).to_contain_text(
        f"Recibí tu elección: {LIST_ROWS[2]['id']}"
    )
    # buttons plus the same rows as a custom list: shown once
    box.fill("lista")
    box.press("Enter")
    expect(page.get_by_test_id("choices").last.get_by_test_id("chip")).to_have_count(len(LIST_ROWS))
    expect(page.get_by_role("button", name=LIST_ROWS[4]["title"])).to_have_count(1)

    expect(root).to_have_attribute("data-transport", "websocket")  # the CSP lets it upgrade

    # reload: the server resumes the same session, the transcript is still there
    page.reload()
    expect(page.get_by_test_id("status")).to_have_text("En línea")
    expect(root).to_have_attribute("data-session-id", session_id)
    expect(page.get_by_test_id("msg-bot").first).to_contain_text("eco: hola")
    box.fill("de vuelta")
    box.press("Enter")
    expect(page.get_by_test_id("msg-bot").last).to_contain_text("eco: de vuelta")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert {m.sender_id for m in server.agent.received} == {session_id}
    assert [m.text for m in server.agent.received][-1] == "de vuelta"

    # a tampered signature in the tab's storage: the server starts a new session
    page.evaluate(
        """() => {
          const key = "cobranza.webchat.session";
          const stored = JSON.parse(sessionStorage.getItem(key));
          stored.signature = "A".repeat(43);
          sessionStorage.setItem(key, JSON.stringify(stored));
        }"""
    )
    page.reload()
    expect(page.get_by_test_id("msg-notice")).to_have_text(
        "Aviso: Empezamos una conversación nueva."
    )
    expect(root).not_to_have_attribute("data-session-id", session_id)
    assert (root.get_attribute("data-session-id") or "").startswith("web-")
    context.close()
    assert outside == [], "the page must not load anything from elsewhere (no CDN)"
    assert problems == []
