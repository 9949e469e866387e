// The overview: draws the heat map of the load ahead in the viewer's clock hours, and follows
// live events: when runs start or end, or jobs change, its sections are fetched again and
// swapped in place.
(function () {
  "use strict";
  var cw = window.cronwork;
  var SVG = "http://www.w3.org/2000/svg";
  var MINUTE = 60000;
  var pending = null;
  var SECTIONS = ["section.cards", "section[aria-labelledby='running-h']",
    "section[aria-labelledby='upcoming-h']", "section[aria-labelledby='problems-h']"];

  function node(name, attributes, text) {
    var el = document.createElementNS(SVG, name);
    Object.keys(attributes).forEach(function (key) { el.setAttribute(key, attributes[key]); });
    if (text !== undefined) { el.textContent = text; }
    return el;
  }

  function drawHeat() {
    var svg = document.getElementById("heat");
    if (!svg) { return; }
    var start = new Date(svg.getAttribute("data-start")).getTime();
    var now = new Date(svg.getAttribute("data-now")).getTime();
    var counts = svg.getAttribute("data-counts").split(",").map(Number);
    var peak = Math.max.apply(null, counts.concat([1]));
    var first = new Date(now);
    first.setMinutes(0, 0, 0);
    var origin = first.getTime();
    var byMinute = {};
    counts.forEach(function (count, i) { byMinute[start + i * MINUTE] = count; });
    var hourFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    for (var row = 0; row < 25; row++) {
      svg.appendChild(node("text", { x: -4, y: row * 10 + 8, "class": "axis", "text-anchor": "end" },
        hourFormat.format(new Date(origin + row * 60 * MINUTE))));
      for (var col = 0; col < 60; col++) {
        var at = origin + (row * 60 + col) * MINUTE;
        var count = byMinute[at] || 0;
        var outside = at + MINUTE <= now || at >= now + 24 * 60 * MINUTE;
        var level = outside ? "x" : (count === 0 ? 0 : 1 + Math.min(4, Math.floor(4 * Math.log1p(count) / Math.log1p(peak))));
        var cell = node("rect", { x: col * 10, y: row * 10, width: 9, height: 9, "class": "h" + level });
        if (count && !outside) { cell.appendChild(node("title", {}, hourFormat.format(new Date(at)) + ": " + count + " runs")); }
        svg.appendChild(cell);
      }
    }
    for (var m = 0; m < 60; m += 10) {
      svg.appendChild(node("text", { x: m * 10, y: 262, "class": "axis" }, ":" + (m < 10 ? "0" : "") + m));
    }
  }

  document.addEventListener("DOMContentLoaded", drawHeat);

  // The first event after a quiet spell refreshes within half a second; under a stream of
  // events, at most every two seconds (each refresh renders the whole overview).
  var last = 0;
  cw.onEvent(function () {
    if (pending) { return; }
    var wait = Math.max(500, 2000 - (Date.now() - last));
    pending = window.setTimeout(function () {
      last = Date.now();
      cw.refreshParts(SECTIONS).then(function () { pending = null; });
    }, wait);
  });
})();
