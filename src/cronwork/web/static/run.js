// A run's page: its output followed while it runs (read from the API every second), its
// status from live events, and the button that stops it.
(function () {
  "use strict";
  var cw = window.cronwork;
  var root = document.getElementById("run");
  if (!root) { return; }
  var runId = root.getAttribute("data-run");
  var base = "/api/v1/runs/" + encodeURIComponent(runId);
  var timer = null;

  function setTime(id, iso) {
    var cell = document.getElementById(id);
    if (!cell) { return; }
    if (!iso) { cell.textContent = "–"; return; }
    var el = document.createElement("time");
    el.setAttribute("datetime", iso);
    el.textContent = cw.localTime(iso);
    cell.replaceChildren(el);
  }

  function seconds(value) {
    if (value === null || value === undefined) { return "–"; }
    if (value < 1) { return Math.round(value * 1000) + " ms"; }
    if (value < 120) { return value.toFixed(1) + " s"; }
    return (value / 60).toFixed(1) + " min";
  }

  function showRun(run) {
    document.getElementById("run-status").replaceChildren(cw.badge(run.status));
    setTime("run-started", run.started_at);
    setTime("run-finished", run.finished_at);
    document.getElementById("run-duration").textContent = seconds(run.duration);
    document.getElementById("run-exit").textContent = run.exit_code === null ? "–" : String(run.exit_code);
    document.getElementById("run-node").textContent = run.node || "–";
    if (run.started_at) {
      var late = (new Date(run.started_at) - new Date(run.scheduled_for)) / 1000;
      document.getElementById("run-lateness").textContent = seconds(late);
    }
    showError(run.error);
    var button = document.getElementById("cancel-run");
    var finished = ["scheduled", "running"].indexOf(run.status) < 0;
    if (button) { button.hidden = finished; }
  }

  function showError(error) {
    var section = document.getElementById("error-section");
    if (error) {
      document.getElementById("run-error").textContent = error;
      section.hidden = false;
    }
  }

  function showOutput(text) {
    var pre = document.getElementById("run-output");
    if (pre.textContent === text) { return; }
    var atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = text;
    if (atEnd) { pre.scrollTop = pre.scrollHeight; }
  }

  function stop() {
    if (timer !== null) { window.clearInterval(timer); timer = null; }
    document.getElementById("tail-state").textContent = "";
    root.setAttribute("data-finished", "yes");
  }

  function poll() {
    cw.api("GET", base + "/output").then(function (result) {
      if (!result.ok || !result.data) { return; }
      showOutput(result.data.output);
      showError(result.data.error);
      if (result.data.complete) {
        stop();
        cw.api("GET", base).then(function (answer) { if (answer.ok) { showRun(answer.data); } });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (root.getAttribute("data-finished") !== "yes") {
      timer = window.setInterval(poll, 1000);
      poll();
    }
    var button = document.getElementById("cancel-run");
    if (button) {
      button.addEventListener("click", function () {
        button.disabled = true;
        cw.api("POST", base + "/cancel").then(function (result) {
          button.disabled = false;
          var out = document.getElementById("cancel-result");
          if (!result.ok) { out.textContent = cw.errorText(result); return; }
          out.textContent = "Stop requested.";
          showRun(result.data);
        });
      });
    }
  });

  // An event may come before the store has the run's outcome and output: the reads go on
  // until the output endpoint says the run is complete.
  cw.onEvent(function (event) {
    if (event.run && event.run.id === runId) {
      showRun(event.run);
      if (timer !== null) { poll(); }
    }
  });
})();
