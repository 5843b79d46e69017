/* Consola de asesores: the hand-off queue and the conversation with the debtor.
 *
 * Plain ES2020, no dependencies, no inline code (the page's CSP allows only 'self').
 * Everything that comes from the server or from a debtor is put on the page with textContent
 * or as an attribute value, never parsed as HTML.
 *
 * Every POST carries the header X-Consola: 1 (the server refuses state changes without it, so a
 * page on another site cannot forge them). Background polls carry X-Consola-Poll: 1: they do
 * not count as activity, so an unattended console still ends at the idle timeout. Ticket ids
 * and anything else put in a URL go through encodeURIComponent.
 *
 * A supervisor (the role comes from the session: /api/me, the login) also gets the "Supervisión"
 * view: every agent's claimed tickets and the unclaimed queue, reassign and release buttons, and
 * an agent's activity. Agents' pages never hold it; the server refuses its calls to them anyway.
 * Other supervisors' views live in their own files (experiments.js, dashboard.js), mounted,
 * shown and hidden by views.js (loaded first: its button runner serves this file too), which
 * follows three events on `document`: "consola:supervisor" (a supervisor's page is set up:
 * `detail` carries this file's api, report, clearError, make, setText, fromTemplate and
 * showNotice),
 * "consola:view" (`detail.view` is the view to show, `detail.focus` whether to move the focus
 * to it) and "consola:reset" (logout, or another login: drop everything).
 *
 * The queue and the open ticket are polled every 2 s. Parts of the page that the agent may be
 * using (the reply box, the forms, the focused ticket) are kept in place between polls and only
 * rebuilt when what they show changes. */
"use strict";

(() => {
  const POLL_MS = 2000;
  const TITLE = "Consola de asesores";
  const EXPIRED = "Tu sesión expiró, vuelve a entrar";
  const OFFLINE = "No se pudo conectar con el servidor. Se reintentará en unos segundos.";

  const REASONS = {
    solicitud_agente: "Pidió un asesor",
    disputa: "Aclaración",
    dificultad: "Dificultad económica",
    no_entendido: "No se le entendió",
    insultos: "Insultos",
    identidad_bloqueada: "Identidad bloqueada",
    descuento_fuera_de_politica: "Descuento fuera de política",
  };
  const CHANNELS = { whatsapp: "WhatsApp", webchat: "Chat web", rest: "API" };
  const SPEAKERS = { deudor: "Deudor", asistente: "Asistente", asesor: "Asesor" };
  /* The queue's score (GET /api/tickets: `score`, null unless the conversation is verified and
   * the debtor scored). For agents only: the debtor never sees it (docs/scoring.md). Its
   * `horizon_days` is its model's (from the model's card), null when the card is not found. */
  const scoreTitle = (days) =>
    "Probabilidad estimada de pago " +
    (Number.isInteger(days) && days > 0 ? `en ${days} días` : "en el horizonte del modelo") +
    "; recuperación esperada = probabilidad × saldo. Banda A: la más probable; E: la menos " +
    "probable.";
  const NO_SCORE = "sin puntaje";
  const NO_SCORE_TITLE =
    "Sin puntaje: la conversación no está verificada o el deudor aún no está calificado. " +
    scoreTitle(null);
  const BANDS = new Set(["A", "B", "C", "D", "E"]);

  const $ = (id) => document.getElementById(id);
  const el = {
    boot: $("boot"),
    loginView: $("login-view"),
    loginForm: $("login-form"),
    username: $("login-username"),
    password: $("login-password"),
    loginError: $("login-error"),
    loginSubmit: $("login-submit"),
    consoleView: $("console-view"),
    agentName: $("agent-name"),
    logout: $("logout"),
    error: $("error"),
    notice: $("notice"),
    queueTitle: $("queue-title"),
    queueCount: $("queue-count"),
    queueEmpty: $("queue-empty"),
    queue: $("queue"),
    placeholder: $("detail-placeholder"),
    detail: $("detail"),
    detailTitle: $("detail-title"),
    detailMeta: $("detail-meta"),
    claimSlot: $("claim-slot"),
    windowNote: $("window-note"),
    conversationNote: $("conversation-note"),
    transcript: $("transcript"),
    replySlot: $("reply-slot"),
    debtorBody: $("debtor-body"),
    actionsSlot: $("actions-slot"),
    navSlot: $("nav-slot"),
    queueView: $("queue-view"),
    supervisionSlot: $("supervision-slot"),
  };

  const state = {
    me: null, // {username, display_name, role}
    epoch: 0, // bumped on every login and logout: answers to older requests are dropped
    pollTimer: 0,
    queueSeq: 0,
    queueApplied: 0,
    queueRendered: false,
    selectedId: null,
    detail: null, // the last GET /api/tickets/{id} answer for selectedId
    detailSeq: 0,
    detailApplied: 0,
    view: null, // what the detail pane currently shows, to update it in place
    errorSource: null,
    noticeTimer: 0,
    sup: null, // the supervision view, while a supervisor is logged in
  };

  /* ---------- API ---------- */

  class ApiError extends Error {
    constructor(message, status, data) {
      super(message);
      this.status = status;
      this.data = data || {};
    }
  }
  /** The session expired; the login form is already showing. */
  class SessionExpired extends Error {}
  /** The answer belongs to a session that is gone (logged out or in again meanwhile). */
  class Stale extends Error {}

  function errorText(data, status) {
    let text =
      typeof data.error === "string" && data.error.trim()
        ? data.error.trim()
        : status >= 500
          ? `Error del servidor (${status}). Intenta de nuevo.`
          : `No se pudo completar la operación (${status}).`;
    const decision = data.decision && typeof data.decision === "object" ? data.decision : null;
    if (decision && typeof decision.reason === "string" && decision.reason.trim()) {
      const reason = decision.reason.trim();
      if (!text.includes(reason)) text += ` Motivo: ${reason}`;
      if (typeof decision.rule === "string" && decision.rule.trim()) {
        text += ` (regla: ${decision.rule.trim()})`;
      }
    }
    return text;
  }

  /** A JSON call; with `file`, a download: `{blob, name}` (the name from Content-Disposition),
   * errors still read as JSON. */
  async function api(method, path, body, { poll = false, file = false } = {}) {
    const epoch = state.epoch;
    const init = {
      method,
      credentials: "same-origin",
      cache: "no-store",
      headers: { Accept: "application/json" },
    };
    if (poll) init.headers["X-Consola-Poll"] = "1";
    if (method !== "GET") {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-Consola"] = "1";
      init.body = JSON.stringify(body === undefined ? {} : body);
    }
    let res;
    try {
      res = await fetch(path, init);
    } catch (_) {
      if (epoch !== state.epoch) throw new Stale();
      throw new ApiError(OFFLINE, 0, {});
    }
    if (file && res.ok && epoch === state.epoch) {
      const named = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
      return { blob: await res.blob(), name: named ? named[1] : "" };
    }
    let data = {};
    try {
      data = await res.json();
    } catch (_) {
      data = {};
    }
    if (data === null || typeof data !== "object") data = {};
    if (epoch !== state.epoch) throw new Stale();
    if (res.status === 401 && state.me) {
      sessionExpired();
      throw new SessionExpired();
    }
    if (!res.ok) throw new ApiError(errorText(data, res.status), res.status, data);
    return data;
  }

  const ticketPath = (id, action) =>
    `/api/tickets/${encodeURIComponent(String(id))}${action ? `/${action}` : ""}`;

  /* ---------- Messages to the agent ---------- */

  function showError(message, source = "action") {
    el.error.textContent = message;
    state.errorSource = source;
  }

  /** Clears the error; with a source, only an error that came from there. */
  function clearError(source) {
    if (source && state.errorSource !== source) return;
    el.error.textContent = "";
    state.errorSource = null;
  }

  function report(err, source = "action") {
    if (err instanceof SessionExpired || err instanceof Stale) return;
    showError(err && err.message ? err.message : String(err), source);
  }

  function showNotice(message) {
    clearTimeout(state.noticeTimer);
    el.notice.textContent = message;
    state.noticeTimer = setTimeout(() => {
      el.notice.textContent = "";
    }, 8000);
  }

  /* ---------- Formatting ---------- */

  const timeFmt = new Intl.DateTimeFormat("es-MX", { hour: "2-digit", minute: "2-digit", hour12: false });
  const dayFmt = new Intl.DateTimeFormat("es-MX", { day: "numeric", month: "short" });

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const today = d.toDateString() === new Date().toDateString();
    return today ? timeFmt.format(d) : `${dayFmt.format(d)} ${timeFmt.format(d)}`;
  }

  const reasonLabel = (code) => REASONS[code] || String(code ?? "");
  const channelLabel = (code) => CHANNELS[code] || String(code ?? "");

  function waitingMinutes(t) {
    if (Number.isFinite(t.waiting_minutes)) return Math.max(0, Math.floor(t.waiting_minutes));
    const created = new Date(t.created_at).getTime();
    return Number.isNaN(created) ? 0 : Math.max(0, Math.floor((Date.now() - created) / 60000));
  }

  function phoneTail(phone) {
    const digits = String(phone || "").replace(/\D/g, "");
    return digits.length >= 4 ? `tel. …${digits.slice(-4)}` : "";
  }

  function isMine(t) {
    if (!state.me || !t || t.status !== "claimed" || !t.claimed_by) return false;
    return t.claimed_by === state.me.username || t.claimed_by === state.me.display_name;
  }

  function setText(node, text) {
    if (node.textContent !== text) node.textContent = text;
  }

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function fromTemplate(id) {
    return document.getElementById(id).content.cloneNode(true);
  }

  /** Changes a live region without having screen readers read out everything it now holds. */
  function quietly(region, change) {
    region.setAttribute("aria-live", "off");
    change();
    setTimeout(() => region.setAttribute("aria-live", "polite"), 400);
  }

  function todayIso() {
    return isoDaysAgo(0);
  }

  /** The local date `days` days before today, yyyy-mm-dd. */
  function isoDaysAgo(days) {
    const d = new Date();
    d.setDate(d.getDate() - days);
    const pad = (n) => String(n).padStart(2, "0");
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
  }

  /** "1500", "1,500.5", "$ 1500.00" → "1500.00"; anything else → null. */
  function normalizeAmount(raw) {
    let s = String(raw).trim().replace(/^\$\s*/, "").replace(/\s*(mxn|pesos)$/i, "").trim();
    if (/^\d{1,3}(,\d{3})+(\.\d{1,2})?$/.test(s)) s = s.replace(/,/g, "");
    if (!/^\d+(\.\d{1,2})?$/.test(s)) return null;
    const [whole, cents = ""] = s.split(".");
    const amount = `${whole.replace(/^0+(?=\d)/, "")}.${cents.padEnd(2, "0")}`;
    return /^0\.00$/.test(amount) ? null : amount;
  }

  /** The date input's value (yyyy-mm-dd); also dd/mm/aaaa where date inputs are plain text. */
  function normalizeDate(raw) {
    const s = String(raw).trim();
    if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return s;
    const m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(s);
    return m ? `${m[3]}-${m[2].padStart(2, "0")}-${m[1].padStart(2, "0")}` : null;
  }

  /* ---------- Views: login and console ---------- */

  function showLogin(message) {
    stopPolling();
    state.epoch += 1;
    state.me = null;
    resetConsole();
    el.boot.hidden = true;
    el.consoleView.hidden = true;
    el.loginView.hidden = false;
    el.loginError.textContent = message || "";
    el.password.value = "";
    el.loginSubmit.disabled = false;
    document.title = TITLE;
    (el.username.value ? el.password : el.username).focus();
  }

  function sessionExpired() {
    showLogin(EXPIRED);
  }

  function showConsole(agent) {
    stopPolling();
    state.epoch += 1;
    state.me = {
      username: String(agent.username ?? ""),
      display_name: String(agent.display_name || agent.username || ""),
      role: String(agent.role ?? ""),
    };
    resetConsole();
    mountSupervision();
    el.agentName.textContent = state.me.display_name;
    el.loginError.textContent = "";
    el.password.value = "";
    el.boot.hidden = true;
    el.loginView.hidden = true;
    el.consoleView.hidden = false;
    el.queueTitle.focus();
    startPolling();
  }

  function resetConsole() {
    clearTimeout(state.noticeTimer);
    el.error.textContent = "";
    el.notice.textContent = "";
    state.errorSource = null;
    state.queueRendered = false;
    el.queue.replaceChildren();
    el.queueCount.textContent = "";
    el.queueEmpty.hidden = true;
    deselect();
    unmountSupervision();
  }

  /* ---------- Polling ---------- */

  function startPolling() {
    const epoch = state.epoch;
    const loop = async () => {
      if (epoch !== state.epoch) return;
      await tick();
      if (epoch !== state.epoch) return;
      state.pollTimer = setTimeout(loop, POLL_MS);
    };
    loop();
  }

  function stopPolling() {
    clearTimeout(state.pollTimer);
    state.pollTimer = 0;
  }

  async function tick() {
    const results = await Promise.allSettled([
      refreshQueue(true),
      refreshDetail(true),
      refreshSupervision(true),
    ]);
    const failure = results.find(
      (r) => r.status === "rejected" && !(r.reason instanceof SessionExpired) && !(r.reason instanceof Stale),
    );
    if (failure) report(failure.reason, "poll");
    else clearError("poll");
  }

  /* ---------- Queue ---------- */

  async function refreshQueue(poll = false) {
    const seq = ++state.queueSeq;
    const data = await api("GET", "/api/tickets", undefined, { poll });
    if (seq < state.queueApplied) return;
    state.queueApplied = seq;
    renderQueue(Array.isArray(data.tickets) ? data.tickets : []);
  }

  const itemParts = new WeakMap();

  function createTicketItem(id) {
    const li = make("li", "ticket");
    li.setAttribute("data-testid", "ticket");
    li.dataset.ticketId = String(id);
    const button = make("button", "ticket__btn");
    button.type = "button";
    const top = make("span", "ticket__top");
    const num = make("span", "ticket__id");
    const reason = make("span", "ticket__reason");
    top.append(num, reason);
    const meta = make("span", "ticket__meta");
    const channel = make("span", "ticket__channel");
    const priority = make("span", "ticket__priority");
    const phone = make("span", "ticket__phone");
    const score = make("span", "ticket__score");
    score.setAttribute("data-testid", "ticket-score");
    meta.append(channel, priority, phone, score);
    const bottom = make("span", "ticket__bottom");
    const wait = make("span", "ticket__wait");
    const claim = make("span", "ticket__claim");
    bottom.append(wait, claim);
    button.append(top, meta, bottom);
    li.append(button);
    button.addEventListener("click", () => selectTicket(li.dataset.ticketId));
    itemParts.set(li, { button, num, reason, channel, priority, phone, score, wait, claim });
    return li;
  }

  function updateTicketItem(li, t) {
    const p = itemParts.get(li);
    const status = String(t.status ?? "");
    if (li.dataset.status !== status) li.dataset.status = status;
    setText(p.num, `#${t.id}`);
    setText(p.reason, reasonLabel(t.reason));
    setText(p.channel, channelLabel(t.channel));
    setText(p.priority, `prioridad ${t.priority ?? "—"}`);
    const prio = Number(t.priority);
    p.priority.dataset.level = prio >= 60 ? "high" : prio >= 30 ? "mid" : "low";
    setText(p.phone, phoneTail(t.debtor_phone));
    showScore(p.score, t.score);
    setText(p.wait, `esperando ${waitingMinutes(t)} min`);
    let claim = "";
    if (status === "claimed") {
      claim = `tomado por ${t.claimed_by ?? "otro asesor"}${isMine(t) ? " (tú)" : ""}`;
    }
    setText(p.claim, claim);
    li.classList.toggle("ticket--mine", isMine(t));
    markSelected(li);
  }

  /** "Banda B · $5,070.00 esperados" (the amount as the server formats it, es-MX), or
   * "sin puntaje" for a ticket without a score or with one this page does not understand. */
  function showScore(node, score) {
    const s = score && typeof score === "object" ? score : null;
    const band = s && BANDS.has(s.band) ? s.band : "";
    const amount = s && typeof s.expected_recovery_text === "string" ? s.expected_recovery_text : "";
    const scored = Boolean(band && amount);
    setText(node, scored ? `Banda ${band} · ${amount} esperados` : NO_SCORE);
    const title = scored ? scoreTitle(s.horizon_days) : NO_SCORE_TITLE;
    if (node.title !== title) node.title = title;
    node.dataset.band = scored ? band : "";
  }

  function markSelected(li) {
    const selected = state.selectedId !== null && li.dataset.ticketId === state.selectedId;
    li.classList.toggle("is-selected", selected);
    const button = itemParts.get(li).button;
    if (selected) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }

  function renderQueue(tickets) {
    const apply = () => {
      const existing = new Map();
      for (const li of el.queue.children) existing.set(li.dataset.ticketId, li);
      let previous = null;
      for (const t of tickets) {
        const key = String(t.id);
        let li = existing.get(key);
        if (li) {
          existing.delete(key);
        } else {
          li = createTicketItem(key);
          if (state.queueRendered) li.classList.add("ticket--new");
        }
        updateTicketItem(li, t);
        const wanted = previous ? previous.nextSibling : el.queue.firstChild;
        if (li !== wanted) el.queue.insertBefore(li, wanted);
        previous = li;
      }
      for (const li of existing.values()) {
        if (li.contains(document.activeElement)) el.queueTitle.focus();
        li.remove();
      }
    };
    if (state.queueRendered) apply();
    else quietly(el.queue, apply);
    state.queueRendered = true;

    const waiting = tickets.filter((t) => t.status === "open").length;
    el.queueEmpty.hidden = tickets.length > 0;
    setText(
      el.queueCount,
      tickets.length ? `${tickets.length} en cola · ${waiting} sin tomar` : "",
    );
    const title = waiting ? `(${waiting}) ${TITLE}` : TITLE;
    if (document.title !== title) document.title = title;
  }

  function queueButtons() {
    return Array.from(el.queue.querySelectorAll(".ticket__btn"));
  }

  el.queue.addEventListener("keydown", (event) => {
    const buttons = queueButtons();
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    let next = null;
    if (event.key === "ArrowDown") next = buttons[Math.min(index + 1, buttons.length - 1)];
    else if (event.key === "ArrowUp") next = buttons[Math.max(index - 1, 0)];
    else if (event.key === "Home") next = buttons[0];
    else if (event.key === "End") next = buttons[buttons.length - 1];
    if (!next) return;
    event.preventDefault();
    next.focus();
  });

  el.queue.addEventListener("animationend", (event) => {
    if (event.target.classList) event.target.classList.remove("ticket--new");
  });

  /* ---------- Detail ---------- */

  function freshView() {
    return {
      title: null,
      claimKey: null,
      debtorKey: null,
      messages: [], // keys of the messages on the page, in order
      transcriptFresh: true,
      work: null, // the reply box and the forms, while the ticket is mine
      workKey: "",
      cannedKey: null,
      cannedTexts: [],
      outcomesKey: null,
      offersKey: null,
    };
  }

  function selectTicket(id) {
    id = String(id);
    if (state.selectedId === id) return;
    state.selectedId = id;
    state.detail = null;
    state.detailApplied = ++state.detailSeq; // answers for the previous ticket are dropped
    state.view = freshView();
    clearError();
    for (const li of el.queue.children) markSelected(li);

    el.placeholder.hidden = true;
    el.detail.hidden = false;
    el.detail.dataset.selectedTicket = id;
    el.detailTitle.textContent = `Ticket #${id}`;
    el.detailMeta.textContent = "Cargando…";
    el.claimSlot.replaceChildren();
    el.windowNote.textContent = "";
    el.windowNote.hidden = true;
    el.conversationNote.textContent = "";
    el.conversationNote.hidden = true;
    el.transcript.replaceChildren();
    el.replySlot.replaceChildren();
    el.actionsSlot.replaceChildren();
    el.debtorBody.replaceChildren();
    if (window.matchMedia("(max-width: 60rem)").matches) {
      el.detail.scrollIntoView({ block: "start" });
    }
    refreshDetail().catch((err) => report(err));
  }

  function deselect() {
    state.selectedId = null;
    state.detail = null;
    state.detailApplied = ++state.detailSeq;
    state.view = freshView();
    el.detail.hidden = true;
    delete el.detail.dataset.selectedTicket;
    el.placeholder.hidden = false;
    el.claimSlot.replaceChildren();
    el.transcript.replaceChildren();
    el.replySlot.replaceChildren();
    el.actionsSlot.replaceChildren();
    el.debtorBody.replaceChildren();
    for (const li of el.queue.children) markSelected(li);
  }

  async function refreshDetail(poll = false) {
    const id = state.selectedId;
    if (id === null) return;
    const seq = ++state.detailSeq;
    let data;
    try {
      data = await api("GET", ticketPath(id), undefined, { poll });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404 && state.selectedId === id) {
        deselect();
        showNotice(`El ticket #${id} ya no está disponible.`);
        return;
      }
      throw err;
    }
    if (state.selectedId !== id || seq < state.detailApplied) return;
    state.detailApplied = seq;
    renderDetail(data);
  }

  function renderDetail(data) {
    const t = data.ticket && typeof data.ticket === "object" ? data.ticket : {};
    const verified = isVerified(data);
    if (!Object.prototype.hasOwnProperty.call(data, "debtor")) {
      // A background poll: the debtor's file is not sent again. Keep the one on the page while
      // the conversation stays verified; fetch it (once) when the verification changes.
      const prev = state.detail;
      const same = prev && prev.ticket && String(prev.ticket.id) === String(t.id);
      const changed = !same || isVerified(prev) !== verified;
      const keep = same && verified && !changed;
      data = { ...data, debtor: keep ? prev.debtor : null, offers: keep ? prev.offers : [] };
      if (changed && verified) setTimeout(() => refreshDetail().catch((err) => report(err)), 0);
    }
    state.detail = data;

    setText(el.detailTitle, `Ticket #${t.id ?? state.selectedId} · ${reasonLabel(t.reason)}`);
    const meta = [
      channelLabel(t.channel),
      `prioridad ${t.priority ?? "—"}`,
      t.status === "open" || t.status === "claimed" ? `esperando ${waitingMinutes(t)} min` : "",
    ].filter(Boolean);
    setText(el.detailMeta, meta.join(" · "));
    el.detail.dataset.status = String(t.status ?? "");

    renderClaim(t);
    renderWindow(data.window);
    renderConversation(data.conversation);
    renderTranscript(Array.isArray(data.transcript) ? data.transcript : []);
    renderDebtor(verified ? data.debtor : null, t, data.identity);
    renderWork(t, data);
  }

  function renderClaim(t) {
    const v = state.view;
    const mine = isMine(t);
    const key = `${t.status}\u0000${t.claimed_by ?? ""}\u0000${mine}`;
    if (key === v.claimKey) return;
    v.claimKey = key;
    const hadFocus = el.claimSlot.contains(document.activeElement);
    el.claimSlot.replaceChildren();
    if (t.status === "open") {
      el.claimSlot.append(fromTemplate("tpl-claim"));
      const button = el.claimSlot.querySelector("[data-testid='claim']");
      button.addEventListener("click", () => claim(String(t.id), button));
      if (hadFocus) button.focus();
      return;
    }
    el.claimSlot.append(fromTemplate("tpl-claimed-by"));
    const note = el.claimSlot.querySelector("[data-testid='claimed-by']");
    if (t.status === "claimed") {
      note.textContent = mine ? "Tomado por ti" : `Tomado por ${t.claimed_by ?? "otro asesor"}`;
      note.dataset.mine = String(mine);
    } else {
      note.textContent = "Este ticket ya no está en la cola.";
    }
    if (hadFocus) el.detailTitle.focus();
  }

  function renderWindow(w) {
    if (!w || typeof w !== "object") {
      el.windowNote.hidden = true;
      setText(el.windowNote, "");
      return;
    }
    let text;
    if (typeof w.note === "string" && w.note.trim()) text = w.note.trim();
    else if (w.open) text = w.closes_at ? `Ventana de 24 h abierta hasta ${fmtTime(w.closes_at)}` : "Ventana de 24 h abierta";
    else text = "Ventana cerrada: solo se puede enviar una plantilla aprobada";
    setText(el.windowNote, text);
    el.windowNote.dataset.open = String(Boolean(w.open));
    el.windowNote.hidden = false;
  }

  /** A conversation the console cannot reach through the assistant (its id would change in a
   * URL): say so where the transcript would be. */
  function renderConversation(c) {
    const note = c && typeof c === "object" && c.addressable === false ? String(c.note || "") : "";
    setText(el.conversationNote, note);
    el.conversationNote.hidden = !note;
  }

  const messageKey = (m) => `${m.from}\u0000${m.at}\u0000${m.text}`;

  function makeMessage(m) {
    const from = String(m.from ?? "");
    const li = make("li", `msg msg--${Object.prototype.hasOwnProperty.call(SPEAKERS, from) ? from : "otro"}`);
    li.setAttribute("data-testid", "msg");
    li.dataset.from = from;
    const meta = make("p", "msg__meta");
    meta.append(make("span", "msg__who", SPEAKERS[from] || from || "—"));
    if (m.at) {
      const time = make("time", "msg__time", fmtTime(m.at));
      time.dateTime = String(m.at);
      meta.append(time);
    }
    li.append(meta, make("p", "msg__text", String(m.text ?? "")));
    return li;
  }

  function isAtBottom(node) {
    return node.scrollHeight - node.scrollTop - node.clientHeight < 40;
  }

  function renderTranscript(list) {
    const v = state.view;
    const keys = list.map(messageKey);
    const log = el.transcript;
    const continues = v.messages.length <= keys.length && v.messages.every((k, i) => k === keys[i]);

    if (v.transcriptFresh || !continues) {
      // A ticket just opened (or its history changed): fill the log without reading it all out.
      v.transcriptFresh = false;
      v.messages = keys;
      quietly(log, () => {
        log.replaceChildren(...list.map(makeMessage));
        if (!list.length) log.append(make("li", "transcript__empty", "Todavía no hay mensajes."));
      });
      log.scrollTop = log.scrollHeight;
      return;
    }
    if (keys.length === v.messages.length) return;
    const stick = isAtBottom(log);
    const empty = log.querySelector(".transcript__empty");
    if (empty) empty.remove();
    log.append(...list.slice(v.messages.length).map(makeMessage));
    v.messages = keys;
    if (stick) log.scrollTop = log.scrollHeight;
  }

  function isVerified(data) {
    return Boolean(data && data.identity && typeof data.identity === "object" && data.identity.verified === true);
  }

  /** The debtor's file only for a verified conversation; otherwise the number as claimed,
   * marked "número no verificado", and nothing else of the file. */
  function renderDebtor(d, t, identity) {
    const v = state.view;
    const ctx = t.context && typeof t.context === "object" ? t.context : {};
    const id = identity && typeof identity === "object" ? identity : {};
    const verified = id.verified === true;
    const debtor = verified && d && typeof d === "object" ? d : null;
    const key = JSON.stringify([debtor, id, t.debtor_phone ?? null, t.sender_id ?? null, ctx]);
    if (key === v.debtorKey) return;
    v.debtorKey = key;

    const body = el.debtorBody;
    body.replaceChildren();
    const badge = make("p", "identity", verified ? "Número verificado" : "Número no verificado");
    badge.setAttribute("data-testid", "identity");
    badge.dataset.verified = String(verified);
    body.append(badge);
    const facts = make("dl", "facts");
    const add = (label, value) => {
      if (value === null || value === undefined || value === "") return;
      const row = make("div", "facts__row");
      row.append(make("dt", "", label), make("dd", "", String(value)));
      facts.append(row);
    };
    if (debtor) {
      add("Nombre", debtor.name);
      add("Teléfono", t.debtor_phone);
      add("Perfil", debtor.persona);
      add("Saldo", debtor.balance_text);
      add("Días de atraso", debtor.days_past_due);
    } else {
      body.append(
        make(
          "p",
          "muted",
          "Sin saldo, perfil ni promesas hasta que la persona confirme la fecha de nacimiento " +
            "del titular en esta conversación.",
        ),
      );
      add("Teléfono", id.phone);
      if (!id.phone) add("Conversación", t.sender_id);
    }
    add("Motivo", ctx.reason_text);
    body.append(facts);

    if (debtor) {
      const promises = Array.isArray(debtor.promises) ? debtor.promises : [];
      body.append(make("h4", "card__subtitle", "Promesas"));
      if (!promises.length) {
        body.append(make("p", "muted", "Sin promesas registradas."));
      } else {
        const ul = make("ul", "promises");
        ul.setAttribute("data-testid", "promises");
        for (const p of promises) {
          const li = make("li", "promise");
          li.append(
            make("span", "promise__folio", `Folio ${p.folio ?? "—"}`),
            make("span", "promise__amount", String(p.amount_text ?? "")),
            make("span", "promise__date", p.due_date ? `vence ${p.due_date}` : ""),
            make("span", "promise__status", String(p.status ?? "")),
          );
          ul.append(li);
        }
        body.append(ul);
      }
    }
  }

  /* The reply box and the forms exist only while the ticket is claimed by me. */
  function renderWork(t, data) {
    const v = state.view;
    const key = isMine(t) ? String(t.id) : "";
    if (key !== v.workKey) {
      const hadFocus =
        el.replySlot.contains(document.activeElement) || el.actionsSlot.contains(document.activeElement);
      v.workKey = key;
      v.work = null;
      v.cannedKey = null;
      v.outcomesKey = null;
      v.offersKey = null;
      el.replySlot.replaceChildren();
      el.actionsSlot.replaceChildren();
      if (key) v.work = buildWork(key);
      else if (hadFocus) el.detailTitle.focus();
    }
    if (!v.work) return;
    fillCanned(Array.isArray(data.canned) ? data.canned : []);
    fillOutcomes(Array.isArray(data.outcomes) ? data.outcomes : []);
    fillOffers(Array.isArray(data.offers) ? data.offers : []);
  }

  function fillOffers(offers) {
    const v = state.view;
    const key = JSON.stringify(offers);
    if (key === v.offersKey) return;
    v.offersKey = key;
    const select = v.work.offer;
    const previous = select.value;
    const options = [new Option(offers.length ? "Elige una oferta…" : "Sin ofertas disponibles", "")];
    for (const o of offers) {
      if (!o || o.code === undefined) continue;
      options.push(new Option(String(o.label ?? o.code), String(o.code)));
    }
    select.replaceChildren(...options);
    select.value = offers.some((o) => o && String(o.code) === previous) ? previous : "";
    select.disabled = offers.length === 0;
  }

  function buildWork(id) {
    el.replySlot.append(fromTemplate("tpl-reply"));
    el.actionsSlot.append(fromTemplate("tpl-actions"));
    const q = (root, testid) => root.querySelector(`[data-testid='${testid}']`);
    const w = {
      id,
      replyForm: q(el.replySlot, "reply-form"),
      canned: q(el.replySlot, "canned"),
      text: q(el.replySlot, "reply-text"),
      send: q(el.replySlot, "reply-send"),
      promiseForm: q(el.actionsSlot, "promise-form"),
      amount: q(el.actionsSlot, "promise-amount"),
      date: q(el.actionsSlot, "promise-date"),
      promiseSubmit: q(el.actionsSlot, "promise-submit"),
      promiseResult: q(el.actionsSlot, "promise-result"),
      agreementForm: q(el.actionsSlot, "agreement-form"),
      offer: q(el.actionsSlot, "agreement-offer"),
      agreementSubmit: q(el.actionsSlot, "agreement-submit"),
      agreementResult: q(el.actionsSlot, "agreement-result"),
      closeForm: q(el.actionsSlot, "close-form"),
      outcome: q(el.actionsSlot, "outcome"),
      close: q(el.actionsSlot, "close"),
      resume: q(el.actionsSlot, "resume"),
    };
    w.date.min = todayIso();

    w.canned.addEventListener("change", () => {
      const text = state.view.cannedTexts[Number(w.canned.value)];
      if (w.canned.value === "" || text === undefined) return;
      w.text.value = text;
      w.text.focus();
      w.text.setSelectionRange(text.length, text.length);
    });
    w.text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        w.replyForm.requestSubmit();
      }
    });
    w.replyForm.addEventListener("submit", (event) => {
      event.preventDefault();
      sendReply(w);
    });
    w.promiseForm.addEventListener("submit", (event) => {
      event.preventDefault();
      registerPromise(w);
    });
    w.agreementForm.addEventListener("submit", (event) => {
      event.preventDefault();
      registerAgreement(w);
    });
    w.closeForm.addEventListener("submit", (event) => {
      event.preventDefault();
      closeTicket(w);
    });
    w.resume.addEventListener("click", () => resumeTicket(w));
    return w;
  }

  function fillCanned(canned) {
    const v = state.view;
    const key = JSON.stringify(canned);
    if (key === v.cannedKey) return;
    v.cannedKey = key;
    const select = v.work.canned;
    const previous = select.value;
    v.cannedTexts = canned.map((c) => String((c && c.text) ?? ""));
    const options = [new Option("Elige un mensaje…", "")];
    canned.forEach((c, i) => {
      const text = v.cannedTexts[i];
      const title = c && c.title ? String(c.title) : text.length > 48 ? `${text.slice(0, 47)}…` : text;
      options.push(new Option(title, String(i)));
    });
    select.replaceChildren(...options);
    select.value = previous && Number(previous) < canned.length ? previous : "";
    select.disabled = canned.length === 0;
  }

  function fillOutcomes(outcomes) {
    const v = state.view;
    const key = JSON.stringify(outcomes);
    if (key === v.outcomesKey) return;
    v.outcomesKey = key;
    const select = v.work.outcome;
    const previous = select.value;
    const options = [new Option("Elige un resultado…", "")];
    for (const o of outcomes) {
      if (!o || o.code === undefined) continue;
      options.push(new Option(String(o.label ?? o.code), String(o.code)));
    }
    select.replaceChildren(...options);
    select.value = outcomes.some((o) => o && String(o.code) === previous) ? previous : "";
  }

  /* ---------- Actions ---------- */

  /** Runs an action with its button disabled; errors go to the error area (views.js). */
  function withButton(button, action) {
    return Consola.withButton(button, action, clearError, report);
  }

  /** Polls now instead of waiting for the next round (errors there are the poll's business). */
  function refreshSoon() {
    refreshQueue().catch(() => {});
    refreshDetail().catch(() => {});
  }

  function claim(id, button) {
    return withButton(button, async () => {
      try {
        const data = await api("POST", ticketPath(id, "claim"));
        if (state.selectedId === id && state.detail && data.ticket && typeof data.ticket === "object") {
          renderDetail({ ...state.detail, ticket: data.ticket });
        }
        showNotice(`Tomaste el ticket #${id}.`);
        const work = state.view.work;
        if (work) work.text.focus();
      } finally {
        refreshSoon();
      }
    });
  }

  function sendReply(w) {
    return withButton(w.send, async () => {
      const text = w.text.value.trim();
      if (!text) {
        showError("Escribe una respuesta antes de enviar.");
        w.text.focus();
        return;
      }
      try {
        await api("POST", ticketPath(w.id, "reply"), { text });
        if (w.text.value.trim() === text) w.text.value = "";
        w.canned.value = "";
        showNotice("Mensaje enviado.");
      } catch (err) {
        w.text.focus();
        throw err;
      } finally {
        refreshSoon();
      }
    });
  }

  function registerAgreement(w) {
    return withButton(w.agreementSubmit, async () => {
      w.agreementResult.replaceChildren();
      if (!w.offer.value) {
        showError("Elige la oferta del convenio.");
        w.offer.focus();
        return;
      }
      const data = await api("POST", ticketPath(w.id, "agreement"), { offer: w.offer.value });
      const result = [];
      if (data.folio) result.push(make("strong", "result__folio", `Folio ${data.folio}`));
      if (data.text) result.push(make("span", "result__text", String(data.text)));
      w.agreementResult.replaceChildren(...result);
      refreshSoon();
    });
  }

  function registerPromise(w) {
    return withButton(w.promiseSubmit, async () => {
      w.promiseResult.replaceChildren();
      const amount = normalizeAmount(w.amount.value);
      if (!amount) {
        showError("Escribe un monto válido en pesos, por ejemplo 1500.00.");
        w.amount.focus();
        return;
      }
      const date = normalizeDate(w.date.value);
      if (!date) {
        showError("Elige la fecha de la promesa.");
        w.date.focus();
        return;
      }
      const data = await api("POST", ticketPath(w.id, "promise"), { amount, date });
      const result = [];
      if (data.folio !== undefined && data.folio !== null && data.folio !== "") {
        result.push(make("strong", "result__folio", `Folio ${data.folio}`));
      }
      if (data.text) result.push(make("span", "result__text", String(data.text)));
      if (!result.length) result.push(make("span", "result__text", "Promesa registrada."));
      w.promiseResult.replaceChildren(...result);
      w.amount.value = "";
      w.date.value = "";
      refreshSoon();
    });
  }

  function closeTicket(w) {
    return withButton(w.close, async () => {
      const outcome = w.outcome.value;
      if (!outcome) {
        showError("Elige el resultado antes de cerrar el ticket.");
        w.outcome.focus();
        return;
      }
      const label = w.outcome.selectedOptions[0] ? w.outcome.selectedOptions[0].textContent : outcome;
      await api("POST", ticketPath(w.id, "close"), { outcome });
      finishTicket(w.id, `Ticket #${w.id} cerrado: ${label}.`);
    });
  }

  function resumeTicket(w) {
    return withButton(w.resume, async () => {
      await api("POST", ticketPath(w.id, "resume"));
      finishTicket(w.id, `Ticket #${w.id} devuelto al asistente.`);
    });
  }

  /** The ticket left the queue: drop it from the page and go back to the queue. */
  function finishTicket(id, message) {
    if (state.selectedId === id) deselect();
    for (const li of Array.from(el.queue.children)) {
      if (li.dataset.ticketId === id) li.remove();
    }
    showNotice(message);
    el.queueTitle.focus();
    refreshQueue().catch(() => {});
  }

  async function logout() {
    el.logout.disabled = true;
    try {
      await api("POST", "/api/logout");
    } catch (_) {
      // The page forgets the session either way.
    } finally {
      el.logout.disabled = false;
    }
    if (state.me) showLogin("");
  }

  async function login(event) {
    event.preventDefault();
    const username = el.username.value.trim();
    const password = el.password.value;
    if (!username || !password) {
      el.loginError.textContent = "Escribe tu usuario y tu contraseña.";
      (username ? el.password : el.username).focus();
      return;
    }
    el.loginError.textContent = "";
    el.loginSubmit.disabled = true;
    try {
      const data = await api("POST", "/api/login", { username, password });
      showConsole(data.agent && typeof data.agent === "object" ? data.agent : { username });
    } catch (err) {
      if (err instanceof Stale) return;
      el.loginError.textContent =
        err instanceof ApiError && err.status === 401 && !err.data.error
          ? "Usuario o contraseña incorrectos."
          : err.message;
      el.password.value = "";
      el.password.focus();
    } finally {
      el.loginSubmit.disabled = false;
    }
  }

  /* ---------- Supervision (supervisors only) ----------
   * GET /api/supervisor/queues, polled every 2 s while the view shows; POST
   * /api/supervisor/tickets/{id}/reassign|release with the holder this page saw ("from": the
   * server moves nothing when the ticket changed meanwhile, and answers 409); GET
   * /api/supervisor/agents/{username}/activity, a page at a time. The server checks the role
   * on every call: this page only decides what to show. */

  const ROLES = { agent: "agente", supervisor: "supervisor" };
  const ACTIVITY_PAGE = 50;
  const ACTIVITY = {
    agent_login: "Entró a la consola",
    ticket_claimed: "Tomó el ticket",
    agent_viewed_debtor: "Consultó el expediente",
    agent_reply: "Respondió al deudor",
    agent_reply_blocked: "Respuesta bloqueada por cumplimiento",
    promise_recorded: "Registró una promesa",
    promise_superseded: "Reemplazó una promesa",
    agreement_recorded: "Registró un convenio",
    ticket_closed: "Cerró el ticket",
    ticket_reassigned: "Ticket reasignado",
    ticket_released: "Ticket devuelto a la cola",
  };

  const isSupervisor = () => Boolean(state.me && state.me.role === "supervisor");
  const supPath = (id, action) =>
    `/api/supervisor/tickets/${encodeURIComponent(String(id))}/${action}`;
  const plural = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  const count = (value) => (Number.isFinite(value) ? Math.max(0, Math.floor(value)) : 0);

  function mountSupervision() {
    unmountSupervision();
    if (!isSupervisor()) return;
    el.navSlot.append(fromTemplate("tpl-nav"));
    el.supervisionSlot.append(fromTemplate("tpl-supervision"));
    const q = (testid) => document.querySelector(`[data-testid='${testid}']`);
    const s = {
      visible: false,
      seq: 0,
      applied: 0,
      key: null, // the last answer rendered, to rebuild only on a change
      choice: new Map(), // ticket id → the agent picked in its select, kept across rebuilds
      names: new Map(), // username → display name
      activity: null, // {username, name, from, to, next}
      nav: q("views-nav"),
      view: q("supervision"),
      title: $("supervision-title"),
      summary: q("sup-summary"),
      unclaimed: q("sup-unclaimed"),
      unclaimedEmpty: q("sup-unclaimed-empty"),
      agents: q("sup-agents"),
      activityTitle: $("activity-title"),
      activityPlaceholder: q("activity-placeholder"),
      activityForm: q("activity-form"),
      from: q("activity-from"),
      to: q("activity-to"),
      activitySubmit: q("activity-submit"),
      activityEmpty: q("activity-empty"),
      activityList: q("activity-list"),
      more: q("activity-more"),
    };
    state.sup = s;
    for (const button of s.nav.querySelectorAll("[data-view]")) {
      button.addEventListener("click", () => showView(button.dataset.view));
    }
    s.activityForm.addEventListener("submit", (event) => {
      event.preventDefault();
      loadActivity(false, s.activitySubmit);
    });
    s.more.addEventListener("click", () => loadActivity(true, s.more));
    announce("supervisor", { api, report, clearError, make, setText, fromTemplate, showNotice });
    showView("queue", false);
  }

  function unmountSupervision() {
    state.sup = null;
    el.navSlot.replaceChildren();
    el.supervisionSlot.replaceChildren();
    el.queueView.hidden = false;
    announce("reset", {});
  }

  /** Tells the views in other files (the header comment). */
  function announce(name, detail) {
    document.dispatchEvent(new CustomEvent(`consola:${name}`, { detail }));
  }

  function showView(name, focus = true) {
    const s = state.sup;
    if (!s) return;
    s.visible = name === "supervision";
    el.queueView.hidden = name !== "queue";
    s.view.hidden = !s.visible;
    announce("view", { view: name, focus });
    for (const button of s.nav.querySelectorAll("[data-view]")) {
      button.setAttribute("aria-pressed", String(button.dataset.view === name));
    }
    if (!focus) return;
    if (s.visible) {
      s.title.focus();
      refreshSupervision().catch((err) => report(err));
    } else if (name === "queue") {
      el.queueTitle.focus();
    }
  }

  async function refreshSupervision(poll = false) {
    const s = state.sup;
    if (!s || !s.visible) return;
    const seq = ++s.seq;
    const data = await api("GET", "/api/supervisor/queues", undefined, { poll });
    if (state.sup !== s || seq < s.applied) return;
    s.applied = seq;
    renderSupervision(data);
  }

  function nameOf(username) {
    const s = state.sup;
    const key = String(username ?? "");
    return (s && s.names.get(key)) || key;
  }

  function renderSupervision(data) {
    const s = state.sup;
    const unclaimed = Array.isArray(data.unclaimed) ? data.unclaimed : [];
    const people = (Array.isArray(data.agents) ? data.agents : []).filter(
      (a) => a && typeof a === "object",
    );
    const key = JSON.stringify([unclaimed, people]);
    if (key === s.key) return;
    s.key = key;
    s.names = new Map(people.map((a) => [String(a.username), String(a.display_name || a.username)]));
    const targets = people.filter((a) => a.active === true && a.role);
    const claimed = people.reduce((n, a) => n + (Array.isArray(a.tickets) ? a.tickets.length : 0), 0);
    setText(
      s.summary,
      `${unclaimed.length} sin tomar · ${plural(claimed, "tomado", "tomados")} · ` +
        plural(targets.length, "asesor activo", "asesores activos"),
    );
    const active = document.activeElement;
    const focusKey = active && s.view.contains(active) ? active.dataset.focusKey : null;
    s.unclaimed.replaceChildren(...unclaimed.map((t) => supTicket(t, null, targets)));
    s.unclaimedEmpty.hidden = unclaimed.length > 0;
    s.agents.replaceChildren(...people.map((a) => supAgent(a, targets)));
    if (focusKey) {
      const again = s.view.querySelector(`[data-focus-key='${CSS.escape(focusKey)}']`);
      if (again) again.focus();
      else s.title.focus();
    }
  }

  function supButton(label, testid, focusKey, className = "btn btn--small") {
    const button = make("button", className, label);
    button.type = "button";
    button.setAttribute("data-testid", testid);
    button.dataset.focusKey = focusKey;
    return button;
  }

  function supAgent(a, targets) {
    const username = String(a.username ?? "");
    const name = String(a.display_name || username);
    const li = make("li", "sup-agent");
    li.setAttribute("data-testid", "sup-agent");
    li.dataset.username = username;
    const head = make("div", "sup-agent__head");
    const who = make("div", "sup-agent__who");
    who.append(
      make("strong", "sup-agent__name", name),
      make("span", "sup-agent__meta", `${username} · ${ROLES[a.role] || "sin cuenta"}`),
    );
    if (a.active !== true) who.append(make("span", "badge", "Desactivado"));
    const counts = a.counts && typeof a.counts === "object" ? a.counts : {};
    const numbers = make(
      "span",
      "sup-agent__counts",
      `${plural(count(counts.claimed), "tomado", "tomados")} · ` +
        plural(count(counts.closed_today), "cerrado hoy", "cerrados hoy"),
    );
    numbers.setAttribute("data-testid", "sup-agent-counts");
    head.append(who, numbers);
    if (a.role) {
      const open = supButton("Ver actividad", "sup-activity-open", `activity:${username}`,
        "btn btn--ghost btn--small");
      open.setAttribute("aria-label", `Ver la actividad de ${name}`);
      open.addEventListener("click", () => openActivity(username, name));
      head.append(open);
    }
    const tickets = Array.isArray(a.tickets) ? a.tickets : [];
    const list = make("ul", "sup-tickets");
    list.append(...tickets.map((t) => supTicket(t, username, targets)));
    li.append(head, tickets.length ? list : make("p", "muted", "Sin tickets tomados."));
    return li;
  }

  /** One ticket with its buttons; ``holder``: the agent who has it (null: unclaimed). */
  function supTicket(t, holder, targets) {
    const s = state.sup;
    const id = String(t.id);
    const li = make("li", "sup-ticket");
    li.setAttribute("data-testid", "sup-ticket");
    li.dataset.ticketId = id;
    li.append(
      make(
        "span",
        "sup-ticket__info",
        `#${id} · ${reasonLabel(t.reason)} · ${channelLabel(t.channel)} · ` +
          `esperando ${waitingMinutes(t)} min`,
      ),
    );
    const select = make("select", "sup-ticket__to");
    select.setAttribute("aria-label", `${holder ? "Reasignar" : "Asignar"} el ticket #${id} a`);
    select.setAttribute("data-testid", "sup-reassign-to");
    select.dataset.focusKey = `to:${id}`;
    const options = [new Option(holder ? "Reasignar a…" : "Asignar a…", "")];
    for (const a of targets) {
      const username = String(a.username);
      if (username !== holder) options.push(new Option(String(a.display_name || username), username));
    }
    select.replaceChildren(...options);
    const kept = s.choice.get(id);
    if (kept && options.some((o) => o.value === kept)) select.value = kept;
    select.addEventListener("change", () => s.choice.set(id, select.value));
    const move = supButton(holder ? "Reasignar" : "Asignar", "sup-reassign", `move:${id}`);
    move.addEventListener("click", () => reassignTicket(id, holder, select, move));
    li.append(select, move);
    if (holder) {
      const free = supButton("Liberar", "sup-release", `free:${id}`, "btn btn--ghost btn--small");
      free.setAttribute("aria-label", `Liberar el ticket #${id} (devolverlo a la cola)`);
      free.addEventListener("click", () => releaseTicket(id, holder, free));
      li.append(free);
    }
    return li;
  }

  function supervisionSoon() {
    refreshSupervision().catch(() => {});
    refreshQueue().catch(() => {});
  }

  function reassignTicket(id, holder, select, button) {
    return withButton(button, async () => {
      const to = select.value;
      if (!to) {
        showError(`Elige a quién darle el ticket #${id}.`);
        select.focus();
        return;
      }
      try {
        await api("POST", supPath(id, "reassign"), { to, from: holder });
        if (state.sup) state.sup.choice.delete(id);
        showNotice(`Ticket #${id} ${holder ? "reasignado" : "asignado"} a ${nameOf(to)}.`);
      } finally {
        supervisionSoon();
      }
    });
  }

  function releaseTicket(id, holder, button) {
    return withButton(button, async () => {
      try {
        await api("POST", supPath(id, "release"), { from: holder });
        showNotice(`Ticket #${id} devuelto a la cola (era de ${nameOf(holder)}).`);
      } finally {
        supervisionSoon();
      }
    });
  }

  function openActivity(username, name) {
    const s = state.sup;
    if (!s) return Promise.resolve();
    s.activity = { username, name, from: "", to: "", next: null };
    setText(s.activityTitle, `Actividad de ${name}`);
    s.activityPlaceholder.hidden = true;
    s.activityForm.hidden = false;
    if (!s.from.value) s.from.value = isoDaysAgo(6);
    if (!s.to.value) s.to.value = todayIso();
    s.activityList.replaceChildren();
    s.activityTitle.focus();
    return loadActivity(false, s.activitySubmit);
  }

  /** The first page for the dates in the form, or (``more``) the next page of the same query. */
  function loadActivity(more, button) {
    const s = state.sup;
    const a = s && s.activity;
    if (!a) return Promise.resolve();
    return withButton(button, async () => {
      if (!more) {
        a.from = normalizeDate(s.from.value) || "";
        a.to = normalizeDate(s.to.value) || "";
        a.next = null;
      }
      const params = new URLSearchParams({ limit: String(ACTIVITY_PAGE) });
      if (a.from) params.set("from", a.from);
      if (a.to) params.set("to", a.to);
      if (more && a.next !== null) params.set("before", String(a.next));
      const path = `/api/supervisor/agents/${encodeURIComponent(a.username)}/activity?${params}`;
      const data = await api("GET", path);
      if (state.sup !== s || s.activity !== a) return;
      const entries = Array.isArray(data.entries) ? data.entries : [];
      const items = entries.filter((e) => e && typeof e === "object").map(activityItem);
      if (more) s.activityList.append(...items);
      else s.activityList.replaceChildren(...items);
      a.next = Number.isInteger(data.next) ? data.next : null;
      s.more.hidden = a.next === null;
      s.activityEmpty.hidden = s.activityList.children.length > 0;
    });
  }

  function activityItem(e) {
    const li = make("li", "activity__item");
    li.setAttribute("data-testid", "activity-item");
    li.dataset.action = String(e.action ?? "");
    const time = make("time", "activity__time", fmtTime(e.at));
    time.dateTime = String(e.at ?? "");
    li.append(time, make("span", "activity__text", activityText(e)));
    return li;
  }

  function activityText(e) {
    const s = state.sup;
    const parts = [ACTIVITY[e.action] || String(e.action ?? "")];
    if (e.ticket !== undefined && e.ticket !== null) parts.push(`ticket #${e.ticket}`);
    if (e.action === "ticket_reassigned") {
      parts.push(`de ${e.from ? nameOf(e.from) : "la cola"} a ${nameOf(e.to)}`);
    }
    if (e.action === "ticket_released" && e.from) parts.push(`era de ${nameOf(e.from)}`);
    if (e.outcome) parts.push(String(e.outcome).replace(/_/g, " "));
    if (e.folio) parts.push(`folio ${e.folio}`);
    if (e.by && s && s.activity && e.by !== s.activity.username) parts.push(`por ${nameOf(e.by)}`);
    return parts.join(" · ");
  }

  /* ---------- Start ---------- */

  el.loginForm.addEventListener("submit", login);
  el.logout.addEventListener("click", logout);

  (async () => {
    try {
      const data = await api("GET", "/api/me");
      if (data.agent && typeof data.agent === "object") showConsole(data.agent);
      else showLogin("");
    } catch (err) {
      if (err instanceof Stale) return;
      showLogin(err instanceof ApiError && err.status !== 401 ? err.message : "");
    }
  })();
})();
