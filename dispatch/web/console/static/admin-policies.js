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

        init: function () {
          var self = this;
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
          return this.api("GET", "/sites/" + this.siteId + "/policies/" + this.level).then(function (r) {
            if (!r.ok) return self.complain(r);
            self.show(r.data);
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
