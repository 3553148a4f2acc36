/* Stiller Alarm – admin: workstations (pending → room, mapping table, revoke), CSV, enrolment
 * codes, thin clients mapped ahead, rooms from the directory.
 *
 * The CSV import is two steps on purpose: the file goes first with
 * ?dry_run=true, and "Importieren" is offered only when that report has no
 * bad row. The import itself is all-or-nothing on the hub, so a file changed
 * between the two steps is still refused as a whole. The directory sync has the
 * same two steps and the same rule ("Übernehmen" only after a clean preview; the
 * hub reads the directory again and applies all or nothing), and its section is
 * rendered only when the hub has a directory (config.directory).
 */
(function () {
  "use strict";

  // The chosen file is kept outside Alpine's reactive proxy (a File must stay a File).
  var importFile = null;

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("admin_workstations", function () {
      return window.SilentAdmin.page({
        workstations: [],
        sites: [],
        rooms: [],
        codes: [],
        search: "",
        drafts: {}, // workstation id -> chosen room id (as a string from <select>)
        rowErrors: {}, // workstation id -> the API's message
        csv: null, // {checked, report, errors, general, busy}
        sync: null, // the directory sync: {checked, report, rows, general, busy}
        codeForm: null,
        clientForm: null,
        issued: [], // codes just created: shown once, never fetched again

        init: function () {
          this.csv = { checked: false, report: null, rows: [], general: "", busy: false };
          this.sync = this.noSync();
          this.codeForm = this.form({ site_id: "", room_id: "", hours: 24, count: 1 });
          this.clientForm = this.form({ client_name: "", room_id: "" });
          this.loadAll();
        },

        loadAll: function () {
          var self = this;
          return Promise.all([
            this.api("GET", "/sites"),
            this.api("GET", "/rooms"),
            this.api("GET", "/workstations"),
            this.api("GET", "/enrolment-codes"),
          ]).then(function (results) {
            var failed = results.filter(function (r) {
              return !r.ok;
            });
            if (failed.length) return self.complain(failed[0]);
            self.sites = results[0].data;
            self.rooms = results[1].data;
            self.setWorkstations(results[2].data);
            self.codes = results[3].data;
            if (!self.codeForm.values.site_id && self.sites.length) {
              self.codeForm.values.site_id = String(self.sites[0].id);
            }
          });
        },

        loadWorkstations: function () {
          var self = this;
          return this.api("GET", "/workstations").then(function (r) {
            if (!r.ok) return self.complain(r);
            self.setWorkstations(r.data);
          });
        },

        setWorkstations: function (list) {
          var drafts = {};
          list.forEach(function (ws) {
            drafts[ws.id] = ws.room_id === null ? "" : String(ws.room_id);
          });
          this.workstations = list;
          this.drafts = drafts;
          this.rowErrors = {};
        },

        get pending() {
          return this.workstations.filter(function (ws) {
            return ws.state === "pending";
          });
        },

        get shown() {
          var words = this.search.toLowerCase().split(/\s+/).filter(Boolean);
          return this.workstations.filter(function (ws) {
            var text = [ws.id, ws.hostname, ws.display_name, ws.room_number || "", ws.state, ws.role]
              .join(" ")
              .toLowerCase();
            return words.every(function (word) {
              return text.indexOf(word) >= 0;
            });
          });
        },

        roomsOf: function (siteId) {
          return this.rooms.filter(function (room) {
            return room.site_id === siteId;
          });
        },

        /** The rooms a new code may name: those of the site chosen in its form. */
        get codeRooms() {
          return this.roomsOf(Number(this.codeForm.values.site_id));
        },

        siteName: function (id) {
          var site = this.sites.filter(function (s) {
            return s.id === id;
          })[0];
          return site ? site.name : "#" + id;
        },

        roomNumber: function (id) {
          if (id === null) return "–";
          var room = this.rooms.filter(function (r) {
            return r.id === id;
          })[0];
          return room ? room.number : "#" + id;
        },

        stateText: function (ws) {
          return this.t("admin_state_" + ws.state);
        },

        changed: function (ws) {
          return this.drafts[ws.id] !== (ws.room_id === null ? "" : String(ws.room_id));
        },

        // --- assigning and revoking ----------------------------------------

        assign: function (ws) {
          var self = this;
          var draft = this.drafts[ws.id];
          var roomId = draft === "" ? null : Number(draft);
          delete this.rowErrors[ws.id];
          this.api("PATCH", "/workstations/" + encodeURIComponent(ws.id), { room_id: roomId }).then(
            function (r) {
              if (!r.ok) {
                self.rowErrors[ws.id] = r.general || JSON.stringify(r.fields);
                return;
              }
              self.say(
                self.t("admin_assigned", { id: ws.id, room: r.data.room_number || "–" })
              );
              self.loadWorkstations();
            }
          );
        },

        revoke: function (ws) {
          var self = this;
          this.ask(
            this.t("admin_confirm_revoke", { id: ws.id }),
            this.t("admin_revoke"),
            function () {
              self.api("POST", "/workstations/" + encodeURIComponent(ws.id) + "/revoke").then(
                function (r) {
                  if (!r.ok) return self.complain(r);
                  self.say(self.t("admin_revoked", { id: ws.id }));
                  self.loadWorkstations();
                }
              );
            }
          );
        },

        // --- CSV ---------------------------------------------------------------

        fileChosen: function (event) {
          importFile = event.target.files[0] || null;
          this.csv = { checked: false, report: null, rows: [], general: "", busy: false };
        },

        sendCsv: function (dryRun) {
          var self = this;
          if (!importFile) {
            this.csv.general = this.t("admin_csv_choose");
            return;
          }
          var data = new FormData();
          data.append("file", importFile);
          this.csv.busy = true;
          this.csv.general = "";
          return this.api("POST", "/workstations/import?dry_run=" + dryRun, data).then(function (r) {
            self.csv.busy = false;
            self.csv.checked = true;
            self.csv.rows = r.ok ? [] : r.rows;
            self.csv.report = r.ok ? r.data : null;
            self.csv.general = r.ok ? "" : r.general;
            if (r.ok && !dryRun) {
              var created = r.data.created.length;
              self.say(
                created
                  ? self.t("admin_csv_imported_clients", { n: r.data.changed.length, created: created })
                  : self.t("admin_csv_imported", { n: r.data.changed.length })
              );
              importFile = null;
              self.$refs.csvFile.value = "";
              self.csv = { checked: false, report: null, rows: [], general: "", busy: false };
              self.loadWorkstations();
            }
          });
        },

        get csvClean() {
          return !!(this.csv.checked && this.csv.report && this.csv.report.dry_run && !this.csv.rows.length);
        },

        changeText: function (change) {
          return Object.keys(change.changes)
            .map(function (key) {
              var pair = change.changes[key];
              return key + ": " + (pair[0] === null ? "–" : pair[0]) + " → " + (pair[1] === null ? "–" : pair[1]);
            })
            .join(", ");
        },

        // A row of kind "client" naming no workstation: the import creates that thin client.
        newClientText: function (client) {
          var what = this.t("admin_csv_new", { id: client.workstation_id, room: client.room_number });
          return this.t("admin_csv_line", { line: client.line, reason: what });
        },

        // --- thin clients mapped before their first session (issue 19) ---------

        addClient: function () {
          var self = this;
          var v = this.clientForm.values;
          // Sent as typed: the name's rule is the API's (its message lands at the field).
          // No room chosen leaves room_id out, so the API answers "missing" at the picker.
          var body = { client_name: v.client_name };
          if (v.room_id !== "") body.room_id = this.number(v.room_id);
          this.submit(this.clientForm, "POST", "/session-clients", body).then(function (r) {
            if (!r.ok) return;
            self.say(self.t("admin_client_added", { id: r.data.id, room: r.data.room_number || "–" }));
            self.clientForm.values.client_name = "";
            self.loadWorkstations();
          });
        },

        // --- rooms from the directory (issue 19) -------------------------------

        noSync: function () {
          return { checked: false, report: null, rows: [], general: "", busy: false };
        },

        syncDirectory: function (dryRun) {
          var self = this;
          this.sync.busy = true;
          this.sync.general = "";
          return this.api("POST", "/workstations/directory-sync?dry_run=" + dryRun).then(function (r) {
            var state = self.noSync();
            state.checked = true;
            if (r.ok) {
              state.report = r.data;
            } else {
              state.rows = r.rows; // 422: every problem with its computer's DN
              state.general =
                r.status === 503 ? self.t("admin_dir_unavailable", { reason: r.general }) : r.general;
            }
            self.sync = state;
            if (r.ok && !dryRun) {
              self.say(self.t("admin_dir_applied", { n: r.data.changed.length }));
              self.loadWorkstations();
            }
          });
        },

        /** "Übernehmen" needs a preview without problems; after applying, a new preview. */
        get syncClean() {
          return !!(this.sync.checked && this.sync.report && this.sync.report.dry_run && !this.sync.rows.length);
        },

        get syncSummary() {
          var report = this.sync.report;
          var params = { rows: report.rows, changed: report.changed.length, unchanged: report.unchanged };
          return this.t(report.dry_run ? "admin_dir_dry" : "admin_dir_done", params);
        },

        roomChange: function (change) {
          var pair = change.changes.room_number;
          if (!pair) return "–";
          return (pair[0] === null ? "–" : pair[0]) + " → " + (pair[1] === null ? "–" : pair[1]);
        },

        /** What else the room brings (a pending PC becomes active, another site): "state: …". */
        otherChanges: function (change) {
          var rest = {};
          Object.keys(change.changes).forEach(function (key) {
            if (key !== "room_number") rest[key] = change.changes[key];
          });
          return this.changeText({ changes: rest });
        },

        // --- enrolment codes ----------------------------------------------

        createCodes: function () {
          var self = this;
          var v = this.codeForm.values;
          var body = {
            site_id: this.number(v.site_id),
            room_id: v.room_id === "" ? null : this.number(v.room_id),
            hours: this.number(v.hours),
            count: this.number(v.count),
          };
          this.submit(this.codeForm, "POST", "/enrolment-codes", body).then(function (r) {
            if (!r.ok) return;
            self.issued = r.data.codes;
            self.loadCodes();
          });
        },

        loadCodes: function () {
          var self = this;
          return this.api("GET", "/enrolment-codes").then(function (r) {
            if (!r.ok) return self.complain(r);
            self.codes = r.data;
          });
        },

        withdraw: function (code) {
          var self = this;
          this.ask(this.t("admin_confirm_withdraw", { id: code.id }), this.t("admin_withdraw"), function () {
            self.api("DELETE", "/enrolment-codes/" + code.id).then(function (r) {
              if (!r.ok) return self.complain(r);
              self.say(self.t("admin_withdrawn"));
              self.loadCodes();
            });
          });
        },

        codeStatus: function (code) {
          return this.t("admin_code_" + code.status);
        },
      });
    });
  });
})();
