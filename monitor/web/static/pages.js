/* llm-monitor's pages: each time's local reading on hover, and the page's self-refresh.
 *
 * Without this script the pages show UTC and an "updated at … · reload" line. With it, every
 * <time datetime> gets the reader's local time as its tooltip, and every data-refresh-seconds
 * the page is fetched again and its live part (#live) replaced, unless the reader paused it
 * (the button's aria-pressed) or the tab is hidden. No library, no request but the page's own.
 */
(function () {
  "use strict";

  function localTimes(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var moment = new Date(times[i].getAttribute("datetime"));
      if (!isNaN(moment.getTime())) {
        times[i].title = "Your local time: " + moment.toLocaleString();
      }
    }
  }

  localTimes(document);

  var seconds = parseInt(document.body.getAttribute("data-refresh-seconds") || "", 10);
  var live = document.getElementById("live");
  var status = document.getElementById("updated");
  var toggle = document.getElementById("refresh-toggle");
  if (!(seconds > 0) || !live || !status || !window.fetch || !window.DOMParser) {
    return;
  }

  var STORE_KEY = "llm-monitor-refresh-paused";
  var paused = false;
  var timer = null;
  var waitingForTab = false;
  try {
    paused = window.sessionStorage.getItem(STORE_KEY) === "1";
  } catch (ignored) {
    paused = false;
  }

  function schedule() {
    window.clearTimeout(timer);
    if (!paused) {
      timer = window.setTimeout(refresh, seconds * 1000);
    }
  }

  function setPaused(value) {
    paused = value;
    try {
      window.sessionStorage.setItem(STORE_KEY, value ? "1" : "0");
    } catch (ignored) {
      /* a page without storage simply forgets the choice */
    }
    if (toggle) {
      toggle.setAttribute("aria-pressed", value ? "true" : "false");
    }
    document.body.classList.toggle("paused", value);
    if (value) {
      window.clearTimeout(timer);
    } else {
      refresh();
    }
  }

  function focusKey(element) {
    if (!element || !live.contains(element)) {
      return null;
    }
    if (element.id) {
      return "#" + CSS.escape(element.id);
    }
    var href = element.getAttribute("href");
    return href ? element.tagName.toLowerCase() + '[href="' + CSS.escape(href) + '"]' : null;
  }

  function swap(fresh) {
    var key = focusKey(document.activeElement);
    var open = [];
    var details = live.querySelectorAll("details[open][id]");
    for (var i = 0; i < details.length; i++) {
      open.push(details[i].id);
    }
    live.innerHTML = fresh.innerHTML;
    for (var j = 0; j < open.length; j++) {
      var again = document.getElementById(open[j]);
      if (again) {
        again.open = true;
      }
    }
    if (key) {
      var target = live.querySelector(key);
      if (target) {
        target.focus({ preventScroll: true });
      }
    }
    localTimes(live);
  }

  function refresh() {
    if (paused) {
      return;
    }
    if (document.hidden) {
      waitingForTab = true;
      return;
    }
    window
      .fetch(window.location.href, {
        headers: { Accept: "text/html" },
        cache: "no-store",
        credentials: "same-origin"
      })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.text();
      })
      .then(function (text) {
        var page = new DOMParser().parseFromString(text, "text/html");
        var fresh = page.getElementById("live");
        var stamp = page.getElementById("updated");
        if (!fresh || !stamp) {
          throw new Error("the answer is not this page");
        }
        if (paused) {
          return;
        }
        swap(fresh);
        status.innerHTML = stamp.innerHTML;
        localTimes(status);
      })
      .catch(function (error) {
        status.textContent =
          "Update failed (" + error.message + "); trying again in " + seconds + " s.";
      })
      .then(schedule);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && waitingForTab) {
      waitingForTab = false;
      refresh();
    }
  });

  if (toggle) {
    toggle.hidden = false;
    toggle.title = "The page updates itself every " + seconds + " s";
    toggle.addEventListener("click", function () {
      setPaused(!paused);
    });
  }
  if (paused) {
    setPaused(true);
  } else {
    schedule();
  }
})();
