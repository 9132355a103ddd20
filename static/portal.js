// Page behaviour that HTMX does not cover: the modal dialog, the tray's close button,
// and enabling command-bar buttons from the table selection.
(function () {
  "use strict";

  const modal = () => document.getElementById("modal");

  // Only close here: the dialog's "close" event empties it a moment later, after HTMX has
  // finished with the request that came from inside it.
  function closeModal() {
    const dialog = modal();
    if (dialog && dialog.open) dialog.close();
  }

  // A command that needs a selection is enabled when every selected row allows it.
  // Rows carry data-registration / data-protection / data-usage / data-points; buttons list the
  // values they accept, and data-selection says "required" (one or more), "single" or "optional".
  function refreshCommands() {
    const checked = Array.from(document.querySelectorAll("#selection input[name=selected]:checked"));
    const rows = checked.map((box) => box.closest("tr"));
    document.querySelectorAll(".commands [data-selection]").forEach((button) => {
      const mode = button.dataset.selection;
      let allowed = !(mode === "required" && rows.length === 0) && !(mode === "single" && rows.length !== 1);
      for (const key of ["registration", "protection", "usage", "points"]) {
        const accepted = button.dataset["allow" + key.charAt(0).toUpperCase() + key.slice(1)];
        if (!accepted) continue;
        const values = accepted.split(" ");
        if (!rows.every((row) => values.includes(row.dataset[key]))) allowed = false;
      }
      button.disabled = !allowed;
    });
  }

  document.addEventListener("change", (event) => {
    if (event.target.matches("#selection input[name=selected]")) refreshCommands();
  });
  document.addEventListener("click", (event) => {
    if (event.target.closest("[data-close-modal]")) closeModal();
    const dismiss = event.target.closest("[data-dismiss-tray]");
    if (dismiss) {  // only its own note: a running job's note above or below it stays
      const note = dismiss.closest(".note");
      if (note) note.remove(); else document.getElementById("tray").innerHTML = "";
    }
  });
  document.addEventListener("DOMContentLoaded", refreshCommands);
  // The language switch in the top bar: a choice is a submit.
  document.addEventListener("change", (event) => {
    if (event.target.matches("[data-submit-on-change]")) event.target.form.submit();
  });
  // Times are shown in the browser's time zone until the user chooses one (Preferences).
  try {
    const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && !document.cookie.split("; ").includes("vaultline_tz=" + zone)) {
      document.cookie = "vaultline_tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (error) { /* an old browser: the server's time zone */ }
  document.body.addEventListener("htmx:afterSettle", refreshCommands);
  document.body.addEventListener("closeModal", closeModal);
  // A dialog opens modal, and each new step of a wizard puts focus on its first field (or its message),
  // so the keyboard goes on where the eyes do. A dialog redrawn on the same step (the calendar's
  // months and days, a choice that reshapes the form) gives focus back to the control that was used.
  const controlKey = (element) => element && (element.getAttribute("aria-label") || element.dataset.day ||
    (element.name ? element.name + "=" + element.value : null));
  let usedControl = null;
  document.body.addEventListener("htmx:beforeRequest", (event) => {
    const dialog = modal();
    usedControl = dialog && dialog.contains(event.detail.elt) ? controlKey(event.detail.elt) : null;
  });
  const stepOf = (dialog) => (dialog.querySelector("input[name=step]") || {}).value;
  document.body.addEventListener("htmx:afterSwap", (event) => {
    const dialog = modal();
    if (event.detail.target !== dialog || !dialog.innerHTML.trim()) return;
    const opening = !dialog.open;
    if (opening) dialog.showModal();
    const step = stepOf(dialog);
    if (!opening && step === dialog.dataset.step && usedControl) {
      const again = Array.from(dialog.querySelectorAll("a, button, input, select"))
        .find((element) => controlKey(element) === usedControl);
      if (again) {
        dialog.dataset.step = step;
        again.focus();
        return;
      }
    }
    dialog.dataset.step = step;
    const body = dialog.querySelector(".dialog-body") || dialog;
    const first = body.querySelector("[autofocus], [role=alert], input:not([type=hidden]):not([disabled]), select, textarea")
      || dialog.querySelector(".dialog-footer button");
    if (first) {
      if (first.matches("[role=alert]")) first.setAttribute("tabindex", "-1");
      first.focus();
    }
  });
  // Tab and Shift+Tab go round the open dialog's controls, never out of it to the browser.
  document.addEventListener("keydown", (event) => {
    const dialog = modal();
    if (event.key !== "Tab" || !dialog || !dialog.open) return;
    const controls = Array.from(dialog.querySelectorAll(
      "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select:not([disabled]), " +
      "textarea:not([disabled]), [tabindex]:not([tabindex='-1'])")).filter((element) => element.offsetParent !== null);
    if (!controls.length) return;
    const first = controls[0], last = controls[controls.length - 1];
    if (!dialog.contains(document.activeElement)) {
      event.preventDefault();
      first.focus();
    } else if (event.shiftKey && document.activeElement === first) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && document.activeElement === last) {
      event.preventDefault();
      first.focus();
    }
  });
  // A refusal goes above what the tray says; an older refusal there gives way to it.
  document.body.addEventListener("htmx:beforeSwap", (event) => {
    const tray = document.getElementById("tray");
    if (tray && event.detail.xhr.getResponseHeader("HX-Reswap") === "afterbegin") {
      tray.querySelectorAll(".note-error").forEach((note) => note.remove());
    }
  });
  // Esc closes the native dialog; also clear it so a stale wizard is not shown again.
  document.addEventListener("close", (event) => {
    if (event.target === modal()) modal().innerHTML = "";
  }, true);
})();
