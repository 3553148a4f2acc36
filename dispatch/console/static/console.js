/* Stiller Alarm – the guards' console.
 *
 * One Alpine.js component ("alarmConsole") holds the open alarms and talks to
 * the hub over /ws/console (shared/protocol.py: AlarmSnapshot,
 * ConsoleAlarmChanged, Acknowledge, Resolve, Ping/Pong, Error). The hub sends
 * every open alarm on connect, so a reconnect simply replaces the list.
 * Close code 4401 means "no (more) session": the page goes to the login.
 * Any other close shows a banner and reconnects with backoff (1–10 s).
 */
(function () {
  "use strict";

  var UNAUTHORIZED = 4401;
  var MIN_BACKOFF_MS = 1000;
  var MAX_BACKOFF_MS = 10000;
  var OWN_PING_MS = 10000; // our own heartbeat, so a quiet hub still proves the path
  var SILENCE_LIMIT_MS = 30000; // nothing heard this long: the socket is dead, replace it
  var RESOLVED_KEEP = 5;

  function readJson(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  function messageId() {
    // crypto.randomUUID() needs a secure context; the console may run over plain
    // http on a LAN, getRandomValues() works everywhere.
    var bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.prototype.map
      .call(bytes, function (b) {
        return b.toString(16).padStart(2, "0");
      })
      .join("");
  }

  function newestFirst(a, b) {
    return Date.parse(b.raised_at) - Date.parse(a.raised_at);
  }

  // --- a short beep on a new alarm (WebAudio, no asset) ----------------------
  // Browsers allow sound only after the first click or key press on the page.
  var audio = null;
  function unlockAudio() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      audio = audio || new Ctx();
      if (audio.state === "suspended") audio.resume();
    } catch (e) {
      audio = null;
    }
  }
  document.addEventListener("pointerdown", unlockAudio, { once: true });
  document.addEventListener("keydown", unlockAudio, { once: true });

  function beep(level) {
    if (!audio || audio.state !== "running") return;
    var count = level >= 3 ? 3 : 1;
    var start = audio.currentTime;
    for (var i = 0; i < count; i++) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.type = "square";
      osc.frequency.value = level >= 3 ? 1046 : 880;
      gain.gain.value = 0.08;
      osc.connect(gain).connect(audio.destination);
      osc.start(start + i * 0.3);
      osc.stop(start + i * 0.3 + 0.18);
    }
  }

  document.addEventListener("alpine:init", function () {
    var catalogue = readJson("console-i18n");
    var config = readJson("console-config");
    var locale = config.lang === "de" ? "de-DE" : "en-GB";
    var baseTitle = document.title;

    // Not reactive on purpose: a WebSocket must not be wrapped in Alpine's proxy.
    var socket = null;
    var attempt = 0;
    var reconnectTimer = null;
    var lastHeard = 0;

    window.Alpine.data("alarmConsole", function () {
      return {
        status: "connecting", // connecting | open | lost
        loaded: false,
        alarms: {}, // alarm_id -> ConsoleAlarm (open ones only)
        resolved: [], // the last few resolved, newest first
        pending: {}, // alarm_id -> true while an acknowledge/resolve is on its way
        notice: "",
        now: Date.now(),
        retryAt: 0,

        init: function () {
          var self = this;
          setInterval(function () {
            self.now = Date.now();
          }, 1000);
          setInterval(function () {
            self.heartbeat();
          }, OWN_PING_MS);
          this.connect();
        },

        // --- connection ------------------------------------------------------

        connect: function () {
          var self = this;
          reconnectTimer = null;
          var scheme = location.protocol === "https:" ? "wss" : "ws";
          var ws = new WebSocket(scheme + "://" + location.host + config.socketPath);
          socket = ws;
          if (this.status !== "lost") this.status = "connecting";
          ws.onmessage = function (event) {
            if (socket !== ws) return;
            lastHeard = Date.now();
            var message;
            try {
              message = JSON.parse(event.data);
            } catch (e) {
              return;
            }
            self.receive(message);
          };
          ws.onclose = function (event) {
            if (socket !== ws) return;
            socket = null;
            if (event.code === UNAUTHORIZED) {
              location.assign(config.loginUrl);
              return;
            }
            self.connectionLost();
          };
        },

        connectionLost: function () {
          var self = this;
          this.status = "lost";
          this.pending = {};
          if (reconnectTimer !== null) return;
          var delay = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * Math.pow(2, attempt));
          delay = Math.max(MIN_BACKOFF_MS, delay * (0.8 + 0.2 * Math.random()));
          attempt += 1;
          this.retryAt = Date.now() + delay;
          reconnectTimer = setTimeout(function () {
            self.connect();
          }, delay);
        },

        /** Drops the current socket at once (also used when it has gone silent). */
        dropConnection: function () {
          var ws = socket;
          if (!ws) return;
          socket = null;
          try {
            ws.close();
          } catch (e) {
            /* closing a dead socket may throw; it is gone either way */
          }
          this.connectionLost();
        },

        heartbeat: function () {
          if (!socket || socket.readyState !== WebSocket.OPEN) return;
          if (Date.now() - lastHeard > SILENCE_LIMIT_MS) {
            this.dropConnection();
            return;
          }
          this.send({ type: "ping", id: messageId() });
        },

        send: function (message) {
          if (!socket || socket.readyState !== WebSocket.OPEN) return false;
          socket.send(JSON.stringify(message));
          return true;
        },

        receive: function (message) {
          switch (message.type) {
            case "alarm_snapshot":
              this.snapshot(message.alarms);
              break;
            case "alarm_changed":
              // The hub sends the snapshot before any change made while it was read.
              this.changed(message.alarm);
              break;
            case "ping":
              this.send({ type: "pong", id: messageId(), reply_to: message.id });
              break;
            case "error":
              this.pending = {};
              this.notice = this.errorText(message);
              break;
          }
        },

        /** The hub's full list replaces ours (catch-up after a reconnect). */
        snapshot: function (list) {
          var fresh = {};
          var self = this;
          var known = this.alarms;
          var wasLoaded = this.loaded;
          var anyNew = 0;
          list.forEach(function (alarm) {
            if (alarm.state !== "resolved") fresh[alarm.alarm_id] = alarm;
          });
          this.alarms = fresh;
          this.pending = {};
          this.loaded = true;
          this.status = "open";
          attempt = 0;
          Object.keys(this.alarms).forEach(function (id) {
            if (wasLoaded && !known[id]) anyNew = Math.max(anyNew, self.alarms[id].level);
          });
          this.updateTitle();
          if (anyNew) beep(anyNew);
        },

        changed: function (alarm) {
          var id = alarm.alarm_id;
          var isNew = !this.alarms[id];
          delete this.pending[id];
          if (alarm.state === "resolved") {
            delete this.alarms[id];
            this.resolved = [alarm]
              .concat(
                this.resolved.filter(function (a) {
                  return a.alarm_id !== id;
                })
              )
              .slice(0, RESOLVED_KEEP);
          } else {
            this.alarms[id] = alarm;
            if (isNew) beep(alarm.level);
          }
          this.updateTitle();
        },

        updateTitle: function () {
          var n = Object.keys(this.alarms).length;
          document.title = n ? "(" + n + ") " + baseTitle : baseTitle;
        },

        // --- actions ---------------------------------------------------------

        acknowledge: function (alarm) {
          this.operatorAction("acknowledge", alarm);
        },

        resolve: function (alarm) {
          this.operatorAction("resolve", alarm);
        },

        operatorAction: function (type, alarm) {
          if (this.send({ type: type, id: messageId(), alarm_id: alarm.alarm_id })) {
            this.pending[alarm.alarm_id] = true;
          }
        },

        isPending: function (alarm) {
          return this.status !== "open" || !!this.pending[alarm.alarm_id];
        },

        // --- what the template shows ----------------------------------------

        get openAlarms() {
          var alarms = this.alarms;
          return Object.keys(alarms)
            .map(function (id) {
              return alarms[id];
            })
            .sort(newestFirst);
        },

        get connectionText() {
          return this.t("connection_" + this.status);
        },

        get retryText() {
          if (!this.retryAt) return "";
          var seconds = Math.max(0, Math.ceil((this.retryAt - this.now) / 1000));
          return this.t("banner_next_try", { seconds: seconds });
        },

        t: function (key, params) {
          var text = Object.prototype.hasOwnProperty.call(catalogue, key) ? catalogue[key] : key;
          if (params) {
            text = text.replace(/\{(\w+)\}/g, function (whole, name) {
              return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole;
            });
          }
          return text;
        },

        levelName: function (alarm) {
          return this.t("level_" + alarm.level);
        },

        placeText: function (alarm) {
          var parts = [];
          if (alarm.room) {
            parts.push(alarm.room.floor);
            if (alarm.room.building) parts.push(alarm.room.building);
          }
          parts.push(this.t("workstation", { id: alarm.workstation_id }));
          return parts.join(" · ");
        },

        raiserText: function (alarm) {
          return alarm.raiser
            ? this.t("raised_by", { name: alarm.raiser })
            : this.t("raised_by_unknown");
        },

        triggerText: function (alarm) {
          return this.t("trigger_" + alarm.trigger);
        },

        clockTime: function (iso) {
          return new Date(iso).toLocaleTimeString(locale, {
            hour: "2-digit",
            minute: "2-digit",
            second: "2-digit",
          });
        },

        agoText: function (iso) {
          var seconds = Math.max(0, Math.floor((this.now - Date.parse(iso)) / 1000));
          if (seconds < 60) return this.t("ago_seconds", { n: seconds });
          var minutes = Math.floor(seconds / 60);
          if (minutes < 60) return this.t("ago_minutes", { n: minutes });
          return this.t("ago_hours", { n: Math.floor(minutes / 60) });
        },

        deliveryText: function (alarm) {
          if (!alarm.recipients) return this.t("no_recipients");
          return this.t("delivered", { delivered: alarm.delivered, recipients: alarm.recipients });
        },

        answerText: function (responder) {
          return this.t("answer_" + responder.answer);
        },

        stateText: function (alarm) {
          var text = this.t("state_active");
          if (alarm.state === "acknowledged") {
            text = this.t("state_acknowledged", { name: alarm.acknowledged_by || this.t("someone") });
          } else if (alarm.state === "resolved") {
            text = this.t("state_resolved", { name: alarm.resolved_by || this.t("someone") });
          } else if (alarm.state === "cancelled") {
            text = this.t("state_cancelled");
          }
          if (alarm.escalation_step > 0 && alarm.state !== "resolved") {
            text += " · " + this.t("escalated", { step: alarm.escalation_step });
          }
          return text;
        },

        errorText: function (error) {
          var key = "error_" + error.code;
          var known = Object.prototype.hasOwnProperty.call(catalogue, key);
          return (known ? this.t(key) : this.t("error_generic")) + " (" + error.message + ")";
        },
      };
    });
  });
})();
