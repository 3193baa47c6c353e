// Polls the job's API resource every 2 s while it is queued or running and updates the page in place.
// The session cookie authenticates the request (GET needs no CSRF token). Stops once the job has finished.
(function () {
  "use strict";
  var root = document.getElementById("job");
  if (!root) { return; }
  var url = root.getAttribute("data-api-url");
  var FINISHED = ["succeeded", "failed", "cancelled"];
  var LABELS = { queued: "Queued", running: "Running", succeeded: "Succeeded", failed: "Failed", cancelled: "Cancelled" };
  var INTERVAL_MS = 2000;
  var failures = 0;

  function text(id, value) {
    var el = document.getElementById(id);
    if (el) { el.textContent = value; }
  }

  function formatTime(iso) {
    if (!iso) { return "—"; }
    return iso.replace("T", " ").replace(/\.\d+/, "").replace(/(Z|[+-]00:00)$/, "");
  }

  function renderLog(lines) {
    var list = document.getElementById("job-log");
    if (!list || !lines) { return; }
    list.textContent = "";
    lines.forEach(function (line) {
      var li = document.createElement("li");
      li.className = "log__line log__line--" + (line.level || "info");
      var time = document.createElement("time");
      time.dateTime = line.at;
      time.textContent = formatTime(line.at).slice(11, 19);
      var level = document.createElement("span");
      level.className = "log__level";
      level.textContent = line.level;
      var msg = document.createElement("span");
      msg.className = "log__msg";
      msg.textContent = line.message;
      li.append(time, " ", level, " ", msg);
      list.appendChild(li);
    });
  }

  function renderOutputs(outputs) {
    var box = document.getElementById("job-outputs");
    var list = document.getElementById("job-output-list");
    if (!box || !list || !outputs) { return; }
    list.textContent = "";
    outputs.forEach(function (output) {
      var li = document.createElement("li");
      var link = document.createElement("a");
      link.href = output.url;
      link.textContent = output.label;
      li.appendChild(link);
      list.appendChild(li);
    });
    box.hidden = outputs.length === 0;
  }

  function render(job) {
    root.setAttribute("data-status", job.status);
    var progress = document.getElementById("job-progress");
    if (progress) {
      progress.value = job.progress;
      progress.textContent = Math.round(job.progress * 100) + "%";
    }
    text("job-percent", Math.round(job.progress * 100) + "%");
    text("job-stage", job.stage || "—");
    text("job-started", formatTime(job.started_at));
    text("job-finished", formatTime(job.finished_at));
    document.querySelectorAll("[data-job-status]").forEach(function (badge) {
      badge.className = "badge badge--" + job.status;
      badge.textContent = LABELS[job.status] || job.status;
    });
    var error = document.getElementById("job-error");
    if (error) {
      error.textContent = job.error || "";
      error.hidden = !job.error;
    }
    var result = document.getElementById("job-result");
    var noResult = document.getElementById("job-no-result");
    var hasResult = job.result && Object.keys(job.result).length > 0;
    if (result) {
      result.textContent = hasResult ? JSON.stringify(job.result, null, 2) : "";
      result.hidden = !hasResult;
    }
    if (noResult) { noResult.hidden = !!hasResult; }
    renderLog(job.log);
    renderOutputs(job.outputs);
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.json();
      })
      .then(function (job) {
        failures = 0;
        render(job);
        if (FINISHED.indexOf(job.status) === -1) {
          window.setTimeout(poll, INTERVAL_MS);
        } else {
          text("job-live", "finished");
          var cancel = document.getElementById("cancel-form");
          if (cancel) { cancel.hidden = true; }
        }
      })
      .catch(function () {
        failures += 1;
        text("job-live", "updates paused: the server did not answer");
        // Back off, but keep trying: a restarting server should not leave the page stale for good.
        window.setTimeout(poll, INTERVAL_MS * Math.min(failures + 1, 10));
      });
  }

  window.setTimeout(poll, INTERVAL_MS);
})();
