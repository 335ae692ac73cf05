// F5: the Salesforce panel's change check runs only while the panel and the tab are visible.
// Loaded by salesforce/_live.html (an external file: the CSP allows no inline script).
(function () {
  "use strict";
  if (window.sfLiveChecks) {
    return;
  }
  window.sfLiveChecks = true;

  function shown(el) {
    var panel = el.closest(".sf-panel");
    return !document.hidden && panel !== null && panel.getClientRects().length > 0;
  }

  document.addEventListener("htmx:beforeRequest", function (evt) {
    var el = evt.detail && evt.detail.elt;
    if (el && el.hasAttribute && el.hasAttribute("data-sf-live") && !shown(el)) {
      evt.preventDefault();
    }
  });

  // M7: a panel re-rendered in place (a live change, or M2's re-read) marks the fields whose
  // value changed, for the eye (.sf-changed) and for screen readers (a hidden "changed" note).
  var before = null;
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var target = evt.detail && evt.detail.target;
    if (!target || !target.classList || !target.classList.contains("sf-panel")) {
      return;
    }
    before = {};
    target.querySelectorAll("dd[data-field]").forEach(function (dd) {
      before[dd.getAttribute("data-field")] = dd.textContent.trim();
    });
  });
  document.addEventListener("htmx:load", function (evt) {
    var panel = evt.target;
    if (!before || !panel || !panel.classList || !panel.classList.contains("sf-panel")) {
      return;
    }
    var old = before;
    before = null;
    panel.querySelectorAll("dd[data-field]").forEach(function (dd) {
      var field = dd.getAttribute("data-field");
      if (Object.prototype.hasOwnProperty.call(old, field) && old[field] !== dd.textContent.trim()) {
        dd.classList.add("sf-changed");
        var note = document.createElement("span");
        note.className = "visually-hidden";
        note.textContent = " (changed in Salesforce just now)";
        dd.appendChild(note);
      }
    });
  });

  // Back in view: check at once rather than at the next tick.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden || !window.htmx) {
      return;
    }
    document.querySelectorAll("[data-sf-live]").forEach(function (el) {
      window.htmx.trigger(el, "sf-live-check");
    });
  });
})();
