"""The supervisors' Tablero in a browser (Debian's Chromium, Playwright) against the console's own
process (``python -m cobranza.console``; the dashboard never reaches Rasa, so none runs).

Two databases: an empty portfolio (no debtor, no event: every rate "—", charts drawn with no
bar, no banner) and a simulated one (``cobranza simulate``: 14 days over 400 debtors; the
banner says the numbers are simulated). On both, the page's cards, charts (the canvas's own
pixels, and the numbers Chart.js was given) and tables say what the API answers; the CSV
export downloads and parses; the page logs no error (a CSP violation would be one). An agent
has no Tablero and the API answers 403.
Screenshots: results/console-dashboard-empty.png, results/console-dashboard-simulated.png,
results/console-dashboard-split.png, results/console-dashboard-agent.png; load times in
results/console-dashboard-timing.json."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cobranza import db
from cobranza.clock import SystemClock
from cobranza.domain.kpis import FUNNEL
from cobranza.domain.vocabulary import ConsoleRole
from cobranza.services import agents
from tests.e2e.conftest import RESULTS, ConsoleProcess

pytestmark = pytest.mark.slow

TIMEOUT_MS = 60_000
SUPERVISOR, AGENT = "sofia.mora", "ana.ruiz"
PASSWORDS = {SUPERVISOR: "clave-de-sofia-123", AGENT: "clave-de-ana-123"}
# The simulated run: two weeks from a Monday, a few hundred debtors (docs/simulation.md).
START = datetime(2026, 10, 5, 5, 0, tzinfo=ZoneInfo("America/Mexico_City"))
DAYS, DEBTORS, SEED = 14, 400, 7
# From the day after the first snapshot (5 Oct), so that the range has a start for cure and roll.
FROM, TO = "2026-10-06", "2026-10-18"
BRAND = (11, 92, 173)  # the funnel's bars (console.js, COLORS[0])
BANNER = "Datos simulados — no son de ningún acreedor."


def _accounts(url: str) -> None:
    engine = db.make_engine(url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        clock = SystemClock()
        supervisor = ConsoleRole.SUPERVISOR
        agents.add_agent(
            session, SUPERVISOR, "Sofía Mora", PASSWORDS[SUPERVISOR], clock, supervisor
        )
        agents.add_agent(session, AGENT, "Ana Ruiz", PASSWORDS[AGENT], clock)
    engine.dispose()


@pytest.fixture(scope="module")
def empty_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard-empty') / 'empty.db'}"
    engine = db.make_engine(url)
    db.upgrade(engine)
    engine.dispose()
    _accounts(url)
    return url


@pytest.fixture(scope="module")
def simulated_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``cobranza simulate`` into a kept database, as `make demo-dashboard` runs it (in a
    process of its own: it runs an event loop, and Playwright's is this thread's)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard-simulated') / 'simulated.db'}"
    command = [
        str(Path(sys.executable).parent / "cobranza"),
        "simulate",
        *("--days", str(DAYS), "--debtors", str(DEBTORS), "--seed", str(SEED)),
        *("--start", START.isoformat(), "--database", url, "--json"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    report = json.loads(done.stdout)
    assert report["violations"] == [] and report["debtors"] == DEBTORS
    _accounts(url)
    return url


@pytest.fixture(scope="module")
def empty_console(empty_url: str, console_process: ConsoleProcess) -> Iterator[str]:
    with console_process(empty_url, "console-dashboard-empty.log") as url:
        yield url


@pytest.fixture(scope="module")
def simulated_console(simulated_url: str, console_process: ConsoleProcess) -> Iterator[str]:
    with console_process(simulated_url, "console-dashboard-simulated.log") as url:
        yield url


class Page:
    """A logged-in page that records every error it logs (a CSP violation is one)."""

    def __init__(self, browser: Any, url: str, username: str) -> None:
        context = browser.new_context(
            locale="es-MX", viewport={"width": 1366, "height": 900}, accept_downloads=True
        )
        self.page = context.new_page()
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("console", self._logged)
        self.page.goto(url + "/")
        self.page.get_by_label("Usuario").fill(username)
        self.page.get_by_label("Contraseña").fill(PASSWORDS[username])
        self.page.get_by_role("button", name="Entrar").click()

    def _logged(self, msg: Any) -> None:
        where = str((msg.location or {}).get("url", ""))
        if msg.type != "error":
            return
        if "401" in msg.text and where.endswith("/api/me"):
            return  # the page asks who is logged in before anyone is: the login form shows
        self.problems.append(f"{msg.text} ({where})")

    def api(self, path: str) -> Any:
        return self.page.evaluate(
            """async (path) => {
              const res = await fetch(path, { headers: { Accept: "application/json" } });
              return { status: res.status, body: await res.text() };
            }""",
            path,
        )


def _open_dashboard(page: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_test_id("nav-dashboard").click()
    expect(page.get_by_test_id("dashboard")).to_be_visible()
    expect(page.get_by_test_id("queue")).to_be_hidden()
    expect(page.get_by_test_id("dash-status")).to_contain_text("Actualizado")


def _show(page: Any, start: str, end: str, by: str) -> None:
    from playwright.sync_api import expect

    page.get_by_test_id("dash-from").fill(start)
    page.get_by_test_id("dash-to").fill(end)
    page.get_by_test_id("dash-by").select_option(by)  # a change loads too
    page.get_by_test_id("dash-submit").click()
    expect(page.get_by_test_id("dash-scope")).to_contain_text(
        f"Del {_day(start)} al {_day(end)}", timeout=TIMEOUT_MS
    )
    expect(page.get_by_test_id("dash-status")).to_contain_text("Actualizado")


def _day(iso: str) -> str:
    """es-MX's short date ("5 oct 2026")."""
    year, month, day = iso.split("-")
    months = "ene feb mar abr may jun jul ago sept oct nov dic".split()
    return f"{int(day)} {months[int(month) - 1]} {year}"


def _chart(page: Any, testid: str) -> dict[str, Any]:
    """What Chart.js drew on a canvas: its labels and datasets, the canvas's aria-label, and
    how many of its pixels are painted at all and in the funnel's colour."""
    found: dict[str, Any] = page.evaluate(
        """([testid, brand]) => {
          const canvas = document.querySelector(`[data-testid='${testid}']`);
          const chart = window.Chart && window.Chart.getChart(canvas);
          const { width, height } = canvas;
          const pixels = canvas.getContext("2d").getImageData(0, 0, width, height).data;
          let painted = 0, branded = 0;
          for (let i = 0; i < pixels.length; i += 4) {
            if (pixels[i + 3] > 0) painted += 1;
            if (pixels[i] === brand[0] && pixels[i + 1] === brand[1] && pixels[i + 2] === brand[2]
                && pixels[i + 3] === 255) branded += 1;
          }
          return {
            drawn: Boolean(chart),
            labels: chart ? chart.data.labels.map(String) : [],
            datasets: chart ? chart.data.datasets.map((d) => ({ label: d.label, data: d.data })) : [],
            aria: canvas.getAttribute("aria-label") || "",
            role: canvas.getAttribute("role"),
            painted,
            branded,
            width,
            height,
          };
        }""",
        [testid, list(BRAND)],
    )
    return found


def _hover(page: Any, testid: str, index: int) -> list[str]:
    """Moves the mouse over a bar of the first dataset; the tooltip's footer lines."""
    box = page.get_by_test_id(testid).bounding_box()
    at = page.evaluate(
        """([testid, index]) => {
          const chart = window.Chart.getChart(document.querySelector(`[data-testid='${testid}']`));
          const bar = chart.getDatasetMeta(0).data[index];
          const { x, y, base, horizontal } = bar.getProps(["x", "y", "base", "horizontal"], true);
          return horizontal ? [(x + base) / 2, y] : [x, (y + base) / 2];
        }""",
        [testid, index],
    )
    page.mouse.move(box["x"] + at[0], box["y"] + at[1])
    footer: list[str] = page.evaluate(
        """(testid) => {
          const chart = window.Chart.getChart(document.querySelector(`[data-testid='${testid}']`));
          return chart.tooltip.opacity > 0 ? chart.tooltip.footer : [];
        }""",
        testid,
    )
    return footer


def _csv(page: Any) -> tuple[str, list[list[str]]]:
    with page.expect_download() as info:
        page.get_by_test_id("dash-csv").click()
    download = info.value
    path = Path(download.path())
    text = path.read_bytes().decode("utf-8-sig")
    return download.suggested_filename, list(csv.reader(io.StringIO(text)))


def _screenshot(page: Any, name: str) -> None:
    """The whole Tablero: the view scrolls inside the window, so the window grows to fit it."""
    height = page.evaluate("() => document.querySelector('.dashboard').scrollHeight")
    page.set_viewport_size({"width": 1366, "height": int(height) + 120})
    page.get_by_test_id("dashboard-title").evaluate("(node) => node.scrollIntoView()")
    page.screenshot(path=str(RESULTS / name))
    page.set_viewport_size({"width": 1366, "height": 900})


def _number(value: Any) -> float | None:
    if isinstance(value, dict):
        return None if value["value"] is None else value["value"] * 100
    return None if value is None else float(value)


def _timing(name: str, page: Any) -> None:
    ms = page.get_by_test_id("dash-status").get_attribute("data-ms")
    path = RESULTS / "console-dashboard-timing.json"
    found = json.loads(path.read_text()) if path.is_file() else {}
    found[name] = int(ms)
    path.write_text(json.dumps(found, indent=2, sort_keys=True) + "\n")


def test_an_empty_portfolio_shows_no_rates_and_draws_no_bars(
    browser: Any, empty_console: str
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    session = Page(browser, empty_console, SUPERVISOR)
    page = session.page
    expect(page.get_by_test_id("agent-name")).to_have_text("Sofía Mora")
    _open_dashboard(page)
    expect(page.get_by_test_id("dash-simulated")).to_be_hidden()
    expect(page.get_by_test_id("dash-empty")).to_be_visible()
    cards = page.get_by_test_id("kpi-card")
    expect(cards).to_have_count(14)
    rate = page.locator("[data-testid='kpi-card'][data-key='reply_rate']")
    expect(rate.get_by_test_id("kpi-value")).to_have_text("—")
    expect(rate.get_by_test_id("kpi-parts")).to_have_text("sin base (0 de 0)")
    assert "Deudores contactados que respondieron ÷ deudores contactados." in (
        rate.get_attribute("title") or ""
    )
    contacted = page.locator("[data-testid='kpi-card'][data-key='contacted']")
    expect(contacted.get_by_test_id("kpi-value")).to_have_text("0")
    expect(contacted.get_by_test_id("kpi-parts")).to_have_text("deudores")
    expect(page.locator("[data-testid='kpi-card'][data-key='pesos_collected']")).to_contain_text(
        "$0.00"
    )
    hours = page.locator("[data-testid='kpi-card'][data-key='resolution_hours_median']")
    expect(hours.get_by_test_id("kpi-value")).to_have_text("—")
    # The form shows the range the server chose (its last 30 days).
    answer = json.loads(session.api("/api/supervisor/kpis?by=bucket")["body"])
    expect(page.get_by_test_id("dash-from")).to_have_value(answer["start"])
    expect(page.get_by_test_id("dash-to")).to_have_value(answer["end"])
    funnel = _chart(page, "canvas-funnel")
    assert funnel["drawn"] and funnel["role"] == "img"
    assert funnel["datasets"][0]["data"] == [0] * len(FUNNEL)
    assert funnel["painted"] > 1000, "axes and labels are drawn"
    assert funnel["branded"] == 0, "no bar for nobody"
    assert funnel["aria"].startswith("Embudo del periodo, en deudores: deudores contactados 0;")
    trend = _chart(page, "canvas-trend")
    assert trend["drawn"] and len(trend["labels"]) == 30
    assert _chart(page, "canvas-compliance")["aria"].endswith("ninguno en estas fechas")
    expect(page.get_by_test_id("chart-compliance")).to_contain_text("Ningún bloqueo")
    name, rows = _csv(page)
    assert name == f"indicadores_{answer['start']}_{answer['end']}_bucket.csv"
    assert [r[0] for r in rows] == ["tramo al inicio", "total"]
    assert rows[1][rows[0].index("tasa de respuesta")] == ""
    _screenshot(page, "console-dashboard-empty.png")
    _timing("empty, last 30 days, by bucket", page)
    assert session.problems == []


def test_a_simulated_portfolio_draws_its_numbers_and_says_they_are_simulated(
    browser: Any, simulated_console: str
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    session = Page(browser, simulated_console, SUPERVISOR)
    page = session.page
    _open_dashboard(page)
    expect(page.get_by_test_id("dash-simulated")).to_be_visible()
    expect(page.get_by_test_id("dash-simulated")).to_contain_text(BANNER)
    _show(page, FROM, TO, "bucket")
    _timing("simulated 400 debtors, 14 days, by bucket", page)
    answer = json.loads(session.api(f"/api/supervisor/kpis?from={FROM}&to={TO}&by=bucket")["body"])
    total = answer["total"]["values"]
    assert answer["simulated"] is True and total["contacted"] > 100
    expect(page.get_by_test_id("dash-empty")).to_be_hidden()

    contacted = page.locator("[data-testid='kpi-card'][data-key='contacted']")
    expect(contacted.get_by_test_id("kpi-value")).to_have_text(f"{total['contacted']:,}")
    reply = total["reply_rate"]
    card = page.locator("[data-testid='kpi-card'][data-key='reply_rate']")
    expect(card.get_by_test_id("kpi-value")).to_contain_text(f"{reply['value'] * 100:.1f}")
    expect(card.get_by_test_id("kpi-parts")).to_have_text(
        f"{reply['numerator']:,} de {reply['denominator']:,}"
    )

    funnel = _chart(page, "canvas-funnel")
    assert funnel["datasets"][0]["data"] == [total[key] for key in FUNNEL]
    assert funnel["branded"] > 2000, "the funnel's bars are painted"
    assert f"deudores contactados {total['contacted']:,}" in funnel["aria"]
    definitions = {i["key"]: i["definition"] for i in answer["indicators"]}
    assert " ".join(_hover(page, "canvas-funnel", 0)) == definitions["contacted"]
    assert " ".join(_hover(page, "canvas-funnel", 4)) == definitions["promised"]
    trend = _chart(page, "canvas-trend")
    assert len(trend["labels"]) == DAYS - 1 and trend["labels"][0] == "6 oct"
    contacted_by_day = [day["values"]["contacted"] for day in answer["trend"]]
    assert trend["datasets"][0]["data"] == contacted_by_day and sum(contacted_by_day) > 0
    assert trend["painted"] > 5000
    labels = [g["label"] for g in answer["groups"]]
    for testid in ("canvas-split-counts", "canvas-split-rates"):
        split = _chart(page, testid)
        assert split["labels"] == labels and split["painted"] > 5000, testid
    rates = _chart(page, "canvas-split-rates")["datasets"][0]["data"]
    assert rates == [_number(g["values"]["reply_rate"]) for g in answer["groups"]]
    blocks = answer["total"]["blocks_by_rule"]
    compliance = _chart(page, "canvas-compliance")
    assert sum(compliance["datasets"][0]["data"]) == sum(blocks.values())
    table = page.get_by_test_id("chart-split-table").locator("table")
    expect(table.locator("thead th")).to_have_count(2 + len(labels))
    expect(table.locator("tbody tr")).to_have_count(len(answer["indicators"]))
    _screenshot(page, "console-dashboard-simulated.png")

    name, rows = _csv(page)
    assert name == f"indicadores_simulados_{FROM}_{TO}_bucket.csv"
    header = rows[0]
    assert header[0] == "tramo al inicio" and header[-1] == "datos"
    assert [r[0] for r in rows[1:]] == ["total", *labels]
    column = header.index("deudores contactados")
    assert [int(r[column]) for r in rows[1:]] == [total["contacted"]] + [
        g["values"]["contacted"] for g in answer["groups"]
    ]
    assert {r[-1] for r in rows[1:]} == {"simulados: no son de ningún acreedor"}

    page.get_by_test_id("dash-by").select_option("persona")
    expect(page.get_by_test_id("chart-split-counts")).to_contain_text("Deudores por persona")
    by_persona = json.loads(
        session.api(f"/api/supervisor/kpis?from={FROM}&to={TO}&by=persona")["body"]
    )
    expect(page.get_by_test_id("chart-split-table").locator("thead th")).to_have_count(
        2 + len(by_persona["groups"])
    )
    assert _chart(page, "canvas-split-counts")["labels"] == [
        g["label"] for g in by_persona["groups"]
    ]
    _timing("simulated 400 debtors, 14 days, by persona", page)
    _screenshot(page, "console-dashboard-split.png")

    page.get_by_test_id("dash-from").fill(TO)
    page.get_by_test_id("dash-to").fill(FROM)
    page.get_by_test_id("dash-submit").click()
    expect(page.get_by_test_id("error")).to_have_text(
        "La fecha inicial (from) es posterior a la final (to)."
    )
    refused = "the server responded with a status of 400 (Bad Request)"
    assert [p for p in session.problems if refused not in p or "/kpis?" not in p] == []
    assert len(session.problems) == 1, "only the refused range, nothing from the page's code"

    # A lender's totals are long: the widest amount a card must hold stays on one line inside
    # its card (a $1.5 million total once broke between its digits).
    placed = page.evaluate(
        """(amount) => [...document.querySelectorAll("[data-testid='kpi-value']")].map((el) => {
          el.textContent = amount;
          const text = document.createRange();
          text.selectNodeContents(el);
          return { lines: text.getClientRects().length, fits: el.scrollWidth <= el.clientWidth };
        })""",
        "$149,802,936.12",
    )
    assert placed and all(p == {"lines": 1, "fits": True} for p in placed), placed


def test_an_agent_has_no_tablero(browser: Any, simulated_console: str) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    session = Page(browser, simulated_console, AGENT)
    page = session.page
    expect(page.get_by_test_id("agent-name")).to_have_text("Ana Ruiz")
    expect(page.get_by_test_id("queue-empty")).to_be_visible()  # her queue loaded
    expect(page.get_by_test_id("nav-dashboard")).to_have_count(0)
    expect(page.get_by_test_id("dashboard")).to_have_count(0)
    expect(page.get_by_text("Tablero")).to_have_count(0)
    for path in (f"/api/supervisor/kpis?from={FROM}&to={TO}", "/api/supervisor/kpis.csv"):
        answer = session.api(path)
        assert answer["status"] == 403, path
        assert json.loads(answer["body"]) == {"error": "Tu rol no permite esta acción."}
    assert page.evaluate("() => typeof window.Chart") == "undefined", "never loaded for agents"
    page.screenshot(path=str(RESULTS / "console-dashboard-agent.png"))
    assert [p for p in session.problems if "403" not in p] == []
