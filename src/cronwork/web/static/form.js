// The job form: the schedule previewed as it is typed, every field checked before sending,
// and the API's answer shown under the field it names. Nothing is created until all is valid.
(function () {
  "use strict";
  var cw = window.cronwork;
  var form = document.getElementById("job-form");
  if (!form) { return; }
  var editing = form.getAttribute("data-mode") === "edit";
  var jobId = form.getAttribute("data-job");
  var previewTimer = null;
  var previewError = null;
  var TEXT_KEYS = ["tz", "cwd", "timeout", "retry_backoff", "retry_backoff_max", "misfire_grace",
    "jitter", "start_at", "end_at", "dependency_timeout", "executor", "on_timeout", "overlap", "misfire"];
  var NUMBER_KEYS = ["retries", "max_instances"];
  var JSON_KEYS = { args: "a JSON list", kwargs: "a JSON object", env: "a JSON object" };
  var LIST_KEYS = ["tags", "depends_on"];

  function el(name) { return document.getElementById("f-" + name); }

  function setError(name, text) {
    var box = document.getElementById("err-" + name);
    if (!box) { return false; }
    box.textContent = text || "";
    box.hidden = !text;
    var input = el(name);
    if (input) {
      if (text) { input.setAttribute("aria-invalid", "true"); } else { input.removeAttribute("aria-invalid"); }
    }
    return true;
  }

  function clearErrors() {
    form.querySelectorAll(".field-error").forEach(function (box) { box.textContent = ""; box.hidden = true; });
    form.querySelectorAll("[aria-invalid]").forEach(function (input) { input.removeAttribute("aria-invalid"); });
    var top = document.getElementById("form-error");
    top.hidden = true;
    top.textContent = "";
  }

  function changed(input) {
    if (!input) { return false; }
    if (input.type === "checkbox") { return input.checked !== input.defaultChecked; }
    if (input.tagName === "SELECT") {
      return Array.prototype.some.call(input.options, function (o) { return o.selected !== o.defaultSelected; });
    }
    return input.value !== input.defaultValue;
  }

  function wanted(name) {
    return !editing || changed(el(name));
  }

  function preview() {
    var schedule = el("schedule").value.trim();
    var box = document.getElementById("preview");
    if (!schedule) { box.replaceChildren(); setError("schedule", ""); previewError = null; return Promise.resolve(); }
    var url = "/api/v1/preview?n=5&schedule=" + encodeURIComponent(schedule);
    var tz = el("tz").value.trim();
    if (tz) { url += "&tz=" + encodeURIComponent(tz); }
    return cw.api("GET", url).then(function (result) {
      if (el("schedule").value.trim() !== schedule) { return; }
      box.replaceChildren();
      if (!result.ok) {
        previewError = cw.errorText(result);
        var field = result.data && result.data.field === "tz" ? "tz" : "schedule";
        setError(field, previewError);
        setError(field === "tz" ? "schedule" : "tz", "");
        return;
      }
      previewError = null;
      setError("schedule", "");
      setError("tz", "");
      var words = document.createElement("p");
      words.className = "words";
      words.textContent = result.data.description + " (" + result.data.tz + ")";
      var list = document.createElement("ol");
      list.setAttribute("aria-label", "Next fire times");
      result.data.times.forEach(function (iso) {
        var item = document.createElement("li");
        var t = document.createElement("time");
        t.setAttribute("datetime", iso);
        t.textContent = cw.localTime(iso);
        t.title = iso + " in " + result.data.tz;
        item.appendChild(t);
        list.appendChild(item);
      });
      box.appendChild(words);
      box.appendChild(list);
      result.data.dst_notes.forEach(function (note) {
        var p = document.createElement("p");
        p.className = "dst-mark";
        p.textContent = note;
        box.appendChild(p);
      });
    });
  }

  function schedulePreview() {
    if (previewTimer) { window.clearTimeout(previewTimer); }
    previewTimer = window.setTimeout(preview, 250);
  }

  function splitList(text) {
    return text.split(",").map(function (s) { return s.trim(); }).filter(Boolean);
  }

  function notifyTargets(text) {
    return text.split("\n").map(function (line) { return line.trim(); }).filter(Boolean).map(function (line) {
      var parts = line.split(/\s+/);
      var on = parts.slice(1).filter(function (p) { return p.indexOf("on=") === 0; });
      if (!on.length) { return parts[0]; }
      return { url: parts[0], on: splitList(on[0].slice(3)) };
    });
  }

  // The body to send, and the errors found before sending (by field).
  function collect() {
    var body = {};
    var errors = {};
    if (!editing) {
      var id = el("id").value.trim();
      if (!id) { errors.id = "id: give the job an id"; } else { body.id = id; }
    }
    var schedule = el("schedule").value.trim();
    if (!schedule) { errors.schedule = "schedule: give a schedule such as 0 9 * * 1-5 or every 30m"; }
    else if (wanted("schedule")) { body.schedule = schedule; }
    var kind = el("kind").value;
    var target = el("target").value.trim();
    var shell = el("shell");
    if (!target) { errors.target = "target: name what the job runs"; }
    else if (!editing || changed(el("kind")) || changed(el("target")) || changed(shell)) {
      body[kind] = target;
      if (kind === "command" && shell.checked) { body.shell = true; }
    }
    TEXT_KEYS.forEach(function (key) {
      var input = el(key);
      if (!input || !wanted(key)) { return; }
      var value = input.value.trim();
      if (value) { body[key] = value; } else if (editing) { body[key] = null; }
    });
    NUMBER_KEYS.forEach(function (key) {
      if (!wanted(key)) { return; }
      var value = el(key).value.trim();
      if (!value) { if (editing) { body[key] = null; } return; }
      var number = Number(value);
      if (!Number.isInteger(number)) { errors[key] = key + ": a whole number"; } else { body[key] = number; }
    });
    Object.keys(JSON_KEYS).forEach(function (key) {
      var value = el(key).value.trim();
      if (!wanted(key) || (key === "env" && editing && !value)) { return; }
      if (!value) { if (editing) { body[key] = null; } return; }
      try {
        var parsed = JSON.parse(value);
        var list = Array.isArray(parsed);
        var ok = JSON_KEYS[key] === "a JSON list" ? list : (parsed !== null && typeof parsed === "object" && !list);
        if (!ok) { errors[key] = key + ": must be " + JSON_KEYS[key]; } else { body[key] = parsed; }
      } catch (e) {
        errors[key] = key + ": not valid JSON (" + e.message + ")";
      }
    });
    LIST_KEYS.forEach(function (key) {
      if (!wanted(key)) { return; }
      body[key] = splitList(el(key).value);
    });
    var notify = el("notify").value.trim();
    if (notify || !editing) { body.notify = notifyTargets(notify); }
    if (previewError && !errors.schedule && !errors.tz) {
      var tzError = previewError.indexOf("zone") >= 0 && el("tz").value.trim();
      errors[tzError ? "tz" : "schedule"] = previewError;
    }
    return { body: body, errors: errors };
  }

  function showErrors(errors) {
    var unplaced = [];
    Object.keys(errors).forEach(function (field) {
      if (!setError(field, errors[field])) { unplaced.push(errors[field]); }
    });
    var first = form.querySelector("[aria-invalid='true']");
    if (first) {
      var details = first.closest("details");
      if (details) { details.open = true; }
      first.focus();
    }
    if (unplaced.length) {
      var top = document.getElementById("form-error");
      top.textContent = unplaced.join("; ");
      top.hidden = false;
    }
  }

  function fieldOf(apiField) {
    if (apiField === "call" || apiField === "task" || apiField === "command" || apiField === "shell") { return "target"; }
    if (apiField === "notify" || (apiField && apiField.indexOf("notify") === 0)) { return "notify"; }
    return apiField;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearErrors();
    var save = document.getElementById("save");
    save.disabled = true;
    preview().then(function () {
      var found = collect();
      if (Object.keys(found.errors).length) { showErrors(found.errors); save.disabled = false; return; }
      var call = editing
        ? cw.api("PATCH", "/api/v1/jobs/" + encodeURIComponent(jobId), found.body)
        : cw.api("POST", "/api/v1/jobs", found.body);
      call.then(function (result) {
        save.disabled = false;
        if (result.ok) {
          window.location.assign("/jobs/" + encodeURIComponent(result.data.id));
          return;
        }
        var errors = {};
        var field = result.data && result.data.field ? fieldOf(result.data.field) : "form";
        errors[field] = cw.errorText(result);
        showErrors(errors);
      });
    });
  });

  el("schedule").addEventListener("input", schedulePreview);
  el("tz").addEventListener("input", schedulePreview);
  if (el("schedule").value.trim()) { preview(); }
})();
