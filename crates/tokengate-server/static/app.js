// tokengate web UI: optional enhancements only. Every page works without this file.
// - copy buttons ([data-action="copy"]) copy the text of the element they name;
// - forms with data-confirm ask before submitting and then skip the server's confirmation page.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll('[data-action="copy"]').forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (!target) { return; }
      var text = target.textContent.trim();
      var done = function () { button.textContent = "Copied"; };
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(text).then(done, function () { selectText(target); });
      } else {
        selectText(target);
      }
    });
  });
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) {
        event.preventDefault();
        return;
      }
      var confirmed = form.querySelector('input[name="confirmed"]');
      if (confirmed) { confirmed.value = "yes"; }
    });
  });
  // A page that shows a new secret answers a POST: make reloading it a plain GET of the page,
  // so a reload neither shows the secret again nor offers to resubmit the form.
  var secret = document.getElementById("new-token-secret");
  if (secret && window.history && window.history.replaceState) {
    var section = secret.closest("[data-return]");
    window.history.replaceState(null, "", section ? section.getAttribute("data-return") : window.location.pathname);
  }
});

function selectText(element) {
  var range = document.createRange();
  range.selectNodeContents(element);
  var selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}
