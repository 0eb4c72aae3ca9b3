// Postback dashboard: small progressive enhancements. Every page works without this file.
"use strict";

// Copy buttons: shown only when this script runs; the text stays selectable without it.
for (const button of document.querySelectorAll("button[data-copy][hidden]")) {
  button.hidden = false;
}

document.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  if (!field) return;
  const isInput = "value" in field && "select" in field;
  const text = isInput ? field.value : field.textContent.trim();
  if (isInput) field.select();
  else window.getSelection().selectAllChildren(field);
  const done = () => { button.textContent = "Copied"; };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, () => {});
  } else if (document.execCommand && document.execCommand("copy")) {
    done();
  }
});

// A status panel that says PENDING asks its URL again every few seconds, in place, until the
// status changes; its "Check again" button does the same by reloading the page.
const REFRESH_MS = 2000;
for (const panel of document.querySelectorAll("[data-refresh]")) {
  const pending = () => panel.querySelector('[data-status="PENDING"]') !== null;
  const tick = async () => {
    try {
      const response = await fetch(panel.dataset.refresh, { credentials: "same-origin" });
      if (!response.ok || response.redirected) return; // signed out: stop, the button remains
      panel.innerHTML = await response.text();
    } catch (error) {
      return;
    }
    if (pending()) setTimeout(tick, REFRESH_MS);
  };
  if (pending()) setTimeout(tick, REFRESH_MS);
}
