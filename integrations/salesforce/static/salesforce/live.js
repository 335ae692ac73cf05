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
