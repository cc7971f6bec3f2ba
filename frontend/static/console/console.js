/* The agent console: one socket (/ws/console/, session cookie), the live queue and one
   conversation. Plain DOM, no framework; all text goes in through textContent. */
(function () {
  "use strict";
  var page = document.body.getAttribute("data-page");
  if (page !== "queue" && page !== "conversation") return;

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function data(id) { var node = $(id); return node ? JSON.parse(node.textContent) : null; }

  var view = data("conversation-data");
  var me = data("me-data");
  var conversationId = view ? view.id : null;
  var socket = null;
  var backoff = 500;
  var messages = {};  // id -> {data, node}

  function send(frame) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(frame));
  }
  function act(type, extra) {
    var frame = {type: type, conversation_id: conversationId};
    for (var k in extra || {}) frame[k] = extra[k];
    send(frame);
  }

  function connect() {
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + "/ws/console/");
    socket.onopen = function () {
      backoff = 500;
      $("live").className = "live on";
      if (conversationId) send({type: "watch", conversation_id: conversationId});
    };
    socket.onclose = function () {
      $("live").className = "live off";
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
    socket.onmessage = function (event) { handle(JSON.parse(event.data)); };
  }

  // Queue page.
  function renderQueue(frame) {
    var waiting = $("waiting"), mine = $("mine"), online = $("online");
    if (waiting) {
      waiting.textContent = "";
      $("waiting-count").textContent = frame.waiting.length;
      if (!frame.waiting.length) waiting.appendChild(el("li", "Nobody is waiting.", "empty"));
      frame.waiting.forEach(function (c) {
        var li = el("li"); li.setAttribute("data-id", c.id);
        var a = el("a", "#" + c.id + " · " + c.contact); a.href = "/console/c/" + c.id + "/";
        var claim = el("button", "Claim", "claim"); claim.setAttribute("data-id", c.id);
        li.appendChild(a); li.appendChild(el("span", " " + c.reason + " ", "reason")); li.appendChild(claim);
        waiting.appendChild(li);
      });
    }
    if (mine) {
      mine.textContent = "";
      if (!frame.mine.length) mine.appendChild(el("li", "None.", "empty"));
      frame.mine.forEach(function (c) {
        var li = el("li"); li.setAttribute("data-id", c.id);
        var a = el("a", "#" + c.id + " · " + c.contact); a.href = "/console/c/" + c.id + "/";
        li.appendChild(a); mine.appendChild(li);
      });
    }
    if (online) {
      online.textContent = "";
      frame.online.forEach(function (a) { online.appendChild(el("li", a.name)); });
    }
    // The agent's own choice (online / away) holds in every tab.
    if ($("presence") && frame.presence) $("presence").value = frame.presence;
    var target = $("transfer-to");
    if (target) {
      target.textContent = "";
      frame.online.forEach(function (a) {
        if (me && a.id === me.id) return;
        var option = el("option", a.name); option.value = a.id; target.appendChild(option);
      });
    }
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("button.claim") : null;
    if (!button) return;
    var id = parseInt(button.getAttribute("data-id"), 10);
    send({type: "claim", conversation_id: id});
    pendingOpen = id;
  });
  var pendingOpen = null;

  // Conversation page.
  function renderMessage(m) {
    var entry = messages[m.id];
    if (!entry) {
      var li = el("li", null, "message " + m.role);
      li.setAttribute("data-seq", m.seq);
      li.setAttribute("data-role", m.role);
      var who = m.role === "agent" ? (m.author_name || "Agent") : m.role === "user" ? "Customer" : m.role === "bot" ? "Bot" : "System";
      li.appendChild(el("span", who, "who"));
      li.appendChild(el("span", "", "text"));
      li.appendChild(el("span", "", "meta"));
      var list = $("messages"), after = null;
      for (var i = 0; i < list.children.length; i++) {
        if (parseInt(list.children[i].getAttribute("data-seq"), 10) > m.seq) { after = list.children[i]; break; }
      }
      list.insertBefore(li, after);
      entry = messages[m.id] = {data: m, node: li};
    }
    entry.data = m;
    entry.node.querySelector(".text").textContent = m.text;
    entry.node.setAttribute("data-status", m.status);
    var meta = [];
    if (m.status === "streaming") meta.push("typing…");
    if (m.cut) meta.push("stopped: you took over");
    if (m.topic) meta.push(m.topic);
    if (m.sentiment !== null && m.sentiment !== undefined) meta.push("sentiment " + m.sentiment.toFixed(2));
    entry.node.querySelector(".meta").textContent = meta.join(" · ");
    if (m.attachments && m.attachments.length) renderAttachments(entry.node, m.attachments);
    $("messages").scrollTop = $("messages").scrollHeight;
    if (m.role === "bot" && m.sources && m.sources.length && m.status !== "streaming") {
      m.sources.forEach(function (s) { addSource(Object.assign({seq: m.seq}, s)); });
    }
  }
  // Files under the message: a thumbnail, a player or a link, and what was read from them.
  function renderAttachments(node, attachments) {
    var old = node.querySelector(".attachments");
    if (old) old.remove();
    var box = el("div", null, "attachments");
    attachments.forEach(function (a) {
      var item = el("figure", null, "attachment " + a.kind);
      if (a.kind === "image") {
        var img = el("img"); img.src = a.url; img.alt = a.name; img.loading = "lazy";
        var link = el("a"); link.href = a.url; link.target = "_blank"; link.rel = "noopener"; link.appendChild(img);
        item.appendChild(link);
      } else if (a.kind === "audio") {
        var audio = el("audio"); audio.controls = true; audio.src = a.url; audio.setAttribute("aria-label", a.name);
        item.appendChild(audio);
      } else {
        var file = el("a", a.name); file.href = a.url; item.appendChild(file);
      }
      var read = a.status === "done" ? a.text : a.status === "failed" ? "(could not be read)" : "(reading…)";
      var label = a.kind === "audio" ? "Transcript: " : a.kind === "image" ? "Text in the image: " : "Text: ";
      if (read) item.appendChild(el("figcaption", label + read, "attachment-text"));
      box.appendChild(item);
    });
    node.insertBefore(box, node.querySelector(".meta"));
  }
  function addSource(s) {
    var li = el("li", "#" + s.seq + " " + (s.title || s.kind) + (s.snippet ? ": " + s.snippet : ""));
    $("sources").appendChild(li);
  }
  function addNote(n) {
    var li = el("li"); li.appendChild(el("strong", n.author_name + ": ")); li.appendChild(el("span", n.text));
    $("notes").appendChild(li);
  }
  function setStatus(status, assigneeName) {
    $("status").textContent = status;
    $("status").setAttribute("data-status", status);
    $("assignee").textContent = assigneeName || "";
    var mineNow = status === "agent" && assigneeName === (me && me.name);
    $("claim").disabled = !(status === "waiting" || status === "bot");
    $("hand-back").disabled = !mineNow;
    $("resolve").disabled = !mineNow;
    $("transfer").disabled = !mineNow;
    $("reply").disabled = !mineNow;
    $("attach").disabled = !mineNow;
  }
  function setSummary(h) {
    var text = h.summary || (h.summary_status === "pending" || h.summary_status === "running" ? "Writing the summary…" : "");
    $("summary-text").textContent = text;
    $("summary").hidden = !h.reason;
  }
  function initConversation() {
    view.messages.forEach(renderMessage);
    view.notes.forEach(addNote);
    view.sources.forEach(addSource);
    var c = view.contact, dl = $("contact");
    [["Name", c.name], ["E-mail", c.email], ["User id", c.external_id], ["Visitor", c.visitor], ["Conversations", c.conversations]].forEach(function (row) {
      if (row[1] === "" || row[1] === null) return;
      dl.appendChild(el("dt", row[0])); dl.appendChild(el("dd", row[1]));
    });
    c.memories.forEach(function (m) { $("memories").appendChild(el("li", m.text)); });
    Object.keys(c.preferences).forEach(function (k) {
      $("preferences").appendChild(el("dt", k)); $("preferences").appendChild(el("dd", c.preferences[k]));
    });
    view.trail.forEach(function (t) {
      $("trail").appendChild(el("li", "#" + t.seq + " " + (t.topic || "—") + (t.sentiment !== null ? " (" + t.sentiment.toFixed(2) + ")" : "")));
    });
    setSummary(view.handoff);
    setStatus(view.status, view.assignee_name);
    var canned = data("canned-data") || [];
    canned.forEach(function (r, i) { var o = el("option", r.title); o.value = i; $("canned").appendChild(o); });
    $("canned").addEventListener("change", function () {
      var r = canned[parseInt(this.value, 10)]; if (r) $("reply").value = r.text;
    });
    // Files for the next reply: uploaded at once (same checks as the customers'), sent by id.
    var replyFiles = [];
    $("attach").addEventListener("click", function () { $("attach-file").click(); });
    $("attach-file").addEventListener("change", function () {
      Array.prototype.forEach.call(this.files, uploadReplyFile);
      this.value = "";
    });
    function uploadReplyFile(file) {
      var li = el("li"), label = el("span", file.name + " (uploading…)");
      var remove = el("button", "Remove", "remove");
      remove.type = "button"; remove.setAttribute("aria-label", "Remove " + file.name);
      li.appendChild(label); li.appendChild(remove); $("reply-files").appendChild(li);
      var item = {busy: true, node: li}; replyFiles.push(item);
      remove.addEventListener("click", function () {  // not sent; an unsent upload expires
        replyFiles = replyFiles.filter(function (f) { return f !== item; });
        li.remove(); $("attach").focus();
      });
      var form = new FormData(); form.append("file", file, file.name);
      var csrf = document.querySelector("input[name=csrfmiddlewaretoken]");
      fetch("/console/c/" + conversationId + "/uploads", {
        method: "POST", body: form, credentials: "same-origin",
        headers: {"X-CSRFToken": csrf ? csrf.value : ""}
      }).then(function (r) { return r.json().then(function (body) { return {ok: r.status === 201, body: body}; }); })
        .then(function (res) {
          item.busy = false;
          if (res.ok) { item.id = res.body.attachment.id; label.textContent = file.name + " (ready)"; }
          else {
            var why = (res.body.error && res.body.error.detail) || "refused";
            label.textContent = file.name + ": not attached, " + why; $("error").textContent = "Couldn't attach " + file.name + ": " + why;
          }
        }, function () { item.busy = false; label.textContent = file.name + ": upload failed"; });
    }
    $("composer").addEventListener("submit", function (event) {
      event.preventDefault();
      if (replyFiles.some(function (f) { return f.busy; })) { $("error").textContent = "Wait until the files are uploaded."; return; }
      var ids = replyFiles.filter(function (f) { return f.id; }).map(function (f) { return f.id; });
      var text = $("reply").value.trim(); if (!text && !ids.length) return;
      act("send", ids.length ? {text: text, attachments: ids} : {text: text});
      replyFiles = []; $("reply-files").textContent = "";
      $("reply").value = ""; act("typing", {on: false}); typingOn = false;
    });
    var typingOn = false, typingTimer = null;
    $("reply").addEventListener("input", function () {
      if (!typingOn) { typingOn = true; act("typing", {on: true}); }
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { typingOn = false; act("typing", {on: false}); }, 2500);
    });
    $("note-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var text = $("note").value.trim(); if (!text) return;
      act("note", {text: text}); $("note").value = "";
    });
    $("claim").addEventListener("click", function () { act("claim"); });
    $("hand-back").addEventListener("click", function () { act("hand_back"); });
    $("resolve").addEventListener("click", function () { act("resolve"); });
    $("draft").addEventListener("click", function () { $("draft").disabled = true; act("draft"); });
    $("transfer").addEventListener("click", function () {
      var to = parseInt($("transfer-to").value, 10); if (to) act("transfer", {to: to});
    });
  }

  function handle(frame) {
    switch (frame.type) {
      case "queue": renderQueue(frame); break;
      case "ok":
        if (frame.action === "claim" && pendingOpen) location.href = "/console/c/" + pendingOpen + "/";
        if ($("error")) $("error").textContent = "";
        break;
      case "error":
        if ($("error")) $("error").textContent = frame.code + (frame.detail ? ": " + frame.detail : "");
        pendingOpen = null;
        break;
      case "message":
        if (frame.conversation_id === conversationId) renderMessage(frame.message);
        break;
      case "reply.delta":
        var entry = messages[frame.message_id];
        if (entry && frame.offset === entry.data.text.length) {
          entry.data.text += frame.text;
          entry.node.querySelector(".text").textContent = entry.data.text;
        }
        break;
      case "conversation.status":
        if (frame.conversation_id === conversationId) setStatus(frame.status, frame.agent_name);
        break;
      case "typing":
        if ($("customer-typing")) $("customer-typing").hidden = !frame.on;
        break;
      case "note": if (frame.conversation_id === conversationId) addNote(frame); break;
      case "summary": if (frame.conversation_id === conversationId) setSummary(frame); break;
      case "draft":
        if (frame.conversation_id === conversationId) { $("reply").value = frame.text; $("draft").disabled = false; }
        break;
      case "assigned": break;
    }
  }

  var presence = $("presence");
  if (presence) presence.addEventListener("change", function () { send({type: "presence", status: presence.value}); });
  if (page === "conversation") initConversation();
  connect();
})();
