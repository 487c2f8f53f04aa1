// Conflicts where and when they occur: the stretch of each visible route during the
// conflict, and the midpoint of closest approach (SPEC section 3, `at`).
import { plannedAt } from "../util.js";
import { keyOf } from "../state.js";

/** The part of a movement feature between two times (ms), or null. */
export function stretch(f, from, to) {
  const p = f.properties || {};
  if (!Array.isArray(p.times)) return null;
  const times = p.times.map((x) => Date.parse(x));
  const coords = f.geometry.coordinates.map((c) => [c[0], c[1]]);
  const a = Math.max(from, times[0]), b = Math.min(to, times[times.length - 1]);
  if (a > b) return null;
  const out = [plannedAt(coords, times, a)];
  times.forEach((t, i) => { if (t > a && t < b) out.push(coords[i]); });
  out.push(plannedAt(coords, times, b));
  return out;
}

export function conflictFeatures(list, decls, source) {
  const features = [];
  list.forEach((c, n) => {
    const t0 = Date.parse(c.start), t1 = Date.parse(c.end);
    const props = { n, t0, t1, source };
    features.push({ type: "Feature", geometry: { type: "Point", coordinates: c.at }, properties: props });
    for (const [party, id] of [[c.party_a, c.a], [c.party_b, c.b]]) {
      const d = decls.get(keyOf(party, id));
      if (!d) continue;
      for (const f of d.features) {
        const line = stretch(f, t0, t1);
        if (line) features.push({ type: "Feature", geometry: { type: "LineString", coordinates: line }, properties: props });
      }
    }
  });
  return features;
}

const opacity = (t, a, b) => ["case", ["all", ["<=", ["get", "t0"], t], [">=", ["get", "t1"], t]], a, b];

export const conflicts = {
  id: "conflicts",
  title: "Conflicts",
  layerIds: ["conflict-stretch", "conflict-at"],

  add(map) {
    map.addSource("conflicts", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({
      id: "conflict-stretch", type: "line", source: "conflicts", filter: ["==", ["geometry-type"], "LineString"],
      layout: { "line-cap": "round" }, paint: { "line-color": "#e03131", "line-width": 9, "line-opacity": 0.45 },
    });
    map.addLayer({
      id: "conflict-at", type: "circle", source: "conflicts", filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-radius": 9, "circle-color": "#fff", "circle-stroke-color": "#e03131", "circle-stroke-width": 4 },
    });
  },

  update(map, state) {
    map.getSource("conflicts").setData({ type: "FeatureCollection", features: conflictFeatures(state.conflicts, state.decls, "plans") });
  },

  time(map, t) {
    map.setPaintProperty("conflict-stretch", "line-opacity", opacity(t, 0.75, 0.3));
    map.setPaintProperty("conflict-at", "circle-stroke-opacity", opacity(t, 1, 0.45));
  },
};
