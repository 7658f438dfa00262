// Counter session page: while the session can still change (waiting for the citizen, or
// active), ask for its status every few seconds and reload the page when it changes. Without
// JavaScript the page has a refresh button; nothing here is needed for it to work.
(function () {
  "use strict";
  var box = document.querySelector("[data-counter-status]");
  if (!box || !window.fetch) {
    return;
  }
  var shown = box.getAttribute("data-counter-status");
  var url = box.getAttribute("data-status-url");
  var delay = 3000;
  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.ok ? response.json() : null;
      })
      .then(function (body) {
        if (body && body.status && body.status !== shown) {
          window.location.reload();
          return;
        }
        window.setTimeout(poll, delay);
      })
      .catch(function () {
        window.setTimeout(poll, delay * 2);
      });
  }
  window.setTimeout(poll, delay);
})();
