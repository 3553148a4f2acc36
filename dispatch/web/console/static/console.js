/* Stiller Alarm – the guards' console.
 *
 * One Alpine.js component ("alarmConsole") holds the open alarms and talks to
 * the hub over /ws/console (shared/protocol.py: AlarmSnapshot,
 * ConsoleAlarmChanged, WorkstationChanged, StoreStatus, Acknowledge, Arrive, Resolve,
 * Ping/Pong, Error). The hub sends every open alarm on connect, so a reconnect
 * simply replaces the list. Close code 4401 means "no (more) session": the
 * page goes to the login. Any other close shows a banner and reconnects at once,
 * then with a short backoff (0.25 s doubling to 2 s): behind a proxy in front of
 * several hubs the next attempt lands on a live one (issue 16, docs/configuration.md).
 * A hub that cannot store alarms (a full disk) says so with
 * StoreStatus, and a banner stays until it can again.
 *
 * Besides the socket the page reads the REST API of the same hub: the floor
 * layout (/api/v1/floors/{id}/layout), the site's police hand-off data
 * (/api/v1/sites/{id}), the coverage board (/api/v1/coverage) and, when a
 * guard opens "zugestellt an X von Y", the PCs that have not confirmed
 * (/api/v1/alarms/{id}/unconfirmed).
 *
 * An alarm flood (issue 15): one PC with FLOOD_MIN open alarms stored within
 * FLOOD_WINDOW_MS (the hub's stored_at: raised_at is the PC's word) is one card,
 * "Alarmflut: 200 Alarme von PC … / Raum 1.01 in 0,2 s", instead of 200 cards
 * that bury every other raiser's alarm. Each alarm stays listed on demand and
 * is acknowledged and resolved one by one or all at once.
 */
(function () {
  "use strict";

  var UNAUTHORIZED = 4401;
  // The first attempt after a close goes at once (a hub killed behind the proxy: the next
  // one is there now); further ones back off, capped so a failover stays within 15 s.
  var FIRST_BACKOFF_MS = 250;
  var MAX_BACKOFF_MS = 2000;
  var OWN_PING_MS = 10000; // our own heartbeat, so a quiet hub still proves the path
  var SILENCE_LIMIT_MS = 30000; // nothing heard this long: the socket is dead, replace it
  var RESOLVED_KEEP = 5;
  var RING_EVERY_MS = { 1: 4000, 2: 3000, 3: 2000 }; // repeats until someone acknowledges
  var COVERAGE_REFRESH_MS = 60000; // opening hours and newly enrolled PCs
  var MUTE_KEY = "silent-alarm-console-muted";
  var FLOOD_MIN = 5; // open alarms of one PC within the window: a flood, one card
  var FLOOD_WINDOW_MS = 60000;
  var API = "/api/v1";

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

  /** Level 3 first, then 2, then 1; newest first within a level (issue 13). */
  function mostUrgentFirst(a, b) {
    return b.level - a.level || newestFirst(a, b);
  }

  /** The PC and kind an alarm belongs to: a drill never joins a real alarm's flood. */
  function sourceOf(alarm) {
    return alarm.workstation_id + "|" + alarm.kind;
  }

  /** True if at least FLOOD_MIN of these alarms were stored within FLOOD_WINDOW_MS. */
  function isFlood(alarms) {
    if (alarms.length < FLOOD_MIN) return false;
    var times = alarms
      .map(function (a) {
        return Date.parse(a.stored_at);
      })
      .sort(function (a, b) {
        return a - b;
      });
    for (var i = 0; i + FLOOD_MIN - 1 < times.length; i++) {
      if (times[i + FLOOD_MIN - 1] - times[i] <= FLOOD_WINDOW_MS) return true;
    }
    return false;
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(
      function (response) {
        if (!response.ok) throw new Error(url + ": HTTP " + response.status);
        return response.json();
      }
    );
  }

  // --- sound (WebAudio, generated: no asset, no network) ---------------------
  // Browsers allow sound only after the first click or key press on the page.
  var audio = null;

  function unlockAudio() {
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return "unsupported";
      audio = audio || new Ctx();
      if (audio.state === "suspended") audio.resume();
      return audio.state;
    } catch (e) {
      audio = null;
      return "unsupported";
    }
  }

  function tone(frequency, start, seconds, shape, volume) {
    var osc = audio.createOscillator();
    var gain = audio.createGain();
    osc.type = shape;
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(volume, start);
    gain.gain.exponentialRampToValueAtTime(0.001, start + seconds);
    osc.connect(gain).connect(audio.destination);
    osc.start(start);
    osc.stop(start + seconds);
  }

  /** Level 1: one soft tone; 2: two beeps; 3: a two-tone siren. True if played. */
  function playPattern(level) {
    if (!audio || audio.state !== "running") return false;
    var t0 = audio.currentTime + 0.02;
    if (level >= 3) {
      for (var i = 0; i < 6; i++) tone(i % 2 ? 740 : 988, t0 + i * 0.22, 0.2, "sawtooth", 0.12);
    } else if (level === 2) {
      tone(880, t0, 0.18, "square", 0.09);
      tone(880, t0 + 0.3, 0.18, "square", 0.09);
    } else {
      tone(660, t0, 0.35, "sine", 0.12);
    }
    return true;
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
    var ringTimer = null;
    var pendingFetches = {};

    window.Alpine.data("alarmConsole", function () {
      return {
        view: location.hash === "#coverage" ? "coverage" : "alarms",
        status: "connecting", // connecting | open | lost
        loaded: false,
        alarms: {}, // alarm_id -> ConsoleAlarm (open ones only)
        resolved: [], // the last few resolved, newest first
        pending: {}, // alarm_id -> true while an action is on its way
        notice: "",
        // The hub's store (issue 16): null, or "disk_full" | "io_error" (cannot store) |
        // "no_reserve" (stores on its disk reserve). Told after each snapshot when not ready.
        storeProblem: null,
        storeCanStore: true,
        now: Date.now(),
        retryAt: 0,
        // A push notification opens /console?alarm=<id>: that alarm is the one selected.
        selectedId: new URLSearchParams(location.search).get("alarm"),
        layouts: {}, // floor_id -> layout | false (failed); missing: not loaded yet
        sites: {}, // site_id -> site | false
        coverage: null,
        coverageError: "",
        muted: localStorage.getItem(MUTE_KEY) === "1",
        audioState: "locked", // locked | running | suspended | unsupported
        tonesPlayed: 0,
        notifyState: "Notification" in window ? Notification.permission : "unsupported",
        copied: "",
        reportFor: null,
        report: {},
        unconfirmed: {}, // alarm_id -> {unconfirmed, more} | null (loading) | false (failed)
        deliveryOpen: {}, // alarm_id -> true while its "zugestellt an" detail is open
        channels: {}, // alarm_id -> [ChannelCount]: e-mail, SMS, … (issue 20, alarm_channels)
        allClears: {}, // alarm_id -> [ChannelCount]: the all-clears sent over those channels
        seenSent: {}, // alarm_id -> true once the hub was told this console shows its row
        floodOpen: {}, // flood key -> true while its alarms are listed one by one
        reportIds: [], // the alarms one incident report resolves (a flood: all of them)

        init: function () {
          var self = this;
          setInterval(function () {
            self.now = Date.now();
            self.confirmShown(); // a row shown later (tab back in view, list view again)
          }, 1000);
          document.addEventListener("visibilitychange", function () {
            self.confirmShown();
          });
          setInterval(function () {
            self.heartbeat();
          }, OWN_PING_MS);
          setInterval(function () {
            self.loadCoverage();
          }, COVERAGE_REFRESH_MS);
          window.addEventListener("hashchange", function () {
            self.view = location.hash === "#coverage" ? "coverage" : "alarms";
          });
          window.addEventListener("afterprint", function () {
            document.body.classList.remove("print-police");
          });
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
          var delay = 0;
          if (attempt > 0) {
            delay = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * Math.pow(2, attempt - 1));
            delay *= 0.8 + 0.2 * Math.random(); // consoles cut off together spread out
          }
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
              this.storeProblem = null; // a new session: a hub that cannot store says so next
              this.storeCanStore = true;
              this.snapshot(message.alarms, message.recently_resolved || []);
              break;
            case "store_status":
              this.storeProblem = message.problem || null;
              this.storeCanStore = message.can_store;
              break;
            case "alarm_changed":
              // The hub sends the snapshot before any change made while it was read.
              this.changed(message.alarm);
              break;
            case "workstation_changed":
              this.workstationChanged(message.workstation);
              break;
            case "alarm_channels":
              // Outbound channels (issue 20): replaces the alarm's counts as a whole.
              var counts = Object.assign({}, this.channels);
              counts[message.alarm_id] = message.channels;
              this.channels = counts;
              var allClears = Object.assign({}, this.allClears);
              allClears[message.alarm_id] = message.all_clear || [];
              this.allClears = allClears;
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

        /** The hub's full list replaces ours (catch-up after a reconnect), and its last
         * resolved ones our "Kürzlich erledigt": a reload keeps how their all-clears went. */
        snapshot: function (list, resolved) {
          var fresh = {};
          var self = this;
          var known = this.alarms;
          var wasLoaded = this.loaded;
          var news = [];
          list.forEach(function (alarm) {
            if (alarm.state !== "resolved") fresh[alarm.alarm_id] = alarm;
          });
          this.alarms = fresh;
          this.resolved = resolved.slice(0, RESOLVED_KEEP);
          this.pending = {};
          this.seenSent = {}; // a "seen" lost with the old connection is sent again
          this.loaded = true;
          this.status = "open";
          attempt = 0;
          Object.keys(this.alarms).forEach(function (id) {
            if (wasLoaded && !known[id]) news.push(self.alarms[id]);
          });
          if (!wasLoaded && this.selectedId && this.alarms[this.selectedId]) {
            // Opened from a push notification (/console?alarm=…, issue 20): that alarm on screen.
            this.view = "alarms";
            var opened = this.alarms[this.selectedId];
            this.$nextTick(function () {
              self.goToAlarm(opened);
            });
          }
          this.updateTitle();
          this.loadCoverage(); // workstations may have come and gone while we were cut off
          this.prefetch();
          news.forEach(function (alarm) {
            self.announce(alarm);
          });
          this.ring();
          this.$nextTick(function () {
            self.confirmShown();
          });
        },

        changed: function (alarm) {
          var id = alarm.alarm_id;
          var isNew = !this.alarms[id];
          delete this.pending[id];
          if (alarm.state === "resolved") {
            delete this.alarms[id];
            if (this.selectedId === id) this.selectedId = null;
            this.resolved = [alarm]
              .concat(
                this.resolved.filter(function (a) {
                  return a.alarm_id !== id;
                })
              )
              .slice(0, RESOLVED_KEEP);
            if (this.reportFor && this.reportFor.alarm_id === id) this.closeReport();
          } else {
            this.alarms[id] = alarm;
            if (isNew) {
              this.prefetch();
              this.announce(alarm);
            }
            if (this.deliveryOpen[id]) this.loadUnconfirmed(alarm);
          }
          this.updateTitle();
          this.ring();
          var self = this;
          this.$nextTick(function () {
            self.confirmShown();
          });
        },

        /** Tells the hub which alarms this console really shows (issue 13): a row that is
         * rendered and displayed in a visible page. The hub counts that as "reached" and
         * so does not tell the raiser "nobody reached"; a hidden tab or the coverage view
         * does not count. Each alarm is confirmed once per page (the hub records the first). */
        confirmShown: function () {
          if (this.status !== "open" || document.visibilityState !== "visible") return;
          var self = this;
          document.querySelectorAll('[data-testid="alarm-row"]').forEach(function (row) {
            var id = row.getAttribute("data-alarm-id");
            if (!id || self.seenSent[id] || !self.alarms[id]) return;
            if (row.offsetParent === null) return; // not displayed
            if (self.send({ type: "seen", id: messageId(), alarm_id: id })) self.seenSent[id] = true;
          });
          // A flood's card shows every alarm of it: each counts as shown.
          var floods = {};
          this.floods.forEach(function (flood) {
            floods[flood.key] = flood;
          });
          document.querySelectorAll('[data-testid="flood"]').forEach(function (card) {
            var flood = floods[card.getAttribute("data-flood-key")];
            if (!flood || card.offsetParent === null) return;
            flood.alarms.forEach(function (alarm) {
              var id = alarm.alarm_id;
              if (self.seenSent[id]) return;
              if (self.send({ type: "seen", id: messageId(), alarm_id: id })) self.seenSent[id] = true;
            });
          });
        },

        updateTitle: function () {
          var n = Object.keys(this.alarms).length;
          document.title = n ? "(" + n + ") " + baseTitle : baseTitle;
        },

        // --- sound and notifications ------------------------------------------

        /** Alarms nobody has acknowledged yet: the sound repeats while there are any. */
        get unacknowledged() {
          var alarms = this.alarms;
          return Object.keys(alarms)
            .map(function (id) {
              return alarms[id];
            })
            .filter(function (a) {
              return a.state === "active";
            });
        },

        get ringing() {
          return this.unacknowledged.length > 0;
        },

        get ringLevel() {
          return this.unacknowledged.reduce(function (top, a) {
            return Math.max(top, a.level);
          }, 0);
        },

        /** Plays the pattern of the highest unacknowledged level now and then again and again. */
        ring: function () {
          var self = this;
          if (ringTimer !== null) {
            clearTimeout(ringTimer);
            ringTimer = null;
          }
          if (!this.ringing) return;
          if (!this.muted && playPattern(this.ringLevel)) this.tonesPlayed += 1;
          ringTimer = setTimeout(function () {
            ringTimer = null;
            self.ring();
          }, RING_EVERY_MS[this.ringLevel] || 3000);
        },

        unlockSound: function () {
          var before = this.audioState;
          this.audioState = unlockAudio();
          if (audio && audio.state === "suspended") {
            var self = this;
            audio.resume().then(function () {
              self.audioState = audio.state;
            });
          }
          if (before !== "running" && this.audioState === "running") this.ring();
        },

        toggleSound: function () {
          this.muted = !this.muted;
          localStorage.setItem(MUTE_KEY, this.muted ? "1" : "0");
          this.unlockSound();
          this.ring();
        },

        get soundText() {
          if (this.muted) return this.t("sound_off");
          if (this.ringing && this.audioState !== "running") return this.t("sound_locked");
          return this.t("sound_on");
        },

        get soundHint() {
          return this.muted ? this.t("sound_hint_muted") : this.t("sound_hint_on");
        },

        askNotifications: function () {
          var self = this;
          if (!("Notification" in window)) return;
          // Asked only here, on the guard's click: browsers refuse (and remember) unprompted asks.
          Notification.requestPermission().then(function (answer) {
            self.notifyState = answer;
          });
        },

        /** A new alarm: a desktop notification when the tab is in the background. */
        announce: function (alarm) {
          var self = this;
          // In the background: another tab, or the browser behind another program.
          var background = document.hidden || !document.hasFocus();
          if (!background || this.notifyState !== "granted") return;
          try {
            var note = new Notification(this.notificationTitle(alarm), {
              body: this.placeText(alarm),
              tag: "pc:" + alarm.workstation_id, // a flood replaces its note, never 200
              requireInteraction: alarm.level >= 3,
            });
            note.onclick = function () {
              window.focus();
              self.show("alarms");
              self.select(alarm);
              note.close();
            };
          } catch (e) {
            /* some browsers allow notifications only from a service worker */
          }
        },

        notificationTitle: function (alarm) {
          var prefix = alarm.kind === "drill" ? this.t("drill_badge") + " – " : "";
          var room = alarm.room ? alarm.room.number : this.t("room_unassigned");
          return prefix + this.t("level_badge", { level: alarm.level }) + " " + this.levelName(alarm) + " – " + room;
        },

        // --- actions ---------------------------------------------------------

        acknowledge: function (alarm) {
          this.operatorAction({ type: "acknowledge", alarm_id: alarm.alarm_id });
        },

        arrive: function (alarm) {
          this.operatorAction({ type: "arrive", alarm_id: alarm.alarm_id });
        },

        operatorAction: function (message) {
          message.id = messageId();
          if (this.send(message)) this.pending[message.alarm_id] = true;
        },

        isPending: function (alarm) {
          return this.status !== "open" || !!this.pending[alarm.alarm_id];
        },

        openReport: function (alarm, ids) {
          this.reportFor = alarm;
          this.reportIds = ids || [alarm.alarm_id];
          this.report = {
            assessed_level: alarm.level,
            police_called: false,
            injuries: false,
            property_damage: false,
            house_ban: false,
            notes: "",
          };
          this.$refs.reportDialog.showModal();
        },

        closeReport: function () {
          if (this.$refs.reportDialog.open) this.$refs.reportDialog.close();
          this.reportFor = null;
          this.reportIds = [];
        },

        /** A real alarm is resolved with its report; a drill or a cancelled alarm may go without. */
        get reportOptional() {
          var alarm = this.reportFor;
          return !!alarm && (alarm.kind === "drill" || alarm.state === "cancelled");
        },

        sendResolve: function (withReport) {
          var alarm = this.reportFor;
          if (!alarm) return;
          var report = null;
          if (withReport || !this.reportOptional) {
            report = {
              assessed_level: Number(this.report.assessed_level),
              police_called: !!this.report.police_called,
              injuries: !!this.report.injuries,
              property_damage: !!this.report.property_damage,
              house_ban: !!this.report.house_ban,
              notes: String(this.report.notes || "").slice(0, 4000),
            };
          }
          var self = this;
          // A flood: the one report is each alarm's, each resolved on its own.
          this.reportIds.forEach(function (id) {
            var message = { type: "resolve", alarm_id: id };
            if (report) message.report = Object.assign({}, report);
            self.operatorAction(message);
          });
          this.closeReport();
        },

        // --- an alarm flood: one card for one PC's many alarms (issue 15) -------

        /** Open alarms by PC and kind; those with FLOOD_MIN stored within the window. */
        get floods() {
          var bySource = {};
          this.openAlarms.forEach(function (alarm) {
            var key = sourceOf(alarm);
            (bySource[key] = bySource[key] || []).push(alarm);
          });
          var found = [];
          Object.keys(bySource).forEach(function (key) {
            var alarms = bySource[key];
            if (!isFlood(alarms)) return;
            var stored = alarms.map(function (a) {
              return Date.parse(a.stored_at);
            });
            var first = Math.min.apply(null, stored);
            var last = Math.max.apply(null, stored);
            found.push({
              key: key,
              alarms: alarms, // most urgent first, as openAlarms
              top: alarms[0],
              count: alarms.length,
              active: alarms.filter(function (a) {
                return a.state === "active";
              }).length,
              first: new Date(first).toISOString(),
              last: new Date(last).toISOString(),
              spanMs: last - first,
            });
          });
          return found.sort(function (a, b) {
            return mostUrgentFirst(a.top, b.top);
          });
        },

        /** Alarm id -> its flood's key, for the alarms a flood card stands for. */
        get floodOf() {
          var of = {};
          this.floods.forEach(function (flood) {
            flood.alarms.forEach(function (alarm) {
              of[alarm.alarm_id] = flood.key;
            });
          });
          return of;
        },

        /** The cards: every open alarm, except those a closed flood card stands for. */
        get listedAlarms() {
          var of = this.floodOf;
          var open = this.floodOpen;
          return this.openAlarms.filter(function (alarm) {
            var key = of[alarm.alarm_id];
            return !key || open[key];
          });
        },

        floodText: function (flood) {
          var alarm = flood.top;
          var source = alarm.room
            ? this.t("flood_source_room", { id: alarm.workstation_id, room: alarm.room.number })
            : this.t("workstation", { id: alarm.workstation_id });
          return this.t("flood_flag", { count: flood.count, source: source, span: this.spanText(flood.spanMs) });
        },

        /** "0,2 s", "45 s", "3 min": how long the PC took for all of them. */
        spanText: function (ms) {
          if (ms < 120000) {
            var seconds = ms / 1000;
            var digits = seconds < 10 ? 1 : 0;
            return this.t("flood_seconds", {
              n: seconds.toLocaleString(locale, { maximumFractionDigits: digits }),
            });
          }
          return this.t("flood_minutes", { n: Math.round(ms / 60000) });
        },

        floodTimes: function (flood) {
          return this.t("flood_times", { first: this.clockTime(flood.first), last: this.clockTime(flood.last) });
        },

        floodState: function (flood) {
          return this.t("flood_state", { active: flood.active, open: flood.count });
        },

        toggleFlood: function (flood) {
          if (this.floodOpen[flood.key]) delete this.floodOpen[flood.key];
          else this.floodOpen[flood.key] = true;
        },

        floodToggleText: function (flood) {
          return this.floodOpen[flood.key] ? this.t("flood_collapse") : this.t("flood_expand", { n: flood.count });
        },

        /** "Alle quittieren": each alarm of the flood nobody has taken yet. */
        acknowledgeFlood: function (flood) {
          var self = this;
          flood.alarms.forEach(function (alarm) {
            if (alarm.state === "active" && !self.pending[alarm.alarm_id]) self.acknowledge(alarm);
          });
        },

        /** "Alle beenden": one incident report for the situation, sent with each alarm. */
        resolveFlood: function (flood) {
          this.openReport(
            flood.top,
            flood.alarms.map(function (a) {
              return a.alarm_id;
            })
          );
        },

        isFloodPending: function (flood) {
          var pending = this.pending;
          return (
            this.status !== "open" ||
            flood.alarms.every(function (a) {
              return !!pending[a.alarm_id];
            })
          );
        },

        get reportHeading() {
          var alarm = this.reportFor;
          if (!alarm) return "";
          var room = alarm.room ? alarm.room.number : alarm.workstation_id;
          if (this.reportIds.length > 1) return this.t("report_title_flood", { room: room, count: this.reportIds.length });
          return this.t("report_title", { room: room });
        },

        // --- the selected alarm: floor plan and police hand-off ----------------

        select: function (alarm) {
          this.selectedId = alarm.alarm_id;
          this.prefetch();
        },

        /** "Lageplan": select the alarm and bring its floor plan on screen. */
        showPlan: function (alarm) {
          this.select(alarm);
          this.$nextTick(function () {
            var detail = document.querySelector('[data-testid="alarm-detail"]');
            if (detail) detail.scrollIntoView({ block: "start" });
          });
        },

        /** The pinned level-3 strip: the alarm's row on screen, and its plan selected. */
        goToAlarm: function (alarm) {
          this.select(alarm);
          var row = document.querySelector('[data-testid="alarm-row"][data-alarm-id="' + alarm.alarm_id + '"]');
          if (row) row.scrollIntoView({ block: "center" });
        },

        /** The alarm whose plan is shown: the chosen one, else the most urgent open one. */
        get selected() {
          if (this.selectedId && this.alarms[this.selectedId]) return this.alarms[this.selectedId];
          var list = this.openAlarms;
          return list.length ? list[0] : null;
        },

        /** Whether the plan shown is this alarm's: its row highlighted, its plan button pressed. */
        isSelected: function (alarm) {
          var selected = this.selected;
          return selected !== null && alarm.alarm_id === selected.alarm_id;
        },

        // --- "zugestellt an X von Y": which PCs have not confirmed ------------

        deliveryToggled: function (alarm, open) {
          if (open) {
            this.deliveryOpen[alarm.alarm_id] = true;
            this.loadUnconfirmed(alarm);
          } else {
            delete this.deliveryOpen[alarm.alarm_id];
          }
        },

        loadUnconfirmed: function (alarm) {
          var self = this;
          var id = alarm.alarm_id;
          if (this.unconfirmed[id] === undefined) this.unconfirmed[id] = null;
          getJson(API + "/alarms/" + encodeURIComponent(id) + "/unconfirmed")
            .then(function (data) {
              self.unconfirmed[id] = data;
            })
            .catch(function () {
              self.unconfirmed[id] = false;
            });
        },

        unconfirmedOf: function (alarm) {
          var found = this.unconfirmed[alarm.alarm_id];
          return found === undefined ? null : found;
        },

        unconfirmedText: function (pc) {
          if (!pc.room) return this.t("unconfirmed_no_room", { id: pc.workstation_id });
          return this.t("unconfirmed_pc", { id: pc.workstation_id, room: pc.room + " " + (pc.room_name || "") }).trim();
        },

        /** Loads what the selected alarm's panels need, once per floor and site. */
        prefetch: function () {
          var alarm = this.selected;
          if (!alarm) return;
          if (alarm.floor_id) this.fetchInto("layouts", alarm.floor_id, API + "/floors/" + alarm.floor_id + "/layout");
          if (alarm.site_id && alarm.level >= 2) this.fetchInto("sites", alarm.site_id, API + "/sites/" + alarm.site_id);
        },

        fetchInto: function (store, key, url) {
          var self = this;
          var tag = store + ":" + key;
          if (this[store][key] || pendingFetches[tag]) return;
          pendingFetches[tag] = true;
          getJson(url)
            .then(function (data) {
              self[store][key] = data;
            })
            .catch(function () {
              self[store][key] = false;
              // Try again on the next selection or reconnect.
              setTimeout(function () {
                if (self[store][key] === false) delete self[store][key];
              }, 10000);
            })
            .finally(function () {
              delete pendingFetches[tag];
            });
        },

        /** null: loading, false: failed, else the floor's layout. */
        layoutOf: function (alarm) {
          if (!alarm || !alarm.floor_id) return null;
          var layout = this.layouts[alarm.floor_id];
          return layout === undefined ? null : layout;
        },

        extentOf: function (layout) {
          var width = layout.width_m;
          var height = layout.height_m;
          if (!width || !height) {
            // No extent given: fit the placed rooms and entrances with a margin.
            var points = this.placedRooms(layout).concat(layout.entrances);
            width = Math.max.apply(null, [10].concat(points.map(function (p) { return p.x_m; }))) + 4;
            height = Math.max.apply(null, [6].concat(points.map(function (p) { return p.y_m; }))) + 4;
          }
          return { width: width, height: height };
        },

        planStyle: function (layout) {
          var extent = this.extentOf(layout);
          return { aspectRatio: extent.width + " / " + extent.height };
        },

        markerStyle: function (layout, point) {
          var extent = this.extentOf(layout);
          var x = (100 * point.x_m) / extent.width;
          // Centred on its point, except near the plan's edges, where a label would be cut off.
          var shift = x < 12 ? "0%" : x > 88 ? "-100%" : "-50%";
          return {
            left: x.toFixed(2) + "%",
            top: ((100 * point.y_m) / extent.height).toFixed(2) + "%",
            transform: "translate(" + shift + ", -50%)",
          };
        },

        placedRooms: function (layout) {
          return layout.rooms.filter(function (room) {
            return room.x_m !== null && room.y_m !== null;
          });
        },

        isTarget: function (alarm, room) {
          if (alarm.room_id) return room.id === alarm.room_id;
          return !!alarm.room && room.number === alarm.room.number;
        },

        detailHeading: function (alarm) {
          var room = alarm.room ? alarm.room.number + " " + alarm.room.name : alarm.workstation_id;
          return this.t("detail_heading", { room: room });
        },

        policeFacts: function (alarm) {
          var site = (alarm.site_id && this.sites[alarm.site_id]) || null;
          var room = alarm.room || {};
          var dash = "–";
          var phones = [];
          if (room.phone) phones.push(this.t("police_phone_room", { phone: room.phone }));
          if (site && site.phone) phones.push(this.t("police_phone_site", { phone: site.phone }));
          return {
            address: site ? [site.address, site.name].filter(Boolean).join(" · ") || dash : this.t("plan_loading"),
            building: room.building || dash,
            floor: room.floor || dash,
            room: alarm.room ? room.number + " " + room.name : this.t("room_unassigned"),
            entrance: room.entrance || dash,
            phone: phones.join(" · ") || dash,
            notes: (site && site.police_notes) || dash,
          };
        },

        policeText: function (alarm) {
          var facts = this.policeFacts(alarm);
          return [
            this.t("police_text_title", { level: alarm.level, name: this.levelName(alarm) }) +
              (alarm.kind === "drill" ? " – " + this.t("drill_badge") : ""),
            this.t("police_address") + ": " + facts.address,
            this.t("police_building") + ": " + facts.building,
            this.t("police_floor") + ": " + facts.floor,
            this.t("police_room") + ": " + facts.room,
            this.t("police_entrance") + ": " + facts.entrance,
            this.t("police_phone") + ": " + facts.phone,
            this.t("police_notes") + ": " + facts.notes,
            this.t("police_raised", { time: this.clockTime(alarm.raised_at) }),
          ].join("\n");
        },

        copyPolice: function (alarm) {
          var self = this;
          var text = this.policeText(alarm);
          var done = function () {
            self.copied = self.t("police_copied");
            setTimeout(function () {
              self.copied = "";
            }, 4000);
          };
          if (navigator.clipboard && window.isSecureContext) {
            navigator.clipboard.writeText(text).then(done, function () {
              self.copyBySelection(done);
            });
          } else {
            this.copyBySelection(done); // plain http on the LAN: no Clipboard API
          }
        },

        copyBySelection: function (done) {
          var source = document.querySelector('[data-testid="police-text"]');
          if (!source) return;
          source.select();
          if (document.execCommand("copy")) done();
          else this.notice = this.t("police_copy_failed");
        },

        printPolice: function () {
          document.body.classList.add("print-police");
          window.print();
        },

        // --- coverage board ---------------------------------------------------

        show: function (view, focus) {
          this.view = view;
          history.replaceState(null, "", view === "coverage" ? "#coverage" : "#");
          if (view === "coverage" && !this.coverage) this.loadCoverage();
          if (focus) document.getElementById("tab-" + view).focus();
        },

        loadCoverage: function () {
          var self = this;
          getJson(API + "/coverage")
            .then(function (data) {
              self.coverage = data;
              self.coverageError = "";
            })
            .catch(function () {
              if (!self.coverage) self.coverageError = self.t("coverage_error");
            });
        },

        workstationChanged: function (status) {
          if (!this.coverage) return;
          var found = null;
          this.coverage.rooms.forEach(function (room) {
            room.workstations.forEach(function (ws) {
              if (ws.id === status.workstation_id) found = ws;
            });
          });
          this.coverage.unassigned.forEach(function (ws) {
            if (ws.id === status.workstation_id) found = ws;
          });
          if (!found) {
            this.loadCoverage(); // a PC the board does not know yet
            return;
          }
          found.online = status.online;
          found.last_seen_at = status.last_seen_at;
          found.self_test_ok = status.self_test_ok;
          found.self_test_at = status.self_test_at;
          // Older hubs send no reasons: derive the ones the board can see itself.
          found.unprotected_reasons = status.unprotected_reasons || (status.online ? [] : ["offline"]);
        },

        /** A working agent: active, connected, its last self-test (if any) passed and
         * nothing on the PC broken (hotkey, tray, room: the hub's unprotected_reasons). */
        isWorking: function (ws) {
          return (
            ws.state === "active" &&
            ws.online &&
            ws.self_test_ok !== false &&
            (ws.unprotected_reasons || []).length === 0
          );
        },

        /** Why the PC is not protected, in words ("" when it is). Unknown codes as they are. */
        reasonsText: function (ws) {
          var self = this;
          var reasons = (ws.unprotected_reasons || []).slice();
          if (!ws.online && reasons.indexOf("offline") < 0) reasons = ["offline"];
          if (ws.online && ws.self_test_ok === false && reasons.indexOf("self_test_failed") < 0) {
            reasons.push("self_test_failed");
          }
          return reasons
            .map(function (reason) {
              var key = "reason_" + reason;
              var text = self.t(key);
              return text === key ? reason : text;
            })
            .join(", ");
        },

        /** The room's reasons: each PC that is not working, with its reasons. */
        roomReasons: function (room) {
          var self = this;
          return room.workstations
            .filter(function (ws) {
              return ws.state === "active" && !self.isWorking(ws);
            })
            .map(function (ws) {
              return ws.id + ": " + self.reasonsText(ws);
            });
        },

        get coverageRooms() {
          var self = this;
          if (!this.coverage) return [];
          return this.coverage.rooms.map(function (room) {
            return Object.assign({}, room, {
              working: room.workstations.filter(function (ws) {
                return self.isWorking(ws);
              }).length,
            });
          });
        },

        get coverageGaps() {
          return this.coverageRooms.filter(function (room) {
            return room.working === 0;
          }).length;
        },

        get openingText() {
          if (!this.coverage) return "";
          var hours = this.coverage.opening_hours || this.t("coverage_always");
          var key = this.coverage.open_now ? "coverage_open_now" : "coverage_closed_now";
          return this.t(key, { hours: hours });
        },

        wsStatus: function (ws) {
          if (ws.state === "pending") return "pending";
          if (!ws.online) return "offline";
          if (ws.self_test_ok === false) return "selftest-failed";
          if ((ws.unprotected_reasons || []).length > 0) return "unprotected";
          return "online";
        },

        wsStatusText: function (ws) {
          return this.t("ws_" + this.wsStatus(ws).replace("-", "_"));
        },

        selfTestText: function (ws) {
          if (ws.self_test_ok === null || ws.self_test_ok === undefined) return this.t("selftest_none");
          var key = ws.self_test_ok ? "selftest_ok" : "selftest_failed";
          return this.t(key, { time: ws.self_test_at ? this.clockTime(ws.self_test_at) : "?" });
        },

        // --- what the template shows ----------------------------------------

        get openAlarms() {
          var alarms = this.alarms;
          return Object.keys(alarms)
            .map(function (id) {
              return alarms[id];
            })
            .sort(mostUrgentFirst);
        },

        /** Open level-3 alarms: pinned on screen however far the guard has scrolled;
         * a flood's are pinned once, as its card (dangerFloods). */
        get dangerAlarms() {
          var of = this.floodOf;
          return this.openAlarms.filter(function (a) {
            return a.level >= 3 && !of[a.alarm_id];
          });
        },

        get dangerFloods() {
          return this.floods.filter(function (flood) {
            return flood.top.level >= 3;
          });
        },

        goToFlood: function (flood) {
          this.select(flood.top);
          var card = document.querySelector('[data-testid="flood"][data-flood-key="' + CSS.escape(flood.key) + '"]');
          if (card) card.scrollIntoView({ block: "center" });
        },

        roomText: function (alarm) {
          return alarm.room ? alarm.room.number + " " + alarm.room.name : this.t("workstation", { id: alarm.workstation_id });
        },

        get connectionText() {
          return this.t("connection_" + this.status);
        },

        get retryText() {
          if (!this.retryAt) return "";
          var seconds = Math.max(0, Math.ceil((this.retryAt - this.now) / 1000));
          return this.t("banner_next_try", { seconds: seconds });
        },

        /** A yes/no as a data attribute's text: Alpine would drop an attribute bound to false. */
        flag: function (value) {
          return String(value);
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

        levelIcon: function (level) {
          return level >= 3 ? "⚠" : level === 2 ? "!" : "i";
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

        /** "E-Mail 2/2 · SMS 0/1 fehlgeschlagen: …" (issue 20); empty without channels. */
        channelItems: function (alarm) {
          return this.countItems(this.channels[alarm.alarm_id] || []);
        },

        /** The same for the all-clears: a failed one is somebody still behind a locked door. */
        allClearItems: function (alarm) {
          return this.countItems(this.allClears[alarm.alarm_id] || []);
        },

        countItems: function (channelCounts) {
          var self = this;
          return channelCounts.map(function (c) {
            var name = c.name || self.t("channel_" + c.channel);
            var text = self.t("channel_count", { name: name, sent: c.sent, recipients: c.recipients });
            var failing = c.given_up > 0 || c.retrying > 0;
            if (c.given_up > 0) text += " " + self.t("channel_failed", { reason: c.reason || "" });
            else if (c.retrying > 0) text += " " + self.t("channel_retrying", { reason: c.reason || "" });
            return {
              key: c.channel + ":" + c.name,
              text: text,
              failing: failing,
              givenUp: c.given_up > 0,
            };
          });
        },

        answerText: function (responder) {
          return this.t("answer_" + responder.answer);
        },

        arrivedText: function (alarm) {
          var here = alarm.responders
            .filter(function (r) {
              return r.answer === "arrived";
            })
            .map(function (r) {
              return r.name;
            });
          if (alarm.arrived_by) here.push(this.t("arrived_confirmed_by", { name: alarm.arrived_by }));
          return here.length ? this.t("arrived_list", { names: here.join(", ") }) : "";
        },

        /** The follow-up names the room: security goes there, the raiser may have been made to. */
        cancelledText: function (alarm) {
          var time = alarm.cancelled_at ? this.clockTime(alarm.cancelled_at) : "";
          var place = alarm.room
            ? this.t("place_room", { room: alarm.room.number + " " + alarm.room.name })
            : this.t("place_pc", { id: alarm.workstation_id });
          return this.t(time ? "cancelled_at_room" : "cancelled_room", { time: time, place: place });
        },

        stateText: function (alarm) {
          var text = this.t("state_active");
          if (alarm.state === "acknowledged") {
            text = this.t("state_acknowledged", { name: alarm.acknowledged_by || this.t("someone") });
          } else if (alarm.state === "arrived") {
            text = this.t("state_arrived");
          } else if (alarm.state === "resolved") {
            text = this.t("state_resolved", { name: alarm.resolved_by || this.t("someone") });
          } else if (alarm.state === "cancelled") {
            text = this.t("state_cancelled");
          }
          return text;
        },

        reportText: function (alarm) {
          var report = alarm.report;
          if (!report) return alarm.kind === "drill" ? this.t("report_none_drill") : this.t("report_none");
          var facts = [this.t("report_assessed", { level: report.assessed_level })];
          if (report.police_called) facts.push(this.t("report_police"));
          if (report.injuries) facts.push(this.t("report_injuries"));
          if (report.property_damage) facts.push(this.t("report_damage"));
          if (report.house_ban) facts.push(this.t("report_ban"));
          return this.t("report_summary", { facts: facts.join(" · ") });
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
