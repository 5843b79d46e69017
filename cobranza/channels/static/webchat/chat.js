/* Web chat for debtors: talks to the Rasa server's web chat channel over Socket.IO.
 * Bot content is always rendered as text (textContent), never as HTML. */
(function () {
  "use strict";

  var MAX_HISTORY = 200;
  var SESSION_KEY = "cobranza.webchat.session";
  var HISTORY_KEY = "cobranza.webchat.history";
  var TOO_LONG = "Tu mensaje es muy largo. ¿Podrías escribirlo más corto, por favor?";

  var root = document.getElementById("webchat");
  var log = document.getElementById("chat-log");
  var form = document.getElementById("chat-form");
  var input = document.getElementById("chat-input");
  var statusLine = document.getElementById("chat-status");
  var cfg = root.dataset;
  /* the server's limit (cobranza/domain/text.py: MAX_MESSAGE_CHARS), rendered into the page */
  var MAX_CHARS = parseInt(cfg.maxChars, 10);
  var persistence = cfg.persistence === "true";

  var session = persistence ? readJson(SESSION_KEY) : null;
  var history = persistence ? readJson(HISTORY_KEY) || [] : [];
  var ready = false;
  var outbox = [];
  var lastChoices = [];

  function readJson(key) {
    try {
      var raw = window.sessionStorage.getItem(key);
      return raw ? JSON.parse(raw) : null;
    } catch (e) {
      return null;
    }
  }

  function writeJson(key, value) {
    if (!persistence) return;
    try {
      window.sessionStorage.setItem(key, JSON.stringify(value));
    } catch (e) {
      /* storage full or disabled: the chat still works, only without resuming */
    }
  }

  function setState(state, text) {
    root.dataset.state = state;
    statusLine.textContent = text;
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function remember(entry) {
    history.push(entry);
    if (history.length > MAX_HISTORY) history = history.slice(-MAX_HISTORY);
    writeJson(HISTORY_KEY, history);
  }

  function addBubble(kind, text, save) {
    var item = document.createElement("li");
    item.className = "chat__msg chat__msg--" + kind;
    item.dataset.testid = "msg-" + kind;
    var who = document.createElement("span");
    who.className = "visually-hidden";
    who.textContent = kind === "user" ? "Tú: " : kind === "bot" ? "Asistente: " : "Aviso: ";
    var body = document.createElement("span");
    body.className = "chat__text";
    body.textContent = text;
    item.appendChild(who);
    item.appendChild(body);
    log.appendChild(item);
    scrollToEnd();
    if (save) remember({ kind: kind, text: text });
    return item;
  }

  function addLink(text, url, save) {
    var parsed;
    try {
      parsed = new URL(url, window.location.href);
    } catch (e) {
      return;
    }
    if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return;
    var item = document.createElement("li");
    item.className = "chat__msg chat__msg--bot";
    item.dataset.testid = "msg-bot";
    var link = document.createElement("a");
    link.href = parsed.href;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    link.textContent = text;
    item.appendChild(link);
    log.appendChild(item);
    scrollToEnd();
    if (save) remember({ kind: "link", text: text, url: parsed.href });
  }

  /* choices: [{title, payload}]; renders clickable chips that send the payload and show the
   * title as the user's message. */
  function addChoices(choices, used, save) {
    var entry = { kind: "choices", items: choices, used: !!used };
    var item = document.createElement("li");
    item.className = "chat__choices";
    var group = document.createElement("div");
    group.setAttribute("role", "group");
    group.setAttribute("aria-label", "Opciones");
    group.dataset.testid = "choices";
    var buttons = [];
    choices.forEach(function (choice) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "chat__chip";
      button.dataset.testid = "chip";
      button.textContent = choice.title;
      button.disabled = !!used;
      button.addEventListener("click", function () {
        buttons.forEach(function (b) {
          b.disabled = true;
        });
        entry.used = true;
        writeJson(HISTORY_KEY, history);
        send(choice.title, choice.payload);
        input.focus();
      });
      buttons.push(button);
      group.appendChild(button);
    });
    item.appendChild(group);
    log.appendChild(item);
    scrollToEnd();
    lastChoices = choices.map(function (c) {
      return c.payload;
    });
    if (save) remember(entry);
  }

  function asChoices(list, titleKey, payloadKey) {
    if (!Array.isArray(list)) return [];
    return list
      .filter(function (b) {
        return b && typeof b[titleKey] === "string" && typeof b[payloadKey] === "string";
      })
      .map(function (b) {
        return { title: b[titleKey], payload: b[payloadKey] };
      });
  }

  /* {"type": "list", "rows": [{id, title}]} (or WhatsApp-style sections of rows): rows become
   * chips, unless the same choices are already on screen as buttons. */
  function listRows(custom) {
    var rows = [];
    if (Array.isArray(custom.rows)) rows = rows.concat(custom.rows);
    if (Array.isArray(custom.sections)) {
      custom.sections.forEach(function (section) {
        if (section && Array.isArray(section.rows)) rows = rows.concat(section.rows);
      });
    }
    return asChoices(rows, "title", "id");
  }

  function renderBot(message) {
    if (typeof message === "string") {
      addBubble("bot", message, true);
      return;
    }
    if (!message || typeof message !== "object") return;
    if (typeof message.text === "string" && message.text !== "") addBubble("bot", message.text, true);
    var choices = asChoices(message.quick_replies, "title", "payload");
    if (!choices.length) choices = asChoices(message.buttons, "title", "payload");
    if (choices.length) addChoices(choices, false, true);
    var custom = message.custom;
    if (custom && typeof custom === "object") {
      if (typeof custom.text === "string" && custom.text !== "") addBubble("bot", custom.text, true);
      var rows = listRows(custom);
      var fresh = rows.filter(function (r) {
        return lastChoices.indexOf(r.payload) === -1;
      });
      if (fresh.length) addChoices(rows, false, true);
    }
    var attachment = message.attachment;
    if (attachment && attachment.payload && typeof attachment.payload.src === "string") {
      addLink("Ver imagen", attachment.payload.src, true);
    }
  }

  function restore() {
    history.forEach(function (entry) {
      if (!entry || typeof entry !== "object") return;
      if (entry.kind === "choices" && Array.isArray(entry.items)) {
        addChoices(asChoices(entry.items, "title", "payload"), true, false);
      } else if (entry.kind === "link" && typeof entry.url === "string") {
        addLink(String(entry.text), entry.url, false);
      } else if (typeof entry.text === "string" && /^(bot|user|error|notice)$/.test(entry.kind)) {
        addBubble(entry.kind, entry.text, false);
      }
    });
    /* restored choices are stale: mark them used in storage too */
    history.forEach(function (entry) {
      if (entry && entry.kind === "choices") entry.used = true;
    });
    writeJson(HISTORY_KEY, history);
  }

  function emitMessage(text) {
    var metadata = {};
    try {
      metadata.time_zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    } catch (e) {
      /* no Intl: the server uses its default zone */
    }
    socket.emit(cfg.userEvt, { message: text, session_id: session.session_id, metadata: metadata });
  }

  /* shown: what the debtor sees as their message; text: what the bot receives */
  function send(shown, text) {
    if (text.length > MAX_CHARS) {
      addBubble("error", TOO_LONG, true);
      return false;
    }
    addBubble("user", shown, true);
    if (ready) emitMessage(text);
    else outbox.push(text);
    return true;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    if (send(text, text)) input.value = "";
    input.focus();
  });

  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  restore();

  var options = { path: cfg.socketioPath || "/socket.io" };
  var socket = cfg.namespace && cfg.namespace !== "/" ? io(cfg.namespace, options) : io(options);

  socket.on("connect", function () {
    ready = false;
    setState("connecting", "Conectando…");
    socket.io.engine.once("upgrade", function () {
      root.dataset.transport = socket.io.engine.transport.name;
    });
    root.dataset.transport = socket.io.engine.transport.name;
    socket.emit("session_request", session || {});
  });

  socket.on("session_confirm", function (data) {
    if (!data || typeof data.session_id !== "string") return;
    if (session && session.session_id !== data.session_id && history.length) {
      /* the server did not resume the old session (e.g. a new secret): the old transcript
       * stays on screen, the bot starts afresh */
      addBubble("notice", "Empezamos una conversación nueva.", true);
    }
    session = { session_id: data.session_id, signature: data.signature };
    writeJson(SESSION_KEY, session);
    root.dataset.sessionId = session.session_id;
    ready = true;
    setState("ready", "En línea");
    var pending = outbox;
    outbox = [];
    pending.forEach(emitMessage);
  });

  socket.on(cfg.botEvt, renderBot);

  socket.on(cfg.errorEvt, function (data) {
    var text = data && typeof data.text === "string" ? data.text : "Ocurrió un problema. Inténtalo de nuevo, por favor.";
    addBubble("error", text, true);
  });

  socket.on("disconnect", function () {
    ready = false;
    setState("offline", "Sin conexión. Reintentando…");
  });

  socket.on("connect_error", function () {
    setState("offline", "Sin conexión. Reintentando…");
  });
})();
