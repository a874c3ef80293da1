// The web console's only script (the Content-Security-Policy allows no other): the queue stays live.
// The server says "queue" on /console/events (server-sent events) whenever a case joins or leaves
// the triage queue; the list is then fetched again with the page's own filters and swapped in.
(function () {
  "use strict";

  function startLiveQueue() {
    var section = document.getElementById("queue");
    var status = document.getElementById("live");
    if (!section || !window.EventSource) {
      return;
    }
    var timer = null;
    var refreshing = false;
    var again = false;

    function show(on) {
      if (!status) {
        return;
      }
      status.textContent = on ? status.dataset.on : status.dataset.off;
      status.className = "live " + (on ? "on" : "off");
    }

    function refresh() {
      if (refreshing) {
        again = true;
        return;
      }
      refreshing = true;
      fetch(section.dataset.rows, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (response.status === 401) {
            window.location.reload(); // the session ended: the login page
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== undefined) {
            section.innerHTML = html; // our own server-rendered, escaped markup
            section.dataset.refreshed = String(Number(section.dataset.refreshed || "0") + 1);
          }
        })
        .catch(function () { /* the next event tries again */ })
        .then(function () {
          refreshing = false;
          if (again) {
            again = false;
            refresh();
          }
        });
    }

    var source = new EventSource(section.dataset.events);
    source.addEventListener("open", function () { show(true); });
    source.addEventListener("error", function () { show(false); });
    source.addEventListener("queue", function () {
      if (timer) {
        window.clearTimeout(timer);
      }
      timer = window.setTimeout(refresh, 150); // a burst of changes costs one fetch
    });
    source.addEventListener("ended", function () {
      source.close();
      window.location.reload();
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startLiveQueue);
  } else {
    startLiveQueue();
  }
})();
