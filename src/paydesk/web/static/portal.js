// Portal request form: show only the fields of the chosen topic; one id per form for idempotency.
(function () {
  "use strict";
  var form = document.getElementById("request-form");
  if (!form) return;
  var id = document.getElementById("form_id");
  if (id && !id.value) {
    id.value = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now()) + Math.random();
  }
  var select = document.getElementById("category");
  function sync() {
    document.querySelectorAll(".cat-fields").forEach(function (fs) {
      var on = fs.getAttribute("data-category") === select.value;
      fs.hidden = !on;
      fs.disabled = !on;
    });
  }
  select.addEventListener("change", sync);
  sync();
})();
