/* The Inbox (issue 22), with no inline script (strict CSP):
 * - N5: a thread opens (and stays, after a send) scrolled to its newest message; a button goes
 *   back to the "New" line when it is above the view.
 * - N8: keyboard shortcuts: j/k, Enter, r, Ctrl/Cmd+Enter, e, a, /, ?; at < 1024 px focus stays
 *   inside the open contact panel until Esc.
 * - N7: "@" in the composer lists the teammates it can mention.
 * - N9: from 1280 px, a row of the list pane swaps the thread and sidebar in place (htmx
 *   attributes on the row; here only what follows the swap).
 */
(function () {
  "use strict";

  var pageScrolls = window.matchMedia("(max-width: 1023.98px)");

  // --- N5: scrolled to the newest message ------------------------------------------------------
  function scrollToNewest() {
    var thread = document.getElementById("messages");
    if (!thread) return;
    if (pageScrolls.matches) {
      // Below 1024 px the page scrolls as a whole and the composer is pinned under the thread.
      window.scrollTo(0, document.documentElement.scrollHeight);
    } else {
      thread.scrollTop = thread.scrollHeight;
    }
  }
  document.addEventListener("DOMContentLoaded", scrollToNewest);
  window.addEventListener("load", scrollToNewest);

  // N5: "Jump to the first unread message" while the "New" line is above what the thread shows.
  function markerAbove() {
    var marker = document.getElementById("new-marker");
    var thread = document.getElementById("messages");
    if (!marker || !thread) return false;
    var top = pageScrolls.matches ? 0 : thread.getBoundingClientRect().top;
    return marker.getBoundingClientRect().bottom < top;
  }
  function updateJump() {
    var jump = document.getElementById("jump-new");
    if (jump) jump.hidden = !markerAbove();
  }
  document.addEventListener("click", function (event) {
    var jump = event.target.closest && event.target.closest("#jump-new");
    var marker = document.getElementById("new-marker");
    var thread = document.getElementById("messages");
    if (!jump || !marker || !thread) return;
    jump.hidden = true; // first: the thread's box grows by the button's height
    if (pageScrolls.matches) {
      marker.scrollIntoView({ block: "start" });
    } else {
      // Only the thread's own box scrolls (scrollIntoView would move the clipped column too).
      thread.scrollTop += marker.getBoundingClientRect().top - thread.getBoundingClientRect().top;
    }
    updateJump();
  });
  document.addEventListener("scroll", updateJump, true); // the thread's own scroll too
  window.addEventListener("load", updateJump);
  document.addEventListener("htmx:afterSettle", updateJump);
  document.addEventListener("live:refreshed", updateJump);
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    if (!target) return;
    if (target.id === "messages" || target.id === "main" || target.querySelector("#messages")) {
      scrollToNewest();
    }
  });
  // After a send the form is replaced: keep the agent's place in the composer.
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    var elt = event.detail && event.detail.target;
    if (elt && elt.id === "reply-form" && elt.dataset.refocus !== "no") {
      var body = elt.querySelector("textarea");
      if (body && document.activeElement === document.body) body.focus();
    }
  });

  // --- N8: keyboard --------------------------------------------------------------------------
  function rows() {
    var list = document.getElementById("conversation-list");
    if (!list || !list.offsetParent) return [];
    return Array.prototype.slice.call(list.querySelectorAll("li.conversation"));
  }
  function selectedIndex(all) {
    for (var i = 0; i < all.length; i++) {
      if (all[i].classList.contains("selected")) return i;
    }
    for (var j = 0; j < all.length; j++) {
      if (all[j].classList.contains("current")) return j;
    }
    return -1;
  }
  function move(step) {
    var all = rows();
    if (!all.length) return false;
    var at = selectedIndex(all);
    var next = at < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
    all.forEach(function (row) { row.classList.remove("selected"); });
    all[next].classList.add("selected");
    var link = all[next].querySelector("a");
    link.focus();
    link.scrollIntoView({ block: "nearest" });
    return true;
  }
  function press(selector) {
    var button = document.querySelector(selector);
    if (!button || button.disabled) return false;
    button.click();
    return true;
  }
  function focusReply() {
    var body = document.querySelector("#reply-form textarea");
    if (!body) return false;
    body.focus();
    return true;
  }
  function focusSearch() {
    var box = document.getElementById("inbox-q");
    if (box && box.offsetParent) {
      box.focus();
      box.select();
      return true;
    }
    // The list pane is hidden below 1280 px: search from the Inbox list itself.
    var inbox = document.querySelector(".nav-links a[aria-current]");
    if (inbox) window.location.assign(inbox.getAttribute("href") + "#inbox-q");
    return Boolean(inbox);
  }
  function showShortcuts() {
    var dialog = document.getElementById("shortcuts");
    if (!dialog || dialog.open) return false;
    dialog.showModal();
    return true;
  }
  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]");
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    // Ctrl/Cmd+Enter sends the reply from its textarea (the one shortcut that works while typing).
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      var form = target.closest && target.closest("#reply-form");
      if (form) {
        event.preventDefault();
        var send = form.querySelector("button.primary");
        if (typeof form.requestSubmit === "function") form.requestSubmit(send);
        else send.click();
      }
      return;
    }
    // Esc leaves the search box, so the next shortcut (r, j...) is a shortcut, not a letter.
    if (event.key === "Escape" && target.id === "inbox-q") {
      target.blur();
      return;
    }
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(target) || document.querySelector("dialog[open]")) return;
    if (document.body.classList.contains("sidebar-open")) return;
    var done = false;
    switch (event.key) {
      case "j": done = move(1); break;
      case "k": done = move(-1); break;
      case "r": done = focusReply(); break;
      case "e": done = press("[data-shortcut='e']"); break;
      case "a": done = press("[data-shortcut='a']"); break;
      case "/": done = focusSearch(); break;
      case "?": done = showShortcuts(); break;
      default: return;
    }
    if (done) event.preventDefault();
  });
  // Enter on a selected row is the link's own Enter: it opens the conversation.

  // The More menu opens inside the thread's column, which clips what sticks out of it (the list
  // pane showed through at 1366 px; at 390 px it began off screen): it is moved sideways to
  // stay within the column and the window. ("toggle" does not bubble: listen while capturing.)
  document.addEventListener(
    "toggle",
    function (event) {
      var details = event.target;
      if (!details.matches || !details.matches(".more-menu") || !details.open) return;
      var menu = details.querySelector(".menu");
      if (!menu) return;
      menu.style.left = "";
      menu.style.right = "";
      var box = menu.getBoundingClientRect();
      var column = details.closest(".main");
      var bounds = column ? column.getBoundingClientRect() : { left: 0, right: window.innerWidth };
      var low = Math.max(bounds.left, 0) + 8;
      var high = Math.min(bounds.right, window.innerWidth) - 8;
      if (box.left >= low && box.right <= high) return;
      var left = Math.max(low, Math.min(box.left, high - box.width));
      menu.style.right = "auto";
      menu.style.left = left - details.getBoundingClientRect().left + "px";
    },
    true
  );

  if (window.location.hash === "#inbox-q") {
    var box = document.getElementById("inbox-q");
    if (box) box.focus();
  }

  // N8: below 1024 px the open contact panel keeps the focus until Esc (app.js closes it).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Tab" || !document.body.classList.contains("sidebar-open")) return;
    if (!pageScrolls.matches) return;
    var sidebar = document.getElementById("contact-sidebar");
    if (!sidebar) return;
    var focusable = Array.prototype.filter.call(
      sidebar.querySelectorAll("a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])"),
      function (el) { return !el.disabled && el.offsetParent !== null; }
    );
    if (!focusable.length) return;
    var first = focusable[0];
    var last = focusable[focusable.length - 1];
    var inside = sidebar.contains(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  });

  // --- N7: "@" in the composer suggests teammates ----------------------------------------------
  // The handles come from the page (#mention-handles, a hidden list): each member's shortest
  // name that names only them, which is what the server's mention finder reads.
  var mention = { box: null, items: [], active: 0 };
  function handles() {
    var list = document.querySelectorAll("#mention-handles li[data-handle]");
    return Array.prototype.map.call(list, function (li) {
      return { handle: li.dataset.handle, name: li.textContent };
    });
  }
  function mentionAt(textarea) {
    var upto = textarea.value.slice(0, textarea.selectionStart);
    var found = /(^|[\s(])@([\w.+-]*)$/.exec(upto);
    return found ? { start: upto.length - found[2].length - 1, prefix: found[2].toLowerCase() } : null;
  }
  function closeMentions() {
    var textarea = document.querySelector("#reply-form textarea");
    if (textarea) {
      textarea.removeAttribute("aria-activedescendant");
      textarea.setAttribute("aria-expanded", "false");
    }
    if (mention.box) mention.box.remove();
    mention.box = null;
    mention.items = [];
  }
  function choose(index, textarea) {
    var item = mention.items[index];
    var at = mentionAt(textarea);
    if (!item || !at) return closeMentions();
    var before = textarea.value.slice(0, at.start) + "@" + item.handle + " ";
    textarea.value = before + textarea.value.slice(textarea.selectionStart);
    textarea.setSelectionRange(before.length, before.length);
    closeMentions();
    textarea.focus();
  }
  function showMentions(textarea) {
    var at = mentionAt(textarea);
    var found = !at ? [] : handles().filter(function (h) {
      return h.handle.indexOf(at.prefix) === 0 || h.name.toLowerCase().indexOf(at.prefix) === 0;
    }).slice(0, 6);
    if (!found.length) return closeMentions();
    closeMentions();
    mention.items = found;
    mention.active = 0;
    var box = document.createElement("ul");
    box.id = "mention-choices";
    box.className = "mention-choices";
    box.setAttribute("role", "listbox");
    box.setAttribute("aria-label", "Teammates to mention");
    found.forEach(function (h, i) {
      var option = document.createElement("li");
      option.id = "mention-choice-" + i;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", i === 0 ? "true" : "false");
      option.textContent = h.name + " ";
      var tag = document.createElement("span");
      tag.className = "muted";
      tag.textContent = "@" + h.handle;
      option.appendChild(tag);
      option.addEventListener("mousedown", function (event) {
        event.preventDefault(); // keep the focus in the composer
        choose(i, textarea);
      });
      box.appendChild(option);
    });
    textarea.closest("form").appendChild(box);
    mention.box = box;
    textarea.setAttribute("aria-controls", box.id);
    textarea.setAttribute("aria-expanded", "true");
    textarea.setAttribute("aria-activedescendant", "mention-choice-0");
  }
  function moveMention(step, textarea) {
    var n = mention.items.length;
    mention.active = (mention.active + step + n) % n;
    Array.prototype.forEach.call(mention.box.children, function (option, i) {
      option.setAttribute("aria-selected", i === mention.active ? "true" : "false");
    });
    textarea.setAttribute("aria-activedescendant", "mention-choice-" + mention.active);
  }
  document.addEventListener("input", function (event) {
    var target = event.target;
    if (target.tagName === "TEXTAREA" && target.closest("#reply-form")) showMentions(target);
  });
  document.addEventListener("focusout", function (event) {
    if (event.target.closest && event.target.closest("#reply-form")) closeMentions();
  });
  // Captured first: while the list is open, arrows, Enter, Tab and Esc belong to it.
  document.addEventListener(
    "keydown",
    function (event) {
      var textarea = event.target;
      if (!mention.box || textarea.tagName !== "TEXTAREA" || !textarea.closest("#reply-form")) return;
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        moveMention(event.key === "ArrowDown" ? 1 : -1, textarea);
      } else if (event.key === "Enter" || event.key === "Tab") {
        choose(mention.active, textarea);
      } else if (event.key === "Escape") {
        closeMentions();
      } else {
        return;
      }
      event.preventDefault();
      event.stopPropagation();
    },
    true
  );

  // --- N9: after a row swapped the thread in place -----------------------------------------------
  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail && event.detail.target;
    if (!target || target.id !== "main") return;
    var current = document.querySelector("#conversation-list li.current a");
    if (current) current.focus({ preventScroll: true });
  });
})();
