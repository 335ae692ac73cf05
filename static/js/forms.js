/* Forms (strict CSP: an external file, no inline script).
 * M4: a page with an error summary (.error-summary) moves focus to it on load, so a keyboard or
 *     screen-reader user starts at the list of what to fix (each item links to its field).
 * M1: a form marked data-unsaved="<what it holds>" is never lost without a word:
 * - Leaving the page (link, reload, closing the tab) while such a form has changes asks first
 *   (the browser's own "Leave site?" dialog).
 * - Submitting one form while another one on the page has changes asks first, naming it.
 * - A background refresh (htmx GET) of a part of the page that holds a changed form waits: it
 *   would put the saved values back over the admin's changes.
 */
(function () {
  "use strict";
  if (window.unsavedGuard) return;
  window.unsavedGuard = true;

  var saved = new WeakMap();
  var leaving = false;

  function state(form) {
    var parts = [];
    new FormData(form).forEach(function (value, name) {
      if (name !== "csrfmiddlewaretoken" && typeof value === "string") parts.push(name + "=" + value);
    });
    return parts.join("&");
  }
  function remember(root) {
    var forms = root.matches && root.matches("form[data-unsaved]") ? [root] : [];
    if (root.querySelectorAll) forms = forms.concat(Array.from(root.querySelectorAll("form[data-unsaved]")));
    forms.forEach(function (form) { saved.set(form, state(form)); });
  }
  function changed(form) {
    return saved.has(form) && saved.get(form) !== state(form);
  }
  function changedForms(except) {
    return Array.from(document.querySelectorAll("form[data-unsaved]")).filter(function (form) {
      return form !== except && changed(form);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    remember(document);
    var summary = document.querySelector(".error-summary");
    if (summary) summary.focus();
  });
  // A summary's link moves focus into its field (not only the scroll position).
  document.addEventListener("click", function (event) {
    var link = event.target.closest(".error-summary a[href^='#']");
    var field = link && document.getElementById(link.getAttribute("href").slice(1));
    if (field) {
      event.preventDefault();
      field.focus();
    }
  });
  document.addEventListener("htmx:load", function (event) { remember(event.target); });

  // Capture phase: runs before the in-flight handler (app.js) disables the buttons.
  document.addEventListener("submit", function (event) {
    var others = changedForms(event.target);
    if (others.length) {
      var names = others.map(function (f) { return "“" + f.getAttribute("data-unsaved") + "”"; });
      var ok = window.confirm(
        "Your changes to " + names.join(" and ") + " are not saved yet and will be lost. Continue anyway?"
      );
      if (!ok) {
        event.preventDefault();
        event.stopImmediatePropagation();
        return;
      }
    }
    leaving = true;
  }, true);

  window.addEventListener("beforeunload", function (event) {
    if (leaving || !changedForms(null).length) return;
    event.preventDefault();
    event.returnValue = "";
  });
  // Back from history, or a submit cancelled by the browser: watch again.
  window.addEventListener("pageshow", function () { leaving = false; });

  document.addEventListener("htmx:beforeRequest", function (event) {
    var detail = event.detail || {};
    var verb = detail.requestConfig && detail.requestConfig.verb;
    var target = detail.target;
    if (verb !== "get" || !target || !target.querySelectorAll) return;
    var held = Array.from(target.querySelectorAll("form[data-unsaved]")).some(changed);
    if (held) event.preventDefault();
  });
})();
