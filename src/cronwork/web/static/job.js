// A job's page: run now, pause with a note, resume, stop, delete, backfill; fire times in the
// viewer's zone with its clock changes; run history kept up to date from live events.
(function () {
  "use strict";
  var cw = window.cronwork;
  var root = document.getElementById("job");
  if (!root) { return; }
  var jobId = root.getAttribute("data-job");
  var base = "/api/v1/jobs/" + encodeURIComponent(jobId);

  function say(text) {
    var out = document.getElementById("action-result");
    if (out) { out.textContent = text; }
  }

  function showPaused(job) {
    var state = document.getElementById("job-state");
    var note = document.getElementById("pause-note");
    state.replaceChildren(cw.badge(job.paused ? "paused" : "active"));
    note.textContent = job.pause_note || "";
    note.hidden = !job.pause_note;
    var form = document.getElementById("pause-form");
    var resume = document.getElementById("resume");
    if (form) { form.hidden = job.paused; }
    if (resume) { resume.hidden = !job.paused; }
  }

  // Marks rows of the fire-time table where the viewer's UTC offset changes.
  function markViewerClock() {
    var before = new Date().getTimezoneOffset();
    document.querySelectorAll("time[data-local-fire]").forEach(function (el) {
      var offset = new Date(el.getAttribute("datetime")).getTimezoneOffset();
      if (offset !== before) {
        var mark = document.createElement("span");
        mark.className = "dst-mark";
        mark.textContent = "your clocks change before this";
        el.parentNode.appendChild(document.createTextNode(" "));
        el.parentNode.appendChild(mark);
      }
      before = offset;
    });
  }

  function historyRow(run) {
    var tbody = document.querySelector("#history tbody");
    var rows = tbody.querySelectorAll("tr[data-run]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-run") === run.id) { return rows[i]; }
    }
    if (root.getAttribute("data-first-page") !== "yes") { return null; }
    var empty = tbody.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    var tr = document.createElement("tr");
    tr.setAttribute("data-run", run.id);
    var cells = ["id", "slot", "status", "trigger", "attempt", "started", "duration", "exit"];
    cells.forEach(function (name) {
      var td = document.createElement("td");
      td.className = name;
      tr.appendChild(td);
    });
    var link = document.createElement("a");
    link.href = "/runs/" + encodeURIComponent(run.id);
    link.textContent = run.id;
    tr.children[0].appendChild(link);
    tr.children[1].appendChild(timeEl(run.scheduled_for));
    tr.children[3].textContent = run.trigger;
    tr.children[4].textContent = String(run.attempt);
    tbody.insertBefore(tr, tbody.firstChild);
    return tr;
  }

  function timeEl(iso) {
    if (!iso) { return document.createTextNode("–"); }
    var el = document.createElement("time");
    el.setAttribute("datetime", iso);
    el.textContent = cw.localTime(iso);
    return el;
  }

  // A run only moves forward: scheduled, then running, then how it ended. The answer to "Run
  // now" may arrive after the live events of a quick run; it must not put the row back.
  function stage(status) {
    if (status === "scheduled") { return 0; }
    return status === "running" ? 1 : 2;
  }

  function showRun(run) {
    var tr = historyRow(run);
    if (!tr) { return; }
    var shown = tr.getAttribute("data-status");
    if (shown !== null && stage(run.status) < stage(shown)) { return; }
    tr.setAttribute("data-status", run.status);
    tr.querySelector(".status").replaceChildren(cw.badge(run.status));
    tr.children[5].replaceChildren(timeEl(run.started_at));
    tr.querySelector(".duration").textContent =
      run.duration === null ? "–" : (run.duration < 1 ? Math.round(run.duration * 1000) + " ms" : run.duration.toFixed(1) + " s");
    tr.querySelector(".exit").textContent = run.exit_code === null ? "–" : String(run.exit_code);
  }

  // Reads a run again until it has ended, in case its live events came before the stream was
  // open (a page just loaded) or were missed while it reconnected.
  function followUntilDone(runId, tries) {
    if (tries >= 30) { return; }
    window.setTimeout(function () {
      cw.api("GET", "/api/v1/runs/" + encodeURIComponent(runId)).then(function (result) {
        if (!result.ok) { return; }
        showRun(result.data);
        if (stage(result.data.status) < 2) { followUntilDone(runId, tries + 1); }
      });
    }, 1000);
  }

  function action(method, path, body, done) {
    return cw.api(method, base + path, body).then(function (result) {
      if (!result.ok) { say(cw.errorText(result)); return result; }
      if (done) { done(result.data); }
      return result;
    });
  }

  function wireActions() {
    var runNow = document.getElementById("run-now");
    if (!runNow) { return; }
    runNow.addEventListener("click", function () {
      action("POST", "/trigger", undefined, function (run) {
        say("Run " + run.id + " is " + run.status.replace(/_/g, " ") + ".");
        showRun(run);
        followUntilDone(run.id, 0);
      });
    });
    document.getElementById("pause-form").addEventListener("submit", function (event) {
      event.preventDefault();
      var note = document.getElementById("pause-note-input").value.trim();
      action("POST", "/pause", note ? { note: note } : {}, function (job) { showPaused(job); say("Paused."); });
    });
    document.getElementById("resume").addEventListener("click", function () {
      action("POST", "/resume", undefined, function (job) { showPaused(job); say("Resumed."); });
    });
    document.getElementById("stop").addEventListener("click", function () {
      action("POST", "/stop", undefined, function (data) {
        say(data.runs.length ? "Stopping " + data.runs.length + " run(s)." : "Nothing was running.");
      });
    });
    var del = document.getElementById("delete");
    var force = document.getElementById("force");
    del.addEventListener("click", function () {
      var forced = force && force.checked;
      var text = "Delete job " + jobId + (forced ? " although other jobs depend on it" : "") + "? Its run history stays.";
      if (!window.confirm(text)) { return; }
      cw.api("DELETE", base + (forced ? "?force=true" : "")).then(function (result) {
        if (result.ok) { window.location.assign("/jobs"); return; }
        say(cw.errorText(result));
        if (result.status === 409) { document.getElementById("force-wrap").hidden = false; }
      });
    });
  }

  function isoOf(localValue) {
    var moment = new Date(localValue);
    return isNaN(moment.getTime()) ? null : moment.toISOString();
  }

  function wireBackfill() {
    var form = document.getElementById("backfill-form");
    if (!form) { return; }
    var preview = document.getElementById("bf-preview");
    var submit = document.getElementById("bf-submit");
    function range() {
      var start = isoOf(document.getElementById("bf-start").value);
      var end = isoOf(document.getElementById("bf-end").value);
      return start && end ? { start: start, end: end } : null;
    }
    function count() {
      var r = range();
      if (!r) { return; }
      var url = "/jobs/" + encodeURIComponent(jobId) + "/slots?start=" + encodeURIComponent(r.start) + "&end=" + encodeURIComponent(r.end);
      cw.api("GET", url).then(function (result) {
        if (!result.ok) { preview.textContent = cw.errorText(result); submit.disabled = true; return; }
        var n = result.data.count;
        submit.disabled = n === 0 || result.data.over_cap;
        preview.textContent = result.data.over_cap
          ? "More than " + result.data.cap + " runs: choose a shorter range."
          : "This backfill makes " + n + (n === 1 ? " run." : " runs.");
      });
    }
    form.addEventListener("change", count);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var r = range();
      if (!r) { preview.textContent = "Choose a start and an end."; return; }
      r.overlap = document.getElementById("bf-overlap").value;
      cw.api("POST", base + "/backfill", r).then(function (result) {
        if (result.status === 404 || result.status === 405) {
          preview.textContent = "Backfill is not available on this server.";
          Array.prototype.forEach.call(form.elements, function (el) { el.disabled = true; });
          return;
        }
        preview.textContent = result.ok ? "Backfill queued." : cw.errorText(result);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    markViewerClock();
    wireActions();
    wireBackfill();
  });

  cw.onEvent(function (event) {
    if (event.job_id !== jobId) { return; }
    if (event.run) { showRun(event.run); }
    if (event.job) { showPaused(event.job); }
    if (event.type === "job_removed") { say("This job was removed."); }
  });
})();
