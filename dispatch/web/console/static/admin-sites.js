/* Stiller Alarm – admin: sites, buildings, floors and rooms (lists, one form, delete with confirm).
 *
 * The four levels are narrowed step by step: choosing a site lists its
 * buildings, a building its floors, a floor its rooms. One form edits any of
 * them; its fields come from FIELDS, so every kind is validated the same way
 * (by the API, whose messages appear next to the fields).
 */
(function () {
  "use strict";

  var FIELDS = {
    site: [
      { name: "name", label: "admin_f_name", type: "text" },
      { name: "address", label: "admin_f_address", type: "text" },
      { name: "phone", label: "admin_f_phone", type: "text" },
      { name: "neighbour_radius_m", label: "admin_f_radius", type: "number" },
      { name: "police_notes", label: "admin_f_police_notes", type: "textarea" },
    ],
    building: [
      { name: "name", label: "admin_f_name", type: "text" },
      { name: "address", label: "admin_f_address", type: "text" },
    ],
    floor: [
      { name: "name", label: "admin_f_name", type: "text" },
      { name: "level", label: "admin_f_level", type: "number" },
      { name: "width_m", label: "admin_f_width", type: "number" },
      { name: "height_m", label: "admin_f_height", type: "number" },
    ],
    room: [
      { name: "number", label: "admin_f_number", type: "text" },
      { name: "name", label: "admin_f_name", type: "text" },
      { name: "phone", label: "admin_f_phone", type: "text" },
      { name: "entrance", label: "admin_f_entrance", type: "text" },
      { name: "x_m", label: "admin_f_x", type: "number" },
      { name: "y_m", label: "admin_f_y", type: "number" },
    ],
  };
  var PATHS = { site: "/sites", building: "/buildings", floor: "/floors", room: "/rooms" };
  var NULLABLE = { width_m: true, height_m: true, x_m: true, y_m: true };

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("admin_sites", function () {
      return window.SilentAdmin.page({
        sites: [],
        buildings: [],
        floors: [],
        rooms: [],
        siteId: null,
        buildingId: null,
        floorId: null,
        editor: null, // {kind, id, values, fields, general, busy}

        init: function () {
          this.loadSites();
        },

        loadSites: function () {
          var self = this;
          return this.api("GET", "/sites").then(function (r) {
            if (!r.ok) return self.complain(r);
            self.sites = r.data;
            if (!self.siteId && self.sites.length) self.chooseSite(self.sites[0].id);
          });
        },

        chooseSite: function (id) {
          var self = this;
          this.siteId = id;
          this.buildingId = this.floorId = null;
          this.buildings = this.floors = this.rooms = [];
          return this.api("GET", "/buildings?site_id=" + id).then(function (r) {
            if (!r.ok) return self.complain(r);
            self.buildings = r.data;
            if (self.buildings.length) self.chooseBuilding(self.buildings[0].id);
          });
        },

        chooseBuilding: function (id) {
          var self = this;
          this.buildingId = id;
          this.floorId = null;
          this.floors = this.rooms = [];
          return this.api("GET", "/floors?building_id=" + id).then(function (r) {
            if (!r.ok) return self.complain(r);
            self.floors = r.data;
            if (self.floors.length) self.chooseFloor(self.floors[0].id);
          });
        },

        chooseFloor: function (id) {
          var self = this;
          this.floorId = id;
          this.rooms = [];
          return this.api("GET", "/rooms?floor_id=" + id).then(function (r) {
            if (!r.ok) return self.complain(r);
            self.rooms = r.data;
          });
        },

        reload: function (kind) {
          if (kind === "site") return this.loadSites();
          if (kind === "building") return this.chooseSite(this.siteId);
          if (kind === "floor") return this.chooseBuilding(this.buildingId);
          return this.chooseFloor(this.floorId);
        },

        // --- the form --------------------------------------------------------

        get editorFields() {
          return this.editor ? FIELDS[this.editor.kind] : [];
        },

        get editorTitle() {
          if (!this.editor) return "";
          var what = this.t("admin_kind_" + this.editor.kind);
          return this.t(this.editor.id ? "admin_edit_title" : "admin_new_title", { what: what });
        },

        create: function (kind) {
          var values = {};
          FIELDS[kind].forEach(function (field) {
            values[field.name] = "";
          });
          if (kind === "site") values.neighbour_radius_m = 0;
          if (kind === "floor") values.level = 0;
          this.editor = Object.assign(this.form(values), { kind: kind, id: null });
          this.focusEditor();
        },

        edit: function (kind, row) {
          var values = {};
          FIELDS[kind].forEach(function (field) {
            values[field.name] = row[field.name] === null ? "" : row[field.name];
          });
          this.editor = Object.assign(this.form(values), { kind: kind, id: row.id });
          this.focusEditor();
        },

        focusEditor: function () {
          this.$nextTick(function () {
            var first = document.querySelector("[data-testid=editor] input, [data-testid=editor] textarea");
            if (first) first.focus();
          });
        },

        save: function () {
          var self = this;
          var editor = this.editor;
          var body = {};
          FIELDS[editor.kind].forEach(function (field) {
            var value = editor.values[field.name];
            if (field.type === "number") value = self.number(value);
            // An empty optional extent is "none"; an empty required field goes as typed.
            if (value === null && !NULLABLE[field.name]) value = "";
            if (value === "" && NULLABLE[field.name]) value = null;
            body[field.name] = value;
          });
          var path = PATHS[editor.kind];
          if (editor.id) {
            path += "/" + editor.id;
          } else if (editor.kind === "building") {
            body.site_id = this.siteId;
          } else if (editor.kind === "floor") {
            body.building_id = this.buildingId;
          } else if (editor.kind === "room") {
            body.floor_id = this.floorId;
          }
          this.submit(editor, editor.id ? "PATCH" : "POST", path, body).then(function (r) {
            if (!r.ok) return;
            self.editor = null;
            self.say(self.t("admin_saved"));
            self.reload(editor.kind);
          });
        },

        remove: function (kind, row) {
          var self = this;
          var label = row.number ? row.number + " " + row.name : row.name;
          this.ask(
            this.t("admin_confirm_delete", { what: this.t("admin_kind_" + kind), name: label }),
            this.t("admin_delete"),
            function () {
              self.api("DELETE", PATHS[kind] + "/" + row.id).then(function (r) {
                if (!r.ok) return self.complain(r);
                self.say(self.t("admin_deleted"));
                if (kind === "site") self.siteId = null;
                self.reload(kind);
              });
            }
          );
        },

        position: function (room) {
          if (room.x_m === null || room.y_m === null) return this.t("admin_not_placed");
          return room.x_m + " / " + room.y_m + " m";
        },
      });
    });
  });
})();
