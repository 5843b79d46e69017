/* Consola de asesores: the "Experimentos" view, for supervisors only (docs/experiments.md).
 *
 * GET /api/supervisor/experiments (the list: where each experiment stands, who has been exposed)
 * and GET /api/supervisor/experiments/{name} (one experiment's report, as `cobranza experiments
 * report NAME --json` prints it). The server decides everything: until every arm has its planned
 * sample it sends each arm's rate and Wilson interval and no difference, test or winner, and this
 * page says «En curso»; at the plan it adds each variant's difference from the control with
 * Newcombe's interval, the p-values (Holm's adjustment) and the verdict.
 *
 * Plain ES2020 and no library, like console.js, whose helpers it receives with the
 * "consola:supervisor" event (see the header of console.js) through views.js, which mounts, shows
 * and hides it: this file is loaded before console.js and only listens. Everything from the server goes on the page as text or as an attribute value; bars are
 * sized through the CSSOM (element.style), which the page's CSP allows. Each figure has a title
 * saying in Spanish what it is. */
"use strict";

(() => {
  const LIST = "/api/supervisor/experiments";
  const SIMULATED =
    "Datos simulados: estos números salen de una corrida de `cobranza simulate`; los deudores " +
    "simulados se comportan igual con cualquier variante, así que toda diferencia es ruido.";
  const STATES = { wins: "Gana", loses: "Pierde", no_difference: "Sin diferencia" };
  const RESULTS = { wins: "gana", loses: "pierde", no_difference: "sin diferencia" };

  let ctx = null; // console.js's helpers (api, report, clearError, make, setText, fromTemplate)
  let v = null; // the mounted view

  // Mounted, shown and hidden by views.js; each time it opens, it reloads.
  const busy = Consola.view("experiments", { mount, unmount, open });

  /* ---------- Numbers in words ---------- */

  const num = (value) => (Number.isFinite(value) ? value : 0);
  const count = (value) => Math.max(0, Math.floor(num(value))).toLocaleString("es-MX");
  const pct = (rate) => (Number.isFinite(rate) ? `${(rate * 100).toFixed(1)}%` : "—");
  const signed = (rate) => `${rate >= 0 ? "+" : "-"}${Math.abs(num(rate) * 100).toFixed(1)}`;
  /** 0.95 → "95", 0.975 → "97.5". */
  const level = (share) => String(Number((num(share) * 100).toFixed(2)));
  const bounds = (pair) => (Array.isArray(pair) && pair.length === 2 ? pair.map(num) : [0, 1]);
  const text = (value) => String(value ?? "");
  const capital = (words) => (words ? words[0].toUpperCase() + words.slice(1) : "");
  const dateFmt = new Intl.DateTimeFormat("es-MX", { dateStyle: "medium", timeStyle: "short" });

  /** An instant from the server (ISO 8601) in the browser's local time, the ISO in `datetime`. */
  function moment(iso) {
    const at = new Date(text(iso));
    const node = ctx.make("time", "", Number.isNaN(at.getTime()) ? text(iso) : dateFmt.format(at));
    node.dateTime = text(iso);
    node.title = text(iso);
    return node;
  }

  /* ---------- What each figure means (the titles) ---------- */

  const TITLES = {
    exposed: "Expuestos: deudores que recibieron o escucharon esta variante por primera vez.",
    closed: (days) =>
      `Ventana cerrada: expuestos cuyos ${days} días ya terminaron; solo ellos pueden contar ` +
      "como «no».",
    progress: (days, planned) =>
      `Analizados / plan: expuestos con la ventana de ${days} días cerrada, contra los ` +
      `${planned} que el plan pide por brazo antes de dar un veredicto.`,
    successes: (label, days) =>
      `Con éxito: analizados que cumplieron la métrica (${label}) en los ${days} días ` +
      "siguientes a su primera exposición.",
    rate: "Tasa: con éxito entre analizados.",
    wilson: (conf) =>
      `Intervalo de Wilson al ${conf}%: el rango donde probablemente está la tasa real del ` +
      "brazo, confiable aun con tasas bajas o pocos deudores.",
    difference: "Diferencia: tasa de la variante menos tasa del control, en puntos porcentuales.",
    newcombe: (conf) =>
      `Intervalo de Newcombe al ${conf}%: el rango donde probablemente está la diferencia real ` +
      "entre la variante y el control, calculado con los intervalos de Wilson de ambos brazos.",
    p: "p: la probabilidad de ver una diferencia al menos así de grande si la variante y el " +
      "control funcionaran igual (prueba z de dos proporciones).",
    holm: (alpha) =>
      "p ajustada por Holm: la p corregida por comparar varias variantes con el mismo control, " +
      `para que la probabilidad de declarar por error un ganador o un perdedor siga en ${alpha}.`,
    plan:
      "Muestra planeada por brazo: los deudores que cada brazo necesita para ver el efecto " +
      "mínimo con la potencia elegida; se fija antes de empezar.",
    running:
      "El veredicto espera a que cada brazo tenga su muestra planeada: mirar antes y detenerse " +
      "al primer p < 0.05 multiplica los falsos ganadores.",
    reached: (alpha) =>
      `Veredicto de la prueba z de dos proporciones con α = ${alpha} (p ajustada por Holm), ` +
      "sobre los expuestos hasta que el último brazo llegó a su plan.",
    simulated: "Números de una simulación, no de deudores reales.",
  };

  /* ---------- Mounting ---------- */

  function mount(helpers, q) {
    ctx = helpers;
    v = {
      listSeq: 0,
      reportSeq: 0,
      selected: null, // the experiment whose report shows
      refresh: q("exp-refresh"),
      empty: q("exp-empty"),
      list: q("exp-list"),
      reportTitle: document.getElementById("exp-report-title"),
      placeholder: q("exp-placeholder"),
      body: q("exp-report-body"),
    };
    v.refresh.addEventListener("click", () => busy(v.refresh, refresh));
  }

  function unmount() {
    ctx = null;
    v = null;
  }

  function open() {
    refresh().catch((err) => ctx && ctx.report(err));
  }

  async function refresh() {
    await Promise.all([loadList(), v && v.selected ? loadReport(v.selected) : null]);
  }

  /* ---------- The list ---------- */

  async function loadList() {
    const mine = v;
    if (!mine) return;
    const seq = ++mine.listSeq;
    const data = await ctx.api("GET", LIST);
    if (v !== mine || seq !== mine.listSeq) return;
    const rows = (Array.isArray(data.experiments) ? data.experiments : []).filter(
      (e) => e && typeof e === "object",
    );
    mine.list.replaceChildren(...rows.map(listItem));
    mine.empty.hidden = rows.length > 0;
  }

  function listItem(e) {
    const name = text(e.experiment);
    const li = ctx.make("li", "exp-item");
    li.setAttribute("data-testid", "exp-item");
    li.dataset.experiment = name;
    const head = ctx.make("div", "exp-item__head");
    head.append(ctx.make("strong", "exp-item__name", name), statusBadge(e.enabled));
    if (e.simulated === true) head.append(simulatedBadge());
    const state = ctx.make("span", "exp-item__state", stateWords(e));
    state.setAttribute("data-testid", "exp-item-state");
    state.dataset.outcome = text(e.outcome);
    head.append(state);
    const what = ctx.make(
      "p",
      "exp-item__meta",
      `${text(e.target)} · ${text(e.metric_label)} en ${count(e.window_days)} días`,
    );
    const arms = (Array.isArray(e.arms) ? e.arms : [])
      .filter((a) => a && typeof a === "object")
      .map((a) => `${text(a.name)} ${count(a.exposed)}`);
    const exposed = ctx.make(
      "p",
      "exp-item__exposed",
      `Expuestos: ${count(e.exposed)} (${arms.join(" · ")}) · plan ${count(e.planned_per_arm)} ` +
        "por brazo",
    );
    exposed.setAttribute("data-testid", "exp-item-exposed");
    exposed.title = `${TITLES.exposed} ${TITLES.plan}`;
    const open = ctx.make("button", "btn btn--small", "Ver reporte");
    open.type = "button";
    open.setAttribute("data-testid", "exp-open");
    open.setAttribute("aria-label", `Ver el reporte de ${name}`);
    open.addEventListener("click", () => busy(open, () => openReport(name)));
    li.append(head, what, exposed, open);
    return li;
  }

  function stateWords(e) {
    if (e.outcome === "running") return "En curso";
    return capital(text(e.verdict)) || STATES[e.outcome] || text(e.outcome);
  }

  function statusBadge(enabled) {
    const badge = ctx.make("span", "badge", enabled === true ? "Activo" : "Desactivado");
    badge.dataset.enabled = String(enabled === true);
    badge.title =
      enabled === true
        ? "Activo: los envíos y la conversación usan sus variantes."
        : "Desactivado: se valida, pero nadie nuevo se expone.";
    return badge;
  }

  function simulatedBadge() {
    const badge = ctx.make("span", "badge badge--sim", "Simulado");
    badge.title = TITLES.simulated;
    return badge;
  }

  /* ---------- One experiment's report ---------- */

  async function openReport(name) {
    if (!v) return;
    v.selected = name;
    await loadReport(name);
    if (v) v.reportTitle.focus();
  }

  async function loadReport(name) {
    const mine = v;
    if (!mine) return;
    const seq = ++mine.reportSeq;
    const data = await ctx.api("GET", `${LIST}/${encodeURIComponent(name)}`);
    if (v !== mine || seq !== mine.reportSeq || mine.selected !== name) return;
    renderReport(data);
  }

  function renderReport(r) {
    const days = count(r.window_days);
    const conf = level(1 - num(r.alpha));
    const arms = (Array.isArray(r.arms) ? r.arms : []).filter((a) => a && typeof a === "object");
    const comparisons = (Array.isArray(r.comparisons) ? r.comparisons : []).filter(
      (c) => c && typeof c === "object",
    );
    ctx.setText(v.reportTitle, `Experimento ${text(r.experiment)}`);
    v.placeholder.hidden = true;
    const parts = [];
    if (r.simulated === true) {
      const banner = ctx.make("p", "exp-simulated", SIMULATED);
      banner.setAttribute("data-testid", "exp-simulated");
      banner.setAttribute("role", "note");
      banner.title = TITLES.simulated;
      parts.push(banner);
    }
    parts.push(ctx.make("p", "exp-desc", text(r.description)), facts(r, days));
    parts.push(verdict(r, comparisons, arms));
    parts.push(armsTable(r, arms, days, conf));
    if (comparisons.length) parts.push(comparisonsTable(r, comparisons));
    parts.push(footnote(r));
    if (r.other_arms && typeof r.other_arms === "object" && Object.keys(r.other_arms).length) {
      const other = Object.entries(r.other_arms).map(([arm, n]) => `${arm}: ${count(n)}`);
      parts.push(
        ctx.make(
          "p",
          "alert",
          "Exposiciones en brazos que ya no están en la definición (no cuentan): " +
            `${other.join(", ")}.`,
        ),
      );
    }
    v.body.replaceChildren(...parts);
  }

  function facts(r, days) {
    const list = ctx.make("dl", "exp-facts");
    const add = (term, value, title, testid) => {
      const dd = ctx.make("dd");
      dd.append(value);
      if (title) dd.title = title;
      if (testid) dd.setAttribute("data-testid", testid);
      list.append(ctx.make("dt", "", term), dd);
    };
    add("Estado", r.enabled === true ? "Activo" : "Desactivado");
    add("Objetivo", text(r.target));
    add(
      "Métrica",
      `${text(r.metric_label)} en los ${days} días siguientes a la primera exposición`,
    );
    add(
      "Plan",
      `${count(r.planned_per_arm)} deudores por brazo (${count(r.planned_total)} en total) para ` +
        `ver un cambio de ${level(r.minimum_effect)} puntos desde ${level(r.baseline_rate)}%, ` +
        `con α ${text(r.alpha)} y potencia ${level(r.power)}%`,
      TITLES.plan,
      "exp-plan",
    );
    add("Datos al", moment(r.as_of));
    return list;
  }

  /** «En curso: faltan N por brazo», or the verdict with each difference and its interval. */
  function verdict(r, comparisons, arms) {
    const box = ctx.make("div", "exp-verdict");
    box.setAttribute("data-testid", "exp-verdict");
    box.dataset.outcome = text(r.outcome);
    const headline = ctx.make("p", "exp-verdict__text");
    headline.setAttribute("data-testid", "exp-verdict-text");
    if (r.outcome === "running") {
      headline.textContent = runningWords(r.missing, arms.length);
      box.title = TITLES.running;
      box.append(
        headline,
        ctx.make(
          "p",
          "hint",
          "Sin diferencia ni prueba hasta que cada brazo tenga su muestra planeada " +
            `(${count(r.planned_per_arm)} por brazo).`,
        ),
      );
      return box;
    }
    const said = comparisons.map((c) => {
      const [low, high] = bounds(c.interval);
      return (
        `${text(c.arm)}: ${signed(c.difference)} puntos frente al control (IC ` +
        `${level(c.confidence)}% de Newcombe: ${signed(low)} a ${signed(high)} puntos)`
      );
    });
    headline.textContent = `${capital(text(r.verdict))} — ${said.join("; ")}`;
    box.title = TITLES.reached(text(r.alpha));
    box.append(headline);
    return box;
  }

  function runningWords(missing, arms) {
    const entries = Object.entries(missing && typeof missing === "object" ? missing : {});
    const counts = entries.map(([, n]) => Math.max(0, Math.floor(num(n))));
    const verb = counts.length === 1 && counts[0] === 1 ? "falta" : "faltan";
    if (entries.length === arms && new Set(counts).size === 1) {
      return `En curso: ${verb} ${count(counts[0])} por brazo`;
    }
    const each = entries.map(([arm, n]) => `${count(n)} en ${arm}`);
    const last = each.pop();
    const said = each.length ? `${each.join(", ")} y ${last}` : last;
    return `En curso: ${verb} ${said || "datos"}`;
  }

  function cell(row, content, title, testid) {
    const td = ctx.make("td");
    if (typeof content === "string") td.textContent = content;
    else td.append(...content);
    if (title) td.title = title;
    if (testid) td.setAttribute("data-testid", testid);
    row.append(td);
    return td;
  }

  function table(caption, heads, testid) {
    const t = ctx.make("table", "exp-table");
    t.setAttribute("data-testid", testid);
    t.append(ctx.make("caption", "", caption));
    const row = ctx.make("tr");
    for (const [label, title] of heads) {
      const th = ctx.make("th", "", label);
      th.scope = "col";
      if (title) th.title = title;
      row.append(th);
    }
    const head = ctx.make("thead");
    head.append(row);
    t.append(head, ctx.make("tbody"));
    return t;
  }

  function armsTable(r, arms, days, conf) {
    const planned = Math.max(1, Math.floor(num(r.planned_per_arm)));
    const label = text(r.metric_label);
    const top = Math.max(0.1, ...arms.map((a) => bounds(a.interval)[1]));
    const scale = Math.min(1, Math.ceil(top * 10) / 10);
    const t = table(
      "Brazos (el primero es el control). Barras: intervalo de Wilson en una escala de 0% a " +
        `${pct(scale)}; la marca es la tasa.`,
      [
        ["Brazo", ""],
        ["Expuestos", TITLES.exposed],
        ["Ventana cerrada", TITLES.closed(days)],
        ["Analizados / plan", TITLES.progress(days, count(planned))],
        ["Con éxito", TITLES.successes(label, days)],
        ["Tasa", TITLES.rate],
        [`IC ${conf}% (Wilson)`, TITLES.wilson(conf)],
      ],
      "exp-arms",
    );
    const body = t.tBodies[0];
    arms.forEach((a, index) => {
      const row = ctx.make("tr");
      row.setAttribute("data-testid", "exp-arm");
      row.dataset.arm = text(a.name);
      const name = [
        ctx.make("strong", "", text(a.name)),
        ctx.make("span", "exp-variant", text(a.variant)),
      ];
      if (index === 0) name.push(ctx.make("span", "badge badge--control", "control"));
      cell(row, name, `Variante ${text(a.variant)}; ${count(a.weight)}% de los deudores.`);
      cell(row, count(a.exposed), TITLES.exposed, "exp-arm-exposed");
      cell(row, count(a.window_closed), TITLES.closed(days));
      const analysed = Math.max(0, Math.floor(num(a.analysed)));
      const bar = ctx.make("progress", "exp-progress");
      bar.max = planned;
      bar.value = Math.min(analysed, planned);
      bar.setAttribute(
        "aria-label",
        `Avance de ${text(a.name)}: ${count(analysed)} de ${count(planned)}`,
      );
      cell(
        row,
        [bar, ctx.make("span", "exp-progress__text", `${count(analysed)} / ${count(planned)}`)],
        TITLES.progress(days, count(planned)),
        "exp-arm-progress",
      );
      cell(row, count(a.successes), TITLES.successes(label, days));
      cell(row, pct(a.rate), TITLES.rate, "exp-arm-rate");
      const [low, high] = bounds(a.interval);
      // No debtor analysed yet: no rate, so no interval either (not «0.0% – 100.0%»).
      const interval = Number.isFinite(a.rate)
        ? [
            ctx.make("span", "exp-ci__text", `${pct(low)} – ${pct(high)}`),
            intervalBar(low, high, a.rate, 0, scale),
          ]
        : "—";
      cell(row, interval, TITLES.wilson(conf), "exp-arm-interval");
      body.append(row);
    });
    return t;
  }

  function comparisonsTable(r, comparisons) {
    const conf = level(comparisons[0].confidence);
    const alpha = text(r.alpha);
    const reach = Math.max(0.1, ...comparisons.flatMap((c) => bounds(c.interval).map(Math.abs)));
    const scale = Math.min(1, Math.ceil(reach * 10) / 10);
    const t = table(
      `Cada variante contra el control. Barras: intervalo de Newcombe de ${signed(-scale)} a ` +
        `${signed(scale)} puntos; la línea es 0 y la marca, la diferencia.`,
      [
        ["Variante", ""],
        ["Diferencia", TITLES.difference],
        [`IC ${conf}% (Newcombe)`, TITLES.newcombe(conf)],
        ["p", TITLES.p],
        ["p ajustada (Holm)", TITLES.holm(alpha)],
        ["Resultado", TITLES.reached(alpha)],
      ],
      "exp-comparisons",
    );
    for (const c of comparisons) {
      const row = ctx.make("tr");
      row.setAttribute("data-testid", "exp-comparison");
      row.dataset.arm = text(c.arm);
      const [low, high] = bounds(c.interval);
      cell(row, text(c.arm));
      cell(row, `${signed(c.difference)} pts`, TITLES.difference, "exp-difference");
      cell(
        row,
        [
          ctx.make("span", "exp-ci__text", `${signed(low)} a ${signed(high)} pts`),
          intervalBar(low, high, c.difference, -scale, scale),
        ],
        TITLES.newcombe(conf),
        "exp-difference-interval",
      );
      cell(row, num(c.p_value).toFixed(4), TITLES.p, "exp-p");
      cell(row, num(c.adjusted_p_value).toFixed(4), TITLES.holm(alpha), "exp-p-holm");
      cell(row, RESULTS[c.outcome] || text(c.outcome), TITLES.reached(alpha));
      t.tBodies[0].append(row);
    }
    return t;
  }

  /** A range on a scale from `min` to `max`, with a mark at `point` (and 0 when in range). */
  function intervalBar(low, high, point, min, max) {
    const share = (x) => ((Math.min(max, Math.max(min, x)) - min) / (max - min)) * 100;
    const at = (x) => `${share(x).toFixed(2)}%`;
    const bar = ctx.make("span", "exp-ci");
    bar.setAttribute("aria-hidden", "true");
    const range = ctx.make("span", "exp-ci__range");
    range.style.left = at(low);
    range.style.width = `${Math.max(0, share(high) - share(low)).toFixed(2)}%`;
    bar.append(range);
    if (min < 0) {
      const zero = ctx.make("span", "exp-ci__zero");
      zero.style.left = at(0);
      bar.append(zero);
    }
    if (Number.isFinite(point)) {
      const mark = ctx.make("span", "exp-ci__point");
      mark.style.left = at(point);
      bar.append(mark);
    }
    return bar;
  }

  function footnote(r) {
    const note = ctx.make(
      "p",
      "hint",
      "Solo cuentan los deudores cuya ventana ya cerró: uno expuesto ayer todavía no es un «no».",
    );
    if (r.outcome !== "running" && r.cutoff) {
      note.append(
        " Analizados los expuestos hasta el ",
        moment(r.cutoff),
        ", cuando el último brazo llegó a su plan; los posteriores no cambian el veredicto.",
      );
    }
    return note;
  }
})();
