// A new movement: click waypoints on the map (or type them), give each a time, or upload a
// GeoJSON file; check its conflicts with what you may see (POST /v1/declarations/check),
// then submit it (POST /v1/declarations).
import { h, table, utc, metres, fromLocalInput, toLocalInput, announce } from "../util.js";
import { post } from "../api.js";
import { state } from "../state.js";

const R = 6371008.8;
function distance(a, b) {
  const r = Math.PI / 180, dl = (b[0] - a[0]) * r, p1 = a[1] * r, p2 = b[1] * r;
  const x = Math.sin((p2 - p1) / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(x)));
}

export class Draft {
  constructor(panel, actions) {
    this.panel = panel;
    this.actions = actions;
    this.points = []; // [{lon, lat, t}]
    this.drawing = false;
    this.uploaded = null; // a Feature or FeatureCollection from a file
    this.form = { id: "", departure: "", speed: "30", buffer: "0", uncertainty: "0" };
    this.message = "";
  }

  /** A map click while drawing adds a waypoint. */
  click(lngLat) {
    if (!this.drawing) return false;
    this.add(lngLat.lng, lngLat.lat);
    return true;
  }

  add(lon, lat) {
    this.uploaded = null;
    const prev = this.points[this.points.length - 1];
    const speed = Number(this.form.speed) / 3.6;
    let t = fromLocalInput(this.form.departure) ?? Date.now() + 49 * 3600e3;
    if (prev) t = prev.t + (speed > 0 ? (distance([prev.lon, prev.lat], [lon, lat]) / speed) * 1000 : 0);
    this.points.push({ lon: Math.round(lon * 1e6) / 1e6, lat: Math.round(lat * 1e6) / 1e6, t: Math.round(t / 1000) * 1000 });
    this.changed();
    announce(`Waypoint ${this.points.length} added at ${lon.toFixed(4)}, ${lat.toFixed(4)}.`);
  }

  features() {
    if (this.uploaded) {
      return this.uploaded.type === "FeatureCollection" ? this.uploaded.features : [this.uploaded];
    }
    if (this.points.length < 2) return [];
    return [{
      type: "Feature",
      geometry: { type: "LineString", coordinates: this.points.map((p) => [p.lon, p.lat]) },
      properties: {
        id: this.form.id || "draft", party: state.me?.party, kind: "movement",
        times: this.points.map((p) => new Date(p.t).toISOString().replace(/\.000Z$/, "Z")),
        buffer_m: Number(this.form.buffer) || 0, time_uncertainty_s: Number(this.form.uncertainty) || 0,
      },
    }];
  }

  body() {
    if (this.uploaded) return this.uploaded;
    const f = this.features();
    return f.length ? f[0] : null;
  }

  changed() {
    state.draft.features = this.features();
    state.draft.result = null;
    this.actions.draftChanged();
    this.render();
  }

  async check() {
    const body = this.body();
    if (!body) { this.say("Draw at least two waypoints, or upload a GeoJSON file, first."); return; }
    try {
      state.draft.result = await post("/v1/declarations/check", body);
      const n = state.draft.result.declarations.reduce((s, d) => s + d.conflicts.length, 0);
      this.say(`${n} conflict${n === 1 ? "" : "s"} with what you may see.`);
    } catch (e) {
      state.draft.result = null;
      this.say(e.message, true);
    }
    this.actions.draftChanged();
    this.render();
  }

  async submit() {
    const body = this.body();
    if (!body) { this.say("Draw at least two waypoints, or upload a GeoJSON file, first."); return; }
    try {
      const doc = await post("/v1/declarations", body);
      const done = doc.declarations.map((d) => `${d.declaration.id}: ${d.clearance.state}, ${d.conflicts.length} conflict${d.conflicts.length === 1 ? "" : "s"}`);
      this.points = []; this.uploaded = null; this.drawing = false;
      state.draft.features = []; state.draft.result = null;
      this.say(`Submitted. ${done.join("; ")}.`);
      this.actions.draftChanged();
      await this.actions.reload();
    } catch (e) {
      this.say(e.message, true);
    }
    this.render();
  }

  async upload(file) {
    try {
      const doc = JSON.parse(await file.text());
      if (!doc || (doc.type !== "Feature" && doc.type !== "FeatureCollection")) throw new Error("The file must hold a GeoJSON Feature or FeatureCollection.");
      this.uploaded = doc;
      this.points = [];
      const n = doc.type === "FeatureCollection" ? doc.features.length : 1;
      this.message = `${file.name}: ${n} feature${n === 1 ? "" : "s"} read; check or submit it.`;
      state.draft.features = this.features(); state.draft.result = null;
      this.actions.draftChanged();
      this.actions.fitDraft();
    } catch (e) {
      this.message = `${file.name}: ${e.message.endsWith(".") ? e.message : "not valid JSON."}`;
    }
    this.render();
  }

  say(text, error = false) {
    this.message = text;
    this.error = error;
    announce(text);
  }

  render() {
    const p = this.panel;
    const focused = document.activeElement && p.contains(document.activeElement) ? document.activeElement.id : null;
    p.replaceChildren();
    const field = (id, label, attrs = {}) => {
      const input = h("input", { id: `draft-${id}`, value: this.form[id], ...attrs });
      input.addEventListener("change", () => { this.form[id] = input.value; if (id !== "departure" || !this.points.length) return; this.retime(); });
      return h("div", { class: "field" }, h("label", { for: input.id }, label), input);
    };
    const form = h("fieldset", {}, h("legend", {}, "Movement"),
      field("id", "Id", { required: true, placeholder: "e.g. convoy-0512", maxlength: "128" }),
      field("departure", "Departure (UTC, YYYY-MM-DD HH:MM:SSZ)", { type: "text", spellcheck: "false", placeholder: "YYYY-MM-DD HH:MM:SSZ" }),
      field("speed", "Speed for new waypoints (km/h)", { type: "number", min: "1", max: "2000", step: "any" }),
      field("buffer", "Buffer (m)", { type: "number", min: "0", step: "any" }),
      field("uncertainty", "Time uncertainty (s)", { type: "number", min: "0", step: "1" }));
    p.append(form);
    const draw = h("button", { type: "button", id: "draft-draw", "aria-pressed": String(this.drawing), onclick: () => { this.drawing = !this.drawing; this.render(); this.actions.drawMode(this.drawing); } },
      this.drawing ? "Stop drawing" : "Draw on the map");
    p.append(h("p", { class: "hint" }, "Click the map to add waypoints, or type them below; each waypoint's time is filled from the speed and can be changed."), draw);
    const lon = h("input", { id: "wp-lon", type: "number", step: "any", min: "-180", max: "180" });
    const lat = h("input", { id: "wp-lat", type: "number", step: "any", min: "-90", max: "90" });
    const addForm = h("form", { class: "row" },
      h("label", { for: "wp-lon" }, "Lon"), lon, h("label", { for: "wp-lat" }, "Lat"), lat,
      h("button", { type: "submit", id: "wp-add" }, "Add waypoint"));
    addForm.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const x = Number(lon.value), y = Number(lat.value);
      if (lon.value === "" || lat.value === "" || !(Math.abs(x) <= 180 && Math.abs(y) <= 90)) { this.say("Give a longitude from -180 to 180 and a latitude from -90 to 90.", true); this.render(); return; }
      this.add(x, y);
    });
    p.append(addForm);
    p.append(table("Waypoints", ["#", "Lon, lat", "Time (UTC)", ""], this.points.map((w, i) => {
      const t = h("input", { type: "text", size: "20", spellcheck: "false", value: toLocalInput(w.t), "aria-label": `Time of waypoint ${i + 1}, UTC` });
      t.addEventListener("change", () => {
        const v = fromLocalInput(t.value);
        if (v === null) { this.say(`Waypoint ${i + 1}: write the time as YYYY-MM-DD HH:MM:SSZ.`, true); this.render(); return; }
        w.t = v; this.changed();
      });
      return { cells: [String(i + 1), `${w.lon.toFixed(5)}, ${w.lat.toFixed(5)}`, t,
        h("button", { type: "button", "aria-label": `Remove waypoint ${i + 1}`, onclick: () => { this.points.splice(i, 1); this.changed(); } }, "Remove")] };
    }), "No waypoints yet."));
    const file = h("input", { id: "draft-file", type: "file", accept: ".geojson,.json,application/geo+json,application/json" });
    file.addEventListener("change", () => file.files[0] && this.upload(file.files[0]));
    p.append(h("div", { class: "field" }, h("label", { for: "draft-file" }, "Or upload a GeoJSON movement (Feature or FeatureCollection)"), file));
    p.append(h("div", { class: "actions" },
      h("button", { type: "button", id: "draft-check", onclick: () => this.check() }, "Check conflicts"),
      h("button", { type: "button", id: "draft-submit", class: "primary", onclick: () => this.submit() }, "Submit"),
      h("button", { type: "button", id: "draft-clear", onclick: () => { this.points = []; this.uploaded = null; this.message = ""; this.changed(); } }, "Clear")));
    if (this.message) p.append(h("p", { id: "draft-message", class: this.error ? "error" : "status", role: "status" }, this.message));
    const r = state.draft.result;
    if (r) {
      p.append(h("p", { class: "note", id: "draft-note" }, r.note));
      for (const d of r.declarations) {
        p.append(table(`Conflicts of ${d.declaration.id} with what you may see${d.late ? " (submitted now it would be late)" : ""}`,
          ["Theirs", "From (UTC)", "To (UTC)", "Closest", "Where (lon, lat)"],
          d.conflicts.map((c) => {
            const theirs = c.b === d.declaration.id && c.party_b === d.declaration.party ? `${c.party_a}/${c.a}` : `${c.party_b}/${c.b}`;
            return { attrs: { class: "draft-conflict" }, cells: [theirs, utc(Date.parse(c.start)), utc(Date.parse(c.end)), metres(c.min_distance_m), `${c.at[0].toFixed(4)}, ${c.at[1].toFixed(4)}`] };
          }), "None found among the plans you may see."));
        if (d.would_notify.length) p.append(h("p", {}, `Submitting notifies at least: ${d.would_notify.join(", ")}.`));
      }
    }
    if (focused) document.getElementById(focused)?.focus();
  }

  retime() {
    const start = fromLocalInput(this.form.departure);
    if (start === null || !this.points.length) return;
    const speed = Number(this.form.speed) / 3.6;
    let t = start;
    this.points.forEach((w, i) => {
      if (i > 0) t += speed > 0 ? (distance([this.points[i - 1].lon, this.points[i - 1].lat], [w.lon, w.lat]) / speed) * 1000 : 0;
      w.t = Math.round(t / 1000) * 1000;
    });
    this.changed();
  }
}
