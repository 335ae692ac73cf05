/* Team Inbox: the little behaviour the pages need, with no inline script (strict CSP).
 * - U1: the contact sidebar opens and closes as a panel below 1024 px.
 * - U7: a form's buttons are disabled while its submit is in flight.
 * - U8: a panel body is aria-busy only while its request runs.
 * (Salesforce's own behaviour lives with the integration: integrations/salesforce/static/.)
 */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // --- U1: the sidebar panel ---------------------------------------------------------------
  function setSidebar(open) {
    document.body.classList.toggle("sidebar-open", open);
    document.querySelectorAll(".sidebar-toggle").forEach(function (b) {
      b.setAttribute("aria-expanded", open ? "true" : "false");
    });
    if (open) {
      var sidebar = document.getElementById("contact-sidebar");
      if (sidebar) sidebar.focus();
    }
  }
  document.addEventListener("click", function (event) {
    var toggle = event.target.closest(".sidebar-toggle, .sidebar-close, a[href='#contact-sidebar']");
    if (!toggle) return;
    if (toggle.matches("a") && window.matchMedia("(min-width: 1024px)").matches) return;
    event.preventDefault();
    var open = toggle.classList.contains("sidebar-close") ? false : !document.body.classList.contains("sidebar-open");
    setSidebar(open);
    if (!open) {
      var back = document.querySelector(".sidebar-toggle");
      if (back) back.focus();
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && document.body.classList.contains("sidebar-open")) setSidebar(false);
  });

  // --- A1: copy an email or phone from the Salesforce panel ---------------------------------
  document.addEventListener("click", function (event) {
    var button = event.target.closest(".copy-value");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.getAttribute("data-value") || "").then(function () {
      button.setAttribute("aria-label", "Copied");
      window.setTimeout(function () { button.removeAttribute("aria-label"); }, 1500);
    });
  });

  // --- U7: no double submits ---------------------------------------------------------------
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || form.hasAttribute("hx-post") || form.hasAttribute("hx-get")) return;
    // After the submit has read the pressed button's name and value.
    window.setTimeout(function () {
      form.querySelectorAll("button, input[type=submit]").forEach(function (b) { b.disabled = true; });
      form.setAttribute("aria-busy", "true");
    }, 0);
  });
  // Back/forward cache: a page restored from history gets its buttons back.
  window.addEventListener("pageshow", function () {
    document.querySelectorAll("form[aria-busy=true]").forEach(function (form) {
      form.removeAttribute("aria-busy");
      form.querySelectorAll("button, input[type=submit]").forEach(function (b) { b.disabled = false; });
    });
  });

  // --- U8: a panel body is busy while a request fills it, and only then -------------------------
  document.addEventListener("htmx:beforeRequest", function (event) {
    var elt = event.detail && event.detail.target;
    var body = elt && elt.closest ? elt.closest(".panel-body") : null;
    if (body) body.setAttribute("aria-busy", "true");
  });
  function settle() {
    document.querySelectorAll(".panel-body[aria-busy=true]").forEach(function (body) {
      if (!body.querySelector(".htmx-request, [hx-trigger='load']")) body.setAttribute("aria-busy", "false");
    });
  }
  ["htmx:afterSettle", "htmx:afterRequest", "htmx:sendError"].forEach(function (name) {
    document.addEventListener(name, settle);
  });
})();
