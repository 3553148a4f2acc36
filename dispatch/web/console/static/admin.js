/* Stiller Alarm – what every admin page shares (loaded before the page's own script).
 *
 * window.SilentAdmin offers:
 *   - t(key, params): the message catalogue the hub embedded in the page;
 *   - api(method, path, body): fetch to /api/v1 with the session cookie and the
 *     X-CSRF-Token header; resolves to {ok, status, data, fields, general, rows}
 *     where a refusal is already split into per-field messages (pydantic's 422
 *     `loc`), a general message and, for the CSV import, bad rows;
 *   - page(spec): an Alpine component = the page's own state and methods plus
 *     the shared notice line and the confirm dialog (a native <dialog>).
 * Validation is the API's alone: forms are `novalidate` and show its messages.
 * pydantic's standard refusals (a bad number, too long, missing …) are shown in
 * the page's language from the catalogue (keys admin_err_<type>); the API's own
 * messages stay as it sends them. Number fields take the German decimal comma.
 */
(function () {
  "use strict";

  function readJson(id) {
    return JSON.parse(document.getElementById(id).textContent);
  }

  var catalogue = readJson("admin-i18n");
  var config = readJson("admin-config");

  function t(key, params) {
    var text = Object.prototype.hasOwnProperty.call(catalogue, key) ? catalogue[key] : key;
    if (params) {
      text = text.replace(/\{(\w+)\}/g, function (whole, name) {
        return Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole;
      });
    }
    return text;
  }

  var LOCATION_PARTS = { body: true, query: true, path: true };
  var locale = config.lang === "de" ? "de-DE" : "en-GB";

  /** "12,5" → "12.5": the German decimal comma (a lone comma between digits), else as typed. */
  function decimalText(value) {
    var text = String(value).trim();
    return /^[-+]?\d+,\d+$/.test(text) ? text.replace(",", ".") : text;
  }

  /** One pydantic error in the page's language when the catalogue knows its type. */
  function errorMessage(error) {
    var key = "admin_err_" + error.type;
    if (!Object.prototype.hasOwnProperty.call(catalogue, key)) {
      return String(error.msg || "").replace(/^Value error, /, "");
    }
    var params = {};
    Object.keys(error.ctx || {}).forEach(function (name) {
      var value = error.ctx[name];
      params[name] = typeof value === "number" ? value.toLocaleString(locale) : String(value);
    });
    return t(key, params);
  }

  /** A refusal split for the form: {fields: {"escalation.0.after_s": msg}, general, rows}. */
  function splitErrors(status, data) {
    var out = { fields: {}, general: "", rows: [] };
    var detail = data && data.detail;
    if (Array.isArray(detail)) {
      var general = [];
      detail.forEach(function (error) {
        var loc = (error.loc || []).slice();
        if (loc.length && LOCATION_PARTS[loc[0]]) loc.shift();
        var message = errorMessage(error);
        if (loc.length) {
          var key = loc.join(".");
          out.fields[key] = out.fields[key] ? out.fields[key] + "; " + message : message;
        } else {
          general.push(message);
        }
      });
      out.general = general.join("; ");
    } else if (typeof detail === "string") {
      out.general = detail;
    }
    if (data && Array.isArray(data.errors)) out.rows = data.errors;
    if (!out.general && !Object.keys(out.fields).length) {
      out.general = t("admin_error_status", { status: status });
    }
    return out;
  }

  function api(method, path, body) {
    var options = { method: method, credentials: "same-origin", headers: {} };
    if (method !== "GET" && method !== "HEAD") options.headers["X-CSRF-Token"] = config.csrf;
    if (body instanceof FormData || body instanceof Blob) {
      options.body = body; // the browser sets the multipart boundary itself
    } else if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(config.api + path, options).then(
      function (response) {
        if (response.status === 401) {
          location.assign("/login");
        }
        var type = response.headers.get("Content-Type") || "";
        var read = type.indexOf("json") >= 0 ? response.json() : Promise.resolve(null);
        return read
          .catch(function () {
            return null;
          })
          .then(function (data) {
            var result = { ok: response.ok, status: response.status, data: data };
            if (!response.ok) Object.assign(result, splitErrors(response.status, data));
            return result;
          });
      },
      function () {
        return {
          ok: false,
          status: 0,
          data: null,
          fields: {},
          rows: [],
          general: t("admin_error_network"),
        };
      }
    );
  }

  /** A form's state: its values, the API's messages per field and in general, busy. */
  function form(values) {
    return { values: values || {}, fields: {}, general: "", busy: false };
  }

  function mixin(target, source) {
    Object.defineProperties(target, Object.getOwnPropertyDescriptors(source));
    return target;
  }

  var shared = {
    config: config,
    notice: "",
    noticeKind: "ok",
    confirmText: "",
    confirmButton: "",
    confirmAction: null,

    t: t,
    api: api,
    form: form,

    say: function (text, kind) {
      this.notice = text;
      this.noticeKind = kind || "ok";
    },

    /** For actions without a form: the API's message in the notice line. */
    complain: function (result) {
      var parts = [result.general].concat(
        Object.keys(result.fields || {}).map(function (key) {
          return key + ": " + result.fields[key];
        })
      );
      this.say(
        t("admin_not_saved") +
          " " +
          parts
            .filter(function (p) {
              return p;
            })
            .join("; "),
        "error"
      );
    },

    /** Sends a form; on refusal the messages land next to the fields and nothing else changes. */
    submit: function (state, method, path, body) {
      state.busy = true;
      state.fields = {};
      state.general = "";
      return this.api(method, path, body).then(function (result) {
        state.busy = false;
        if (!result.ok) {
          state.fields = result.fields;
          state.general = result.general || t("admin_check_fields");
        }
        return result;
      });
    },

    /** An id as an <option>'s or checkbox's value: text, as x-model holds it. */
    optionValue: function (id) {
      return String(id);
    },

    fieldError: function (state, name) {
      return (state && state.fields && state.fields[name]) || "";
    },

    /** Opens the confirm dialog; `action` runs only on "yes". */
    ask: function (text, button, action) {
      this.confirmText = text;
      this.confirmButton = button || t("admin_delete");
      this.confirmAction = action;
      this.$refs.confirm.showModal();
    },

    confirmYes: function () {
      var action = this.confirmAction;
      this.confirmAction = null;
      this.$refs.confirm.close();
      if (action) action();
    },

    confirmNo: function () {
      this.confirmAction = null;
      this.$refs.confirm.close();
    },

    /** "" for empty inputs, a number otherwise; non-numbers go to the API as typed. */
    number: function (value) {
      if (value === "" || value === null || value === undefined) return null;
      var text = decimalText(value);
      var n = Number(text);
      return text === "" || isNaN(n) ? value : n;
    },

    /** A number field's text for a form upload: "12,5" sent as "12.5". */
    decimalText: decimalText,

    dateTime: function (iso) {
      if (!iso) return "–";
      return new Date(iso).toLocaleString(config.lang === "de" ? "de-DE" : "en-GB", {
        dateStyle: "short",
        timeStyle: "short",
      });
    },
  };

  window.SilentAdmin = {
    t: t,
    api: api,
    config: config,
    page: function (spec) {
      return mixin(mixin({}, shared), spec);
    },
  };
})();
