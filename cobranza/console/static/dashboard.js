/* Consola de asesores: the "Tablero" view, the managers' KPIs, for supervisors only
 * (docs/kpis.md).
 *
 * GET /api/supervisor/kpis?from&to&by: the range's KPIs (total and one split), the same days
 * one by one, each indicator's label, unit and definition (the server's: the single source in
 * cobranza/domain/kpis.py), and whether the database is a simulation's (then the banner shows:
 * the server decides). Not polled: a load is a few set queries, run when the supervisor asks.
 * Without dates the server answers its default range and the form shows it.
 * GET /api/supervisor/kpis.csv: the same numbers as a download.
 *
 * Plain ES2020 like console.js, whose helpers it receives with the "consola:supervisor" event
 * (see the header of console.js) through views.js, which mounts, shows and hides it: this file
 * is loaded before console.js and only listens. The charts are Chart.js, vendored from npm into
 * /static/vendor/ and loaded only when the view first opens (a same-origin script: the page's
 * CSP allows nothing else; Chart.js needs no eval). Every chart has a title, axis titles with
 * units, the definition in its tooltip, an aria-label that reads its numbers, and its numbers in
 * a table. Everything from the server goes on the page as text or as an attribute value. */
"use strict";

(() => {
  let ctx = null; // console.js's helpers (api, report, clearError, make, setText, fromTemplate, showNotice)
  let board = null; // the mounted view

  // Mounted, shown and hidden by views.js; the first time it opens, it loads.
  const busy = Consola.view("dashboard", { mount, unmount, open });

  const make = (...args) => ctx.make(...args);
  const setText = (...args) => ctx.setText(...args);
  const timeFmt = new Intl.DateTimeFormat("es-MX", { hour: "2-digit", minute: "2-digit", hour12: false });

  const CHART_SRC = "/static/vendor/chart.umd.min.js";
  // The cards: each with its label, value, numerator and denominator, definition on hover.
  const CARDS = [
    "contacted",
    "reply_rate",
    "right_party_rate",
    "promise_rate",
    "promise_kept_rate",
    "delivery_rate",
    "pesos_collected",
    "recovery_rate",
    "cure_rate",
    "roll_forward_rate",
    "opt_out_rate",
    "handoff_rate",
    "resolution_hours_median",
    "blocked",
  ];
  const TREND_DEBTORS = ["contacted", "replied", "promised"];
  const SPLIT_COUNTS = ["contacted", "replied", "promised"];
  const SPLIT_RATES = ["reply_rate", "promise_rate", "promise_kept_rate", "recovery_rate"];
  const COLORS = ["#0b5cad", "#d9822b", "#2e8540", "#8e44ad", "#b03a2e", "#138d75"];
  const NO_VALUE = "—";

  const intFmt = new Intl.NumberFormat("es-MX");
  const pesoFmt = new Intl.NumberFormat("es-MX", { style: "currency", currency: "MXN" });
  const pctFmt = new Intl.NumberFormat("es-MX", {
    style: "percent",
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  });
  const oneDecimal = new Intl.NumberFormat("es-MX", { maximumFractionDigits: 1, minimumFractionDigits: 1 });
  const dateFmt = new Intl.DateTimeFormat("es-MX", {
    day: "numeric",
    month: "short",
    year: "numeric",
    timeZone: "UTC",
  });
  const shortDateFmt = new Intl.DateTimeFormat("es-MX", { day: "numeric", month: "short", timeZone: "UTC" });

  let chartLibrary = null;

  /** Chart.js, loaded once (a same-origin script: what the CSP allows). */
  function loadChartLibrary() {
    if (window.Chart) return Promise.resolve(window.Chart);
    if (!chartLibrary) {
      chartLibrary = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = CHART_SRC;
        script.onload = () => (window.Chart ? resolve(window.Chart) : reject(new Error("Chart.js")));
        script.onerror = () => {
          chartLibrary = null;
          script.remove();
          reject(new Error("Chart.js"));
        };
        document.head.append(script);
      });
    }
    return chartLibrary;
  }

  function mount(helpers, q) {
    ctx = helpers;
    board = {
      seq: 0,
      data: null,
      charts: {},
      status: q("dash-status"),
      banner: q("dash-simulated"),
      form: q("dash-form"),
      from: q("dash-from"),
      to: q("dash-to"),
      by: q("dash-by"),
      submit: q("dash-submit"),
      csv: q("dash-csv"),
      scope: q("dash-scope"),
      empty: q("dash-empty"),
      cards: q("dash-cards"),
      figures: {},
    };
    for (const key of ["funnel", "trend", "split-counts", "split-rates", "split-table", "compliance"]) {
      const figure = q(`chart-${key}`);
      board.figures[key] = {
        figure,
        canvas: figure.querySelector("canvas"),
        table: figure.querySelector("[data-table]"),
        title: figure.querySelector("[data-split-title]"),
      };
    }
    const mounted = board;
    board.form.addEventListener("submit", (event) => {
      event.preventDefault();
      load(mounted);
    });
    board.by.addEventListener("change", () => load(mounted));
    board.csv.addEventListener("click", () => exportCsv(mounted));
  }

  function open() {
    if (!board.data) load(board);
  }

  function unmount() {
    if (board) destroyCharts(board);
    ctx = null;
    board = null;
  }

  function destroyCharts(d) {
    for (const chart of Object.values(d.charts)) chart.destroy();
    d.charts = {};
  }

  /** The date inputs give yyyy-mm-dd (dd/mm/aaaa where they are plain text). */
  function isoDate(raw) {
    const s = String(raw).trim();
    if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return s;
    const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(s);
    return m ? `${m[3]}-${m[2].padStart(2, "0")}-${m[1].padStart(2, "0")}` : null;
  }

  function query(mounted) {
    const params = new URLSearchParams();
    const from = isoDate(mounted.from.value);
    const to = isoDate(mounted.to.value);
    if (from) params.set("from", from);
    if (to) params.set("to", to);
    params.set("by", mounted.by.value);
    return params;
  }

  /** The KPIs for the form's dates and split (the server's defaults when a date is empty). */
  function load(mounted) {
    return busy(mounted.submit, async () => {
      const seq = ++mounted.seq;
      const started = performance.now();
      ctx.setText(mounted.status, "Calculando…");
      let data;
      try {
        data = await ctx.api("GET", `/api/supervisor/kpis?${query(mounted)}`);
      } catch (err) {
        if (board === mounted && seq === mounted.seq) ctx.setText(mounted.status, "");
        throw err;
      }
      if (board !== mounted || seq !== mounted.seq) return;
      await render(mounted, data);
      const ms = Math.round(performance.now() - started);
      mounted.status.dataset.ms = String(ms);
      ctx.setText(mounted.status, `Actualizado a las ${timeFmt.format(new Date())} · ${intFmt.format(ms)} ms`);
    });
  }

  /* ---------- Tablero: values ---------- */

  const isRate = (value) => value !== null && typeof value === "object";

  function describe(data) {
    const found = new Map();
    for (const i of Array.isArray(data.indicators) ? data.indicators : []) {
      if (i && typeof i.key === "string") found.set(i.key, i);
    }
    return found;
  }

  /** A number to draw (a rate as a percentage), or null when there is none. */
  function plotted(value) {
    if (isRate(value)) return Number.isFinite(value.value) ? value.value * 100 : null;
    const n = Number(value);
    return value === null || value === undefined || !Number.isFinite(n) ? null : n;
  }

  function formatted(indicator, value) {
    const kind = indicator ? indicator.kind : "count";
    if (value === null || value === undefined) return NO_VALUE;
    if (isRate(value)) return Number.isFinite(value.value) ? pctFmt.format(value.value) : NO_VALUE;
    const n = Number(value);
    if (!Number.isFinite(n)) return NO_VALUE;
    if (kind === "pesos") return pesoFmt.format(n);
    if (kind === "hours") return `${oneDecimal.format(n)} h`;
    return intFmt.format(n);
  }

  /** A rate's "numerator de denominator" (pesos when they are pesos). */
  function parts(value) {
    const one = (x) => (typeof x === "string" ? pesoFmt.format(Number(x)) : intFmt.format(Number(x)));
    return `${one(value.numerator)} de ${one(value.denominator)}`;
  }

  function dayLabel(iso, format = dateFmt) {
    const day = new Date(`${iso}T00:00:00Z`);
    return Number.isNaN(day.getTime()) ? String(iso) : format.format(day);
  }

  /* ---------- Tablero: rendering ---------- */

  async function render(d, data) {
    d.data = data;
    const indicators = describe(data);
    const total = data.total && typeof data.total === "object" ? data.total : { values: {} };
    const values = total.values && typeof total.values === "object" ? total.values : {};
    const groups = (Array.isArray(data.groups) ? data.groups : []).filter((g) => g && g.values);
    const trend = (Array.isArray(data.trend) ? data.trend : []).filter((t) => t && t.values);
    if (typeof data.start === "string") d.from.value = data.start;
    if (typeof data.end === "string") d.to.value = data.end;
    if (typeof data.split === "string" && data.split) d.by.value = data.split;
    d.banner.hidden = data.simulated !== true;
    setText(d.scope, scopeText(data));
    d.empty.hidden = !["contacted", "messages_sent", "payments", "blocked", "replied"].every(
      (key) => !Number(values[key]),
    );
    renderCards(d, indicators, values);
    const split = String(data.split_label || "grupo");
    for (const figure of Object.values(d.figures)) {
      if (figure.title) setText(figure.title, `${figure.title.dataset.splitTitle} ${split}`);
    }
    const funnel = (Array.isArray(data.funnel) ? data.funnel : []).filter((k) => indicators.has(k));
    const rules = data.rules && typeof data.rules === "object" ? data.rules : {};
    const blocks = Object.entries(total.blocks_by_rule || {}).sort((a, b) => b[1] - a[1]);
    d.figures.funnel.table.replaceChildren(funnelTable(funnel, indicators, values));
    d.figures.trend.table.replaceChildren(trendTable(trend, indicators));
    d.figures["split-table"].table.replaceChildren(groupsTable(indicators, total, groups));
    d.figures.compliance.table.replaceChildren(blocksTable(blocks, rules));
    let Chart;
    try {
      Chart = await loadChartLibrary();
    } catch (_) {
      ctx.report(new Error("No se pudieron cargar las gráficas; los números están en las tablas."));
      return;
    }
    if (d.data !== data || !ctx || board !== d) return;
    destroyCharts(d);
    drawFunnel(Chart, d, funnel, indicators, values);
    drawTrend(Chart, d, trend, indicators);
    drawSplit(Chart, d, groups, indicators, split);
    drawBlocks(Chart, d, blocks, rules);
  }

  function scopeText(data) {
    const range = `Del ${dayLabel(data.start)} al ${dayLabel(data.end)}, días de ${data.zone}.`;
    const snapshots =
      data.start_snapshot && data.end_snapshot
        ? ` Tramos de atraso: al inicio, corte del ${dayLabel(data.start_snapshot)}; al final, del ${dayLabel(data.end_snapshot)}.`
        : " Sin cortes de tramo en esas fechas: cura y deterioro no tienen base.";
    return range + snapshots;
  }

  function renderCards(d, indicators, values) {
    const cards = [];
    for (const key of CARDS) {
      const indicator = indicators.get(key);
      if (!indicator) continue;
      const value = values[key];
      const li = make("li", "kpi");
      li.setAttribute("data-testid", "kpi-card");
      li.dataset.key = key;
      li.title = `${indicator.label}: ${indicator.definition}`;
      const shown = formatted(indicator, value);
      const detail = isRate(value)
        ? Number.isFinite(value.value)
          ? parts(value)
          : `sin base (${parts(value)})`
        : indicator.unit;
      const valueNode = make("span", "kpi__value", shown);
      valueNode.setAttribute("data-testid", "kpi-value");
      const detailNode = make("span", "kpi__parts", detail);
      detailNode.setAttribute("data-testid", "kpi-parts");
      li.append(make("span", "kpi__label", indicator.label), valueNode, detailNode);
      cards.push(li);
    }
    d.cards.replaceChildren(...cards);
  }

  function table(headers, rows, caption) {
    const node = make("table", "dash-table");
    if (caption) node.append(make("caption", "", caption));
    const head = make("tr");
    for (const h of headers) {
      const th = make("th", "", h);
      th.scope = "col";
      head.append(th);
    }
    const thead = make("thead");
    thead.append(head);
    const tbody = make("tbody");
    for (const row of rows) {
      const tr = make("tr");
      row.forEach((cell, n) => {
        const td = make(n === 0 ? "th" : "td", "", cell.text);
        if (n === 0) td.scope = "row";
        if (cell.title) td.title = cell.title;
        if (cell.prose) td.className = "dash-table__prose";
        tr.append(td);
      });
      tbody.append(tr);
    }
    node.append(thead, tbody);
    return node;
  }

  function funnelTable(funnel, indicators, values) {
    return table(
      ["Paso", "Deudores", "Definición"],
      funnel.map((key) => {
        const i = indicators.get(key);
        return [{ text: i.label }, { text: formatted(i, values[key]) }, { text: i.definition, prose: true }];
      }),
    );
  }

  function trendTable(trend, indicators) {
    const keys = [...TREND_DEBTORS, "pesos_collected"].filter((k) => indicators.has(k));
    return table(
      ["Día", ...keys.map((k) => `${indicators.get(k).label} (${indicators.get(k).unit})`)],
      trend.map((t) => [
        { text: dayLabel(t.day) },
        ...keys.map((k) => ({ text: formatted(indicators.get(k), t.values[k]) })),
      ]),
    );
  }

  function groupsTable(indicators, total, groups) {
    const columns = [{ label: "total", values: total.values || {} }];
    for (const g of groups) columns.push({ label: String(g.label ?? g.key), values: g.values });
    const rows = [...indicators.values()].map((i) => [
      { text: `${i.label} (${i.unit})`, title: i.definition },
      ...columns.map((c) => ({ text: formatted(i, c.values[i.key]) })),
    ]);
    return table(["indicador (unidad)", ...columns.map((c) => c.label)], rows);
  }

  function blocksTable(blocks, rules) {
    if (!blocks.length) return make("p", "muted", "Ningún bloqueo en estas fechas.");
    return table(
      ["Regla", "Bloqueos"],
      blocks.map(([rule, n]) => [{ text: `${rules[rule] || rule} (${rule})` }, { text: intFmt.format(n) }]),
    );
  }

  /* ---------- Tablero: charts ---------- */

  /** Splits a definition into lines a tooltip can show. */
  function wrap(text, width = 56) {
    const lines = [];
    let line = "";
    for (const word of String(text).split(/\s+/)) {
      if (line && line.length + word.length + 1 > width) {
        lines.push(line);
        line = word;
      } else {
        line = line ? `${line} ${word}` : word;
      }
    }
    if (line) lines.push(line);
    return lines;
  }

  function axis(title, extra = {}) {
    return { title: { display: true, text: title }, ...extra };
  }

  /** A chart's options: no animation, its axes, a definition under each tooltip. */
  function options(scales, definitionOf, { legend = true, ...extra } = {}) {
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", intersect: true },
      plugins: {
        legend: legend ? { position: "bottom" } : { display: false },
        tooltip: {
          callbacks: {
            footer: (items) => (items.length ? wrap(definitionOf(items[0])) : []),
          },
        },
      },
      scales,
      ...extra,
    };
  }

  function draw(Chart, d, key, summary, config) {
    const canvas = d.figures[key].canvas;
    canvas.setAttribute("aria-label", summary);
    d.charts[key] = new Chart(canvas, config);
  }

  function drawFunnel(Chart, d, funnel, indicators, values) {
    const labels = funnel.map((k) => indicators.get(k).label);
    const data = funnel.map((k) => plotted(values[k]) ?? 0);
    const summary =
      "Embudo del periodo, en deudores: " +
      funnel.map((k, n) => `${labels[n]} ${formatted(indicators.get(k), values[k])}`).join("; ");
    draw(Chart, d, "funnel", summary, {
      type: "bar",
      data: { labels, datasets: [{ label: "deudores", data, backgroundColor: COLORS[0] }] },
      options: options(
        {
          x: axis("deudores", { beginAtZero: true, ticks: { precision: 0 } }),
          y: axis("paso del embudo"),
        },
        (item) => indicators.get(funnel[item.dataIndex]).definition,
        { indexAxis: "y", legend: false },
      ),
    });
  }

  function drawTrend(Chart, d, trend, indicators) {
    const keys = TREND_DEBTORS.filter((k) => indicators.has(k));
    const pesos = indicators.get("pesos_collected");
    const datasets = keys.map((k, n) => ({
      type: "line",
      label: indicators.get(k).label,
      data: trend.map((t) => plotted(t.values[k])),
      borderColor: COLORS[n],
      backgroundColor: COLORS[n],
      yAxisID: "y",
      pointRadius: trend.length > 60 ? 0 : 2,
    }));
    if (pesos) {
      datasets.push({
        type: "bar",
        label: pesos.label,
        data: trend.map((t) => plotted(t.values.pesos_collected)),
        backgroundColor: "rgba(46, 133, 64, 0.35)",
        yAxisID: "pesos",
      });
    }
    const all = [...keys, ...(pesos ? ["pesos_collected"] : [])];
    const totals = all.map((k) => {
      const sum = trend.reduce((n, t) => n + (plotted(t.values[k]) || 0), 0);
      return `${indicators.get(k).label} ${formatted(indicators.get(k), sum)} en total`;
    });
    draw(Chart, d, "trend", `Tendencia por día, ${trend.length} días: ${totals.join("; ")}`, {
      type: "line",
      data: { labels: trend.map((t) => dayLabel(t.day, shortDateFmt)), datasets },
      options: options(
        {
          x: axis("día"),
          y: axis("deudores", { beginAtZero: true, ticks: { precision: 0 }, position: "left" }),
          pesos: axis("pesos (MXN)", {
            beginAtZero: true,
            position: "right",
            grid: { drawOnChartArea: false },
          }),
        },
        (item) => indicators.get(all[item.datasetIndex]).definition,
        { interaction: { mode: "index", intersect: false } },
      ),
    });
  }

  function drawSplit(Chart, d, groups, indicators, split) {
    const labels = groups.map((g) => String(g.label ?? g.key));
    const bars = (keys) =>
      keys
        .filter((k) => indicators.has(k))
        .map((k, n) => ({
          label: indicators.get(k).label,
          data: groups.map((g) => plotted(g.values[k])),
          backgroundColor: COLORS[n],
          key: k,
        }));
    const counts = bars(SPLIT_COUNTS);
    const rates = bars(SPLIT_RATES);
    const say = (sets) =>
      groups.length
        ? groups
            .map(
              (g, n) =>
                `${labels[n]}: ` +
                sets.map((s) => `${s.label} ${formatted(indicators.get(s.key), g.values[s.key])}`).join(", "),
            )
            .join("; ")
        : "sin grupos en estas fechas";
    const definitionOf = (sets) => (item) => indicators.get(sets[item.datasetIndex].key).definition;
    draw(Chart, d, "split-counts", `Deudores por ${split}: ${say(counts)}`, {
      type: "bar",
      data: { labels, datasets: counts },
      options: options(
        { x: axis(split), y: axis("deudores", { beginAtZero: true, ticks: { precision: 0 } }) },
        definitionOf(counts),
      ),
    });
    draw(Chart, d, "split-rates", `Tasas por ${split}: ${say(rates)}`, {
      type: "bar",
      data: { labels, datasets: rates },
      options: options(
        {
          x: axis(split),
          y: axis("%", { beginAtZero: true, ticks: { callback: (v) => `${v} %` } }),
        },
        definitionOf(rates),
      ),
    });
  }

  function drawBlocks(Chart, d, blocks, rules) {
    const labels = blocks.map(([rule]) => rules[rule] || rule);
    const summary = blocks.length
      ? "Bloqueos por regla: " + blocks.map(([rule, n], i) => `${labels[i]} ${intFmt.format(n)}`).join("; ")
      : "Bloqueos por regla: ninguno en estas fechas";
    draw(Chart, d, "compliance", summary, {
      type: "bar",
      data: {
        labels,
        datasets: [{ label: "bloqueos", data: blocks.map(([, n]) => n), backgroundColor: COLORS[4] }],
      },
      options: options(
        {
          x: axis("bloqueos", { beginAtZero: true, ticks: { precision: 0 } }),
          y: axis("regla"),
        },
        (item) => `Regla ${blocks[item.dataIndex][0]}: la primera que bloqueó.`,
        { indexAxis: "y", legend: false },
      ),
    });
  }

  /* ---------- Tablero: CSV ---------- */

  function exportCsv(mounted) {
    return busy(mounted.csv, async () => {
      const file = await ctx.api("GET", `/api/supervisor/kpis.csv?${query(mounted)}`, undefined, {
        file: true,
      });
      if (board !== mounted) return;
      const url = URL.createObjectURL(file.blob);
      const link = make("a");
      link.href = url;
      link.download = file.name || "indicadores.csv";
      link.hidden = true;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 30000);
      ctx.showNotice(`Se descargó ${link.download}.`);
    });
  }
})();
