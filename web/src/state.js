// What the page knows, in one place; every view redraws from it.

export const FAR = 8.64e15; // open-ended validity, as a time in ms (the largest Date)

export const state = {
  me: null,
  /** "party/id" -> {party, id, version, kind, state, access, whole, own, features, clearance, conflicts, etag} */
  decls: new Map(),
  /** Conflicts the party may know of, wire form (SPEC section 3), deduplicated. */
  conflicts: [],
  inbox: { clearance: [], messages: [], incidents: [] },
  /** alert id -> the alert's latest line (SPEC section 5) plus open and acknowledged_by. */
  alerts: new Map(),
  draft: { features: [], result: null },
  time: { from: 0, to: 0, t: 0 },
  selectedAlert: null,
  /** GET /v1/tracks: [{party, unit, reports: [{t (ms), time, lat, lon, ...}]}], yours first. */
  tracks: [],
};

export const keyOf = (party, id) => `${party}/${id}`;

/** [t0, t1] of a GeoJSON declaration feature in ms (open ends far away). */
export function spanOf(f) {
  const p = f.properties || {};
  if (Array.isArray(p.times) && p.times.length) {
    return [Date.parse(p.times[0]), Date.parse(p.times[p.times.length - 1])];
  }
  const from = p.valid_from ? Date.parse(p.valid_from) : -FAR;
  const to = p.valid_to ? Date.parse(p.valid_to) : FAR;
  return [from, to];
}

const listeners = [];
export function onChange(fn) { listeners.push(fn); }
export function changed(what) { for (const fn of listeners) fn(what); }
