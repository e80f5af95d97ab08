// Progressive enhancement only: every page works without this script.
"use strict";
document.addEventListener("click", (event) => {
  // Ask before a destructive command (deleting, terminating).
  const button = event.target.closest("button[data-confirm]");
  if (button && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});
document.addEventListener("submit", (event) => {
  // One submission per click: a second one would ask the node twice.
  const form = event.target;
  if (form.dataset.sent) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "yes";
  window.setTimeout(() => delete form.dataset.sent, 5000);
});
