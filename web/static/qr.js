// QR pages, progressive enhancement only (both pages work without JavaScript):
// - the citizen's home page fetches a fresh code shortly before the shown one expires;
// - the staff scan page offers the live camera where the browser has BarcodeDetector, fills
//   the paste field with what it reads and submits the form.
(function () {
  "use strict";

  var card = document.querySelector("[data-qr-refresh]");
  if (card && window.fetch) {
    var url = card.getAttribute("data-qr-refresh");
    var template = card.getAttribute("data-qr-expiry-text") || "%{time}";
    var image = document.getElementById("qr-image");
    var expiry = document.getElementById("qr-expiry");
    var text = document.getElementById("qr-text");
    var schedule = function (expiresAt) {
      // Ten seconds before expiry (at least five seconds from now).
      var wait = Date.parse(expiresAt) - Date.now() - 10000;
      window.setTimeout(refresh, Math.max(wait, 5000));
    };
    var refresh = function () {
      if (document.hidden) {
        // No new codes for a tab nobody looks at; one is fetched when it is shown again.
        document.addEventListener("visibilitychange", function again() {
          document.removeEventListener("visibilitychange", again);
          refresh();
        });
        return;
      }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.ok) {
            return response.json();
          }
          // Too many fresh codes asked for (429): wait as long as the server says.
          var after = parseInt(response.headers.get("Retry-After"), 10);
          return { retryAfter: after > 0 ? after : 15 };
        })
        .then(function (body) {
          if (!body || !body.svg) {
            window.setTimeout(refresh, ((body && body.retryAfter) || 15) * 1000);
            return;
          }
          image.innerHTML = body.svg;
          if (text) {
            text.textContent = body.token;
          }
          expiry.textContent = template.replace("%{time}", body.expires_local);
          schedule(body.expires_at);
        })
        .catch(function () {
          window.setTimeout(refresh, 15000);
        });
    };
    schedule(card.getAttribute("data-qr-expires"));
  }

  var camera = document.getElementById("qr-camera");
  if (camera && "BarcodeDetector" in window && navigator.mediaDevices) {
    var start = document.getElementById("qr-camera-start");
    var video = document.getElementById("qr-camera-video");
    var status = document.getElementById("qr-camera-status");
    var field = document.getElementById("f-token");
    var form = document.getElementById("qr-paste-form");
    camera.hidden = false;
    start.addEventListener("click", function () {
      var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
      navigator.mediaDevices
        .getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (stream) {
          video.srcObject = stream;
          video.hidden = false;
          start.hidden = true;
          return video.play().then(function () {
            var look = function () {
              detector
                .detect(video)
                .then(function (codes) {
                  var found = codes.filter(function (c) {
                    return c.rawValue && c.rawValue.indexOf("CDS1:") === 0;
                  })[0];
                  if (found) {
                    stream.getTracks().forEach(function (t) {
                      t.stop();
                    });
                    field.value = found.rawValue;
                    form.submit();
                    return;
                  }
                  window.requestAnimationFrame(look);
                })
                .catch(function () {
                  window.setTimeout(look, 250);
                });
            };
            look();
          });
        })
        .catch(function (error) {
          status.textContent = String(error && error.message ? error.message : error);
        });
    });
  }
})();
