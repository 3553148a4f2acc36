/* Stiller Alarm – admin: drill scheduling (list, create, delete) and a drill's report.
 *
 * Start and end are typed as local time (datetime-local) and sent as UTC ISO
 * timestamps; what cannot be read as a time goes to the API as typed, so its
 * message names the field. The report lists workstations and rooms, never people.
 */
(function () {
  "use strict";

  var SCOPES = ["neighbours", "floor", "building", "site", "security", "all_security"];

  function isoOrRaw(value) {
    if (!value) return value;
    var when = new Date(value);
    return isNaN(when.getTime()) ? value : when.toISOString();
  }

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("admin_drills", function () {
      return window.SilentAdmin.page({
        scopes: SCOPES,
        drills: [],
        sites: [],
        createForm: null,
        report: null,

        init: function () {
          this.createForm = this.blank();
          this.load();
        },

        blank: function () {
          return this.form({ site_id: "", title: "", starts_at: "", ends_at: "", scopes: ["neighbours", "security"] });
        },

        load: function () {
          var self = this;
          return Promise.all([this.api("GET", "/drills"), this.api("GET", "/sites")]).then(function (results) {
            if (!results[0].ok) return self.complain(results[0]);
            if (!results[1].ok) return self.complain(results[1]);
            self.drills = results[0].data;
            self.sites = results[1].data;
            if (!self.createForm.values.site_id && self.sites.length) {
              self.createForm.values.site_id = String(self.sites[0].id);
            }
          });
        },

        siteName: function (id) {
          var site = this.sites.filter(function (s) {
            return s.id === id;
          })[0];
          return site ? site.name : "#" + id;
        },

        scopeText: function (scope) {
          return this.t("admin_scope_" + scope);
        },

        scopesText: function (list) {
          var self = this;
          return list.map(function (s) {
            return self.scopeText(s);
          }).join(", ");
        },

        create: function () {
          var self = this;
          var v = this.createForm.values;
          var body = {
            site_id: this.number(v.site_id),
            title: v.title,
            starts_at: isoOrRaw(v.starts_at),
            ends_at: isoOrRaw(v.ends_at),
            scopes: v.scopes.slice(),
          };
          this.submit(this.createForm, "POST", "/drills", body).then(function (r) {
            if (!r.ok) return;
            self.say(self.t("admin_drill_created", { title: r.data.title }));
            var site = self.createForm.values.site_id;
            self.createForm = self.blank();
            self.createForm.values.site_id = site;
            self.load();
          });
        },

        remove: function (drill) {
          var self = this;
          this.ask(
            this.t("admin_confirm_delete", { what: this.t("admin_kind_drill"), name: drill.title }),
            this.t("admin_delete"),
            function () {
              self.api("DELETE", "/drills/" + drill.id).then(function (r) {
                if (!r.ok) return self.complain(r);
                if (self.report && self.report.drill.id === drill.id) self.report = null;
                self.say(self.t("admin_deleted"));
                self.load();
              });
            }
          );
        },

        showReport: function (drill) {
          var self = this;
          this.api("GET", "/drills/" + drill.id + "/report").then(function (r) {
            if (!r.ok) return self.complain(r);
            self.report = r.data;
          });
        },

        ms: function (value) {
          return value === null || value === undefined ? "–" : (value / 1000).toFixed(1) + " s";
        },

        answerText: function (answer) {
          return answer ? this.t("admin_answer_" + answer) : "–";
        },
      });
    });
  });
})();
