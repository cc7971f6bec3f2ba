/* Switchboard website widget: one <script data-key> tag gives a launcher and a chat panel inside
   a shadow root. Socket protocol: docs/protocol.md. Model and agent text is untrusted: it only
   ever becomes DOM text nodes (and vetted http/https/mailto links), never HTML. */
(() => {
  "use strict";

  const script =
    document.currentScript || document.querySelector('script[src*="widget.js"][data-key]');
  if (!script || !script.dataset.key || document.querySelector("switchboard-widget")) return;

  const KEY = script.dataset.key;
  const SRC = new URL(script.src, location.href);
  const WS_URL = (SRC.protocol === "https:" ? "wss://" : "ws://") + SRC.host + "/ws/widget/";
  const PREFIX = "switchboard:" + KEY + ":";
  const VISITOR_RE = /^[A-Za-z0-9_-]{16,64}$/;
  const CLOSE_ERASED = 4410;
  const CLOSE_BAD_IDENTITY = 4401;
  const CLOSE_SERVICE_RESTART = 1012; // the server is stopping: come back at once, elsewhere

  // Storage can throw (privacy modes, sandboxed frames): the widget still works without it.
  const storage = (kind) => {
    try {
      return window[kind];
    } catch {
      return null;
    }
  };
  const local = storage("localStorage");
  const session = storage("sessionStorage");
  const load = (store, name) => {
    try {
      return store ? store.getItem(PREFIX + name) : null;
    } catch {
      return null;
    }
  };
  const save = (store, name, value) => {
    try {
      if (store) store.setItem(PREFIX + name, value);
    } catch {
      /* full or blocked: keep going in memory */
    }
  };

  const randomId = () => {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  };

  let visitor = load(local, "visitor");
  if (!visitor || !VISITOR_RE.test(visitor)) {
    visitor = randomId();
    save(local, "visitor", visitor);
  }

  // ---------------------------------------------------------------- DOM helpers

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value == null || value === false) continue;
      if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
      else if (name === "text") el.textContent = value;
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const kid of kids.flat(Infinity)) if (kid != null && kid !== false) el.append(kid);
    return el;
  }
  const show = (el, visible) => {
    el.hidden = !visible;
  };

  // ---------------------------------------------------------------- safe Markdown

  const SAFE_PROTOCOLS = ["http:", "https:", "mailto:"];
  const LIST_ITEM = /^\s{0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/;
  const FENCE = /^\s{0,3}(```|~~~)/;
  const HEADING = /^\s{0,3}#{1,6}\s+(.*)$/;

  function safeLink(url, label, source) {
    let parsed = null;
    try {
      parsed = new URL(url.trim());
    } catch {
      parsed = null;
    }
    if (!parsed || !SAFE_PROTOCOLS.includes(parsed.protocol)) return source;
    return h(
      "a",
      { href: parsed.href, target: "_blank", rel: "noopener noreferrer nofollow" },
      label,
    );
  }

  function inline(src) {
    // code | **bold** | __bold__ | *em* | _em_ | [label](url) | bare http(s) URL
    const re =
      /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|__(?=\S)([\s\S]*?\S)__(?!\w)|\*(?=[^\s*])([\s\S]*?[^\s*])\*|(?<!\w)_(?=[^\s_])([\s\S]*?[^\s_])_(?!\w)|\[([^\]\n]+)\]\(([^)\s]+)\)|(https?:\/\/[^\s<>()]*[^\s<>().,:;!?"'])/g;
    const out = [];
    let last = 0;
    let m;
    while ((m = re.exec(src))) {
      if (m.index > last) out.push(src.slice(last, m.index));
      if (m[1]) out.push(h("code", null, m[2]));
      else if (m[3] != null || m[4] != null) out.push(h("strong", null, inline(m[3] ?? m[4])));
      else if (m[5] != null || m[6] != null) out.push(h("em", null, inline(m[5] ?? m[6])));
      else if (m[7] != null) out.push(safeLink(m[8], m[7], m[0]));
      else out.push(safeLink(m[9], m[9], m[9]));
      last = re.lastIndex;
    }
    if (last < src.length) out.push(src.slice(last));
    return out;
  }

  function markdown(src) {
    const frag = document.createDocumentFragment();
    const lines = src.replace(/\r\n?/g, "\n").split("\n");
    let i = 0;
    const startsBlock = (line) => LIST_ITEM.test(line) || FENCE.test(line) || HEADING.test(line);
    while (i < lines.length) {
      const line = lines[i];
      const fence = FENCE.exec(line);
      if (fence) {
        const body = [];
        i++;
        while (i < lines.length && !lines[i].trimStart().startsWith(fence[1]))
          body.push(lines[i++]);
        i++;
        frag.append(h("pre", null, h("code", null, body.join("\n"))));
      } else if (!line.trim()) {
        i++;
      } else if (LIST_ITEM.test(line)) {
        const ordered = /\d/.test(LIST_ITEM.exec(line)[1]);
        const list = h(ordered ? "ol" : "ul");
        const first = parseInt(LIST_ITEM.exec(line)[1], 10);
        if (ordered && first !== 1) list.start = first;
        while (i < lines.length) {
          const item = LIST_ITEM.exec(lines[i]);
          if (item && /\d/.test(item[1]) === ordered) {
            list.append(h("li", null, inline(item[2])));
          } else if (!item && /^\s+\S/.test(lines[i]) && !FENCE.test(lines[i])) {
            list.lastChild.append(" ", ...inline(lines[i].trim()));
          } else break;
          i++;
        }
        frag.append(list);
      } else if (HEADING.test(line)) {
        frag.append(h("p", null, h("strong", null, inline(HEADING.exec(line)[1]))));
        i++;
      } else {
        const p = h("p");
        let first = true;
        while (i < lines.length && lines[i].trim() && (first || !startsBlock(lines[i]))) {
          if (!first) p.append(h("br"));
          p.append(...inline(lines[i].trim()));
          first = false;
          i++;
        }
        frag.append(p);
      }
    }
    return frag;
  }

  // ---------------------------------------------------------------- styles

  const CSS = `
:host{all:initial!important;display:block!important;position:fixed!important;right:0!important;bottom:0!important;width:0!important;height:0!important;margin:0!important;padding:0!important;border:0!important;visibility:visible!important;opacity:1!important;transform:none!important;filter:none!important;z-index:2147483000!important;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif!important;color:#1d2433!important;text-align:left!important;direction:ltr}
*{box-sizing:border-box;margin:0;padding:0;font:inherit;color:inherit;letter-spacing:normal;text-transform:none;text-shadow:none}
[hidden]{display:none!important}
button{cursor:pointer;border:0;background:none}
:focus-visible{outline:3px solid #b45309;outline-offset:2px}
.launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;background:#1f4fbf;color:#fff;display:flex;align-items:center;justify-content:center;box-shadow:0 4px 14px rgba(0,0,0,.3)}
.launcher svg{width:28px;height:28px;fill:currentColor}
.panel{position:fixed;right:20px;bottom:88px;width:min(380px,calc(100vw - 24px));height:min(620px,calc(100vh - 104px));background:#fff;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden}
@media (max-width:480px){.panel{right:12px}}
.head{background:#1f4fbf;color:#fff;padding:12px 14px}
h2{font-size:16px;font-weight:600}
.status{font-size:13px;min-height:1em}
.tools{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}
.tools button{background:#fff;color:#1f4fbf;border-radius:14px;padding:3px 10px;font-size:13px;font-weight:600}
.log,.view{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:10px;background:#f6f7fb}
.msg{max-width:88%;display:flex;flex-direction:column;gap:4px;align-self:flex-start}
.msg.user{align-self:flex-end;align-items:flex-end}
.bubble{padding:8px 12px;border-radius:12px;background:#fff;border:1px solid #d5dae5;overflow-wrap:anywhere}
.user .bubble{background:#1f4fbf;color:#fff;border-color:#1f4fbf;white-space:pre-wrap}
.agent .bubble{background:#ecfdf3;border-color:#a6d8bb}
.system .bubble{background:none;border:0;color:#4b5563;font-size:13px;text-align:center}
.bubble>*+*{margin-top:6px}
.bubble ul,.bubble ol{padding-left:20px}
.bubble strong{font-weight:700}
.bubble em{font-style:italic}
.bubble code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:13px;background:#eef0f5;padding:1px 4px;border-radius:4px}
.bubble pre{background:#1d2433;color:#f3f4f6;padding:8px;border-radius:6px;overflow-x:auto}
.bubble pre code{background:none;padding:0;white-space:pre}
a{color:#1a4bb8;text-decoration:underline}
.meta{font-size:12px;color:#4b5563}
.meta.bad{color:#b42318}
.rate{display:flex;gap:6px}
.rate button,.chip{font-size:12px;border:1px solid #8a93a6;background:#fff;color:#374151;border-radius:12px;padding:2px 9px}
.rate button[aria-pressed=true],.chip[aria-pressed=true]{background:#1f4fbf;color:#fff;border-color:#1f4fbf}
.sources{font-size:12px;color:#374151;background:#fff;border-left:3px solid #1f4fbf;padding:4px 8px;list-style:none}
.sources li+li{margin-top:4px}
.sources .title{font-weight:600}
.typing{align-self:flex-start;display:flex;gap:4px;align-items:center;padding:10px 12px;background:#fff;border:1px solid #d5dae5;border-radius:12px;font-size:12px;color:#4b5563}
.dot{width:7px;height:7px;border-radius:50%;background:#4b5563;animation:sb-blink 1s infinite}
.dot:nth-child(2){animation-delay:.15s}.dot:nth-child(3){animation-delay:.3s}
@keyframes sb-blink{0%,60%,100%{opacity:.3}30%{opacity:1}}
@media (prefers-reduced-motion:reduce){.dot{animation:none}}
.card{background:#fff;border:1px solid #d5dae5;border-radius:10px;padding:10px;display:flex;flex-direction:column;gap:8px}
.row{display:flex;gap:6px;flex-wrap:wrap;align-items:center}
form.composer{display:flex;gap:8px;padding:10px;border-top:1px solid #d5dae5;background:#fff}
textarea,input,select{width:100%;border:1px solid #8a93a6;border-radius:8px;padding:7px 9px;color:#1d2433;background:#fff;resize:none;min-width:0}
.composer textarea{flex:1;max-height:120px}
.primary{background:#1f4fbf;color:#fff;border-radius:8px;padding:8px 14px;font-weight:600}
.secondary{background:#fff;color:#1f4fbf;border:1px solid #1f4fbf;border-radius:8px;padding:6px 12px}
.danger{background:#b42318;color:#fff;border-radius:8px;padding:6px 12px}
label{display:flex;flex-direction:column;gap:3px;font-size:13px;color:#374151}
label.check{flex-direction:row;align-items:center;gap:6px}
label.check input{width:auto}
h3{font-size:15px;font-weight:600}
.notice{font-size:13px;color:#b42318;padding:0 12px}
.notice:empty{display:none}
ul.items{list-style:none;display:flex;flex-direction:column;gap:6px}
ul.items li{display:flex;gap:8px;justify-content:space-between;align-items:flex-start}
.icon{width:34px;height:34px;flex:none;border-radius:8px;color:#1f4fbf;display:flex;align-items:center;justify-content:center}
.icon svg{width:20px;height:20px;fill:currentColor}
.icon[aria-pressed=true]{background:#b42318;color:#fff}
.tray{padding:6px 10px 0;display:flex;flex-direction:column;gap:4px;background:#fff;border-top:1px solid #d5dae5;font-size:12px;color:#4b5563}
.tray ul{list-style:none;display:flex;flex-wrap:wrap;gap:6px}
.tray li{display:flex;gap:6px;align-items:center;border:1px solid #d5dae5;border-radius:8px;padding:2px 6px;max-width:100%}
.tray li.bad{border-color:#b42318;color:#b42318}
.tray progress{width:60px}
.rec{display:flex;gap:8px;align-items:center;color:#b42318;font-weight:600}
.panel.drop{outline:3px dashed #1f4fbf;outline-offset:-6px}
.files{display:flex;flex-direction:column;gap:4px;align-items:inherit}
.files img{display:block;max-width:220px;max-height:160px;border-radius:8px;border:1px solid #d5dae5;background:#fff}
.files audio{width:230px;max-width:100%}
`;

  // ---------------------------------------------------------------- the widget's DOM

  const host = h("switchboard-widget");
  const root = host.attachShadow({ mode: "open" });
  // A constructable sheet is CSSOM, not an inline <style>: it works under a strict CSP.
  if ("adoptedStyleSheets" in root && window.CSSStyleSheet && CSSStyleSheet.prototype.replaceSync) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
  } else {
    root.append(h("style", null, CSS));
  }

  const svg = (path) => {
    const ns = "http://www.w3.org/2000/svg";
    const el = document.createElementNS(ns, "svg");
    el.setAttribute("viewBox", "0 0 24 24");
    el.setAttribute("aria-hidden", "true");
    const p = document.createElementNS(ns, "path");
    p.setAttribute("d", path);
    el.append(p);
    return el;
  };
  const CHAT_ICON =
    "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";
  const CLOSE_ICON =
    "M6.4 5 12 10.6 17.6 5 19 6.4 13.4 12 19 17.6 17.6 19 12 13.4 6.4 19 5 17.6 10.6 12 5 6.4z";

  const launcher = h("button", {
    class: "launcher",
    type: "button",
    "aria-label": "Open chat",
    "aria-expanded": "false",
    "aria-controls": "sb-panel",
    onclick: () => setOpen(!state.open),
  });
  const title = h("h2", { id: "sb-title" }, "Chat");
  const statusLine = h("p", { class: "status", role: "status" });
  const humanButton = h("button", { type: "button", onclick: requestHuman }, "Talk to a human");
  const memoryButton = h("button", { type: "button", onclick: openMemory }, "What we remember");
  const log = h("div", {
    class: "log",
    role: "log",
    "aria-live": "polite",
    "aria-label": "Conversation",
    tabindex: "0",
  });
  const greeting = h(
    "div",
    { class: "msg bot", "data-role": "greeting" },
    h("div", { class: "bubble" }),
  );
  const typing = h("div", { class: "typing", role: "status", hidden: true });
  const notice = h("p", { class: "notice", role: "alert" });
  const input = h("textarea", {
    "aria-label": "Message",
    rows: "1",
    maxlength: "4000",
    placeholder: "Write a message…",
    onkeydown: (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        submit();
      }
    },
    oninput: onTypingInput,
  });
  const CLIP_ICON =
    "M16.5 6v11.5a4 4 0 0 1-8 0V5a2.5 2.5 0 0 1 5 0v10.5a1 1 0 0 1-2 0V6H10v9.5a2.5 2.5 0 0 0 5 0V5a4 4 0 0 0-8 0v12.5a5.5 5.5 0 0 0 11 0V6z";
  const MIC_ICON =
    "M12 14a3 3 0 0 0 3-3V5a3 3 0 0 0-6 0v6a3 3 0 0 0 3 3zm5-3a5 5 0 0 1-10 0H5a7 7 0 0 0 6 6.9V21h2v-3.1a7 7 0 0 0 6-6.9z";
  const limitsHint = h("p", { id: "sb-limits" });
  const fileInput = h("input", {
    type: "file",
    multiple: true,
    hidden: true,
    tabindex: "-1",
    accept: "image/png,image/jpeg,image/webp,image/gif,application/pdf,text/plain,audio/*",
    onchange: () => {
      addFiles(fileInput.files);
      fileInput.value = "";
    },
  });
  const attachButton = h(
    "button",
    {
      class: "icon",
      type: "button",
      "aria-label": "Attach a file",
      "aria-describedby": "sb-limits",
      title: "Attach a file",
      onclick: () => fileInput.click(),
    },
    svg(CLIP_ICON),
  );
  const recordButton = h(
    "button",
    {
      class: "icon",
      type: "button",
      "aria-label": "Record a voice note",
      "aria-pressed": "false",
      title: "Record a voice note",
      onclick: () => toggleRecording(),
    },
    svg(MIC_ICON),
  );
  const recTimer = h("span", { role: "timer", "aria-label": "Recording time" }, "0:00");
  const recRow = h(
    "div",
    { class: "rec", hidden: true },
    h("span", null, "● Recording"),
    recTimer,
    h(
      "button",
      { class: "secondary", type: "button", onclick: () => toggleRecording() },
      "Stop recording",
    ),
  );
  const trayList = h("ul", { "aria-label": "Files to send" });
  const tray = h("div", { class: "tray", hidden: true }, limitsHint, recRow, trayList);
  const composer = h(
    "form",
    {
      class: "composer",
      onsubmit: (e) => {
        e.preventDefault();
        submit();
      },
    },
    attachButton,
    recordButton,
    input,
    fileInput,
    h("button", { class: "primary", type: "submit" }, "Send"),
  );
  const memoryView = h("section", { class: "view", hidden: true, "aria-labelledby": "sb-mem" });
  const panel = h(
    "div",
    {
      class: "panel",
      id: "sb-panel",
      role: "dialog",
      "aria-modal": "false",
      "aria-labelledby": "sb-title",
      hidden: true,
      onkeydown: (e) => {
        if (e.key === "Escape") {
          e.stopPropagation();
          setOpen(false);
        }
      },
    },
    h(
      "div",
      { class: "head" },
      title,
      statusLine,
      h("div", { class: "tools" }, humanButton, memoryButton),
    ),
    log,
    memoryView,
    notice,
    tray,
    composer,
  );
  log.append(greeting, typing);
  root.append(panel, launcher);

  // ---------------------------------------------------------------- state

  const memoryControls = new Map(); // feature frame type -> its button (hidden if unsupported)
  const state = {
    open: false,
    ws: null,
    ready: false, // resumed: safe to send
    connectedOnce: false,
    attempts: 0,
    timer: 0,
    conversationId: null,
    status: "bot",
    offline: false,
    agentTyping: false,
    bot: { name: "Chat", greeting: "" },
    messages: new Map(), // id -> {msg, el}
    pending: new Map(), // client_id -> {client_id, text, el}
    unsupported: new Set(),
    memory: null,
    lastFrameAt: 0,
  };

  // ---------------------------------------------------------------- socket

  function connect() {
    clearTimeout(state.timer);
    if (state.ws) return;
    const query = new URLSearchParams({ key: KEY, visitor });
    const identity = { userId: "user_id", userHash: "user_hash", token: "token" };
    for (const [attr, param] of Object.entries(identity)) {
      if (script.dataset[attr] && !state.identityRefused) query.set(param, script.dataset[attr]);
    }
    let ws;
    try {
      ws = new WebSocket(WS_URL + "?" + query);
    } catch {
      retry();
      return;
    }
    state.ws = ws;
    ws.onmessage = (event) => {
      state.lastFrameAt = Date.now();
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame === "object") handle(frame);
    };
    ws.onclose = (event) => {
      if (state.ws !== ws) return;
      state.ws = null;
      state.ready = false;
      if (event.code === CLOSE_BAD_IDENTITY && !state.identityRefused) {
        // The host page's signature did not verify: go on as an anonymous visitor (no
        // stored memory is unlocked) instead of retrying the same refused claim forever.
        state.identityRefused = true;
        console.warn("Switchboard: the user signature was refused; chatting anonymously.");
      }
      if (event.code === CLOSE_ERASED) {
        // The customer erased everything: start over with a clean slate.
        for (const { el } of state.messages.values()) el.remove();
        state.messages.clear();
        state.conversationId = null;
        state.attempts = 0;
        if (!memoryView.hidden) {
          memoryView.replaceChildren(
            h("h3", { id: "sb-mem", tabindex: "-1" }, "What we remember"),
            h("p", { role: "status" }, "Everything we stored about you has been deleted."),
            h(
              "button",
              { class: "secondary", type: "button", onclick: closeMemory },
              "Back to chat",
            ),
          );
        }
      }
      // A restarting server (a deploy) is no failure: reconnect within a jittered 0.2-0.7 s
      // (every widget of that process comes back at once: the jitter spreads them), to
      // another process behind the proxy, and resume from our seq.
      if (event.code === CLOSE_SERVICE_RESTART) state.attempts = 0;
      setConnection(state.connectedOnce ? "Reconnecting…" : "Connecting…");
      retry();
    };
  }

  function retry() {
    clearTimeout(state.timer);
    // Exponential backoff with full jitter: many widgets coming back at once spread out.
    const ceiling = Math.min(30000, 500 * 2 ** Math.min(state.attempts, 8));
    state.attempts++;
    state.timer = setTimeout(connect, 200 + Math.random() * ceiling);
  }

  function reconnectNow() {
    if (state.ws) state.ws.close();
    else connect();
  }

  function send(frame) {
    if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return false;
    state.ws.send(JSON.stringify(frame));
    return true;
  }

  // Requests made before the socket is up go out once it is (one of each kind).
  const outbox = new Map();
  function sendWhenReady(frame) {
    if (state.ready && send(frame)) return;
    outbox.set(frame.type, frame);
    if (!state.ws) connect();
  }

  window.addEventListener("online", () => {
    if (!state.ws && (state.open || state.pending.size)) {
      state.attempts = 0;
      connect();
    }
  });
  // A socket can die silently (sleeping laptop, proxy): ping, and reconnect if nothing answers.
  setInterval(() => {
    if (!state.ready) return;
    if (Date.now() - state.lastFrameAt > 60000) reconnectNow();
    else if (Date.now() - state.lastFrameAt > 25000) send({ type: "ping" });
  }, 5000);

  function lastSeq() {
    // The highest seq held in final form: everything up to a reply still streaming.
    let high = 0;
    let streaming = Infinity;
    for (const { msg } of state.messages.values()) {
      high = Math.max(high, msg.seq);
      if (msg.status === "streaming") streaming = Math.min(streaming, msg.seq);
    }
    return streaming === Infinity ? high : streaming - 1;
  }

  function handle(frame) {
    switch (frame.type) {
      case "hello":
        if (state.conversationId !== null && frame.conversation_id !== state.conversationId) {
          for (const { el } of state.messages.values()) el.remove();
          state.messages.clear();
        }
        state.conversationId = frame.conversation_id;
        if (frame.bot) state.bot = frame.bot;
        setUploads(frame.uploads);
        title.textContent = state.bot.name || "Chat";
        greeting.firstChild.textContent = state.bot.greeting || "";
        show(greeting, Boolean(state.bot.greeting));
        setStatus({ status: frame.status });
        send({ type: "resume", last_seq: lastSeq() });
        break;
      case "resumed":
        state.ready = true;
        state.connectedOnce = true;
        state.attempts = 0;
        setConnection("");
        for (const item of state.pending.values()) {
          send(messageFrame(item));
        }
        for (const frame of outbox.values()) send(frame);
        outbox.clear();
        break;
      case "message":
        upsert(frame.message);
        break;
      case "ack":
        upsert(frame.message);
        break;
      case "reply.delta":
        applyDelta(frame);
        break;
      case "feedback": {
        const entry = state.messages.get(frame.message_id);
        if (entry) {
          entry.msg.feedback = frame.rating;
          renderMessage(entry);
        }
        break;
      }
      case "conversation.status":
        setStatus(frame);
        break;
      case "typing":
        if (frame.who === "agent") {
          state.agentTyping = Boolean(frame.on);
          updateTyping();
        }
        break;
      case "csat.request":
        showCsat();
        break;
      case "csat.saved":
        csatSaved(frame);
        break;
      case "offline_message.saved":
        offlineSaved();
        break;
      case "memory":
        renderMemory(frame);
        break;
      case "upload.url":
        gotUploadUrl(frame);
        break;
      case "memory.export":
        downloadJson(frame.data);
        break;
      case "error":
        onError(frame);
        break;
      default:
        break; // pong, and frames of newer servers
    }
  }

  function onError(frame) {
    const match = /'([a-z_.]+)'/.exec(frame.detail || "");
    if (frame.code === "unknown_type" && match) {
      // This server does not have the feature yet: hide it quietly.
      state.unsupported.add(match[1]);
      if (match[1] === "handoff.request") statusNote = "";
      renderStatus();
      applyUnsupported();
      return;
    }
    if (frame.code === "identity_required" && !memoryView.hidden) {
      // Stored memory is shown only to a customer the host site has signed in.
      memoryView.replaceChildren(
        h("h3", { id: "sb-mem", tabindex: "-1" }, "What we remember"),
        h("p", null, "Sign in on this website to see, download or delete what we remember."),
        h("button", { class: "secondary", type: "button", onclick: closeMemory }, "Back to chat"),
      );
      return;
    }
    if (frame.client_id && state.pending.has(frame.client_id)) {
      const item = state.pending.get(frame.client_id);
      state.pending.delete(frame.client_id);
      savePending();
      item.meta.textContent = "Not sent: " + (frame.detail || frame.code);
      item.meta.className = "meta bad";
      return;
    }
    if (frame.code === "rate_limited") notice.textContent = "You're sending messages too fast.";
    else if (!memoryView.hidden && frame.detail) memoryStatus(String(frame.detail));
  }

  function applyUnsupported() {
    show(
      humanButton,
      !state.unsupported.has("handoff.request") && !["waiting", "agent"].includes(state.status),
    );
    if (state.unsupported.has("memory.list") && !memoryView.hidden) {
      memoryView.replaceChildren(
        h("h3", { id: "sb-mem", tabindex: "-1" }, "What we remember"),
        h("p", null, "This isn't available yet."),
        h("button", { class: "secondary", type: "button", onclick: closeMemory }, "Back to chat"),
      );
    }
    for (const [type, el] of memoryControls) if (state.unsupported.has(type)) show(el, false);
  }

  function setConnection(text) {
    connectionNote = text;
    renderStatus();
  }

  // ---------------------------------------------------------------- messages

  function upsert(msg) {
    if (!msg || typeof msg.id !== "number") return;
    if (msg.client_id && state.pending.has(msg.client_id)) {
      state.pending.get(msg.client_id).el.remove();
      state.pending.delete(msg.client_id);
      savePending();
    }
    let entry = state.messages.get(msg.id);
    if (entry) {
      if (msg.feedback == null) msg.feedback = entry.msg.feedback;
      entry.msg = msg;
    } else {
      entry = { msg, el: h("div", { "data-id": msg.id }) };
      state.messages.set(msg.id, entry);
      insertBySeq(entry);
    }
    entry.msg.points = Array.from(msg.text || "").length;
    renderMessage(entry);
    updateTyping();
  }

  function insertBySeq(entry) {
    entry.el.dataset.seq = entry.msg.seq;
    let before = typing;
    for (const child of log.children) {
      const seq = child.dataset.seq;
      if (child.classList.contains("pending") || (seq && Number(seq) > entry.msg.seq)) {
        before = child;
        break;
      }
    }
    log.insertBefore(entry.el, before);
  }

  function applyDelta(frame) {
    const entry = state.messages.get(frame.message_id);
    if (!entry || typeof frame.offset !== "number" || typeof frame.text !== "string") {
      if (!entry) reconnectNow(); // missed the start: a resume brings the reply so far
      return;
    }
    const msg = entry.msg;
    if (msg.status !== "streaming") return;
    // Offsets count code points (the server's string length), not UTF-16 units.
    if (frame.offset > msg.points) {
      reconnectNow();
      return;
    }
    const add = Array.from(frame.text);
    if (frame.offset + add.length <= msg.points) return;
    const kept =
      frame.offset === msg.points ? msg.text : Array.from(msg.text).slice(0, frame.offset).join("");
    msg.text = kept + frame.text;
    msg.points = frame.offset + add.length;
    renderMessage(entry);
    updateTyping();
  }

  function renderMessage(entry) {
    const { msg, el } = entry;
    const role = ["user", "bot", "agent", "system"].includes(msg.role) ? msg.role : "system";
    el.className = "msg " + role;
    el.dataset.role = role;
    el.dataset.status = msg.status;
    el.setAttribute("aria-busy", msg.status === "streaming" ? "true" : "false");
    const kids = [];
    if (role === "agent")
      kids.push(h("div", { class: "meta" }, msg.author_name || "Support agent"));
    const bubble = h("div", { class: "bubble" });
    if (role === "user") bubble.textContent = msg.text;
    else bubble.append(markdown(msg.text || ""));
    if (msg.text || role !== "user") kids.push(bubble);
    if (Array.isArray(msg.attachments) && msg.attachments.length)
      kids.push(renderFiles(msg.attachments));
    if (role === "bot" && msg.status === "failed") {
      kids.push(h("div", { class: "meta" }, "Something went wrong. You can ask for a person."));
    }
    const sources = Array.isArray(msg.sources) ? msg.sources : [];
    if (role === "bot" && msg.status !== "streaming" && sources.length) {
      kids.push(
        h(
          "ul",
          { class: "sources", "aria-label": "Sources" },
          sources.map((s) => {
            const label = String(s.title || s.url || "Source");
            const link = s.url ? safeLink(String(s.url), label, label) : label;
            return h(
              "li",
              null,
              h("span", { class: "title" }, link),
              s.snippet ? h("div", null, String(s.snippet)) : null,
            );
          }),
        ),
      );
    }
    if (role === "bot" && msg.status === "final") {
      const rate = (rating, label) =>
        h(
          "button",
          {
            type: "button",
            "aria-pressed": msg.feedback === rating ? "true" : "false",
            onclick: () => {
              msg.feedback = rating;
              send({ type: "feedback", message_id: msg.id, rating });
              renderMessage(entry);
              el.querySelector(`[data-rating="${rating}"]`).focus();
            },
            "data-rating": rating,
          },
          label,
        );
      kids.push(
        h(
          "div",
          { class: "rate", role: "group", "aria-label": "Was this helpful?" },
          rate("helpful", "Helpful"),
          rate("not_helpful", "Not helpful"),
        ),
      );
    }
    el.replaceChildren(...kids);
  }

  // Keep the newest text in view, unless the visitor scrolled up to read.
  let atBottom = true;
  log.addEventListener("scroll", () => {
    atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 60;
  });
  function follow(force) {
    if (force || atBottom) log.scrollTop = log.scrollHeight;
  }

  function updateTyping() {
    const all = [...state.messages.values()].map((e) => e.msg).sort((a, b) => a.seq - b.seq);
    const last = all[all.length - 1];
    const waitingForBot =
      state.status === "bot" &&
      (state.pending.size > 0 ||
        (last && last.role === "user") ||
        (last && last.role === "bot" && last.status === "streaming" && !last.text));
    const on = state.agentTyping || waitingForBot;
    typing.replaceChildren(
      h("span", { class: "dot" }),
      h("span", { class: "dot" }),
      h("span", { class: "dot" }),
      h("span", null, state.agentTyping ? " An agent is typing…" : ""),
    );
    typing.setAttribute("aria-label", state.agentTyping ? "An agent is typing" : "Typing");
    show(typing, on);
    if (on) log.append(typing);
    follow();
  }

  // ---------------------------------------------------------------- sending

  function savePending() {
    const list = [...state.pending.values()].map(({ client_id, text, attachments }) => ({
      client_id,
      text,
      attachments,
    }));
    save(session, "pending", JSON.stringify(list));
  }

  const messageFrame = ({ client_id, text, attachments }) =>
    attachments && attachments.length
      ? { type: "message", client_id, text, attachments: attachments.map((a) => a.id) }
      : { type: "message", client_id, text };

  function addPending(clientId, text, attachments) {
    const meta = h("div", { class: "meta" }, "Sending…");
    const el = h(
      "div",
      { class: "msg user pending", "data-role": "user", "data-status": "sending" },
      text ? h("div", { class: "bubble" }, text) : null,
      attachments && attachments.length ? renderFiles(attachments) : null,
      meta,
    );
    log.insertBefore(el, typing);
    state.pending.set(clientId, { client_id: clientId, text, attachments, el, meta });
  }

  function submit() {
    const text = input.value.trim();
    if (files.some((f) => f.busy)) {
      notice.textContent = "Please wait until your files are uploaded.";
      return;
    }
    const attachments = files.filter((f) => f.attachment).map((f) => f.attachment);
    if (!text && !attachments.length) return;
    files.length = 0;
    trayList.replaceChildren();
    const clientId = randomId();
    addPending(clientId, text, attachments);
    savePending();
    input.value = "";
    notice.textContent = "";
    if (state.ready) send(messageFrame(state.pending.get(clientId)));
    else if (!state.ws) connect();
    typingSent(false);
    atBottom = true;
    updateTyping();
  }

  let typingOn = false;
  let typingTimer = 0;
  function typingSent(on) {
    if (typingOn !== on && state.ready && state.status === "agent") send({ type: "typing", on });
    typingOn = on;
  }
  function onTypingInput() {
    if (state.status !== "agent") return;
    typingSent(true);
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => typingSent(false), 3000);
  }

  // ---------------------------------------------------------------- status, humans, offline

  let connectionNote = "";
  let statusNote = "";

  function setStatus(frame) {
    const previous = state.status;
    if (typeof frame.status === "string") state.status = frame.status;
    state.offline = Boolean(frame.offline);
    if (state.status === "waiting") {
      statusNote = frame.position
        ? `Waiting for a person — you're number ${frame.position} in line.`
        : "Waiting for a person…";
    } else if (state.status === "agent") {
      statusNote = `${frame.agent_name || "A support agent"} joined the chat.`;
    } else if (state.status === "resolved") {
      statusNote = "This conversation is resolved.";
    } else if (previous === "agent" || previous === "waiting") {
      statusNote = `You're back with ${state.bot.name || "the assistant"}.`;
    } else statusNote = "";
    if (state.offline)
      statusNote = "We're offline right now. Leave a message and we'll e-mail you.";
    if (state.status !== "agent") state.agentTyping = false;
    renderStatus();
    showOffline(state.offline);
    applyUnsupported();
    updateTyping();
  }

  function renderStatus() {
    statusLine.textContent = connectionNote || statusNote;
  }

  function requestHuman() {
    sendWhenReady({ type: "handoff.request" });
    statusNote = "Asking for a person…";
    renderStatus();
  }

  let offlineForm = null;
  function showOffline(on) {
    if (!on) {
      if (offlineForm) offlineForm.remove();
      offlineForm = null;
      return;
    }
    if (offlineForm) return;
    const email = h("input", { type: "email", required: true, autocomplete: "email" });
    const text = h("textarea", { rows: "3", required: true, maxlength: "4000" });
    offlineForm = h(
      "form",
      {
        class: "card",
        "aria-label": "Leave a message",
        onsubmit: (e) => {
          e.preventDefault();
          if (!email.value.trim() || !text.value.trim()) return;
          send({ type: "offline_message", email: email.value.trim(), text: text.value.trim() });
        },
      },
      h(
        "p",
        null,
        "We're offline right now. Leave your e-mail and a message, and we'll get back to you.",
      ),
      h("label", null, "Email", email),
      h("label", null, "Message for the team", text),
      h("button", { class: "primary", type: "submit" }, "Leave a message"),
    );
    log.insertBefore(offlineForm, typing);
  }

  function offlineSaved() {
    if (offlineForm) offlineForm.replaceChildren(h("p", null, "Thanks! We'll e-mail you soon."));
  }

  // ---------------------------------------------------------------- satisfaction survey

  let csatCard = null;
  function showCsat() {
    if (csatCard) return;
    let score = 0;
    const comment = h("textarea", { rows: "2", maxlength: "2000" });
    const stars = [1, 2, 3, 4, 5].map((n) =>
      h(
        "button",
        {
          type: "button",
          class: "chip",
          "aria-pressed": "false",
          "aria-label": `${n} out of 5`,
          onclick: () => {
            score = n;
            stars.forEach((b, i) => b.setAttribute("aria-pressed", String(i + 1 === n)));
          },
        },
        String(n),
      ),
    );
    csatCard = h(
      "form",
      {
        class: "card",
        "aria-label": "Rate this conversation",
        onsubmit: (e) => {
          e.preventDefault();
          if (score) send({ type: "csat", score, comment: comment.value.trim() });
        },
      },
      h("p", null, "How did we do? (1 = poor, 5 = great)"),
      h("div", { class: "row", role: "group", "aria-label": "Score" }, stars),
      h("label", null, "Comment (optional)", comment),
      h("button", { class: "primary", type: "submit" }, "Submit rating"),
    );
    log.insertBefore(csatCard, typing);
    follow(true);
  }

  function csatSaved(frame) {
    if (!csatCard) return;
    const score = frame.score ? ` (${frame.score}/5)` : "";
    csatCard.replaceChildren(h("p", null, `Thanks for rating us${score}!`));
  }

  // ---------------------------------------------------------------- what we remember

  function openMemory() {
    show(log, false);
    show(composer, false);
    show(memoryView, true);
    memoryView.replaceChildren(
      h("h3", { id: "sb-mem", tabindex: "-1" }, "What we remember"),
      h("p", null, "Loading…"),
      h("button", { class: "secondary", type: "button", onclick: closeMemory }, "Back to chat"),
    );
    memoryView.firstChild.focus();
    sendWhenReady({ type: "memory.list" });
    applyUnsupported();
  }

  let memoryNote = "";
  function memoryStatus(text) {
    const line = memoryView.querySelector(".mem-status");
    if (line) line.textContent = text;
  }

  function closeMemory() {
    show(memoryView, false);
    show(log, true);
    show(composer, true);
    input.focus();
  }

  function renderMemory(frame) {
    if (memoryView.hidden) return;
    const items = Array.isArray(frame.items) ? frame.items : [];
    const prefs =
      frame.preferences && typeof frame.preferences === "object" ? frame.preferences : {};
    const summaries = Array.isArray(frame.summaries) ? frame.summaries : [];
    const prefValue = (name) => {
      const p = prefs[name];
      return p == null ? "" : String(typeof p === "object" ? (p.value ?? "") : p);
    };
    const field = (name, el) => {
      el.name = name;
      el.value = prefValue(name);
      return el;
    };
    const select = (options) =>
      h(
        "select",
        null,
        options.map(([v, t]) => h("option", { value: v }, t)),
      );
    const prefForm = h(
      "form",
      {
        class: "card",
        "aria-label": "Preferences",
        onsubmit: (e) => {
          e.preventDefault();
          const data = { type: "preferences.set" };
          for (const el of prefForm.elements) if (el.name) data[el.name] = el.value.trim();
          memoryNote = "Preferences saved.";
          send(data);
        },
      },
      h("h3", null, "Preferences"),
      h(
        "label",
        null,
        "Name",
        field("name", h("input", { autocomplete: "name", maxlength: "100" })),
      ),
      h(
        "label",
        null,
        "Language",
        field("language", h("input", { placeholder: "e.g. English", maxlength: "40" })),
      ),
      h(
        "label",
        null,
        "Answer style",
        field(
          "tone",
          select([
            ["", "No preference"],
            ["brief", "Brief"],
            ["detailed", "Detailed"],
          ]),
        ),
      ),
      h(
        "label",
        null,
        "Preferred channel",
        field(
          "channel",
          select([
            ["", "No preference"],
            ["chat", "Chat"],
            ["email", "E-mail"],
            ["phone", "Phone"],
            ["sms", "SMS"],
            ["whatsapp", "WhatsApp"],
          ]),
        ),
      ),
      h("button", { class: "primary", type: "submit" }, "Save preferences"),
    );
    const alsoMessages = h("input", { type: "checkbox" });
    const confirmRow = h(
      "div",
      { class: "row", hidden: true },
      h("span", null, "Forget everything we remember about you?"),
      h(
        "button",
        {
          class: "danger",
          type: "button",
          onclick: () => send({ type: "memory.delete", all: true, messages: alsoMessages.checked }),
        },
        "Yes, forget everything",
      ),
      h(
        "button",
        { class: "secondary", type: "button", onclick: () => show(confirmRow, false) },
        "Cancel",
      ),
    );
    const download = h(
      "button",
      { class: "secondary", type: "button", onclick: () => send({ type: "memory.export" }) },
      "Download my data",
    );
    memoryControls.set("memory.export", download);
    const note = memoryNote;
    memoryNote = "";
    const parts = [
      h("h3", { id: "sb-mem", tabindex: "-1" }, "What we remember"),
      h("p", { class: "mem-status meta", role: "status" }, note),
      items.length
        ? h(
            "ul",
            { class: "items card" },
            items.map((item) =>
              h(
                "li",
                null,
                h("span", null, String(item.text || "")),
                h(
                  "button",
                  {
                    class: "secondary",
                    type: "button",
                    "aria-label": `Forget: ${String(item.text || "").slice(0, 80)}`,
                    onclick: () => send({ type: "memory.delete", id: item.id }),
                  },
                  "Forget",
                ),
              ),
            ),
          )
        : h("p", null, "Nothing yet."),
      summaries.length
        ? h(
            "div",
            { class: "card" },
            h("h3", null, "Past conversations"),
            h(
              "ul",
              { class: "items" },
              summaries.map((s) =>
                h(
                  "li",
                  null,
                  h(
                    "span",
                    null,
                    s.title ? h("strong", null, String(s.title), " ") : null,
                    typeof s === "string" ? s : String(s.text || ""),
                  ),
                  s.id == null
                    ? null
                    : h(
                        "button",
                        {
                          class: "secondary",
                          type: "button",
                          "aria-label": `Forget: ${String(s.title || "this conversation")}`,
                          onclick: () => send({ type: "memory.delete", summary_id: s.id }),
                        },
                        "Forget",
                      ),
                ),
              ),
            ),
          )
        : null,
      prefForm,
      h(
        "div",
        { class: "card" },
        h("label", { class: "check" }, alsoMessages, "Also delete my conversations"),
        h(
          "div",
          { class: "row" },
          h(
            "button",
            { class: "danger", type: "button", onclick: () => show(confirmRow, true) },
            "Forget everything",
          ),
          download,
        ),
        confirmRow,
      ),
      h("button", { class: "secondary", type: "button", onclick: closeMemory }, "Back to chat"),
    ];
    // Re-rendering removes the focused element: a keyboard or screen-reader user whose focus
    // was in this view (the heading, from openMemory, or a control they used) keeps it here.
    const focusWasHere = memoryView.contains(root.activeElement);
    memoryView.replaceChildren(...parts.filter(Boolean));
    if (focusWasHere) memoryView.firstChild.focus();
    applyUnsupported();
  }

  function downloadJson(data) {
    const blob = new Blob([JSON.stringify(data ?? {}, null, 2)], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: "my-data.json", hidden: true });
    root.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 5000);
  }


  // ---------------------------------------------------------------- attachments

  // Files go over HTTP to a short-lived upload URL the socket hands out (docs/attachments.md);
  // the message then names them by id. The server decides the type by content, whatever the
  // file is called.
  const files = []; // {file, name, el, bar, attachment, error, busy}
  let limits = null;
  let uploadUrl = null; // {url, until}
  let urlWaiters = [];

  const kb = (n) => (n >= 1048576 ? Math.round(n / 1048576) + " MB" : Math.round(n / 1024) + " KB");
  // Server paths only (signed links), made absolute against the widget's own host.
  const abs = (u) =>
    typeof u === "string" && u[0] === "/" && u[1] !== "/" ? new URL(u, SRC).href : null;

  function setUploads(value) {
    limits = value && value.max_bytes ? value : null;
    show(attachButton, Boolean(limits));
    show(recordButton, Boolean(limits && window.MediaRecorder && navigator.mediaDevices));
    show(tray, Boolean(limits));
    if (limits) {
      limitsHint.textContent = `You can attach ${limits.types}; up to ${kb(limits.max_bytes)} each, ${limits.max_files} per message.`;
    }
  }
  setUploads(null);

  function getUploadUrl() {
    if (uploadUrl && uploadUrl.until > Date.now()) return Promise.resolve(uploadUrl.url);
    return new Promise((resolve) => {
      urlWaiters.push(resolve);
      sendWhenReady({ type: "upload.request" });
    });
  }
  function gotUploadUrl(frame) {
    const url = abs(frame.url);
    if (!url) return;
    uploadUrl = { url, until: Date.now() + ((frame.expires_in || 60) - 30) * 1000 };
    if (frame.max_bytes) setUploads(frame);
    for (const resolve of urlWaiters) resolve(url);
    urlWaiters = [];
  }

  function refuse(item, why) {
    item.error = why;
    item.busy = false;
    item.el.className = "bad";
    item.label.textContent = `${item.name}: not attached, ${why}`;
    item.bar.remove();
    notice.textContent = `Couldn't attach ${item.name}: ${why}.`;
  }

  function addFiles(list) {
    if (!limits) return;
    notice.textContent = "";
    for (const file of Array.from(list || [])) {
      const name = String(file.name || "file").slice(0, 80);
      const item = { file, name, busy: true };
      item.label = h("span", null, name);
      item.bar = h("progress", { max: "1", value: "0", "aria-label": "Uploading " + name });
      item.el = h(
        "li",
        null,
        item.label,
        item.bar,
        h(
          "button",
          {
            class: "chip",
            type: "button",
            "aria-label": "Remove " + name,
            onclick: () => {
              if (item.xhr) item.xhr.abort();
              files.splice(files.indexOf(item), 1);
              item.el.remove();
              input.focus();
            },
          },
          "✕",
        ),
      );
      files.push(item);
      trayList.append(item.el);
      if (files.filter((f) => !f.error).length > limits.max_files) {
        refuse(item, `at most ${limits.max_files} files per message`);
      } else if (file.size > limits.max_bytes) {
        refuse(item, `it is over the ${kb(limits.max_bytes)} limit`);
      } else upload(item, true);
    }
  }

  function upload(item, again) {
    getUploadUrl().then((url) => {
      if (!files.includes(item)) return;
      const xhr = (item.xhr = new XMLHttpRequest());
      const form = new FormData();
      form.append("file", item.file, item.name);
      xhr.open("POST", url);
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) item.bar.value = e.loaded / e.total;
      };
      xhr.onerror = () => refuse(item, "the upload failed; check your connection");
      xhr.onload = () => {
        let body = {};
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          /* not JSON: a proxy's page */
        }
        if (xhr.status === 201 && body.attachment) {
          item.attachment = body.attachment;
          item.busy = false;
          item.bar.remove();
          item.label.textContent = item.name + " (ready)";
        } else if (xhr.status === 403 && again && body.error && body.error.code === "expired") {
          uploadUrl = null;
          upload(item, false);
        } else refuse(item, (body.error && body.error.detail) || "the server refused it");
      };
      xhr.send(form);
    });
  }

  function renderFiles(list) {
    return h(
      "div",
      { class: "files" },
      list.map((a) => {
        const url = abs(a.url);
        const name = String(a.name || "file");
        if (!url) return h("span", { class: "meta" }, name);
        if (a.kind === "image")
          return h(
            "a",
            { href: url, target: "_blank", rel: "noopener noreferrer" },
            h("img", { src: url, alt: "Image: " + name, loading: "lazy" }),
          );
        if (a.kind === "audio")
          return h("audio", {
            controls: true,
            preload: "metadata",
            src: url,
            "aria-label": "Voice note: " + name,
          });
        return safeLink(url, "File: " + name, name);
      }),
    );
  }

  // A drop is always taken (refused, the browser would open the file in place of the host's
  // page); before the server's limits arrive, while connecting, the customer is told.
  panel.addEventListener("dragover", (e) => {
    if (!e.dataTransfer || ![...e.dataTransfer.types].includes("Files")) return;
    e.preventDefault();
    panel.classList.toggle("drop", Boolean(limits));
  });
  panel.addEventListener("dragleave", () => panel.classList.remove("drop"));
  panel.addEventListener("drop", (e) => {
    panel.classList.remove("drop");
    if (!e.dataTransfer || !e.dataTransfer.files.length) return;
    e.preventDefault();
    if (limits) addFiles(e.dataTransfer.files);
    else notice.textContent = "Files can't be attached yet; try again in a moment.";
  });
  input.addEventListener("paste", (e) => {
    const pasted = e.clipboardData ? [...e.clipboardData.files] : [];
    if (!limits || !pasted.length) return;
    e.preventDefault(); // a screenshot: attached, not pasted as text
    addFiles(pasted.map((f, i) => (f.name ? f : new File([f], `pasted-${i + 1}.png`, f))));
  });

  // Voice notes: MediaRecorder; the record button toggles, the timer shows how long.
  let recorder = null;
  function toggleRecording() {
    if (recorder) {
      recorder.stop();
      return;
    }
    navigator.mediaDevices.getUserMedia({ audio: true }).then(
      (stream) => {
        const type = ["audio/webm;codecs=opus", "audio/ogg;codecs=opus", "audio/webm"].find(
          (t) => MediaRecorder.isTypeSupported(t),
        );
        const rec = (recorder = new MediaRecorder(stream, type ? { mimeType: type } : {}));
        const chunks = [];
        const started = Date.now();
        const tick = () => {
          const s = Math.floor((Date.now() - started) / 1000);
          recTimer.textContent = `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
          if (s >= 300) rec.stop(); // five minutes at most
        };
        const timer = setInterval(tick, 250);
        rec.ondataavailable = (e) => e.data.size && chunks.push(e.data);
        rec.onstop = () => {
          clearInterval(timer);
          for (const track of stream.getTracks()) track.stop();
          recorder = null;
          show(recRow, false);
          recordButton.setAttribute("aria-pressed", "false");
          const mime = (rec.mimeType || "audio/webm").split(";")[0];
          const ext = mime.includes("ogg") ? "ogg" : "webm";
          addFiles([new File(chunks, `voice-note.${ext}`, { type: mime })]);
          recordButton.focus();
        };
        rec.start(1000);
        tick();
        show(recRow, true);
        recordButton.setAttribute("aria-pressed", "true");
        recRow.querySelector("button").focus();
      },
      () => {
        notice.textContent = "Couldn't record: the microphone is not available or not allowed.";
      },
    );
  }

  // ---------------------------------------------------------------- open / close

  function setOpen(open) {
    state.open = open;
    save(session, "open", open ? "1" : "");
    show(panel, open);
    launcher.setAttribute("aria-label", open ? "Close chat" : "Open chat");
    launcher.setAttribute("aria-expanded", String(open));
    launcher.replaceChildren(svg(open ? CLOSE_ICON : CHAT_ICON));
    if (open) {
      if (!state.ws && !state.ready) {
        state.attempts = 0;
        connect();
      }
      (memoryView.hidden ? input : memoryView.firstChild || input).focus();
      follow(true);
    } else if (root.activeElement && root.activeElement !== launcher) {
      launcher.focus();
    }
  }

  // Messages typed before a reload that never got their ack are sent again (same client_id).
  try {
    for (const item of JSON.parse(load(session, "pending") || "[]")) {
      const attachments = Array.isArray(item && item.attachments) ? item.attachments : [];
      if (item && item.client_id && (item.text || attachments.length))
        addPending(String(item.client_id), String(item.text || ""), attachments);
    }
  } catch {
    /* a damaged entry: drop it */
  }

  const mount = () => {
    document.body.append(host);
    setOpen(load(session, "open") === "1");
    if (state.pending.size && !state.ws) connect();
  };
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
})();
