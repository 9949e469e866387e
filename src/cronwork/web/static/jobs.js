// The jobs list: selection and bulk actions (after a confirmation), and rows kept up to date
// from live events.
(function () {
  "use strict";
  var cw = window.cronwork;
  var VERBS = { pause: "Pause", resume: "Resume", trigger: "Run now" };

  function picks() { return Array.prototype.slice.call(document.querySelectorAll("input.pick")); }
  function chosen() { return picks().filter(function (box) { return box.checked; }).map(function (box) { return box.value; }); }

  function updateSelection() {
    var n = chosen().length;
    var label = document.getElementById("selected-count");
    if (label) { label.textContent = n + " selected"; }
    document.querySelectorAll("[data-bulk]").forEach(function (button) { button.disabled = n === 0; });
  }

  function row(jobId) {
    var rows = document.querySelectorAll("tr[data-job]");
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-job") === jobId) { return rows[i]; }
    }
    return null;
  }

  function showLast(tr, run) {
    var cell = tr.querySelector("td.last");
    if (!cell) { return; }
    var link = document.createElement("a");
    link.href = "/runs/" + encodeURIComponent(run.id);
    link.appendChild(cw.badge(run.status));
    cell.replaceChildren(link);
  }

  function showState(tr, job) {
    var cell = tr.querySelector("td.state");
    if (!cell) { return; }
    cell.replaceChildren();
    if (job.broken) {
      cell.appendChild(cw.badge("failed")).textContent = "broken";
    } else if (job.paused) {
      var b = cw.badge("paused");
      cell.appendChild(b);
      if (job.pause_note) {
        var note = document.createElement("span");
        note.className = "note";
        note.textContent = job.pause_note;
        cell.appendChild(document.createTextNode(" "));
        cell.appendChild(note);
      }
    } else {
      cell.textContent = "active";
    }
  }

  // A run started or ended: the job's next run has moved on, so read it again.
  var reading = {};
  function refreshNext(tr, jobId) {
    if (reading[jobId]) { return; }
    reading[jobId] = true;
    cw.api("GET", "/api/v1/jobs/" + encodeURIComponent(jobId)).then(function (result) {
      reading[jobId] = false;
      var cell = tr.querySelector("td.next");
      if (!result.ok || !cell) { return; }
      var job = result.data;
      if (job.paused || job.broken || !job.next_run_at) {
        var none = document.createElement("span");
        none.className = "muted";
        none.textContent = "–";
        cell.replaceChildren(none);
        return;
      }
      var time = document.createElement("time");
      time.setAttribute("datetime", job.next_run_at);
      time.textContent = cw.localTime(job.next_run_at);
      time.title = cw.zoneTime(job.next_run_at, job.tz);
      var left = document.createElement("span");
      left.className = "muted";
      left.setAttribute("data-countdown", job.next_run_at);
      cell.replaceChildren(time, document.createElement("br"), left);
    });
  }

  function bulk(action) {
    var ids = chosen();
    var dialog = document.getElementById("confirm");
    var text = document.getElementById("confirm-text");
    text.textContent = VERBS[action] + " " + ids.length + (ids.length === 1 ? " job: " : " jobs: ") +
      ids.slice(0, 10).join(", ") + (ids.length > 10 ? ", …" : "") + "?";
    dialog.returnValue = "";
    dialog.showModal();
    dialog.addEventListener("close", function once() {
      dialog.removeEventListener("close", once);
      if (dialog.returnValue !== "ok") { return; }
      var failed = [];
      var calls = ids.map(function (id) {
        return cw.api("POST", "/api/v1/jobs/" + encodeURIComponent(id) + "/" + action).then(function (result) {
          if (!result.ok) { failed.push(id + ": " + cw.errorText(result)); return; }
          var tr = row(id);
          if (tr && action !== "trigger") { showState(tr, result.data); }
        });
      });
      Promise.all(calls).then(function () {
        var done = ids.length - failed.length;
        cw.notice(VERBS[action] + ": " + done + " of " + ids.length + " done" +
          (failed.length ? "; " + failed.join("; ") : ""), failed.length ? "error" : "ok");
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var all = document.getElementById("select-all");
    if (all) {
      all.addEventListener("change", function () {
        picks().forEach(function (box) { box.checked = all.checked; });
        updateSelection();
      });
    }
    picks().forEach(function (box) { box.addEventListener("change", updateSelection); });
    document.querySelectorAll("[data-bulk]").forEach(function (button) {
      button.addEventListener("click", function () { bulk(button.getAttribute("data-bulk")); });
    });
    updateSelection();
  });

  cw.onEvent(function (event) {
    var tr = row(event.job_id);
    if (!tr) { return; }
    if (event.run && event.type.indexOf("run_") === 0) { showLast(tr, event.run); }
    if (event.job) { showState(tr, event.job); }
    refreshNext(tr, event.job_id);
  });
})();
