// Map layers. Each module exports one object with a small interface, so a layer (tracks,
// incidents, proofs...) is added by writing one module and listing it here:
//   id, title      - name and the label of its toggle
//   layerIds       - the MapLibre layers it owns (toggled together)
//   add(map)       - add its sources and layers
//   update(map, state) - redraw from the page's state
//   time(map, t)   - show the moment t (ms since the epoch)
import { declarations } from "./declarations.js";
import { conflicts } from "./conflicts.js";
import { alerts } from "./alerts.js";
import { draft } from "./draft.js";
import { tracks } from "./tracks.js";

export const LAYERS = [declarations, conflicts, tracks, alerts, draft];

export function timeOpacity(t, inForce = 1, outside = 0.3) {
  return ["case", ["all", ["<=", ["get", "t0"], t], [">=", ["get", "t1"], t]], inForce, outside];
}
