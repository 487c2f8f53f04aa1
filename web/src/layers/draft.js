// The movement being drawn or uploaded, and the conflicts its check found.
import { conflictFeatures } from "./conflicts.js";

export const draft = {
  id: "draft",
  title: "New movement (draft)",
  layerIds: ["draft-route", "draft-points", "draft-conflicts"],

  add(map) {
    const empty = { type: "FeatureCollection", features: [] };
    map.addSource("draft", { type: "geojson", data: empty });
    map.addSource("draft-conflicts", { type: "geojson", data: empty });
    map.addLayer({ id: "draft-route", type: "line", source: "draft", filter: ["!=", ["geometry-type"], "Point"], paint: { "line-color": "#5f3dc4", "line-width": 4, "line-dasharray": [1.5, 1] } });
    map.addLayer({ id: "draft-points", type: "circle", source: "draft", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 6, "circle-color": "#5f3dc4", "circle-stroke-color": "#fff", "circle-stroke-width": 2 } });
    map.addLayer({ id: "draft-conflicts", type: "circle", source: "draft-conflicts", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-radius": 11, "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": "#5f3dc4", "circle-stroke-width": 4 } });
  },

  update(map, state) {
    const features = [];
    for (const f of state.draft.features) {
      features.push({ type: "Feature", geometry: f.geometry, properties: {} });
      if (f.geometry.type === "LineString") {
        for (const c of f.geometry.coordinates) features.push({ type: "Feature", geometry: { type: "Point", coordinates: c }, properties: {} });
      }
    }
    map.getSource("draft").setData({ type: "FeatureCollection", features });
    const found = (state.draft.result?.declarations || []).flatMap((d) => d.conflicts);
    map.getSource("draft-conflicts").setData({ type: "FeatureCollection", features: conflictFeatures(found, new Map(), "draft") });
  },

  time() {},
};
