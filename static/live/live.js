// The live Inbox (issue 22, N1, N6). One EventSource per open page. Events carry ids, never
// HTML: on an event that concerns this page, the page re-fetches its own URL and swaps in the
// parts the contract names (the views' counts, conversation list, header, messages), so what each viewer sees
// (unread, access) is rendered by the server exactly as on a reload. After a dropped connection
// the browser resumes with Last-Event-ID; the server replays what was missed, or says "reset"
// and the page re-fetches.
(function () {
  "use strict";
  var root = document.getElementById("live-inbox");
  if (!root || !window.EventSource || !window.fetch) return;

  var PARTS = ["inbox-views", "conversation-list", "conversation-header", "messages"];
  var eventsUrl, refreshUrl, conversation, presenceUrl, presenceBox, statusLine;
  var lastId = null;
  var source = null;
  var retryDelay = 1000;

  // The page's settings live on #live-inbox; a page that swaps in another conversation in place
  // (htmx) brings a new one, and the connection follows it.
  function configure() {
    root = document.getElementById("live-inbox");
    eventsUrl = root.dataset.eventsUrl;
    refreshUrl = root.dataset.refreshUrl;
    conversation = root.dataset.conversation ? Number(root.dataset.conversation) : null;
    presenceUrl = root.dataset.presenceUrl || "";
    presenceBox = document.getElementById("live-presence");
    statusLine = document.getElementById("live-status");
  }
  configure();

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return "";
    }
  }

  function composer() {
    var form = document.getElementById("reply-form");
    return form ? form.querySelector("textarea") : null;
  }

  function isEditing(node) {
    var active = document.activeElement;
    return (
      active && node.contains(active) && /^(INPUT|SELECT|TEXTAREA)$/.test(active.tagName)
    );
  }

  function nearBottom() {
    var doc = document.documentElement;
    return window.innerHeight + window.scrollY >= doc.scrollHeight - 80;
  }

  // --- refresh: fetch this page again, swap the named parts ----------------------------------
  var refreshing = false;
  var again = false;
  var timer = null;
  var deferred = false;

  var lastStart = 0;
  // The open conversation's own events refresh at once; the rest (the list) at most once a
  // second, so a busy workspace does not make every open list re-render on every message.
  function scheduleRefresh(urgent) {
    var wait = urgent ? 50 : Math.max(50, lastStart + 1000 - Date.now());
    if (timer) {
      if (!urgent) return;
      clearTimeout(timer);
    }
    timer = setTimeout(function () {
      timer = null;
      refresh();
    }, wait);
  }

  function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    lastStart = Date.now();
    var asked = refreshUrl;
    fetch(asked, { credentials: "same-origin", headers: { "X-Live-Refresh": "1" } })
      .then(function (response) {
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        // The page moved on meanwhile (another conversation, Back): ask again for the new one.
        if (asked !== refreshUrl) again = true;
        else if (html) swap(new DOMParser().parseFromString(html, "text/html"));
      })
      .catch(function () {})
      .then(function () {
        refreshing = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }

  // From 1024 px the thread (#messages) scrolls inside its own box; below, the page scrolls.
  function threadPlace() {
    var thread = document.getElementById("messages");
    if (!thread || getComputedStyle(thread).overflowY === "visible") return null;
    return {
      top: thread.scrollTop,
      atBottom: thread.scrollTop + thread.clientHeight >= thread.scrollHeight - 80,
    };
  }

  function swap(doc) {
    var stick = nearBottom();
    var place = threadPlace();
    var changed = [];
    PARTS.forEach(function (id) {
      var current = document.getElementById(id);
      var next = doc.getElementById(id);
      if (!current || !next || current.innerHTML === next.innerHTML) return;
      if (isEditing(current)) {
        // Never pull a select or field away from someone using it: swap when they leave it.
        if (!deferred) {
          deferred = true;
          current.addEventListener(
            "focusout",
            function () {
              deferred = false;
              setTimeout(function () {
                scheduleRefresh(true);
              }, 0);
            },
            { once: true }
          );
        }
        return;
      }
      var focusedId = document.activeElement && current.contains(document.activeElement)
        ? document.activeElement.id
        : "";
      var fresh = document.importNode(next, true);
      current.replaceWith(fresh);
      if (window.htmx) window.htmx.process(fresh);
      if (focusedId && document.getElementById(focusedId)) {
        document.getElementById(focusedId).focus({ preventScroll: true });
      }
      changed.push(id);
    });
    // The guard's "newest message seen" moves only while the agent is not writing: a message
    // that arrives during a reply must be confirmed before the reply goes (N6).
    var seenNow = doc.querySelector("#reply-form [data-live-last-seen]");
    var seen = document.querySelector("#reply-form [data-live-last-seen]");
    var text = composer();
    if (seenNow && seen && !(text && text.value.trim())) seen.value = seenNow.value;
    if (changed.indexOf("messages") !== -1) {
      // The new thread keeps the reader's place: at the newest message when they were there
      // (the new one comes into view), else where they were reading.
      var thread = document.getElementById("messages");
      if (place && thread) thread.scrollTop = place.atBottom ? thread.scrollHeight : place.top;
      else if (stick) window.scrollTo(0, document.body.scrollHeight);
    }
    if (changed.length) {
      document.dispatchEvent(new CustomEvent("live:refreshed", { detail: { parts: changed } }));
    }
  }

  // --- presence (N6) -------------------------------------------------------------------------
  var presenceTimer = null;

  function loadPresence() {
    if (!presenceBox || !presenceUrl) return;
    var url = presenceUrl + "?conversation=" + conversation;
    fetch(url, { credentials: "same-origin" })
      .then(function (r) {
        return r.ok ? r.text() : null;
      })
      .then(function (html) {
        if (html === null) return;
        presenceBox.innerHTML = html;
        var list = presenceBox.querySelector("[data-refresh-in]");
        var seconds = list ? Number(list.dataset.refreshIn) : 0;
        clearTimeout(presenceTimer);
        if (seconds > 0) presenceTimer = setTimeout(loadPresence, seconds * 1000);
      })
      .catch(function () {});
  }

  var lastTyped = 0;
  function typed() {
    var now = Date.now();
    if (!presenceUrl || now - lastTyped < Number(root.dataset.throttleMs || 2000)) return;
    lastTyped = now;
    var body = new FormData();
    body.append("conversation", String(conversation));
    fetch(presenceUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken() },
      body: body,
    }).catch(function () {});
  }

  document.addEventListener("input", function (event) {
    var form = document.getElementById("reply-form");
    if (form && form.contains(event.target) && event.target.tagName === "TEXTAREA") typed();
  });

  // --- the connection ------------------------------------------------------------------------
  function seq(id) {
    var cut = id ? id.lastIndexOf("-") : -1;
    return cut < 0 ? null : { epoch: id.slice(0, cut), n: Number(id.slice(cut + 1)) };
  }

  function onEvent(message) {
    var event;
    try {
      event = JSON.parse(message.data);
    } catch (e) {
      return;
    }
    if (event.id) {
      var now = seq(event.id);
      var last = seq(lastId);
      if (last && now && last.epoch === now.epoch && now.n <= last.n) return; // seen (replay)
      lastId = event.id;
    }
    if (event.kind === "reset") {
      scheduleRefresh(true);
      loadPresence();
      return;
    }
    var mine = conversation !== null && event.conversation === conversation;
    if (event.kind === "read") {
      // N2: this agent read (or marked unread) a conversation in another tab; the open one here
      // is being read on this page already.
      if (!mine && document.getElementById("conversation-list")) scheduleRefresh(false);
      return;
    }
    if (event.kind === "presence") {
      if (mine) loadPresence();
      return;
    }
    if (mine) scheduleRefresh(true);
    else if (document.getElementById("conversation-list")) scheduleRefresh(false);
  }

  function connect() {
    var url = eventsUrl;
    if (lastId) url += (url.indexOf("?") < 0 ? "?" : "&") + "last=" + encodeURIComponent(lastId);
    source = new EventSource(url);
    source.onmessage = onEvent;
    source.onopen = function () {
      retryDelay = 1000;
      if (statusLine) statusLine.hidden = true;
      root.dataset.state = "open";
    };
    source.onerror = function () {
      root.dataset.state = "reconnecting";
      if (statusLine) statusLine.hidden = false;
      // The browser retries by itself (with Last-Event-ID) unless the server refused; then we
      // start again, handing the last id over in the URL.
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        // Refused: if the page itself is refused now too (removed from the workspace, signed
        // out, session over), reload it to show that (N1: access as for the pages); else the
        // server was away: try again later.
        fetch(refreshUrl, { credentials: "same-origin", headers: { "X-Live-Refresh": "1" } })
          .then(function (response) {
            if (response.redirected || response.status === 403 || response.status === 404) {
              window.location.reload();
              return;
            }
            setTimeout(connect, retryDelay);
            retryDelay = Math.min(retryDelay * 2, 30000);
          })
          .catch(function () {
            setTimeout(connect, retryDelay);
            retryDelay = Math.min(retryDelay * 2, 30000);
          });
      }
    };
  }

  // Follow the page after htmx swaps in another conversation, and after Back/Forward restores
  // one from htmx's history (no afterSettle then): a pending refresh must fetch the page now
  // shown, not the one it was scheduled on.
  function follow() {
    var now = document.getElementById("live-inbox");
    if (!now) return;
    var before = eventsUrl;
    configure();
    if (eventsUrl === before) return;
    if (source) source.close();
    connect();
    loadPresence();
  }
  document.addEventListener("htmx:afterSettle", follow);
  document.addEventListener("htmx:historyRestore", follow);
  window.addEventListener("pagehide", function () {
    if (source) source.close();
  });
  connect();
  loadPresence();
})();
