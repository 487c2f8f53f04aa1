// The selected alert: the plans it names, highlighted, and where they put their units at
// the alert's time and at its closest approach. Live positions are not readable through
// the API (docs/ui.md), so these are planned positions, and labelled so.
import { keyOf } from "../state.js";
import { plannedAt } from "../util.js";

export function alertPlanPositions(alert, decls) {
  const out = [];
  const moments = [["alert time", Date.parse(alert.time)]];
  if (alert.cpa_time) moments.push(["closest approach", Date.parse(alert.cpa_time)]);
  for (const ref of alert.declarations || []) {
    const i = ref.indexOf("/");
    const d = decls.get(keyOf(ref.slice(0, i), ref.slice(i + 1)));
    if (!d) continue;
    for (const f of d.features) {
      const times = (f.properties?.times || []).map((x) => Date.parse(x));
      if (!times.length) continue;
      for (const [what, t] of moments) {
        const at = plannedAt(f.geometry.coordinates.map((c) => [c[0], c[1]]), times, t);
        if (at) out.push({ ref, what, t, at });
      }
    }
  }
  return out;
}

export const alerts = {
  id: "alerts",
  title: "Selected alert",
  layerIds: ["alert-plans"],

  add(map) {
    map.addSource("alert-plans", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({
      id: "alert-plans", type: "circle", source: "alert-plans",
      paint: { "circle-radius": 10, "circle-color": "#f08c00", "circle-opacity": 0.85, "circle-stroke-color": "#000", "circle-stroke-width": 2 },
    });
  },

  update(map, state) {
    const a = state.selectedAlert && state.alerts.get(state.selectedAlert);
    const features = a ? alertPlanPositions(a, state.decls).map((p) => ({
      type: "Feature", geometry: { type: "Point", coordinates: p.at }, properties: { what: p.what },
    })) : [];
    map.getSource("alert-plans").setData({ type: "FeatureCollection", features });
  },

  time() {},
};
