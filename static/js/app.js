// aiconfig dashboard: the little the server cannot do. Everything works without it;
// this adds toasts, keeps keyboard focus sensible after HTMX swaps, and clears a model
// name when its provider changes. No inline handlers, no eval (the CSP forbids both).
(function () {
  "use strict";

  // --- toasts -----------------------------------------------------------------------

  var MAX_TOASTS = 3;

  function dismissLater(toast, ms) {
    window.setTimeout(function () {
      toast.classList.add("is-leaving");
      window.setTimeout(function () { toast.remove(); }, 250);
    }, ms);
  }

  function showToast(message, level) {
    var region = document.getElementById("toasts");
    if (!region || !message) return;
    var toast = document.createElement("div");
    toast.className = "toast toast-" + (level === "error" ? "error" : "success");
    toast.textContent = message;
    region.appendChild(toast);
    dismissLater(toast, level === "error" ? 9000 : 5000);
    // A burst of errors must not build a wall over the page: keep the newest few.
    while (region.children.length > MAX_TOASTS) region.firstElementChild.remove();
  }

  // A click (or tap) puts a toast away at once.
  document.addEventListener("click", function (event) {
    var toast = event.target instanceof Element && event.target.closest("#toasts .toast");
    if (toast) toast.remove();
  });

  // Server-rendered messages (the no-JavaScript path) fade out too once JS is here.
  document.querySelectorAll("#toasts .toast").forEach(function (toast) {
    dismissLater(toast, 7000);
  });

  // Views send `HX-Trigger: {"toast": {"message": ..., "level": ...}}`.
  document.addEventListener("toast", function (event) {
    var detail = event.detail || {};
    showToast(detail.message, detail.level);
  });

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    if (status === 403) {
      showToast("Not allowed: your account cannot change this (or the page is stale — reload).", "error");
    } else {
      showToast("Something went wrong (HTTP " + status + "). Nothing was changed.", "error");
    }
  });

  document.addEventListener("htmx:sendError", function () {
    showToast("Could not reach the server. Check your connection and try again.", "error");
  });

  // --- provider -> model ------------------------------------------------------------

  // A model name rarely means anything at another provider: clear it when the provider
  // changes (blank = that provider's default). The server still accepts any name.
  document.addEventListener("change", function (event) {
    var select = event.target;
    if (!(select instanceof HTMLSelectElement) || !select.dataset.modelInput) return;
    var input = document.getElementById(select.dataset.modelInput);
    if (input) input.value = "";
  });

  // --- focus after swaps ------------------------------------------------------------

  var lastAction = "";

  document.addEventListener("htmx:beforeRequest", function (event) {
    var trigger = event.detail.requestConfig && event.detail.requestConfig.triggeringEvent;
    var submitter = trigger && trigger.submitter;
    lastAction = submitter && submitter.name === "action" ? submitter.value : "";
  });

  function firstEnabled(root, selectors) {
    for (var i = 0; i < selectors.length; i++) {
      var el = root.querySelector(selectors[i]);
      if (el && !el.disabled) return el;
    }
    return null;
  }

  function focusTarget(card) {
    if (!card.classList.contains("is-editing")) {
      return card.querySelector(".card-head a.btn");
    }
    var invalid = card.querySelector("[aria-invalid='true']");
    if (invalid) return invalid;
    var parts = lastAction.split(":");
    var n = parseInt(parts[1], 10);
    switch (parts[0]) {
      case "add_fallback":
        return firstEnabled(card, [".fallback-row:last-child select"]);
      case "up":
        return firstEnabled(card, ["button[value='up:" + (n - 1) + "']", "button[value='down:" + (n - 1) + "']"]);
      case "down":
        return firstEnabled(card, ["button[value='down:" + (n + 1) + "']", "button[value='up:" + (n + 1) + "']"]);
      case "remove":
        return firstEnabled(card, [
          "button[value='remove:" + n + "']",
          "button[value='remove:" + (n - 1) + "']",
          "button[value='add_fallback']",
        ]);
      default:
        return card.querySelector("select");
    }
  }

  document.addEventListener("htmx:load", function (event) {
    var el = event.detail.elt;
    if (!(el instanceof HTMLElement)) return;

    // A refreshed model list: say which model a blank input means.
    if (el.tagName === "DATALIST") {
      var input = document.querySelector("input[list='" + el.id + "']");
      if (input) {
        var fallback = el.dataset.defaultModel;
        input.placeholder = fallback ? "Default: " + fallback : "Type a model name";
      }
      return;
    }

    // A swapped card took the focused control with it: put focus somewhere useful.
    if (el.classList.contains("task-card")) {
      var active = document.activeElement;
      if (!active || active === document.body || !document.contains(active)) {
        var target = focusTarget(el);
        if (target) target.focus();
      }
      lastAction = "";
    }
  });
})();
