// Macro picker of the agent ticket page: fills the reply box with the rendered macro and sends
// the composer to the macro-reply route, which applies the macro's actions after the reply.
(function () {
  "use strict";
  var panel = document.getElementById("macro-panel");
  var select = document.getElementById("macro-select");
  var insert = document.getElementById("macro-insert");
  var composer = document.getElementById("composer");
  var box = document.getElementById("reply-body");
  var note = document.getElementById("macro-actions");
  if (!panel || !select || !composer || !box) return;
  var plainAction = composer.getAttribute("action");

  function hidden() {
    var h = composer.querySelector('input[name="macro_id"]');
    if (!h) {
      h = document.createElement("input");
      h.type = "hidden"; h.name = "macro_id";
      composer.appendChild(h);
    }
    return h;
  }
  function describe() {
    var opt = select.options[select.selectedIndex];
    var label = opt && opt.value ? opt.getAttribute("data-actions") : "";
    note.textContent = label ? "On send: " + label : "";
  }
  function apply() {
    var opt = select.options[select.selectedIndex];
    if (!opt || !opt.value) {
      composer.setAttribute("action", plainAction);
      var h = composer.querySelector('input[name="macro_id"]');
      if (h) h.parentNode.removeChild(h);
      note.textContent = "";
      return;
    }
    var text = opt.getAttribute("data-body") || "";
    box.value = box.value.trim() ? box.value.replace(/\s+$/, "") + "\n\n" + text : text;
    hidden().value = opt.value;
    composer.setAttribute("action", panel.getAttribute("data-action"));
    describe();
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
  }
  select.addEventListener("change", describe);
  select.addEventListener("keydown", function (e) {
    if (e.key === "Enter") { e.preventDefault(); apply(); }
  });
  if (insert) insert.addEventListener("click", apply);
})();
