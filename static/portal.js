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
    if (event.target.closest("[data-dismiss-tray]")) document.getElementById("tray").innerHTML = "";
  });
  document.addEventListener("DOMContentLoaded", refreshCommands);
  document.body.addEventListener("htmx:afterSettle", refreshCommands);
  document.body.addEventListener("closeModal", closeModal);
  document.body.addEventListener("htmx:afterSwap", (event) => {
    const dialog = modal();
    if (event.detail.target === dialog && dialog.innerHTML.trim() && !dialog.open) {
      dialog.showModal();
      const first = dialog.querySelector("[autofocus], input:not([type=hidden]), select, button");
      if (first) first.focus();
    }
  });
  // Esc closes the native dialog; also clear it so a stale wizard is not shown again.
  document.addEventListener("close", (event) => {
    if (event.target === modal()) modal().innerHTML = "";
  }, true);
})();
