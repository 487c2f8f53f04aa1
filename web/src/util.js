// Small helpers: times (always UTC, ISO 8601, as the API writes them), DOM building, and
// positions along a planned route.

/** Milliseconds since the epoch of an API time, or null. */
export function ms(text) {
  if (text === null || text === undefined) return null;
  const t = Date.parse(text);
  return Number.isFinite(t) ? t : null;
}

/** "2026-05-01 09:30:00Z": seconds kept, UTC always (a cell shared across time zones). */
export function utc(t) {
  if (t === null || t === undefined || !Number.isFinite(t) || Math.abs(t) >= 8.64e15) return "open";
  return new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** A time typed as "YYYY-MM-DD HH:MM[:SS]" with "Z" or an offset (UTC when none given),
 * in ms; null when it is not one. Never the browser's locale order. */
export function fromLocalInput(value) {
  const m = /^\s*(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)\s*(Z|[+-]\d{2}:?\d{2})?\s*$/i.exec(value || "");
  if (!m) return null;
  const zone = (m[3] || "Z").toUpperCase().replace(/^([+-]\d{2})(\d{2})$/, "$1:$2");
  const t = Date.parse(`${m[1]}T${m[2]}${zone}`);
  return Number.isFinite(t) ? t : null;
}

export function toLocalInput(t) {
  return utc(t);
}

/** "in 3 h 04 min", "12 min 05 s ago": a deadline counting down. */
export function countdown(deadline, now) {
  let s = Math.round((deadline - now) / 1000);
  const past = s < 0;
  s = Math.abs(s);
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), sec = s % 60;
  const pad = (n) => String(n).padStart(2, "0");
  const text = d > 0 ? `${d} d ${pad(h)} h ${pad(m)} min`
    : h > 0 ? `${h} h ${pad(m)} min ${pad(sec)} s`
    : `${m} min ${pad(sec)} s`;
  return past ? `${text} ago` : `in ${text}`;
}

export function metres(m) {
  if (m === null || m === undefined) return "—";
  return m >= 10000 ? `${(m / 1000).toFixed(1)} km` : `${Math.round(m).toLocaleString("en")} m`;
}

/** Build an element: h("td", {class: "x"}, "text", child...). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** A table with a caption, column headers and rows of cells (strings or nodes). */
export function table(caption, columns, rows, empty) {
  const t = h("table", { class: "grid" }, h("caption", {}, caption));
  t.append(h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))));
  const body = h("tbody");
  if (!rows.length) body.append(h("tr", {}, h("td", { colspan: columns.length, class: "empty" }, empty)));
  for (const r of rows) body.append(h("tr", r.attrs || {}, r.cells.map((c) => h("td", {}, c))));
  t.append(body);
  return t;
}

const RAD = Math.PI / 180;

/** The point a fraction f along the great circle from a to b ([lon, lat]): the service
 * interpolates along the WGS84 geodesic; over the lengths of plan legs the sphere is the
 * same to within metres, which is what a map can show. */
export function along(a, b, f) {
  if (f <= 0) return a;
  if (f >= 1) return b;
  const [l1, p1] = [a[0] * RAD, a[1] * RAD], [l2, p2] = [b[0] * RAD, b[1] * RAD];
  const v1 = [Math.cos(p1) * Math.cos(l1), Math.cos(p1) * Math.sin(l1), Math.sin(p1)];
  const v2 = [Math.cos(p2) * Math.cos(l2), Math.cos(p2) * Math.sin(l2), Math.sin(p2)];
  const dot = Math.min(1, Math.max(-1, v1[0] * v2[0] + v1[1] * v2[1] + v1[2] * v2[2]));
  const w = Math.acos(dot);
  if (w < 1e-12) return a;
  const s1 = Math.sin((1 - f) * w) / Math.sin(w), s2 = Math.sin(f * w) / Math.sin(w);
  const v = [0, 1, 2].map((i) => s1 * v1[i] + s2 * v2[i]);
  return [Math.atan2(v[1], v[0]) / RAD, Math.atan2(v[2], Math.hypot(v[0], v[1])) / RAD];
}

/** Planned position of a movement feature at t (ms), or null outside its plan. */
export function plannedAt(coords, times, t) {
  if (!times || times.length !== coords.length || t < times[0] || t > times[times.length - 1]) return null;
  for (let i = 0; i < times.length - 1; i++) {
    if (t <= times[i + 1]) {
      const span = times[i + 1] - times[i];
      return along(coords[i], coords[i + 1], span > 0 ? (t - times[i]) / span : 1);
    }
  }
  return coords[coords.length - 1];
}

/** Bounds [[w, s], [e, n]] of coordinates nested at any depth, or null. */
export function bounds(coords, into = null) {
  let b = into;
  const walk = (c) => {
    if (typeof c[0] === "number") {
      if (!b) b = [[c[0], c[1]], [c[0], c[1]]];
      else {
        b[0][0] = Math.min(b[0][0], c[0]); b[0][1] = Math.min(b[0][1], c[1]);
        b[1][0] = Math.max(b[1][0], c[0]); b[1][1] = Math.max(b[1][1], c[1]);
      }
    } else c.forEach(walk);
  };
  walk(coords);
  return b;
}

export function announce(text) {
  const el = document.getElementById("announce");
  el.textContent = "";
  setTimeout(() => { el.textContent = text; }, 50);
}
