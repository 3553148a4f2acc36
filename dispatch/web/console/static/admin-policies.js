/* Stiller Alarm – admin: the alarm policy of one site and level (PUT to save, DELETE to reset).
 *
 * The form sends what was typed; the API decides (a policy must reach
 * security, escalation times strictly increase, the cancel window is 0–300 s,
 * the countdown 0–10 s, "nobody reached" 1–120 s) and its messages appear next to the field they name.
 */
(function () {
  "use strict";

  var SCOPES = ["neighbours", "floor", "building", "site", "security", "all_security"];
  var FEEDBACK = ["none", "count", "names"];
  var AUDIENCES = ["security", "manager", "staff"]; // dispatch/channels/base.py Audience

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("admin_policies", function () {
      return window.SilentAdmin.page({
        scopes: SCOPES,
        feedbacks: FEEDBACK,
        levels: [1, 2, 3],
        sites: [],
        siteId: "",
        level: 1,
        policy: null, // as the API returned it
        editor: null,
        // Issue 20: the site's channel recipients (all levels) and the channels set up.
        audiences: AUDIENCES,
        channelKinds: [],
        recipients: [],
        adding: null,
        testing: {}, // recipient id -> true while its test message is on its way
        tested: {}, // recipient id -> the outcome's text
        testedOk: {},

        init: function () {
          var self = this;
          this.adding = this.blankRecipient("");
          this.api("GET", "/channels").then(function (r) {
            if (!r.ok) return self.complain(r);
            self.channelKinds = r.data.map(function (c) {
              return c.channel;
            });
            self.adding = self.blankRecipient(self.channelKinds[0] || "");
          });
          this.api("GET", "/sites").then(function (r) {
            if (!r.ok) return self.complain(r);
            self.sites = r.data;
            if (self.sites.length) {
              self.siteId = String(self.sites[0].id);
              self.load();
            }
          });
        },

        load: function () {
          var self = this;
          this.loadRecipients();
          return this.api("GET", "/sites/" + this.siteId + "/policies/" + this.level).then(function (r) {
            if (!r.ok) return self.complain(r);
            self.show(r.data);
          });
        },

        // --- channel recipients (issue 20) ---------------------------------------------

        blankRecipient: function (channel) {
          return this.form({ channel: channel, address: "", label: "", audience: "security", after_s: "0" });
        },

        loadRecipients: function () {
          var self = this;
          return this.api("GET", "/sites/" + this.siteId + "/channel-recipients").then(function (r) {
            if (!r.ok) return self.complain(r);
            self.recipients = r.data;
          });
        },

        recipientsOfLevel: function () {
          var level = this.level;
          return this.recipients.filter(function (r) {
            return r.level === level;
          });
        },

        channelText: function (kind) {
          return this.t("channel_" + kind);
        },

        addressHint: function () {
          return this.t("admin_channel_hint_" + (this.adding.values.channel || "email"));
        },

        addRecipient: function () {
          var self = this;
          var v = this.adding.values;
          var body = {
            level: this.level,
            channel: v.channel,
            address: v.address,
            label: v.label,
            audience: v.audience,
            after_s: this.number(v.after_s),
            language: this.config.lang === "en" ? "en" : "de",
          };
          this.submit(this.adding, "POST", "/sites/" + this.siteId + "/channel-recipients", body).then(function (r) {
            if (!r.ok) return;
            self.adding = self.blankRecipient(v.channel);
            self.say(self.t("admin_channel_added"));
            self.loadRecipients();
          });
        },

        removeRecipient: function (recipient) {
          var self = this;
          this.api("DELETE", "/sites/" + this.siteId + "/channel-recipients/" + recipient.id).then(function (r) {
            if (!r.ok) return self.complain(r);
            self.loadRecipients();
          });
        },

        isTesting: function (recipient) {
          return this.testing[recipient.id] === true;
        },

        testOutcome: function (recipient) {
          return this.tested[recipient.id] || "";
        },

        testFailed: function (recipient) {
          return Boolean(this.tested[recipient.id]) && this.testedOk[recipient.id] !== true;
        },

        /** "Testnachricht senden": the hub sends at once and answers how it went. */
        sendTest: function (recipient) {
          var self = this;
          var id = recipient.id;
          this.testing = Object.assign({}, this.testing);
          this.testing[id] = true;
          var path = "/sites/" + this.siteId + "/channel-recipients/" + id + "/test";
          this.api("POST", path).then(function (r) {
            var tested = Object.assign({}, self.tested);
            var ok = Object.assign({}, self.testedOk);
            if (!r.ok) {
              tested[id] = self.t("admin_error_status", { status: r.status });
              ok[id] = false;
            } else if (r.data.sent) {
              tested[id] = self.t("admin_channel_test_sent");
              ok[id] = true;
            } else {
              tested[id] = self.t("admin_channel_test_failed", { reason: r.data.reason });
              ok[id] = false;
            }
            self.tested = tested;
            self.testedOk = ok;
            var testing = Object.assign({}, self.testing);
            delete testing[id];
            self.testing = testing;
          });
        },

        show: function (policy) {
          this.policy = policy;
          this.editor = this.form({
            scopes: policy.scopes.slice(),
            escalation: policy.escalation.map(function (step) {
              return { after_s: step.after_s, scope: step.scope };
            }),
            cancel_window_s: policy.cancel_window_s,
            raiser_feedback: policy.raiser_feedback,
            countdown_s: policy.countdown_s,
            nobody_reached_s: policy.nobody_reached_s,
          });
        },

        chooseLevel: function (level) {
          this.level = level;
          this.load();
        },

        scopeText: function (scope) {
          return this.t("admin_scope_" + scope);
        },

        addStep: function () {
          var steps = this.editor.values.escalation;
          var last = steps.length ? Number(steps[steps.length - 1].after_s) || 0 : 0;
          steps.push({ after_s: last + 60, scope: "building" });
        },

        removeStep: function (index) {
          this.editor.values.escalation.splice(index, 1);
        },

        save: function () {
          var self = this;
          var v = this.editor.values;
          var body = {
            scopes: v.scopes.slice(),
            escalation: v.escalation.map(function (step) {
              return { after_s: self.number(step.after_s), scope: step.scope };
            }),
            cancel_window_s: this.number(v.cancel_window_s),
            raiser_feedback: v.raiser_feedback,
            countdown_s: this.number(v.countdown_s),
            nobody_reached_s: this.number(v.nobody_reached_s),
          };
          var path = "/sites/" + this.siteId + "/policies/" + this.level;
          this.submit(this.editor, "PUT", path, body).then(function (r) {
            if (!r.ok) return;
            self.show(r.data);
            self.say(self.t("admin_policy_saved", { level: self.level }));
          });
        },

        reset: function () {
          var self = this;
          this.ask(this.t("admin_confirm_policy_reset", { level: this.level }), this.t("admin_policy_reset"), function () {
            self.api("DELETE", "/sites/" + self.siteId + "/policies/" + self.level).then(function (r) {
              if (!r.ok) return self.complain(r);
              self.show(r.data);
              self.say(self.t("admin_policy_was_reset", { level: self.level }));
            });
          });
        },
      });
    });
  });
})();
