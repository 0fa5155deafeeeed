/* TOPAY live-chat widget. Embed: <script src="https://desk.example/widget.js" async></script>
 * Optional attributes: data-locale="zh-CN|en". Vanilla JS, no dependencies.
 * Runs on third-party pages: everything lives in a shadow root (no global CSS leaks either way),
 * styles come from /static/widget.css (no inline <style>, so a strict CSP is fine), all text is
 * inserted with textContent (never HTML). Protocol: docs/subsystems/live-chat.md.
 */
(function () {
  "use strict";
  if (window.__topayChat) return;
  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  var BASE = new URL(script && script.src ? script.src : "/widget.js", location.href).origin;
  var WS_URL = BASE.replace(/^http/, "ws") + "/ws/chat";
  var KEY = "topay-chat:" + BASE;
  var lang = (script && script.getAttribute("data-locale")) || document.documentElement.lang || navigator.language || "en";
  var L = /^zh/i.test(lang) ? "zh-CN" : "en";

  var T = {
    en: {
      open: "Chat with TOPAY support", title: "TOPAY support", close: "Close chat",
      intro: "Hi! Tell us who you are and what it is about; the assistant answers at once, an agent takes over when needed.",
      name: "Name", email: "Email", phone: "Phone (optional if email given)", topic: "Topic",
      topics: { account: "Account", transactions: "Payments and refunds", technical: "Technical problem", complaint: "Complaint", general: "Other question" },
      start: "Start chat", send: "Send", message: "Message", attach: "Attach a file",
      emailInstead: "Contact us by email instead", offlineTitle: "Leave us a message",
      offlineBody: "Your message", offlineSend: "Send by email", back: "Back to chat",
      typing: "Support is typing…", queue: function (p, s) { return "You are number " + p + " in the queue. Expected wait: about " + mins(s) + "."; },
      joined: function (n) { return n + " joined the chat."; }, transferred: "You are being transferred to another agent.",
      ended: "This chat has ended. The transcript stays with your ticket; we will follow up by email if needed.",
      newChat: "Start a new chat", human: "Talk to a person", sending: "sending", sent: "sent", read: "read", failed: "not sent — retrying",
      offline: "Connection lost — reconnecting…", you: "You", agent: "Agent", bot: "Assistant",
      needContact: "Please give an email address or a phone number.", tooFast: "You are sending too fast; retrying shortly.",
      thanks: "Thank you. ", never: "TOPAY support never asks for your password, verification code or recovery phrase."
    },
    "zh-CN": {
      open: "联系 TOPAY 在线客服", title: "TOPAY 在线客服", close: "关闭对话",
      intro: "您好！请告诉我们您的称呼和问题类型；智能助手会立即回复，需要时由人工客服接手。",
      name: "称呼", email: "邮箱", phone: "手机号（已填邮箱可不填）", topic: "问题类型",
      topics: { account: "账户", transactions: "支付与退款", technical: "技术问题", complaint: "投诉", general: "其他问题" },
      start: "开始对话", send: "发送", message: "消息", attach: "添加附件",
      emailInstead: "改用邮件联系我们", offlineTitle: "给我们留言",
      offlineBody: "留言内容", offlineSend: "通过邮件发送", back: "返回对话",
      typing: "客服正在输入…", queue: function (p, s) { return "您前面还有 " + (p - 1) + " 位，预计等待约 " + mins(s) + "。"; },
      joined: function (n) { return n + " 已加入对话。"; }, transferred: "正在为您转接其他客服。",
      ended: "本次对话已结束。聊天记录已保存在您的工单中，如有需要我们会通过邮件跟进。",
      newChat: "开始新对话", human: "转人工客服", sending: "发送中", sent: "已送达", read: "已读", failed: "发送失败，正在重试",
      offline: "网络已断开，正在重新连接…", you: "我", agent: "客服", bot: "智能助手",
      needContact: "请填写邮箱或手机号。", tooFast: "发送太快了，稍后将自动重试。",
      thanks: "感谢您的留言。", never: "TOPAY 客服绝不会索要您的密码、验证码或助记词。"
    }
  }[L];
  function mins(s) { var m = Math.max(1, Math.round(s / 60)); return L === "zh-CN" ? m + " 分钟" : m + (m === 1 ? " minute" : " minutes"); }

  // ------------------------------------------------------------------ state (survives reloads)
  var st = load();
  function load() {
    try { return JSON.parse(localStorage.getItem(KEY)) || {}; } catch (e) { return {}; }
  }
  function save() { try { localStorage.setItem(KEY, JSON.stringify(st)); } catch (e) { /* private mode */ } }
  function reset() { st = {}; save(); }
  st.outbox = st.outbox || [];
  st.lastSeq = st.lastSeq || 0;

  // ------------------------------------------------------------------ DOM helpers
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") e.textContent = attrs[k];
      else if (k === "on") for (var ev in attrs.on) e.addEventListener(ev, attrs.on[ev]);
      else if (attrs[k] !== null && attrs[k] !== undefined) e.setAttribute(k, attrs[k]);
    }
    (kids || []).forEach(function (c) { if (c) e.appendChild(c); });
    return e;
  }
  function field(id, label, input) {
    return el("div", { "class": "field" }, [el("label", { "for": id, text: label }), input]);
  }

  var host = el("div", { id: "topay-chat", "data-topay-chat": "" });
  var root = host.attachShadow({ mode: "open" });
  root.appendChild(el("link", { rel: "stylesheet", href: BASE + "/static/widget.css" }));

  var launcher = el("button", { "class": "launcher", type: "button", "aria-label": T.open, "aria-expanded": "false", "aria-controls": "tc-panel", text: "💬" });
  var panel = el("section", { id: "tc-panel", "class": "panel", role: "dialog", "aria-label": T.title, hidden: "" });
  var closeBtn = el("button", { "class": "close", type: "button", "aria-label": T.close, text: "×" });
  var status = el("p", { "class": "status", role: "status", "aria-live": "polite" });
  panel.appendChild(el("header", {}, [el("h2", { text: T.title }), closeBtn]));
  panel.appendChild(status);
  var views = el("div", { "class": "views" });
  panel.appendChild(views);
  root.appendChild(launcher);
  root.appendChild(panel);

  // pre-chat form
  var fName = el("input", { id: "tc-name", name: "name", autocomplete: "name", required: "", maxlength: "200" });
  var fEmail = el("input", { id: "tc-email", name: "email", type: "email", autocomplete: "email", maxlength: "254" });
  var fPhone = el("input", { id: "tc-phone", name: "phone", type: "tel", autocomplete: "tel", maxlength: "40" });
  var fTopic = el("select", { id: "tc-topic", name: "topic" });
  Object.keys(T.topics).forEach(function (k) { fTopic.appendChild(el("option", { value: k, text: T.topics[k] })); });
  var preErr = el("p", { "class": "error", role: "alert" });
  var pre = el("form", { "class": "prechat", "aria-label": T.start, novalidate: "" }, [
    el("p", { text: T.intro }),
    field("tc-name", T.name, fName), field("tc-email", T.email, fEmail), field("tc-phone", T.phone, fPhone),
    field("tc-topic", T.topic, fTopic), preErr,
    el("button", { type: "submit", "class": "primary", text: T.start }),
    el("p", { "class": "note", text: T.never })
  ]);

  // chat view
  var list = el("ol", { "class": "messages", role: "log", "aria-live": "polite", "aria-label": T.title, tabindex: "0" });
  var typing = el("p", { "class": "typing", hidden: "", text: T.typing });
  var queueInfo = el("p", { "class": "queue", role: "status", hidden: "" });
  var input = el("textarea", { id: "tc-input", rows: "2", maxlength: "4000", "aria-label": T.message, placeholder: T.message });
  var file = el("input", { id: "tc-file", type: "file", "class": "file" });
  var composer = el("form", { "class": "composer" }, [
    input,
    el("label", { "for": "tc-file", "class": "attach", title: T.attach, "aria-label": T.attach, text: "📎" }), file,
    el("button", { type: "submit", "class": "primary", text: T.send })
  ]);
  var endedBox = el("div", { "class": "ended", hidden: "" }, [
    el("p", { text: T.ended }),
    el("button", { type: "button", "class": "primary", text: T.newChat, on: { click: function () { disconnect(); reset(); show("pre"); } } })
  ]);
  var humanBtn = el("button", { type: "button", "class": "link human", hidden: "", text: T.human, on: { click: function () { if (ws && ready) ws.send('{"type":"human"}'); humanBtn.hidden = true; } } });
  var chatView = el("div", { "class": "chat" }, [queueInfo, list, typing, humanBtn, composer, endedBox]);

  // offline ("contact us by email instead")
  var oName = el("input", { id: "tc-oname", autocomplete: "name", required: "", maxlength: "200" });
  var oEmail = el("input", { id: "tc-oemail", type: "email", autocomplete: "email", required: "", maxlength: "254" });
  var oBody = el("textarea", { id: "tc-obody", rows: "4", required: "", maxlength: "20000" });
  var oResult = el("p", { "class": "result", role: "status" });
  var offlineForm = el("form", { "class": "offline", "aria-label": T.offlineTitle }, [
    el("h3", { text: T.offlineTitle }),
    field("tc-oname", T.name, oName), field("tc-oemail", T.email, oEmail), field("tc-obody", T.offlineBody, oBody),
    el("button", { type: "submit", "class": "primary", text: T.offlineSend }), oResult,
    el("button", { type: "button", "class": "link", text: T.back, on: { click: function () { show(st.token ? "chat" : "pre"); } } })
  ]);
  var emailLink = el("button", { type: "button", "class": "link email-instead", text: T.emailInstead, on: { click: function () { show("offline"); } } });
  views.appendChild(pre); views.appendChild(chatView); views.appendChild(offlineForm);
  panel.appendChild(el("footer", {}, [emailLink]));

  function show(which) {
    pre.hidden = which !== "pre"; chatView.hidden = which !== "chat"; offlineForm.hidden = which !== "offline";
    emailLink.hidden = which === "offline";
    var first = which === "pre" ? fName : which === "offline" ? (oName.value ? oBody : oName) : input;
    if (!panel.hidden) setTimeout(function () { first.focus(); }, 0);
    if (which === "offline") { oName.value = oName.value || st.name || ""; oEmail.value = oEmail.value || st.email || ""; }
  }

  function openPanel() {
    panel.hidden = false; launcher.setAttribute("aria-expanded", "true");
    show(st.token ? "chat" : "pre");
    if (st.token) { connect(); sendRead(); }
  }
  function closePanel() { panel.hidden = true; launcher.setAttribute("aria-expanded", "false"); launcher.focus(); }
  launcher.addEventListener("click", function () { panel.hidden ? openPanel() : closePanel(); });
  closeBtn.addEventListener("click", closePanel);
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") closePanel(); });

  // ------------------------------------------------------------------ HTTP
  function post(path, body, headers) {
    return fetch(BASE + path, { method: "POST", headers: headers || { "Content-Type": "application/json" }, body: body })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) throw j; return j; }); });
  }

  pre.addEventListener("submit", function (e) {
    e.preventDefault();
    preErr.textContent = "";
    if (!fName.value.trim()) { preErr.textContent = T.name + " ✱"; fName.focus(); return; }
    if (!fEmail.value.trim() && !fPhone.value.trim()) { preErr.textContent = T.needContact; fEmail.focus(); return; }
    post("/chat/start", JSON.stringify({ name: fName.value, email: fEmail.value || null, phone: fPhone.value || null, topic: fTopic.value, locale: L }))
      .then(function (r) {
        st = { token: r.token, session: r.session, lastSeq: 0, outbox: [], name: fName.value, email: fEmail.value };
        save(); list.textContent = ""; shownUpTo = 0; bySeq = {}; byClient = {};
        composer.hidden = false; endedBox.hidden = true; show("chat"); connect();
      })
      .catch(function (err) { preErr.textContent = (err && err.error && err.error.message) || T.offline; });
  });

  offlineForm.addEventListener("submit", function (e) {
    e.preventDefault();
    post("/chat/offline", JSON.stringify({ name: oName.value, email: oEmail.value, body: oBody.value, locale: L }))
      .then(function (r) { oResult.textContent = T.thanks + r.promise[L]; oBody.value = ""; })
      .catch(function (err) { oResult.textContent = (err && err.error && err.error.message) || T.offline; });
  });

  // ------------------------------------------------------------------ messages
  var byClient = {}; // client_id -> <li>
  var bySeq = {};
  function tick(li, state) {
    li.setAttribute("data-state", state);
    var t = li.querySelector(".tick");
    if (t) { t.textContent = { sending: "🕓", sent: "✓", read: "✓✓", failed: "!" }[state] || ""; t.setAttribute("aria-label", T[state] || state); }
  }
  function addMessage(author, body, name, opts) {
    opts = opts || {};
    var who = author === "customer" ? T.you : author === "bot" ? T.bot : (name || T.agent);
    var li = el("li", { "class": "msg " + author }, [
      el("span", { "class": "who", text: who }),
      el("p", { "class": "body", text: body })
    ]);
    (opts.attachments || []).forEach(function (a) { li.appendChild(el("span", { "class": "file-name", text: "📄 " + a.filename })); });
    (opts.articles || []).forEach(function (a) { if (a && a.title) li.appendChild(el("span", { "class": "article", text: "📘 " + a.title })); });
    if (opts.survey_url && /^https?:\/\//.test(opts.survey_url)) li.appendChild(el("a", { "class": "survey-link", href: opts.survey_url, target: "_blank", rel: "noopener", text: L === "zh-CN" ? "⭐ 评价本次服务" : "⭐ Rate this conversation" }));  // CSAT prompt
    if (author === "customer") li.appendChild(el("span", { "class": "tick", role: "img" }));
    list.appendChild(li);
    list.scrollTop = list.scrollHeight;
    return li;
  }
  function systemLine(text) { list.appendChild(el("li", { "class": "msg system", text: text })); list.scrollTop = list.scrollHeight; }

  function newId() { return "w" + Date.now().toString(36) + Math.random().toString(36).slice(2, 8); }
  composer.addEventListener("submit", function (e) { e.preventDefault(); submit(); });
  input.addEventListener("keydown", function (e) { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); submit(); } });
  function submit() {
    var body = input.value.trim();
    if (!body) return;
    input.value = "";
    var item = { client_id: newId(), body: body };
    st.outbox.push(item); save();
    tick(byClient[item.client_id] = addMessage("customer", body), "sending");
    transmit(item);
    typingOff();
  }
  function transmit(item) { if (ws && ws.readyState === 1 && ready) ws.send(JSON.stringify({ type: "send", client_id: item.client_id, body: item.body })); }

  file.addEventListener("change", function () {
    var f = file.files && file.files[0];
    if (!f || !st.token) return;
    var cid = newId();
    var li = byClient[cid] = addMessage("customer", "[" + f.name + "]", null, { attachments: [] });
    tick(li, "sending");
    var fd = new FormData(); fd.append("file", f); fd.append("client_id", cid);
    post("/chat/upload", fd, { "X-Chat-Token": st.token })
      .then(function () { tick(li, "sent"); })
      .catch(function (err) { tick(li, "failed"); li.querySelector(".body").textContent += " — " + ((err && err.error && err.error.message) || T.failed); });
    file.value = "";
  });

  // typing indicator (ours → agent), throttled
  var typingSent = 0, typingTimer = null;
  input.addEventListener("input", function () {
    var now = Date.now();
    if (now - typingSent > 3000 && ws && ready) { ws.send('{"type":"typing","on":true}'); typingSent = now; }
    clearTimeout(typingTimer); typingTimer = setTimeout(typingOff, 4000);
  });
  function typingOff() { if (typingSent && ws && ready) ws.send('{"type":"typing","on":false}'); typingSent = 0; }

  var readSent = 0, lastOther = 0;
  function sendRead() {
    if (!panel.hidden && document.visibilityState === "visible" && lastOther > readSent && ws && ready) {
      ws.send(JSON.stringify({ type: "read", seq: lastOther })); readSent = lastOther;
    }
  }
  document.addEventListener("visibilitychange", sendRead);

  // ------------------------------------------------------------------ socket
  var ws = null, ready = false, retry = 0, timer = null, lastHeard = 0, typingHide = null;
  function connect() {
    if (!st.token || (ws && ws.readyState <= 1)) return;
    ready = false;
    ws = new WebSocket(WS_URL);
    // after a page load the DOM is empty: replay the whole chat; after a drop: only what was missed
    ws.onopen = function () { ws.send(JSON.stringify({ type: "hello", token: st.token, last_seq: shownUpTo })); lastHeard = Date.now(); };
    ws.onmessage = function (m) { lastHeard = Date.now(); var ev; try { ev = JSON.parse(m.data); } catch (e) { return; } handle(ev); };
    ws.onclose = function (e) {
      ready = false; ws = null;
      if (e.code === 4401 || e.code === 4403) { reset(); show("pre"); return; }
      if (!st.token) return;
      status.textContent = T.offline;
      var delay = Math.min(15000, 500 * Math.pow(2, retry++)) * (0.5 + Math.random());
      clearTimeout(timer); timer = setTimeout(connect, delay);
    };
  }
  function disconnect() { var w = ws; ws = null; if (w) { w.onclose = null; w.close(); } }
  // heartbeat: a socket silent for 60 s is dead even if the browser has not noticed
  setInterval(function () {
    if (ws && ready) {
      if (Date.now() - lastHeard > 60000) { ws.close(); return; }
      ws.send('{"type":"ping"}');
    }
  }, 20000);
  window.addEventListener("online", function () { if (st.token) { retry = 0; connect(); } });

  var shownUpTo = 0;
  function handle(ev) {
    var seq = ev.seq;
    if (typeof seq === "number" && ev.type !== "ack") {
      if (seq <= shownUpTo) return;
      shownUpTo = seq;
      if (seq > st.lastSeq) { st.lastSeq = seq; save(); }
    }
    switch (ev.type) {
      case "welcome":
        ready = true; retry = 0; status.textContent = "";
        if (ev.status === "ended") { composer.hidden = true; endedBox.hidden = false; }
        humanBtn.hidden = ev.status !== "bot";
        if (ev.queue) showQueue(ev.queue);
        st.outbox.forEach(function (item) {
          if (!byClient[item.client_id]) tick(byClient[item.client_id] = addMessage("customer", item.body), "sending");
          transmit(item);
        });
        markRead(ev.agent_read_seq);
        break;
      case "ack":
        st.outbox = st.outbox.filter(function (i) { return i.client_id !== ev.client_id; }); save();
        if (byClient[ev.client_id]) { tick(byClient[ev.client_id], "sent"); byClient[ev.client_id].setAttribute("data-seq", ev.seq); }
        break;
      case "message":
        if (ev.author === "customer" && ev.client_id && byClient[ev.client_id]) {
          bySeq[seq] = byClient[ev.client_id]; byClient[ev.client_id].setAttribute("data-seq", seq);
          if (byClient[ev.client_id].getAttribute("data-state") !== "read") tick(byClient[ev.client_id], "sent");
          break;
        }
        var li = bySeq[seq] = addMessage(ev.author, ev.body, ev.author_name, ev);
        li.setAttribute("data-seq", seq);
        if (ev.author === "customer") { tick(li, "sent"); if (ev.client_id) byClient[ev.client_id] = li; }
        else { lastOther = Math.max(lastOther, seq); typing.hidden = true; sendRead(); }
        if (ev.offline) emailLink.classList.add("highlight");
        if (ev.author === "bot" && !ev.offline) humanBtn.hidden = false;
        break;
      case "queued": bySeq[seq] = true; humanBtn.hidden = true; break;
      case "queue": showQueue(ev); break;
      case "joined": bySeq[seq] = true; queueInfo.hidden = true; systemLine(T.joined(ev.agent_name || T.agent)); break;
      case "transferred": bySeq[seq] = true; systemLine(T.transferred); break;
      case "ended": bySeq[seq] = true; composer.hidden = true; endedBox.hidden = false; queueInfo.hidden = true; break;
      case "typing":
        if (ev.author !== "customer") {
          typing.hidden = !ev.on; clearTimeout(typingHide);
          if (ev.on) typingHide = setTimeout(function () { typing.hidden = true; }, 8000);
        }
        break;
      case "read": if (ev.author === "agent") markRead(ev.upto); break;
      case "error":
        if (ev.code === "rate_limited") {
          status.textContent = T.tooFast;
          setTimeout(function () { st.outbox.filter(function (i) { return i.client_id === ev.client_id; }).forEach(transmit); }, (ev.retry_after || 1) * 1000 + 200);
        } else if (ev.code === "conflict" && ev.client_id === undefined) {
          composer.hidden = true; endedBox.hidden = false;
        } else if (ev.message) status.textContent = ev.message;
        break;
    }
  }
  function showQueue(q) { queueInfo.hidden = false; queueInfo.textContent = T.queue(q.position, q.expected_wait_seconds); }
  function markRead(upto) {
    if (!upto) return;
    var items = list.querySelectorAll("li.customer[data-seq]");
    for (var i = 0; i < items.length; i++) if (+items[i].getAttribute("data-seq") <= upto) tick(items[i], "read");
  }

  function mount() {
    document.body.appendChild(host);
    if (st.token) { show("chat"); connect(); } else show("pre");
  }
  window.__topayChat = { open: openPanel, close: closePanel, locale: L };
  if (document.body) mount(); else document.addEventListener("DOMContentLoaded", mount);
})();
