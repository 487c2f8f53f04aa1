// Live tracks (GET /v1/tracks): a line through each unit's recent reports up to the time
// shown (so the slider replays them) and a marker at its last position, labelled
// `party/unit` on the place-name canvas (MapLibre text would need glyph files). Own units
// blue, others' (units of an open alert that involves you) orange.
const OWN = "#1864ab", OTHER = "#c2410c";

/** Each track cut at t (ms): {name, own, coords, last, lastTime}, or none before its first report. */
export function tracksAt(tracks, me, t) {
  const out = [];
  for (const tr of tracks) {
    const upTo = tr.reports.filter((r) => r.t <= t);
    if (!upTo.length) continue;
    const last = upTo[upTo.length - 1];
    out.push({
      name: `${tr.party}/${tr.unit}`, own: tr.party === me,
      coords: upTo.map((r) => [r.lon, r.lat]), last: [last.lon, last.lat], lastTime: last.t,
    });
  }
  return out;
}

export const tracks = {
  id: "tracks",
  title: "Live tracks",
  layerIds: ["track-line", "track-last"],
  t: 0,
  list: [],
  me: null,
  /** What is drawn at the time shown: read by the place-name canvas for the labels. */
  shown: [],

  add(map) {
    const empty = { type: "FeatureCollection", features: [] };
    map.addSource("tracks", { type: "geojson", data: empty });
    map.addLayer({
      id: "track-line", type: "line", source: "tracks", filter: ["==", ["geometry-type"], "LineString"],
      layout: { "line-cap": "round", "line-join": "round" },
      paint: { "line-color": ["case", ["get", "own"], OWN, OTHER], "line-width": 2.5, "line-opacity": 0.9 },
    });
    map.addLayer({
      id: "track-last", type: "circle", source: "tracks", filter: ["==", ["geometry-type"], "Point"],
      paint: {
        "circle-radius": 6, "circle-color": ["case", ["get", "own"], OWN, OTHER],
        "circle-stroke-color": ["case", ["get", "own"], "#fff", "#000"], "circle-stroke-width": 2,
      },
    });
  },

  update(map, state) {
    this.list = state.tracks || [];
    this.me = state.me?.party ?? null;
    this.time(map, state.time.t);
  },

  time(map, t) {
    this.t = t;
    const at = tracksAt(this.list, this.me, t);
    const features = [];
    for (const u of at) {
      const props = { name: u.name, own: u.own };
      if (u.coords.length > 1) features.push({ type: "Feature", geometry: { type: "LineString", coordinates: u.coords }, properties: props });
      features.push({ type: "Feature", geometry: { type: "Point", coordinates: u.last }, properties: props });
    }
    map.getSource("tracks").setData({ type: "FeatureCollection", features });
    this.shown = at.map((u) => ({ text: u.name, at: u.last, own: u.own }));
    const visible = map.getLayoutProperty("track-last", "visibility") !== "none";
    // Tests wait on DOM attributes (the page's CSP forbids eval): the units drawn now.
    document.body.dataset.tracks = visible ? at.map((u) => u.name).sort().join(" ") : "";
    map.triggerRepaint();
  },
};
