// Dayshift dashboard: live updates on top of server-rendered pages (they work without this file).
// The board arrives by Server-Sent Events as ready HTML; nothing here talks to any other host.
(function () {
  "use strict";
  var state = { loadedAt: Date.now(), updates: [], problems: [] };
  window.dayshift = state;
  var live = document.getElementById("live");
  if (!live || !window.EventSource) return;
  var pending = null;
  var banner = document.getElementById("live-status");

  function trouble(message) {
    document.body.classList.add("offline");
    if (banner) { banner.textContent = "⚠ " + message; banner.hidden = false; }
  }

  function clear() {
    document.body.classList.remove("offline");
    if (banner) banner.hidden = true;
  }

  function typing() {
    var el = document.activeElement;
    return el && live.contains(el) && (el.tagName === "INPUT" || el.tagName === "TEXTAREA");
  }

  function openEdits() {
    var open = {};
    live.querySelectorAll("tr[data-task] details[open]").forEach(function (d) {
      open[d.closest("tr").getAttribute("data-task")] = true;
    });
    return open;
  }

  function apply(data) {
    if (typing()) { pending = data; return; }
    var open = openEdits();
    live.innerHTML = data.html;
    live.setAttribute("data-version", data.fingerprint);
    live.querySelectorAll("tr[data-task]").forEach(function (tr) {
      var d = tr.querySelector("details");
      if (d && open[tr.getAttribute("data-task")]) d.open = true;
    });
    var ids = [];
    live.querySelectorAll("tr[data-task]").forEach(function (tr) { ids.push(tr.getAttribute("data-task")); });
    state.updates.push({ at: Date.now(), fingerprint: data.fingerprint, sent: data.sent * 1000, ids: ids });
    clear();
  }

  live.addEventListener("focusout", function () {
    setTimeout(function () {
      if (pending && !typing()) { var p = pending; pending = null; apply(p); }
    }, 0);
  });

  // Between pushes, the "now" line keeps moving with the clock.
  setInterval(function () {
    var svg = live.querySelector("svg.timeline");
    var line = svg && svg.querySelector("line.now");
    if (!line) return;
    var start = Date.parse(svg.getAttribute("data-start"));
    var end = Date.parse(svg.getAttribute("data-deadline"));
    var x0 = +svg.getAttribute("data-x0"), x1 = +svg.getAttribute("data-x1");
    var frac = Math.max(0, Math.min(1, (Date.now() - start) / Math.max(1, end - start)));
    var x = (x0 + frac * (x1 - x0)).toFixed(1);
    line.setAttribute("x1", x);
    line.setAttribute("x2", x);
  }, 1000);

  var source = new EventSource("/events?since=" + encodeURIComponent(live.getAttribute("data-version") || ""));
  source.addEventListener("board", function (ev) { apply(JSON.parse(ev.data)); });
  source.addEventListener("problem", function (ev) {
    var message = JSON.parse(ev.data).message;
    state.problems.push(message);
    trouble(message);
  });
  source.addEventListener("signed-out", function (ev) {
    source.close();  // the session is gone: no reconnecting
    trouble(JSON.parse(ev.data).message);
  });
  source.onopen = clear;
  source.onerror = function () {
    trouble("Live updates interrupted; reconnecting…");
    // A stream that dropped before its "signed-out" event reconnects into a 401, which EventSource cannot
    // report: ask the page itself whether the session is gone.
    fetch(location.pathname, {credentials: "same-origin"}).then(function (r) {
      if (r.status === 401) {
        source.close();
        trouble("You are signed out. Open a new link from /dayshift dashboard.");
      }
    }).catch(function () {});
  };
})();
