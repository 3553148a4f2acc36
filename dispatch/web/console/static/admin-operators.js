/* Stiller Alarm – admin: console operators (create, role, sites, disable, password, unlock, delete).
 *
 * Passwords are write-only: the form sends one, the API hashes it and never
 * returns it. "No site chosen" means every site, as in the API.
 */
(function () {
  "use strict";

  var ROLES = ["guard", "emergency_manager", "admin"];

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("admin_operators", function () {
      return window.SilentAdmin.page({
        roles: ROLES,
        operators: [],
        sites: [],
        createForm: null,
        editor: null, // form for one operator: display_name, role, site_ids, disabled (+ id)
        passwordForm: null, // {id, username, values: {password}}

        init: function () {
          this.createForm = this.blankCreate();
          this.load();
        },

        blankCreate: function () {
          return this.form({ username: "", display_name: "", role: "guard", password: "", site_ids: [] });
        },

        load: function () {
          var self = this;
          return Promise.all([this.api("GET", "/operators"), this.api("GET", "/sites")]).then(
            function (results) {
              if (!results[0].ok) return self.complain(results[0]);
              if (!results[1].ok) return self.complain(results[1]);
              self.operators = results[0].data;
              self.sites = results[1].data;
            }
          );
        },

        roleText: function (role) {
          return this.t("admin_role_" + role);
        },

        sitesText: function (operator) {
          if (!operator.site_ids.length) return this.t("admin_all_sites");
          var sites = this.sites;
          return operator.site_ids
            .map(function (id) {
              var site = sites.filter(function (s) {
                return s.id === id;
              })[0];
              return site ? site.name : "#" + id;
            })
            .join(", ");
        },

        statusText: function (operator) {
          if (operator.disabled) return this.t("admin_disabled");
          if (operator.locked_until) return this.t("admin_locked");
          return this.t("admin_active");
        },

        siteIds: function (values) {
          return values.site_ids.map(Number);
        },

        create: function () {
          var self = this;
          var v = this.createForm.values;
          var body = {
            username: v.username,
            display_name: v.display_name,
            role: v.role,
            password: v.password,
            site_ids: this.siteIds(v),
          };
          this.submit(this.createForm, "POST", "/operators", body).then(function (r) {
            if (!r.ok) return;
            self.say(self.t("admin_operator_created", { name: r.data.username }));
            self.createForm = self.blankCreate();
            self.load();
          });
        },

        edit: function (operator) {
          this.passwordForm = null;
          this.editor = Object.assign(
            this.form({
              display_name: operator.display_name,
              role: operator.role,
              site_ids: operator.site_ids.map(String),
              disabled: operator.disabled,
            }),
            { id: operator.id, username: operator.username }
          );
        },

        saveEdit: function () {
          var self = this;
          var v = this.editor.values;
          var body = {
            display_name: v.display_name,
            role: v.role,
            site_ids: this.siteIds(v),
            disabled: !!v.disabled,
          };
          this.submit(this.editor, "PATCH", "/operators/" + this.editor.id, body).then(function (r) {
            if (!r.ok) return;
            self.editor = null;
            self.say(self.t("admin_saved"));
            self.load();
          });
        },

        resetPassword: function (operator) {
          this.editor = null;
          this.passwordForm = Object.assign(this.form({ password: "" }), {
            id: operator.id,
            username: operator.username,
          });
        },

        savePassword: function () {
          var self = this;
          var state = this.passwordForm;
          this.submit(state, "PATCH", "/operators/" + state.id, { password: state.values.password }).then(
            function (r) {
              if (!r.ok) return;
              self.passwordForm = null;
              self.say(self.t("admin_password_set", { name: state.username }));
              self.load();
            }
          );
        },

        unlock: function (operator) {
          var self = this;
          this.api("PATCH", "/operators/" + operator.id, { unlock: true }).then(function (r) {
            if (!r.ok) return self.complain(r);
            self.say(self.t("admin_saved"));
            self.load();
          });
        },

        remove: function (operator) {
          var self = this;
          this.ask(
            this.t("admin_confirm_delete", { what: this.t("admin_kind_operator"), name: operator.username }),
            this.t("admin_delete"),
            function () {
              self.api("DELETE", "/operators/" + operator.id).then(function (r) {
                if (!r.ok) return self.complain(r);
                self.say(self.t("admin_deleted"));
                self.load();
              });
            }
          );
        },
      });
    });
  });
})();
