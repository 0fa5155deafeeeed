// Agent assist: one click copies the suggested reply draft into the reply box (#reply-body).
(function () {
  "use strict";
  function wire() {
    var button = document.getElementById("assist-insert");
    if (!button || button.dataset.wired) return;
    button.dataset.wired = "1";
    button.addEventListener("click", function () {
      var source = document.querySelector(button.dataset.source || "#assist-draft");
      var target = document.querySelector(button.dataset.target || "#reply-body");
      if (!source || !target) return;
      var draft = source.value;
      target.value = target.value.trim() ? target.value.replace(/\s+$/, "") + "\n\n" + draft : draft;
      target.dispatchEvent(new Event("input", { bubbles: true }));
      target.focus();
      target.setSelectionRange(target.value.length, target.value.length);
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", wire);
  else wire();
})();
