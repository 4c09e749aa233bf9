// caddy-mdm console: small progressive enhancements. Every page works
// without this file; it only saves clicks.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // Filters apply as soon as a select changes.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
    sel.addEventListener("change", function () { sel.form.submit(); });
  });
  // The command form shows format and data only for Replace.
  var verb = document.querySelector("select[data-verb]");
  if (verb) {
    var sync = function () {
      document.querySelectorAll("[data-replace-only]").forEach(function (el) {
        el.hidden = verb.value !== "Replace";
      });
    };
    verb.addEventListener("change", sync);
    sync();
  }
});
