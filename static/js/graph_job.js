// Progress of a background drawing (large contexts drawn by a Celery worker).
//
// The page shows a summary graph and a progress bar; this script polls the
// small JSON endpoint named in <script type="application/json" id="graph-job">
// (written by Django's json_script) and moves the bar.  When the drawing is
// done, or has failed, it fetches the page again and swaps the graph card for
// the new one (the full drawing, or the error with its retry button), then
// attaches pan/zoom (graph.js).  Polls slow down over time (1 s up to 10 s),
// keep going through network errors, and stop after half an hour with a
// message: the page never spins forever.  The status endpoint is also the
// watchdog: asking re-queues a job whose worker died.
(function () {
  "use strict";

  var FIRST_DELAY_MS = 1000;
  var RUNNING_DELAY_MS = 2000;
  var MAX_DELAY_MS = 10000;
  var GIVE_UP_MS = 30 * 60 * 1000;

  function readConfig() {
    var element = document.getElementById("graph-job");
    if (!element) {
      return null;
    }
    try {
      return JSON.parse(element.textContent);
    } catch (error) {
      return null;
    }
  }

  function seconds(value) {
    return value < 90 ? Math.round(value) + " s" : Math.round(value / 60) + " min";
  }

  function Poller(box, config) {
    this.box = box;
    this.config = config;
    this.delay = FIRST_DELAY_MS;
    this.started = Date.now();
    this.bar = box.querySelector("[data-graph-job-progress]");
    this.text = box.querySelector("[data-graph-job-text]");
    this.stage = box.querySelector("[data-graph-job-stage]");
    this.hint = box.querySelector("[data-graph-job-hint]");
  }

  Poller.prototype.schedule = function () {
    var self = this;
    window.setTimeout(function () {
      self.poll();
    }, this.delay);
    this.delay = Math.min(MAX_DELAY_MS, Math.round(this.delay * 1.4));
  };

  Poller.prototype.say = function (message) {
    if (this.hint) {
      this.hint.textContent = message;
      this.hint.hidden = !message;
    }
  };

  Poller.prototype.update = function (status) {
    this.box.setAttribute("data-state", status.state);
    if (this.bar) {
      this.bar.value = status.progress || 0;
      this.bar.textContent = (status.progress || 0) + "%";
    }
    if (this.text) {
      this.text.textContent =
        status.state === "running" ? "Drawing the full graph…" : "Waiting for a worker to draw the full graph…";
    }
    if (this.stage) {
      this.stage.textContent = status.stage || "";
    }
    if (status.waiting_for_worker) {
      this.say(
        "No worker has taken this up for " + seconds(status.queued_seconds || 0) +
          ": is a Celery worker running? (celery -A mlmdsite inspect ping)"
      );
    } else if (status.error) {
      this.say(status.error + " Retrying.");
    } else {
      this.say("");
    }
  };

  Poller.prototype.poll = function () {
    var self = this;
    if (Date.now() - this.started > GIVE_UP_MS) {
      this.say("The drawing is still not finished; reload the page later to see it.");
      return;
    }
    fetch(this.config.status_url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
      cache: "no-store",
    })
      .then(function (response) {
        if (!response.ok) {
          throw new Error("HTTP " + response.status);
        }
        return response.json();
      })
      .then(function (status) {
        if (status.state === "done" || status.state === "failed" || status.state === "gone") {
          swapCard();
          return;
        }
        self.update(status);
        if (status.state === "running") {
          self.delay = Math.min(self.delay, RUNNING_DELAY_MS);
        }
        self.schedule();
      })
      .catch(function () {
        self.say("Lost contact with the server; trying again.");
        self.schedule();
      });
  };

  // The page as it is now: the full drawing (or the error), with its notes and group list.
  function swapCard() {
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("graph-card");
        var current = document.getElementById("graph-card");
        if (!fresh || !current) {
          window.location.reload();
          return;
        }
        current.replaceWith(fresh);
        if (window.mlmdGraph) {
          window.mlmdGraph.attach(fresh);
        }
        start(); // written to meanwhile: the new card may be waiting again
      })
      .catch(function () {
        window.location.reload();
      });
  }

  function start() {
    var config = readConfig();
    var box = document.querySelector("[data-job-config]");
    if (!config || !box || !config.status_url || config.state === "failed") {
      return;
    }
    new Poller(box, config).schedule();
  }

  start();
})();
