// Plans: own and others' declarations (as much of them as the API shows), sites and zones
// with their validity, and where each movement should be at the time shown.
import { FAR, spanOf } from "../state.js";
import { plannedAt } from "../util.js";

const OWN = "#1864ab", OTHER = "#c2410c";
const ZONE = ["match", ["get", "zone_type"], "restricted", "#c92a2a", "corridor", "#2b8a3e", "ceasefire", "#0b7285", "#495057"];

function opacity(t, a, b) {
  return ["case", ["all", ["<=", ["get", "t0"], t], [">=", ["get", "t1"], t]], a, b];
}

export const declarations = {
  id: "plans",
  title: "Plans, sites and zones",
  layerIds: ["decl-zone", "decl-zone-line", "decl-site", "decl-site-line", "decl-route", "decl-point", "decl-unit"],
  t: 0,

  add(map) {
    const empty = { type: "FeatureCollection", features: [] };
    map.addSource("decl", { type: "geojson", data: empty });
    map.addSource("decl-pos", { type: "geojson", data: empty });
    const poly = (kind) => ["all", ["==", ["get", "kind"], kind], ["==", ["geometry-type"], "Polygon"]];
    map.addLayer({ id: "decl-zone", type: "fill", source: "decl", filter: poly("zone"), paint: { "fill-color": ZONE, "fill-opacity": 0.12 } });
    map.addLayer({ id: "decl-zone-line", type: "line", source: "decl", filter: poly("zone"), paint: { "line-color": ZONE, "line-width": 2, "line-dasharray": [2, 1] } });
    map.addLayer({ id: "decl-site", type: "fill", source: "decl", filter: poly("site"), paint: { "fill-color": ["case", ["get", "own"], OWN, OTHER], "fill-opacity": 0.18 } });
    map.addLayer({ id: "decl-site-line", type: "line", source: "decl", filter: poly("site"), paint: { "line-color": ["case", ["get", "own"], OWN, OTHER], "line-width": 2 } });
    map.addLayer({
      id: "decl-route", type: "line", source: "decl", filter: ["==", ["get", "kind"], "movement"],
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": ["case", ["get", "own"], OWN, OTHER], "line-width": ["case", ["get", "selected"], 6, 3.5] },
    });
    map.addLayer({
      id: "decl-point", type: "circle", source: "decl", filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-radius": 7, "circle-color": ["case", ["get", "own"], OWN, OTHER], "circle-stroke-color": "#fff", "circle-stroke-width": 2 },
    });
    map.addLayer({
      id: "decl-unit", type: "circle", source: "decl-pos",
      paint: { "circle-radius": 6, "circle-color": "#fff", "circle-stroke-color": ["case", ["get", "own"], OWN, OTHER], "circle-stroke-width": 4 },
    });
  },

  update(map, state) {
    const features = [];
    this.moving = [];
    for (const [key, d] of state.decls) {
      d.features.forEach((f, part) => {
        const [t0, t1] = spanOf(f);
        const p = f.properties || {};
        features.push({
          type: "Feature",
          geometry: f.geometry,
          properties: {
            key, part, own: d.own, kind: d.kind, party: d.party, id: d.id,
            zone_type: p.zone_type || "", selected: state.selectedKeys?.has(key) || false,
            t0: Number.isFinite(t0) ? t0 : -FAR, t1: Number.isFinite(t1) ? t1 : FAR,
          },
        });
        if (d.kind === "movement" && Array.isArray(p.times)) {
          this.moving.push({ key, own: d.own, coords: f.geometry.coordinates, times: p.times.map((x) => Date.parse(x)) });
        }
      });
    }
    map.getSource("decl").setData({ type: "FeatureCollection", features });
    this.time(map, this.t);
  },

  time(map, t) {
    this.t = t;
    for (const id of ["decl-route", "decl-point"]) map.setPaintProperty(id, id === "decl-route" ? "line-opacity" : "circle-opacity", opacity(t, 0.95, 0.35));
    map.setPaintProperty("decl-zone", "fill-opacity", opacity(t, 0.16, 0.04));
    map.setPaintProperty("decl-site", "fill-opacity", opacity(t, 0.22, 0.06));
    const pos = [];
    for (const m of this.moving || []) {
      const at = plannedAt(m.coords.map((c) => [c[0], c[1]]), m.times, t);
      if (at) pos.push({ type: "Feature", geometry: { type: "Point", coordinates: at }, properties: { key: m.key, own: m.own } });
    }
    map.getSource("decl-pos").setData({ type: "FeatureCollection", features: pos });
  },
};
