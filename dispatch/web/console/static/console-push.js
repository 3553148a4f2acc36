/* Stiller Alarm – Web Push on the guards' console (issue 20).
 *
 * One small Alpine component ("pushControl") in the console's header. It
 * registers the service worker (/sw.js, scope "/"), and on the guard's click
 * subscribes this browser to pushes with the hub's VAPID public key
 * (GET /api/v1/webpush/key) and hands the subscription to the hub
 * (POST /api/v1/webpush/subscriptions, with the session's CSRF token). A
 * browser that is subscribed already is handed to the hub again on every
 * load: after a new login its pushes go on, at the new session. "Push beenden"
 * and the logout button unsubscribe the browser, and the hub forgets it.
 *
 * Push needs a secure context: HTTPS, or http://localhost on the hub itself.
 */
(function () {
  "use strict";

  var API = "/api/v1/webpush";
  var LOGOUT_WAIT_MS = 1500; // the logout goes ahead even if the browser takes longer

  function readJson(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  /** The VAPID key as PushManager.subscribe takes it (base64url → bytes). */
  function keyBytes(base64url) {
    var padded = base64url + "===".slice((base64url.length + 3) % 4);
    var raw = atob(padded.replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function sameBytes(buffer, bytes) {
    if (!buffer) return false;
    var other = new Uint8Array(buffer);
    if (other.length !== bytes.length) return false;
    for (var i = 0; i < bytes.length; i++) if (other[i] !== bytes[i]) return false;
    return true;
  }

  var registration = null; // not reactive: a browser object stays out of Alpine's proxy

  function workerRegistration() {
    if (registration) return Promise.resolve(registration);
    return navigator.serviceWorker.register("/sw.js", { scope: "/" }).then(function (found) {
      registration = found;
      return found;
    });
  }

  // The logout form: the browser's subscription ends with the session (the hub's too).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("logout-form") || form.dataset.pushDone) return;
    if (!registration) return;
    event.preventDefault();
    form.dataset.pushDone = "1";
    var done = false;
    function submit() {
      if (done) return;
      done = true;
      form.submit();
    }
    setTimeout(submit, LOGOUT_WAIT_MS);
    registration.pushManager
      .getSubscription()
      .then(function (subscription) {
        return subscription ? subscription.unsubscribe() : false;
      })
      .then(submit, submit);
  });

  document.addEventListener("alpine:init", function () {
    var config = readJson("console-config");
    var catalogue = readJson("console-i18n");

    function t(key, values) {
      var text = catalogue[key] || key;
      Object.keys(values || {}).forEach(function (name) {
        text = text.split("{" + name + "}").join(values[name]);
      });
      return text;
    }

    function call(method, path, body) {
      return fetch(API + path, {
        method: method,
        credentials: "same-origin",
        headers: {
          Accept: "application/json",
          "Content-Type": "application/json",
          "X-CSRF-Token": config.csrf,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }).then(function (response) {
        if (response.status === 204) return null;
        return response.json().then(function (data) {
          if (!response.ok) {
            var error = new Error(typeof data.detail === "string" ? data.detail : "HTTP " + response.status);
            error.status = response.status;
            throw error;
          }
          return data;
        });
      });
    }

    window.Alpine.data("pushControl", function () {
      return {
        // checking | unsupported | unconfigured | off | on | busy
        state: "checking",
        devices: 0,
        message: "",
        key: null,

        init: function () {
          var self = this;
          if (!("serviceWorker" in navigator) || !("PushManager" in window) || !window.isSecureContext) {
            this.state = "unsupported";
            return;
          }
          if (!config.push) {
            this.state = "unconfigured"; // the hub has no Web Push (SILENT_ALARM_VAPID_PRIVATE_KEY_FILE)
            return;
          }
          call("GET", "/key")
            .then(function (data) {
              self.key = data.public_key;
              self.devices = data.subscriptions;
              return workerRegistration();
            })
            .then(function (found) {
              return found.pushManager.getSubscription();
            })
            .then(function (subscription) {
              if (!subscription) {
                self.state = "off";
                return null;
              }
              if (!sameBytes(subscription.options.applicationServerKey, keyBytes(self.key))) {
                // The hub has a new key: this subscription would be refused by the push service.
                return subscription.unsubscribe().then(function () {
                  self.state = "off";
                });
              }
              return self.register(subscription);
            })
            .catch(function (error) {
              self.state = error.status === 404 ? "unconfigured" : "unsupported";
            });
        },

        /** Hands the browser's subscription to the hub (a new one, or again after a login). */
        register: function (subscription) {
          var self = this;
          return call("POST", "/subscriptions", subscription.toJSON()).then(function (data) {
            self.devices = data.subscriptions;
            self.state = "on";
          });
        },

        enable: function () {
          var self = this;
          this.state = "busy";
          this.message = "";
          // Asked only here, on the guard's click: browsers refuse (and remember) unprompted asks.
          Notification.requestPermission()
            .then(function (answer) {
              if (answer !== "granted") throw new Error(t("notify_denied"));
              return workerRegistration();
            })
            .then(function (found) {
              return found.pushManager.subscribe({
                userVisibleOnly: true,
                applicationServerKey: keyBytes(self.key),
              });
            })
            .then(function (subscription) {
              return self.register(subscription);
            })
            .catch(function (error) {
              self.state = "off";
              self.message = t("push_failed", { reason: error.message || error.name });
            });
        },

        disable: function () {
          var self = this;
          this.state = "busy";
          this.message = "";
          workerRegistration()
            .then(function (found) {
              return found.pushManager.getSubscription();
            })
            .then(function (subscription) {
              if (!subscription) return null;
              var endpoint = subscription.endpoint;
              return subscription.unsubscribe().then(function () {
                return call("POST", "/unsubscribe", { endpoint: endpoint }).catch(function (error) {
                  if (error.status !== 404) throw error; // 404: the hub had forgotten it already
                });
              });
            })
            .then(function () {
              self.state = "off";
              self.devices = Math.max(0, self.devices - 1);
            })
            .catch(function (error) {
              self.state = "on";
              self.message = t("push_failed", { reason: error.message || error.name });
            });
        },

        test: function () {
          var self = this;
          this.message = "";
          call("POST", "/test", { lang: config.lang })
            .then(function () {
              self.message = t("push_test_sent");
            })
            .catch(function (error) {
              self.message = t("push_failed", { reason: error.message });
            });
        },

        get shown() {
          return this.state === "off" || this.state === "on" || this.state === "busy";
        },

        get buttonText() {
          return this.state === "on" ? t("push_disable") : t("push_enable");
        },

        toggle: function () {
          if (this.state === "on") this.disable();
          else if (this.state === "off") this.enable();
        },
      };
    });
  });
})();
