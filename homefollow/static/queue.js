// Refreshes the triage queue every 30 s without a reload: fetches this same page (same
// filters), swaps the queue region, and announces the change politely. It never refreshes
// while the nurse has ticked an alert or is working inside the queue, so nothing moves
// under a finger. Without JavaScript the page has a reload link instead.
(function () {
  "use strict";
  var INTERVAL = 30000;
  var region = document.getElementById("queue-region");
  var live = document.getElementById("queue-live");
  var summary = document.getElementById("queue-summary");
  if (!region || !window.fetch || !window.DOMParser) { return; }

  function busy() {
    if (document.hidden) { return true; }
    if (document.querySelector(".queue__select:checked")) { return true; }
    var active = document.activeElement;
    return !!(active && active !== document.body &&
              (region.contains(active) || (active.form && active.form.classList.contains("queue-filters"))));
  }

  function refresh() {
    if (busy()) { return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (response) {
        // Signed out or an error page: leave the queue as it is; the next click shows why.
        if (!response.ok || response.redirected) { throw new Error("queue refresh: " + response.status); }
        return response.text();
      })
      .then(function (html) {
        if (busy()) { return; }
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("queue-region");
        if (!fresh) { return; }
        var freshSummary = doc.getElementById("queue-summary");
        // Only a change in which alerts are open, their state or counts is announced, not the
        // minutes ticking on.
        var changed = fresh.getAttribute("data-signature") !== region.getAttribute("data-signature");
        region.innerHTML = fresh.innerHTML;
        region.setAttribute("data-signature", fresh.getAttribute("data-signature") || "");
        if (summary && freshSummary) { summary.textContent = freshSummary.textContent; }
        if (changed && live) {
          var counts = document.getElementById("queue-counts");
          live.textContent = (live.getAttribute("data-label") || "") + " " + (counts ? counts.textContent.replace(/\s+/g, " ").trim() : "");
        }
      })
      .catch(function () { /* a missed refresh is harmless: the next one tries again */ });
  }

  window.setInterval(refresh, INTERVAL);
})();
