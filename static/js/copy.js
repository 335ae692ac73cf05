/* M5: Copy buttons for the show-once API key and webhook secret (strict CSP: an external file).
 * <button type="button" class="copy" data-copy="<id of the element holding the text>" hidden>:
 * shown only when this script runs (without JavaScript the text is still there to select).
 */
(function () {
  "use strict";

  function announce(button, text) {
    var status = button.parentNode.querySelector(".copy-status");
    if (!status) {
      status = document.createElement("span");
      status.className = "copy-status";
      status.setAttribute("role", "status");
      button.after(status);
    }
    status.textContent = text;
  }

  function selectText(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function fallback(element) {
    selectText(element);
    try {
      return document.execCommand("copy");
    } catch (e) {
      return false;
    }
  }

  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent.trim();
    var done = function () { announce(button, "Copied to the clipboard."); };
    var failed = function () {
      if (fallback(source)) {
        done();
      } else {
        selectText(source);
        announce(button, "Copy did not work here: the text is selected, press Ctrl+C (⌘C).");
      }
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, failed);
    } else {
      failed();
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy[data-copy]");
    if (button) copy(button);
  });
  function reveal() {
    document.querySelectorAll("button.copy[data-copy][hidden]").forEach(function (b) { b.hidden = false; });
  }
  document.addEventListener("DOMContentLoaded", reveal);
  document.addEventListener("htmx:load", reveal);
})();
