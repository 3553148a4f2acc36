/* Stiller Alarm – admin: one floor's plan, its rooms and entrances on it, and room neighbours.
 *
 * A click on the plan image becomes metres through the plan's extent
 * (width_m × height_m, as uploaded with it): x = click offset / shown width ×
 * width_m, likewise y. What the click does depends on the mode: place the
 * chosen room (PATCH /rooms/{id} x_m, y_m), mark a new entrance (POST
 * /floors/{id}/entrances) or move an entrance (PATCH /entrances/{id}). Every
 * position can also be typed, so the page works without a mouse.
 */
(function () {
  "use strict";

  function round(value) {
    return Math.round(value * 100) / 100;
  }

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("admin_floor", function () {
      return window.SilentAdmin.page({
        floorId: null,
        layout: null,
        siteRooms: [],
        mode: null, // {kind: "room"|"entrance"|"move", id, label}
        upload: null, // form: width_m, height_m (+ the file input)
        entranceForm: null, // form: label
        selectedId: null, // the room whose position and neighbours are shown
        positionForm: null,
        neighbours: null,
        neighbourForm: null,

        init: function () {
          this.floorId = this.config.floorId;
          this.upload = this.form({ width_m: "", height_m: "" });
          this.entranceForm = this.form({ label: "" });
          this.neighbourForm = this.form({ other: "", kind: "link" });
          this.load();
        },

        load: function () {
          var self = this;
          return this.api("GET", "/floors/" + this.floorId + "/layout").then(function (r) {
            if (!r.ok) return self.complain(r);
            self.layout = r.data;
            // The stored size fills the fields, but never over what the admin typed while
            // the layout was on its way (the upload then went without the size: 422).
            var size = self.upload.values;
            if (size.width_m === "") size.width_m = r.data.width_m === null ? "" : r.data.width_m;
            if (size.height_m === "") size.height_m = r.data.height_m === null ? "" : r.data.height_m;
            if (self.selectedId) self.select(self.selectedId);
            if (!self.siteRooms.length) self.loadSiteRooms();
          });
        },

        loadSiteRooms: function () {
          var self = this;
          return this.api("GET", "/rooms?floor_id=" + this.floorId).then(function (r) {
            if (!r.ok || !r.data.length) return;
            return self.api("GET", "/rooms?site_id=" + r.data[0].site_id).then(function (all) {
              if (all.ok) self.siteRooms = all.data;
            });
          });
        },

        get hasExtent() {
          return !!(this.layout && this.layout.width_m && this.layout.height_m);
        },

        get selected() {
          var id = this.selectedId;
          if (!this.layout || id === null) return null;
          return (
            this.layout.rooms.filter(function (room) {
              return room.id === id;
            })[0] || null
          );
        },

        get otherRooms() {
          var id = this.selectedId;
          return this.siteRooms.filter(function (room) {
            return room.id !== id;
          });
        },

        get modeText() {
          if (!this.mode) return "";
          if (this.mode.kind === "room") return this.t("admin_click_room", { room: this.mode.label });
          if (this.mode.kind === "move") return this.t("admin_click_move", { label: this.mode.label });
          return this.t("admin_click_entrance", { label: this.mode.label });
        },

        placed: function (item) {
          return item.x_m !== null && item.y_m !== null && this.hasExtent;
        },

        /** A marker's place on the shown plan, as CSS percentages (CSSOM, allowed by the CSP). */
        markerStyle: function (item) {
          return {
            left: (item.x_m / this.layout.width_m) * 100 + "%",
            top: (item.y_m / this.layout.height_m) * 100 + "%",
          };
        },

        // --- the plan image --------------------------------------------------

        uploadPlan: function () {
          var self = this;
          var data = new FormData();
          var file = this.$refs.planFile.files[0];
          if (file) data.append("file", file);
          data.append("width_m", this.decimalText(this.upload.values.width_m));
          data.append("height_m", this.decimalText(this.upload.values.height_m));
          this.submit(this.upload, "PUT", "/floors/" + this.floorId + "/plan", data).then(
            function (r) {
              if (!r.ok) return;
              self.$refs.planFile.value = "";
              self.say(self.t("admin_plan_uploaded"));
              self.load();
            }
          );
        },

        removePlan: function () {
          var self = this;
          this.ask(this.t("admin_confirm_plan_delete"), this.t("admin_delete"), function () {
            self.api("DELETE", "/floors/" + self.floorId + "/plan").then(function (r) {
              if (!r.ok) return self.complain(r);
              self.say(self.t("admin_deleted"));
              self.load();
            });
          });
        },

        // --- clicking on the plan -------------------------------------------

        placeRoom: function (room) {
          this.mode = { kind: "room", id: room.id, label: room.number };
          this.focusPlan();
        },

        markEntrance: function () {
          var label = String(this.entranceForm.values.label || "").trim();
          this.entranceForm.fields = {};
          this.entranceForm.general = "";
          if (!label) {
            // Asked before the click, so the click is never wasted; the API checks it again.
            this.entranceForm.fields = { label: this.t("admin_label_first") };
            return;
          }
          this.mode = { kind: "entrance", label: label };
          this.focusPlan();
        },

        moveEntrance: function (entrance) {
          this.mode = { kind: "move", id: entrance.id, label: entrance.label };
          this.focusPlan();
        },

        focusPlan: function () {
          var self = this;
          this.$nextTick(function () {
            if (self.$refs.plan) self.$refs.plan.scrollIntoView({ block: "nearest" });
          });
        },

        clickPlan: function (event) {
          if (!this.mode || !this.hasExtent) return;
          var box = event.currentTarget.getBoundingClientRect();
          var x = round(((event.clientX - box.left) / box.width) * this.layout.width_m);
          var y = round(((event.clientY - box.top) / box.height) * this.layout.height_m);
          this.placeAt(x, y);
        },

        placeAt: function (x, y) {
          var self = this;
          var mode = this.mode;
          var request;
          if (mode.kind === "room") {
            request = this.api("PATCH", "/rooms/" + mode.id, { x_m: x, y_m: y });
          } else if (mode.kind === "move") {
            request = this.api("PATCH", "/entrances/" + mode.id, { x_m: x, y_m: y });
          } else {
            request = this.submit(this.entranceForm, "POST", "/floors/" + this.floorId + "/entrances", {
              label: mode.label,
              x_m: x,
              y_m: y,
            });
          }
          return request.then(function (r) {
            if (!r.ok) {
              if (mode.kind !== "entrance") self.complain(r);
              return;
            }
            self.mode = null;
            if (mode.kind === "entrance") self.entranceForm.values.label = "";
            self.say(self.t("admin_placed", { what: mode.label, x: x, y: y }));
            self.load();
          });
        },

        removeEntrance: function (entrance) {
          var self = this;
          this.ask(
            this.t("admin_confirm_delete", { what: this.t("admin_kind_entrance"), name: entrance.label }),
            this.t("admin_delete"),
            function () {
              self.api("DELETE", "/entrances/" + entrance.id).then(function (r) {
                if (!r.ok) return self.complain(r);
                self.say(self.t("admin_deleted"));
                self.load();
              });
            }
          );
        },

        // --- one room: typed position and neighbours ------------------------

        select: function (id) {
          var self = this;
          this.selectedId = id;
          var room = this.selected;
          this.positionForm = this.form({
            x_m: room && room.x_m !== null ? room.x_m : "",
            y_m: room && room.y_m !== null ? room.y_m : "",
          });
          this.neighbourForm.fields = {};
          this.neighbourForm.general = "";
          return this.api("GET", "/rooms/" + id + "/neighbours").then(function (r) {
            if (!r.ok) return self.complain(r);
            self.neighbours = r.data;
          });
        },

        savePosition: function () {
          var self = this;
          var body = {
            x_m: this.number(this.positionForm.values.x_m),
            y_m: this.number(this.positionForm.values.y_m),
          };
          this.submit(this.positionForm, "PATCH", "/rooms/" + this.selectedId, body).then(
            function (r) {
              if (!r.ok) return;
              self.say(self.t("admin_saved"));
              self.load();
            }
          );
        },

        sourceText: function (neighbour) {
          if (neighbour.source === "link") return this.t("admin_source_link");
          return this.t("admin_source_distance", { m: round(neighbour.distance_m) });
        },

        setNeighbour: function (otherId, kind, state) {
          var self = this;
          var path = "/rooms/" + this.selectedId + "/neighbours/" + otherId;
          var request = state
            ? this.submit(state, "PUT", path, { kind: kind })
            : this.api("PUT", path, { kind: kind });
          return request.then(function (r) {
            if (!r.ok) {
              if (!state) self.complain(r);
              return;
            }
            self.neighbours = r.data;
            self.say(self.t("admin_saved"));
          });
        },

        addNeighbour: function () {
          var other = this.neighbourForm.values.other;
          if (!other) {
            this.neighbourForm.fields = { other: this.t("admin_choose_room") };
            return;
          }
          this.setNeighbour(other, this.neighbourForm.values.kind, this.neighbourForm);
        },

        dropWord: function (otherId) {
          var self = this;
          this.api("DELETE", "/rooms/" + this.selectedId + "/neighbours/" + otherId).then(
            function (r) {
              if (!r.ok) return self.complain(r);
              self.neighbours = r.data;
              self.say(self.t("admin_saved"));
            }
          );
        },
      });
    });
  });
})();
