// What every page shares: times in the viewer's zone, countdowns, the theme toggle, calls to
// the API (with the session's CSRF token) and one stream of live events.
(function () {
  "use strict";

  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var listeners = [];
  var source = null;

  var EVENT_TYPES = [
    "job_added", "job_modified", "job_removed", "job_paused", "job_resumed", "job_broken",
    "run_started", "run_succeeded", "run_failed", "run_timed_out", "run_skipped", "run_missed",
    "run_retried", "run_overdue", "run_cancelled", "run_lost"
  ];

  var timeFormat = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });

  function localTime(iso) {
    var moment = new Date(iso);
    return isNaN(moment.getTime()) ? iso : timeFormat.format(moment);
  }

  // ``iso`` in the zone ``zone`` (what hovering a time shows).
  function zoneTime(iso, zone) {
    try {
      return new Intl.DateTimeFormat(undefined, {
        year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
        second: "2-digit", timeZone: zone, timeZoneName: "short"
      }).format(new Date(iso)) + " (the job's zone)";
    } catch (e) {
      return iso;
    }
  }

  function span(seconds) {
    var s = Math.max(0, Math.round(seconds));
    if (s < 60) { return s + "s"; }
    var m = Math.floor(s / 60);
    if (m < 60) { return m + "m " + (s % 60) + "s"; }
    var h = Math.floor(m / 60);
    if (h < 48) { return h + "h " + (m % 60) + "m"; }
    return Math.floor(h / 24) + "d " + (h % 24) + "h";
  }

  function localizeTimes(root) {
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      el.textContent = localTime(el.getAttribute("datetime"));
    });
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-countdown]").forEach(function (el) {
      var iso = el.getAttribute("data-countdown") || el.getAttribute("datetime");
      if (!iso) { return; }
      var left = (new Date(iso).getTime() - now) / 1000;
      var text = left > 0 ? "in " + span(left) : "due now";
      if (el.tagName === "TIME") { el.setAttribute("aria-label", text); } else { el.textContent = text; }
    });
    document.querySelectorAll("[data-elapsed]").forEach(function (el) {
      var since = new Date(el.getAttribute("data-elapsed")).getTime();
      if (!isNaN(since)) { el.textContent = span((now - since) / 1000); }
    });
    document.querySelectorAll("progress[data-since]").forEach(function (el) {
      var since = new Date(el.getAttribute("data-since")).getTime();
      if (!isNaN(since)) { el.value = Math.min(el.max, (now - since) / 1000); }
    });
  }

  function notice(text, kind) {
    var box = document.getElementById("notice");
    if (!box) { return; }
    box.textContent = text;
    box.className = "notice" + (kind ? " " + kind : "");
    box.hidden = !text;
  }

  // One call to the JSON API: resolves to {ok, status, data} and never throws on 4xx.
  function api(method, url, body) {
    var options = { method: method, headers: { "Accept": "application/json" }, credentials: "same-origin" };
    if (method !== "GET") { options.headers["X-CSRF-Token"] = csrf; }
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (answer) {
      if (answer.status === 401) { window.location.assign("/login"); }
      var type = answer.headers.get("content-type") || "";
      var read = type.indexOf("application/json") >= 0 ? answer.json() : Promise.resolve(null);
      return read.then(function (data) { return { ok: answer.ok, status: answer.status, data: data }; });
    }, function (error) {
      return { ok: false, status: 0, data: { error: "the server cannot be reached: " + error.message } };
    });
  }

  function errorText(result) {
    if (result.data && result.data.error) { return result.data.error; }
    return "the server answered " + result.status;
  }

  function setLive(text) {
    var el = document.getElementById("live-state");
    if (el) { el.textContent = text; }
  }

  function connect() {
    if (source || !window.EventSource) { return; }
    source = new EventSource("/api/v1/events");
    source.onopen = function () { setLive("live"); };
    source.onerror = function () { setLive("reconnecting…"); };
    EVENT_TYPES.forEach(function (type) {
      source.addEventListener(type, function (message) {
        var data;
        try { data = JSON.parse(message.data); } catch (e) { return; }
        listeners.forEach(function (listener) { listener(data); });
      });
    });
  }

  // Live events go to ``listener(event)``; the stream opens with the first listener.
  function onEvent(listener) {
    listeners.push(listener);
    connect();
  }

  // Replaces the elements matching ``selectors`` with the same ones of a fresh copy of this page.
  function refreshParts(selectors) {
    return fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (text) {
        if (text === null) { return; }
        var fresh = new DOMParser().parseFromString(text, "text/html");
        selectors.forEach(function (selector) {
          var old = document.querySelector(selector);
          var found = fresh.querySelector(selector);
          if (old && found) {
            var copy = document.importNode(found, true);
            old.replaceWith(copy);
            localizeTimes(copy);
          }
        });
        tick();
      }, function () { /* a refresh that fails waits for the next event */ });
  }

  function badge(status) {
    var el = document.createElement("span");
    el.className = "badge s-" + status;
    el.textContent = String(status).replace(/_/g, " ");
    return el;
  }

  function themeToggle() {
    var button = document.getElementById("theme-toggle");
    if (!button) { return; }
    var order = ["system", "dark", "light"];
    function current() { return document.documentElement.getAttribute("data-theme") || "system"; }
    function show() {
      var theme = current();
      button.textContent = "Theme: " + theme;
      button.setAttribute("aria-label", "Colour theme: " + (theme === "system" ? "follows the system" : theme) + "; press to change");
    }
    button.addEventListener("click", function () {
      var next = order[(order.indexOf(current()) + 1) % order.length];
      if (next === "system") { document.documentElement.removeAttribute("data-theme"); }
      else { document.documentElement.setAttribute("data-theme", next); }
      try {
        if (next === "system") { window.localStorage.removeItem("cronwork-theme"); }
        else { window.localStorage.setItem("cronwork-theme", next); }
      } catch (e) { /* private mode: the choice lasts this page */ }
      show();
    });
    show();
  }

  window.addEventListener("pagehide", function () {
    if (source) { source.close(); source = null; }
  });

  window.cronwork = {
    api: api, errorText: errorText, notice: notice, onEvent: onEvent, badge: badge,
    localTime: localTime, zoneTime: zoneTime, localizeTimes: localizeTimes, refreshParts: refreshParts, span: span
  };

  document.addEventListener("DOMContentLoaded", function () {
    localizeTimes(document);
    themeToggle();
    tick();
    window.setInterval(tick, 1000);
    connect();
  });
})();
