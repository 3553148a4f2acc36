/* Stiller Alarm – the service worker of the guards' console (issue 20).
 *
 * Served from /sw.js with scope "/" (dispatch/web/console/webapp.py). It has
 * no fetch handler on purpose: the console is never served from a cache, a
 * stale alarm list would be worse than none. It does three things:
 *
 *  - push: shows the alarm the hub pushed (dispatch/channels/webpush.py) as a
 *    notification that stays until the guard acts (requireInteraction), with
 *    the alarm id as its tag, so a repeat of the same alarm replaces it; the
 *    alarm's all-clear (kind "all_clear") replaces it under the same tag with
 *    "Entwarnung …", without "Quittieren", and does not insist on staying;
 *  - "Quittieren" (the notification's action): sends the push's signed token
 *    to the hub, which acknowledges this one alarm as this operator; the
 *    notification then says so, or says that it failed;
 *  - a click on the notification itself opens the console at that alarm.
 *
 * The texts come from the console's catalogue (dispatch/web/console/i18n.py),
 * filled in when the hub serves this file.
 */
"use strict";

var TEXTS = {{ texts | tojson }};
var ICON = "/console/static/icons/icon-192.png";
var BADGE = "/console/static/icons/badge-96.png";

function text(lang, key) {
  var texts = TEXTS[lang] || TEXTS.de;
  return texts[key];
}

/** The notification of one pushed alarm, its all-clear, or the console's test push. */
function showAlarm(data) {
  var over = data.kind === "all_clear"; // the alarm is over: nothing left to acknowledge
  var actions = [];
  if (data.ack && !over) {
    actions.push({ action: "acknowledge", title: text(data.lang, "push_acknowledge") });
  }
  return self.registration.showNotification(data.title, {
    body: data.body,
    // A repeat of the same alarm replaces its notification, and so does its all-clear:
    // the phone never keeps showing an alarm that is over beside the message that it is.
    tag: "alarm:" + data.alarm_id,
    renotify: true,
    requireInteraction: !data.test && !over,
    icon: ICON,
    badge: BADGE,
    lang: data.lang,
    timestamp: Date.now(),
    vibrate: over ? [200] : data.level >= 2 ? [400, 200, 400, 200, 400] : [300, 150, 300],
    actions: actions,
    data: data,
  });
}

/** After "Quittieren": the same notification, saying how it went. */
function showOutcome(data, key, detail) {
  return self.registration.showNotification(data.title, {
    body: detail ? text(data.lang, key) + " (" + detail + ")" : text(data.lang, key),
    tag: "alarm:" + data.alarm_id,
    renotify: false,
    requireInteraction: key !== "push_acknowledged",
    icon: ICON,
    badge: BADGE,
    lang: data.lang,
    actions: [],
    data: Object.assign({}, data, { ack: null }),
  });
}

/**
 * Acknowledges the pushed alarm on the hub with the push's token and shows the
 * outcome. Resolves to the hub's HTTP status (0: the hub was not reached).
 * The token is the credential (no cookie is sent): it names this alarm and this
 * operator, and expires (docs/security.md "Web Push").
 */
function acknowledgeAlarm(data) {
  if (!data || !data.ack) return Promise.resolve(0);
  return fetch(data.ack.url, {
    method: "POST",
    credentials: "omit",
    cache: "no-store",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ token: data.ack.token }),
  })
    .then(function (response) {
      var shown = response.ok
        ? showOutcome(data, "push_acknowledged")
        : showOutcome(data, "push_ack_failed", "HTTP " + response.status);
      return shown.then(function () {
        return response.status;
      });
    })
    .catch(function () {
      return showOutcome(data, "push_ack_failed", text(data.lang, "push_no_hub")).then(function () {
        return 0;
      });
    });
}

/** Opens the console at the alarm: an open console window is reused. */
function openConsole(data) {
  var url = new URL(data && data.url ? data.url : "/console", self.location.origin).href;
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
    for (var i = 0; i < windows.length; i++) {
      var client = windows[i];
      if (new URL(client.url).pathname === "/console" && "focus" in client) {
        return client.focus().then(function (focused) {
          return focused.navigate ? focused.navigate(url) : focused;
        });
      }
    }
    return self.clients.openWindow(url);
  });
}

self.addEventListener("install", function () {
  self.skipWaiting(); // a new version takes over at once: pushes must not wait for a reload
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("push", function (event) {
  var data = null;
  try {
    data = event.data ? event.data.json() : null;
  } catch (e) {
    data = null;
  }
  if (!data || !data.alarm_id) return; // not the hub's: nothing to show
  event.waitUntil(showAlarm(data));
});

self.addEventListener("notificationclick", function (event) {
  var data = event.notification.data;
  if (event.action === "acknowledge") {
    event.waitUntil(acknowledgeAlarm(data));
    return; // the notification is replaced by the outcome
  }
  event.notification.close();
  event.waitUntil(openConsole(data));
});

// For the browser test (tests/console/test_webpush_worker.py): the functions the events
// call, reachable from the worker's global scope.
self.stillerAlarm = { showAlarm: showAlarm, acknowledgeAlarm: acknowledgeAlarm, openConsole: openConsole };
