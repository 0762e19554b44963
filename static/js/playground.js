// The playground's live run. Without this script "Run" is a plain form post that shows
// the finished results; with it, "Run" posts the same form to the stream URL and reads
// the answer as Server-Sent Events (fetch, since EventSource cannot POST), writing each
// column's text as it arrives. "Stop" aborts that request: the server notices the
// closed connection and cancels every column, closing the provider requests.
// No inline handlers, no eval, text inserted as text (the CSP forbids the rest).
(function () {
  "use strict";

  var form = document.getElementById("pg-form");
  if (!form || !window.fetch || !window.AbortController || !window.TextDecoder) return;
  var results = document.querySelector("[data-pg-results]");
  // "Run" (or "Run again") and, on a saved run, "Continue".
  var runButtons = form.querySelectorAll('button[name="run"]');
  var stopButton = form.querySelector("[data-pg-stop]");
  var status = form.querySelector("[data-pg-status]");
  if (!results || !runButtons.length || !stopButton) return;
  stopButton.hidden = false;

  var controller = null;
  var run = null; // {id, url} once the server has saved the run

  function articles() {
    return results.querySelectorAll("[data-column]");
  }

  function column(index) {
    return results.querySelector('[data-column="' + index + '"]');
  }

  function say(text, link) {
    status.textContent = text;
    if (link) {
      var a = document.createElement("a");
      a.href = link.url;
      a.textContent = "Open run #" + link.id;
      status.append(" ", a);
    }
  }

  function reset() {
    articles().forEach(function (article) {
      var body = article.querySelector("[data-result]");
      body.className = "pg-result-body pg-status-running";
      body.dataset.running = "1";
      body.querySelector("[data-state]").textContent = "Running…";
      body.querySelector("[data-output]").textContent = "";
      var stale = ".pg-error, .pg-metrics, .pg-attempts, .pg-raw, .pg-valid, .pg-images";
      body.querySelectorAll(stale).forEach(function (el) {
        el.remove();
      });
      article.querySelectorAll(".pg-promote").forEach(function (el) { el.remove(); });
    });
  }

  function line(className, who, text) {
    var p = document.createElement("p");
    var label = document.createElement("span");
    p.className = className;
    label.className = "pg-who";
    label.textContent = who;
    p.append(label, " ", text);
    return p;
  }

  // "Continue": each column's answer moves up into its conversation, under the prompt
  // it answered, and the follow-up is the newest "You" line, while the reply streams in.
  function carryOn(prompt, followUp) {
    articles().forEach(function (article) {
      var body = article.querySelector("[data-result]");
      var answered = body.classList.contains("pg-status-answered");
      var answer = answered ? body.querySelector("[data-output]").textContent : "";
      var turns = body.querySelector(".pg-turns");
      if (!turns) {
        turns = document.createElement("ol");
        turns.className = "pg-turns";
        turns.setAttribute("aria-label", "Conversation so far");
        body.querySelector("[data-state]").before(turns);
      }
      var last = turns.lastElementChild;
      if (!last || last.querySelector(".pg-answer")) {
        last = document.createElement("li");
        last.append(line("pg-you", "You", prompt));
        turns.append(last);
      }
      last.append(line("pg-answer", "Answer", answer || "(no answer)"));
      var next = document.createElement("li");
      next.append(line("pg-you", "You", followUp));
      turns.append(next);
    });
  }

  function markStopped() {
    articles().forEach(function (article) {
      var body = article.querySelector("[data-result]");
      if (body && body.dataset.running) {
        body.className = "pg-result-body pg-status-stopped";
        body.querySelector("[data-state]").textContent = "Stopped";
        delete body.dataset.running;
      }
    });
  }

  function handle(name, data) {
    if (name === "run") {
      run = data;
      say("Running… (saved as run #" + data.id + ")");
    } else if (name === "delta") {
      var article = column(data.column);
      if (article) article.querySelector("[data-output]").append(data.text);
    } else if (name === "column") {
      var target = column(data.column);
      if (target) target.querySelector("[data-result]").outerHTML = data.html;
    } else if (name === "done") {
      say("Done.", data);
      // The saved run's page: its URL can be shared, and it offers "Use for task".
      window.location.assign(data.url);
    }
  }

  function dispatch(block) {
    var name = "message";
    var lines = [];
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) name = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) lines.push(line.slice(5).replace(/^ /, ""));
    });
    if (lines.length) handle(name, JSON.parse(lines.join("\n")));
  }

  async function read(response) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";
    for (;;) {
      var chunk = await reader.read();
      if (chunk.done) break;
      buffer += decoder.decode(chunk.value, { stream: true });
      var cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        dispatch(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
      }
    }
  }

  function busy(running) {
    runButtons.forEach(function (button) { button.disabled = running; });
    stopButton.disabled = !running;
    results.setAttribute("aria-busy", running ? "true" : "false");
  }

  form.addEventListener("submit", async function (event) {
    // "Add column", "Remove", "Duplicate" stay plain posts.
    if (!event.submitter || event.submitter.name !== "run") return;
    event.preventDefault();
    // The button pressed goes along: "Continue" (run=continue) asks the follow-up.
    var body = new FormData(form, event.submitter);
    // Browsers before FormData's submitter argument ignore it: add the button by hand.
    if (!body.has("run")) body.append("run", event.submitter.value);
    if (event.submitter.value === "continue") {
      var followUp = String(body.get("follow_up") || "");
      if (!followUp.trim()) {
        say("Type a follow-up message to continue.");
        return;
      }
      carryOn(String(body.get("prompt") || ""), followUp);
    }
    controller = new AbortController();
    run = null;
    busy(true);
    reset();
    say("Starting…");
    try {
      var response = await fetch(form.dataset.streamUrl, {
        method: "POST",
        body: body,
        signal: controller.signal,
        credentials: "same-origin",
      });
      if (response.status === 422) {
        var problems = await response.json();
        markStopped();
        say("Not run: " + problems.errors.join(" "));
      } else if (!response.ok || !response.body) {
        markStopped();
        say("The run could not start (HTTP " + response.status + ").");
      } else {
        await read(response);
      }
    } catch (error) {
      markStopped();
      if (error.name === "AbortError") say("Stopped.", run);
      else say("The connection broke; what arrived is saved.", run);
    }
    busy(false);
  });

  stopButton.addEventListener("click", function () {
    if (controller) controller.abort();
  });
})();
