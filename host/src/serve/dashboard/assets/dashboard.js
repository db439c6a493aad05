// Ferry's dashboard: live updates without reloading. A page whose <main>
// has data-live is fetched again and its <main> swapped in: every second
// while it shows a run in progress (data-live="true"), every five seconds
// otherwise, so a run that starts shows up too. Every page works without
// this script.
(function () {
  "use strict";
  var TICK_MS = 1000;
  var IDLE_TICKS = 5;
  var ticks = 0;
  var busy = false;

  function refresh() {
    var main = document.getElementById("main");
    if (!main || !main.hasAttribute("data-live") || busy || document.hidden) return;
    ticks += 1;
    if (main.getAttribute("data-live") !== "true" && ticks % IDLE_TICKS !== 0) return;
    // Never swap the page under someone using it: a focused control stays.
    var focused = document.activeElement;
    if (focused && focused !== document.body && main.contains(focused)) return;
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) {
        if (!r.ok || r.redirected) throw new Error("status " + r.status);
        return r.text();
      })
      .then(function (text) {
        var next = new DOMParser().parseFromString(text, "text/html").getElementById("main");
        var now = document.getElementById("main");
        if (!next || !now) return;
        if (now.innerHTML !== next.innerHTML) now.innerHTML = next.innerHTML;
        now.setAttribute("data-live", next.getAttribute("data-live") || "false");
      })
      .catch(function () { /* the next tick tries again */ })
      .then(function () { busy = false; });
  }

  window.setInterval(refresh, TICK_MS);
})();
