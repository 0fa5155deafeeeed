// Agent console: keyboard shortcuts and live inbox refresh over /ws/agent. No framework.
(function () {
  "use strict";
  var rows = function () { return Array.prototype.slice.call(document.querySelectorAll("#inbox-rows tr.row")); };
  var sel = -1;
  function select(i) {
    var r = rows();
    if (!r.length) return;
    sel = Math.max(0, Math.min(r.length - 1, i));
    r.forEach(function (x, j) { x.classList.toggle("selected", j === sel); });
    r[sel].scrollIntoView({ block: "nearest" });
  }
  function typing(e) {
    var t = e.target;
    return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
  }
  var pendingG = false;
  document.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey) && e.target && e.target.id === "reply-body") {
      e.preventDefault();
      document.getElementById("composer").submit();
      return;
    }
    if (typing(e) || e.ctrlKey || e.metaKey || e.altKey) return;
    if (pendingG) {
      pendingG = false;
      if (e.key === "i") { window.location.href = "/agent"; return; }
    }
    switch (e.key) {
      case "j": select(sel + 1); break;
      case "k": select(sel - 1); break;
      case "o": case "Enter":
        var r = rows();
        if (sel >= 0 && r[sel]) window.location.href = r[sel].getAttribute("data-href");
        break;
      case "/": e.preventDefault(); var s = document.getElementById("search"); if (s) s.focus(); break;
      case "g": pendingG = true; break;
      case "r": case "n":
        var body = document.getElementById("reply-body");
        if (body) {
          e.preventDefault();
          document.getElementById("internal").checked = e.key === "n";
          body.focus();
        }
        break;
      case "?": var h = document.getElementById("shortcuts"); if (h) h.hidden = !h.hidden; break;
    }
  });
  document.addEventListener("click", function (e) {
    var tr = e.target.closest && e.target.closest("#inbox-rows tr.row");
    if (tr && e.target.tagName !== "A") window.location.href = tr.getAttribute("data-href");
  });

  // live refresh: the socket says "something changed"; we re-fetch the rows we are allowed to see
  var tbody = document.getElementById("inbox-rows");
  var ticketEl = document.querySelector("[data-ticket-id]");
  if (!tbody && !ticketEl) return;
  var timer = null;
  function refreshInbox() {
    var url = new URL(window.location.href);
    url.searchParams.set("partial", "1");
    fetch(url.toString(), { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var keep = sel;
        tbody.innerHTML = html;  // server-rendered, escaped by Jinja
        if (keep >= 0) select(keep);
        var live = document.getElementById("live");
        if (live) live.textContent = "updated " + new Date().toLocaleTimeString();
      });
  }
  function alert_(ev) {  // an alert for this agent: text only, a link to what needs them
    var main = document.querySelector(".main");
    if (!main) return;
    var p = document.createElement("p");
    p.className = "alert";
    p.setAttribute("role", "alert");
    var a = document.createElement("a");
    if (ev.alert === "incident_escalated") {
      a.href = "/agent/incidents/" + Number(ev.incident_id);
      a.textContent = "Incident INC-" + Number(ev.incident_id) + " was escalated to you";
    } else {
      a.href = "/agent/tickets/" + Number(ev.ticket_id);
      a.textContent = "A refund failed on ticket " + Number(ev.ticket_id) + " — contact the customer";
    }
    p.appendChild(a);
    main.prepend(p);
  }
  function connect(delay) {
    var proto = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + window.location.host + "/ws/agent");
    ws.onmessage = function (m) {
      var ev = JSON.parse(m.data);
      if (ev.type === "ping") return;
      if (ev.type === "AgentAlert") { alert_(ev); return; }
      if (tbody) { clearTimeout(timer); timer = setTimeout(refreshInbox, 150); }
      if (ticketEl && String(ev.ticket_id) === ticketEl.getAttribute("data-ticket-id")) {
        var notice = document.getElementById("ticket-updated");
        if (!notice) {
          notice = document.createElement("p");
          notice.id = "ticket-updated";
          notice.className = "success";
          notice.setAttribute("role", "status");
          var a = document.createElement("a");
          a.href = window.location.pathname;
          a.textContent = "This ticket changed — reload";
          notice.appendChild(a);
          ticketEl.querySelector(".main").prepend(notice);
        }
      }
    };
    ws.onclose = function () { setTimeout(function () { connect(Math.min((delay || 500) * 2, 15000)); }, delay || 500); };
  }
  connect(500);
})();
