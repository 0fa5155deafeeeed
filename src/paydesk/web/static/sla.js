// SLA: the dashboard's live refresh (like the inbox: /ws/agent says "something changed", we
// re-fetch the server-rendered, escaped body; plus a timer, since clocks cross thresholds with
// no event) and the CSRF token of the ticket page's SLA forms (copied from the page's meta tag).
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  document.querySelectorAll("form.sla-form input[name=csrf_token]").forEach(function (el) {
    if (meta && !el.value) el.value = meta.getAttribute("content");
  });
  var body = document.getElementById("supervisor-body");
  if (!body) return;
  var timer = null;
  function refresh() {
    var url = new URL(window.location.href);
    url.searchParams.set("partial", "1");
    fetch(url.toString(), { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        body.innerHTML = html;
        var live = document.getElementById("sup-live");
        if (live) live.textContent = live.getAttribute("data-label") + " " + new Date().toLocaleTimeString();
      });
  }
  function soon() { clearTimeout(timer); timer = setTimeout(refresh, 300); }
  setInterval(refresh, 60000);
  function connect(delay) {
    var proto = window.location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(proto + window.location.host + "/ws/agent");
    ws.onmessage = function (m) { var ev = JSON.parse(m.data); if (ev.type !== "ping") soon(); };
    ws.onclose = function () { setTimeout(function () { connect(Math.min(delay * 2, 30000)); }, delay); };
  }
  connect(1000);
})();
