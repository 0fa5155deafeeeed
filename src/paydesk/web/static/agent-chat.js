/* Agent chat console (/agent/chat): waiting queue, my chats, live transcript, typing and read
 * state, presence and capacity, accept / transfer / end. Protocol: docs/subsystems/live-chat.md.
 * All text goes in with textContent. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var ws = null, retry = 0, current = null;
  var chats = {};   // session -> {info, events: [], lastSeq, visitorRead, li}
  var waiting = {}; // session -> summary
  var myId = null;

  function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
  function send(frame) { if (ws && ws.readyState === 1) ws.send(JSON.stringify(frame)); }
  function cid() { return "a" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8); }
  function setConn(text) { $("conn-state").textContent = text; }

  function connect() {
    ws = new WebSocket(location.origin.replace(/^http/, "ws") + "/ws/agent-chat");
    ws.onopen = function () { send({ type: "hello", status: $("presence").value }); };
    ws.onmessage = function (m) { handle(JSON.parse(m.data)); };
    ws.onclose = function (e) {
      setConn("disconnected — reconnecting…");
      if (e.code === 4401) { location.href = "/agent/login?next=/agent/chat"; return; }
      setTimeout(connect, Math.min(15000, 500 * Math.pow(2, retry++)));
    };
  }
  setInterval(function () { send({ type: "ping" }); }, 20000);

  function handle(ev) {
    switch (ev.type) {
      case "welcome":
        retry = 0; myId = ev.agent_id; setConn("connected");
        $("capacity").value = ev.presence.capacity;
        waiting = {}; ev.waiting.forEach(function (w) { waiting[w.session] = w; });
        renderWaiting();
        ev.mine.forEach(function (c) { chats[c.session] = chats[c.session] || newChat(c); chats[c.session].events = []; chats[c.session].lastSeq = 0; send({ type: "watch", session: c.session, after: 0 }); });
        renderMine();
        break;
      case "offer": waiting[ev.session] = ev; renderWaiting(); if (ev.agents && ev.agents.indexOf(myId) >= 0) notify(ev); break;
      case "taken": delete waiting[ev.session]; renderWaiting(); break;
      case "accepted": delete waiting[ev.session]; renderWaiting(); break;
      case "watching":
        chats[ev.session] = chats[ev.session] || newChat(ev);
        chats[ev.session].info = ev; chats[ev.session].visitorRead = ev.visitor_read_seq;
        renderMine(); if (!current) select(ev.session);
        break;
      case "transferred_to_you": break;
      case "transferred_away": drop(ev.session); break;
      case "message": case "joined": case "queued": case "transferred": case "ended":
        var c = chats[ev.session]; if (!c) return;
        if (ev.seq <= c.lastSeq) return;
        c.lastSeq = ev.seq; c.events.push(ev);
        if (ev.type === "ended") { c.info.status = "ended"; }
        if (ev.type === "transferred" && ev.to_agent_id && ev.to_agent_id !== myId) { drop(ev.session); return; }
        if (ev.session === current) { renderEvent(ev); if (ev.author === "customer") readUpTo(ev.seq); $("typing").hidden = true; }
        else if (ev.author === "customer") { c.unread = true; renderMine(); }
        if (ev.type === "ended" && ev.session === current) showActions();
        break;
      case "typing": if (ev.session === current && ev.author === "customer") { $("typing").hidden = !ev.on; } break;
      case "read":
        if (ev.author === "customer" && chats[ev.session]) { chats[ev.session].visitorRead = ev.upto; if (ev.session === current) markSeen(ev.upto); }
        break;
      case "ack": break;
      case "presence_set": $("presence").value = ev.status; $("capacity").value = ev.capacity; break;
      case "error": setConn("error: " + ev.message); break;
    }
  }

  function newChat(info) { return { info: info, events: [], lastSeq: 0, visitorRead: info.visitor_read_seq || 0 }; }
  function drop(session) { var c = chats[session]; if (!c) return; send({ type: "unwatch", session: session }); delete chats[session]; if (current === session) { current = null; $("transcript").textContent = ""; $("composer").hidden = true; $("chat-actions").hidden = true; $("chat-title").textContent = "No chat selected"; } renderMine(); }
  function notify(ev) { document.title = "(new chat) " + document.title.replace(/^\(new chat\) /, ""); }

  function renderWaiting() {
    var ul = $("waiting"); ul.textContent = "";
    var keys = Object.keys(waiting);
    $("waiting-count").textContent = keys.length;
    keys.forEach(function (k) {
      var w = waiting[k], li = el("li");
      var b = el("button", "chat-item", w.name + " · " + (w.topic || "") + " · " + (w.locale || ""));
      b.type = "button"; b.setAttribute("aria-label", "Accept chat with " + w.name);
      if (w.status === "offline") b.appendChild(el("span", "muted", " (offline promise sent)"));
      b.addEventListener("click", function () { send({ type: "accept", session: k }); });
      li.appendChild(b); ul.appendChild(li);
    });
  }
  function renderMine() {
    var ul = $("mine"); ul.textContent = "";
    Object.keys(chats).forEach(function (k) {
      var c = chats[k], li = el("li");
      var b = el("button", "chat-item" + (k === current ? " current" : "") + (c.unread ? " unread" : ""), (c.info.name || k) + (c.info.status === "ended" ? " (ended)" : ""));
      b.type = "button"; b.addEventListener("click", function () { select(k); });
      if (k === current) b.setAttribute("aria-current", "true");
      li.appendChild(b); ul.appendChild(li);
    });
  }
  function select(session) {
    current = session; var c = chats[session]; c.unread = false;
    $("chat-title").textContent = c.info.name + " — " + (c.info.topic || "");
    var t = $("transcript"); t.textContent = "";
    c.events.forEach(renderEvent);
    markSeen(c.visitorRead);
    showActions(); renderMine();
    var last = c.events.filter(function (e) { return e.author === "customer"; }).pop();
    if (last) readUpTo(last.seq);
    loadContext(session);
    $("chat-input").focus();
  }
  function showActions() {
    var c = chats[current]; var open = c && c.info.status !== "ended";
    $("composer").hidden = !open; $("chat-actions").hidden = !open;
  }
  function renderEvent(ev) {
    var t = $("transcript"), li;
    if (ev.type === "message") {
      li = el("li", "msg " + ev.author);
      li.appendChild(el("span", "who", ev.author === "customer" ? (chats[current].info.name || "Customer") : (ev.author_name || ev.author)));
      li.appendChild(el("p", "body", ev.body));
      (ev.attachments || []).forEach(function (a) { var x = el("a", "file-name", "📄 " + a.filename); x.href = "/agent/attachments/" + a.id; li.appendChild(x); });
      if (ev.author === "agent") li.appendChild(el("span", "tick", "✓"));
      li.setAttribute("data-seq", ev.seq);
    } else {
      var text = { joined: (ev.agent_name || "Agent") + " joined", queued: "Waiting for an agent", transferred: "Transferred", ended: "Chat ended by " + (ev.by || "") }[ev.type];
      li = el("li", "msg system", text);
    }
    t.appendChild(li); t.scrollTop = t.scrollHeight;
  }
  function markSeen(upto) {
    var items = document.querySelectorAll("#transcript li.agent[data-seq]");
    for (var i = 0; i < items.length; i++) if (+items[i].getAttribute("data-seq") <= upto) { var tk = items[i].querySelector(".tick"); if (tk) { tk.textContent = "✓✓ seen"; } }
  }
  function readUpTo(seq) { if (document.visibilityState === "visible") send({ type: "read", session: current, seq: seq }); }

  function loadContext(session) {
    fetch("/agent/chat/context/" + encodeURIComponent(session), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        if (session !== current) return;
        var cust = $("customer"); cust.textContent = "";
        var tk = d.ticket;
        if (tk && tk.customer) {
          cust.appendChild(el("p", null, tk.customer.name || ""));
          cust.appendChild(el("p", "muted", [tk.customer.email, tk.customer.phone].filter(Boolean).join(" · ")));
          var a = el("a", null, "Ticket #" + tk.number); a.href = "/agent/tickets/" + tk.id; cust.appendChild(a);
        }
        var h = $("history"); h.textContent = "";
        (d.history || []).forEach(function (x) { var li = el("li"); var a = el("a", null, "#" + x.number + " " + x.subject + " (" + x.status + ", " + x.channel + ")"); a.href = "/agent/tickets/" + x.id; li.appendChild(a); h.appendChild(li); });
        var tl = $("timeline"); tl.textContent = "";
        ((tk && tk.messages) || []).slice(-30).forEach(function (m) { tl.appendChild(el("li", "muted", "[" + m.channel + "] " + (m.author_name || m.author_type) + ": " + m.body.slice(0, 200))); });
      });
  }

  $("composer").addEventListener("submit", function (e) { e.preventDefault(); sendReply(); });
  $("chat-input").addEventListener("keydown", function (e) { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); sendReply(); } });
  var typingAt = 0;
  $("chat-input").addEventListener("input", function () { if (current && Date.now() - typingAt > 3000) { typingAt = Date.now(); send({ type: "typing", session: current, on: true }); } });
  function sendReply() {
    var body = $("chat-input").value.trim(); if (!body || !current) return;
    send({ type: "send", session: current, client_id: cid(), body: body });
    $("chat-input").value = ""; typingAt = 0; send({ type: "typing", session: current, on: false });
  }
  $("end").addEventListener("click", function () { if (current) send({ type: "end", session: current }); });
  $("transfer").addEventListener("click", function () {
    var to = $("transfer-to").value.trim(); if (!to || !current) return;
    send(/^\d+$/.test(to) ? { type: "transfer", session: current, agent_id: +to } : { type: "transfer", session: current, queue: to });
  });
  $("presence").addEventListener("change", function () { send({ type: "presence", status: $("presence").value }); });
  $("capacity").addEventListener("change", function () { send({ type: "capacity", value: +$("capacity").value }); });
  document.addEventListener("visibilitychange", function () { if (current) { var c = chats[current]; var last = c.events.filter(function (e) { return e.author === "customer"; }).pop(); if (last) readUpTo(last.seq); } });
  connect();
})();
