// The operator's web map: sign in with a party token, then plans, conflicts, the inbox,
// alerts and a draft movement on an offline map, each also in a table, kept current by the
// party's event stream.
import * as maplibregl from "maplibre-gl";
import "./app.css";
import { ApiError, all, declPath, get, token } from "./api.js";
import { Stream } from "./stream.js";
import { basemapStyle, ATTRIBUTION } from "./basemap.js";
import { PlaceLabels } from "./labels.js";
import { LAYERS } from "./layers/index.js";
import { FAR, keyOf, spanOf, state } from "./state.js";
import { announce, bounds, fromLocalInput, h, toLocalInput, utc } from "./util.js";
import { renderConflicts, renderPlans } from "./ui/plans.js";
import { renderInbox, tick } from "./ui/inbox.js";
import { renderAlerts } from "./ui/alerts.js";
import { renderTracks } from "./ui/tracks.js";
import { tracks as tracksLayer } from "./layers/tracks.js";
import { Draft } from "./ui/draft.js";

const $ = (id) => document.getElementById(id);
let map = null, labels = null, stream = null, draft = null, playing = null, reloadTimer = null, tracksTimer = null;
const view = {
  ready: false,
  project: (lonLat) => { const p = map.project(lonLat); return [p.x, p.y]; },
  draft: () => state.draft.features[0]?.geometry.coordinates ?? null,
  fitDraft: () => actions.fitDraft(),
};
window.deconflict = view; // read by the browser tests: when the map has drawn, what it shows

// -- sign in -----------------------------------------------------------------------------

async function signIn(t) {
  token.set(t);
  try {
    state.me = await get("/v1/me");
  } catch (e) {
    token.clear();
    throw e;
  }
  $("signin").hidden = true;
  $("app").hidden = false;
  $("signout").hidden = false;
  $("who").textContent = `${state.me.party} (${state.me.kind})`;
  // The sign-in button is hidden now: move focus to the top, so Tab reaches the skip link.
  document.body.tabIndex = -1;
  document.body.focus();
  document.body.removeAttribute("tabindex");
  await start();
}

function signOut(message = "") {
  if (stream) stream.stop();
  sessionStorage.clear();
  if (message) sessionStorage.setItem("deconflict.message", message);
  location.reload();
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const t = $("token").value.trim();
  $("signin-error").textContent = "";
  if (!t) return;
  try {
    await signIn(t);
    $("token").value = "";
  } catch (e) {
    $("signin-error").textContent = e.status === 401 ? "That token is not valid here; check it or ask the operator for a new one." : e.message;
  }
});
$("signout").addEventListener("click", () => signOut());

// -- the map -----------------------------------------------------------------------------

async function makeMap() {
  const tileUrl = document.querySelector('meta[name="deconflict-tile-url"]').content;
  const style = await basemapStyle(tileUrl);
  map = new maplibregl.Map({
    container: "map",
    style,
    center: [38.5, 35.5],
    zoom: 5,
    attributionControl: { compact: false, customAttribution: ATTRIBUTION },
    canvasContextAttributes: { preserveDrawingBuffer: true },
    dragRotate: false,
    pitchWithRotate: false,
    maxPitch: 0,
  });
  map.touchZoomRotate.disableRotation();
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-left");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-left");
  await new Promise((resolve) => map.once("load", resolve));
  for (const layer of LAYERS) layer.add(map);
  labels = new PlaceLabels(map, $("labels"));
  labels.units = () => (map.getLayoutProperty("track-last", "visibility") === "none" ? [] : tracksLayer.shown);
  await labels.load();
  const toggles = $("layer-toggles");
  for (const layer of LAYERS) {
    const box = h("input", { type: "checkbox", id: `layer-${layer.id}`, checked: true });
    box.addEventListener("change", () => {
      for (const id of layer.layerIds) map.setLayoutProperty(id, "visibility", box.checked ? "visible" : "none");
      layer.time(map, state.time.t);
    });
    toggles.append(h("label", { class: "check" }, box, ` ${layer.title}`));
  }
  map.on("click", (ev) => {
    if (draft && draft.click(ev.lngLat)) return;
    const hit = map.queryRenderedFeatures(ev.point, { layers: ["decl-route", "decl-point", "decl-site", "decl-zone"] })[0];
    if (hit) showDecl(hit.properties.key, false);
  });
  for (const id of ["decl-route", "decl-point", "conflict-at"]) {
    map.on("mouseenter", id, () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", id, () => { map.getCanvas().style.cursor = draft?.drawing ? "crosshair" : ""; });
  }
  map.on("idle", () => {
    view.idle = (view.idle || 0) + 1;
    view.places = labels.shown.length;
    document.body.dataset.idle = String(view.idle); // tests wait on DOM attributes (the CSP forbids eval)
  });
}

function redrawLayers() {
  if (!map) return;
  for (const layer of LAYERS) layer.update(map, state);
  for (const layer of LAYERS) layer.time(map, state.time.t);
}

function fit(b) {
  if (!b || !map) return;
  const pad = Math.min(80, map.getContainer().clientWidth / 8);
  if (b[0][0] === b[1][0] && b[0][1] === b[1][1]) map.flyTo({ center: b[0], zoom: Math.max(map.getZoom(), 11) });
  else map.fitBounds(b, { padding: pad, maxZoom: 13, duration: 400 });
}

// -- actions shared by the panels ----------------------------------------------------

function showDecl(key, zoom = true) {
  const d = state.decls.get(key);
  state.selectedKeys = new Set([key]);
  if (d && zoom) {
    let b = null;
    for (const f of d.features) b = bounds(f.geometry.coordinates, b);
    fit(b);
    const [t0] = d.features.length ? spanOf(d.features[0]) : [null];
    if (t0 !== null && Number.isFinite(t0) && Math.abs(t0) < FAR) setTime(t0, true);
  }
  redrawLayers();
  selectTab("plans");
  renderPlans($("panel-plans"), actions);
  $("plan-detail")?.focus();
}

function showConflict(c) {
  map.flyTo({ center: c.at, zoom: Math.max(map.getZoom(), 11), duration: 400 });
  setTime(Date.parse(c.start), true);
  announce(`Conflict of ${c.party_a}/${c.a} with ${c.party_b}/${c.b} from ${utc(Date.parse(c.start))}.`);
}

function selectAlert(id) {
  state.selectedAlert = id;
  const a = state.alerts.get(id);
  if (a) {
    setTime(Date.parse(a.cpa_time || a.time), true);
    let b = null;
    for (const ref of a.declarations) {
      const d = state.decls.get(ref);
      if (d) for (const f of d.features) b = bounds(f.geometry.coordinates, b);
    }
    if (b) fit(b);
    state.selectedKeys = new Set(a.declarations);
  }
  redrawLayers();
  renderAlerts($("panel-alerts"), actions);
  $("alert-detail")?.focus();
}

function showUnit(tr) {
  const last = tr.reports[tr.reports.length - 1];
  map.flyTo({ center: [last.lon, last.lat], zoom: Math.max(map.getZoom(), 12), duration: 400 });
  setTime(last.t, true);
  announce(`Unit ${tr.party}/${tr.unit}: last report at ${utc(last.t)}.`);
}

const actions = {
  showDecl, showConflict, selectAlert, showUnit,
  reload: () => loadAll(),
  alertsChanged: () => { renderAlerts($("panel-alerts"), actions); counts(); redrawLayers(); },
  draftChanged: () => redrawLayers(),
  fitDraft: () => { let b = null; for (const f of state.draft.features) b = bounds(f.geometry.coordinates, b); fit(b); },
  drawMode: (on) => { map.getCanvas().style.cursor = on ? "crosshair" : ""; announce(on ? "Drawing: click the map to add waypoints." : "Drawing stopped."); },
};

// -- tabs --------------------------------------------------------------------------------

const TABS = ["plans", "conflicts", "inbox", "alerts", "tracks", "draft"];
function selectTab(name, focus = false) {
  for (const t of TABS) {
    const on = t === name;
    $(`tab-${t}`).setAttribute("aria-selected", String(on));
    $(`tab-${t}`).tabIndex = on ? 0 : -1;
    $(`panel-${t}`).hidden = !on;
  }
  if (focus) $(`tab-${name}`).focus();
}
for (const t of TABS) {
  $(`tab-${t}`).addEventListener("click", () => selectTab(t));
  $(`tab-${t}`).addEventListener("keydown", (ev) => {
    const i = TABS.indexOf(t);
    const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[ev.key];
    if (next === undefined) return;
    ev.preventDefault();
    selectTab(TABS[(next + TABS.length) % TABS.length], true);
  });
}

function counts() {
  const n = (id, v) => { $(id).textContent = v ? `(${v})` : ""; };
  n("n-conflicts", state.conflicts.length);
  n("n-inbox", state.inbox.clearance.length + state.inbox.messages.length + state.inbox.incidents.length);
  n("n-tracks", state.tracks.length);
  n("n-alerts", [...state.alerts.values()].filter((a) => a.open !== false && a.event !== "close").length);
}

// -- data --------------------------------------------------------------------------------

async function pool(items, n, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  }));
  return out;
}

async function loadAll() {
  const operator = state.me.kind === "operator";
  const [own, seen, inbox, alerts] = await Promise.all([
    operator ? [] : all("/v1/declarations?scope=own&limit=500"),
    operator ? [] : all("/v1/declarations?scope=visible&limit=500"),
    get("/v1/inbox"),
    get("/v1/alerts"),
  ]);
  const items = [...own, ...seen];
  const docs = await pool(items, 6, async (it) => {
    try {
      return await get(declPath(it.declaration.party, it.declaration.id));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) return null; // withdrawn meanwhile
      throw e;
    }
  });
  const decls = new Map();
  const conflicts = new Map();
  items.forEach((it, i) => {
    const doc = docs[i];
    if (!doc) return;
    const d = doc.declaration;
    decls.set(keyOf(d.party, d.id), {
      party: d.party, id: d.id, version: d.version, kind: it.kind, state: doc.clearance.state,
      access: doc.access, whole: doc.whole, own: d.party === state.me.party,
      features: doc.features, clearance: doc.clearance, etag: doc.etag,
    });
    for (const c of doc.conflicts) conflicts.set(`${c.party_a}/${c.a}|${c.party_b}/${c.b}|${c.start}`, c);
  });
  state.decls = decls;
  state.conflicts = [...conflicts.values()].sort((a, b) => Date.parse(a.start) - Date.parse(b.start) || a.a.localeCompare(b.a));
  state.inbox = inbox;
  for (const a of alerts.alerts) state.alerts.set(a.alert, { ...state.alerts.get(a.alert), ...a });
  renderAll();
  view.loaded = (view.loaded || 0) + 1;
  document.body.dataset.loaded = String(view.loaded);
}

// Live tracks: read again on every alert event (an alert may show another party's unit, or
// stop showing it) and every TRACKS_EVERY_MS while the tab is visible; positions are not
// events of the stream (one per report would flood it), so the page polls for them.
const TRACKS_EVERY_MS = 5000;
let tracksBusy = false, tracksAgain = false;

async function loadTracks() {
  if (!state.me) return;
  if (tracksBusy) { tracksAgain = true; return; }
  tracksBusy = true;
  try {
    const doc = await get("/v1/tracks");
    state.tracks = doc.tracks.map((tr) => ({ ...tr, reports: tr.reports.map((r) => ({ ...r, t: Date.parse(r.time) })) }));
    renderTracks($("panel-tracks"), actions);
    counts();
    if (map) tracksLayer.update(map, state);
    view.tracksLoaded = (view.tracksLoaded || 0) + 1;
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 0) announce(e.message);
  } finally {
    tracksBusy = false;
    if (tracksAgain) { tracksAgain = false; loadTracks(); }
  }
}

function pollTracks() {
  clearTimeout(tracksTimer);
  tracksTimer = setTimeout(async () => {
    if (document.visibilityState === "visible") await loadTracks();
    pollTracks();
  }, TRACKS_EVERY_MS);
}
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible" && state.me) loadTracks(); });

function scheduleReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => loadAll().catch((e) => announce(e.message)), 250);
}

/** The alert events of the party's history (so a replay shows past alerts), and the id of
 * the last event, from which the stream goes on. */
async function history() {
  let after = 0;
  for (let page = 0; page < 40; page++) {
    const doc = await get(`/v1/events?after=${after}&limit=500`);
    for (const e of doc.events) if (e.type === "alert") remember(e.alert);
    if (!doc.events.length) break;
    after = doc.last;
  }
  return after;
}

function remember(line) {
  const before = state.alerts.get(line.alert) || {};
  state.alerts.set(line.alert, { ...before, ...line, open: line.event !== "close", acknowledged_by: before.acknowledged_by || {} });
}

function onEvent(type, payload) {
  view.events = (view.events || 0) + 1;
  document.body.dataset.events = String(view.events);
  if (type === "alert") {
    remember(payload.alert);
    const a = payload.alert;
    announce(`Alert ${a.event}: ${a.type.replace("_", " ")}, ${a.units.join(" and ")}.`);
    actions.alertsChanged();
    get("/v1/alerts").then((doc) => { for (const x of doc.alerts) state.alerts.set(x.alert, { ...state.alerts.get(x.alert), ...x }); actions.alertsChanged(); }).catch(() => {});
    loadTracks();
  } else if (type === "alert.acknowledged") {
    const a = state.alerts.get(payload.alert);
    if (a) { a.acknowledged_by = { ...a.acknowledged_by, [payload.by]: new Date().toISOString() }; }
    get("/v1/alerts").then((doc) => { for (const x of doc.alerts) state.alerts.set(x.alert, { ...state.alerts.get(x.alert), ...x }); actions.alertsChanged(); }).catch(() => {});
    actions.alertsChanged();
  } else {
    if (type === "response") announce(`${payload.by} answered ${payload.answer} to ${payload.declaration.id}.`);
    if (type === "notification") announce(`New notification: ${payload.declaration.party}/${payload.declaration.id}.`);
    scheduleReload();
  }
}

function renderAll() {
  renderPlans($("panel-plans"), actions);
  renderConflicts($("panel-conflicts"), actions);
  renderInbox($("panel-inbox"), actions);
  renderAlerts($("panel-alerts"), actions);
  renderTracks($("panel-tracks"), actions);
  counts();
  redrawLayers();
}

// -- time --------------------------------------------------------------------------------

function setWindow(from, to) {
  state.time.from = from; state.time.to = Math.max(to, from + 60000);
  $("t").min = String(state.time.from); $("t").max = String(state.time.to);
  $("from").value = toLocalInput(state.time.from); $("to").value = toLocalInput(state.time.to);
}

function setTime(t, widen = false) {
  if (widen && (t < state.time.from || t > state.time.to)) {
    const span = state.time.to - state.time.from;
    setWindow(Math.min(state.time.from, t - span / 10), Math.max(state.time.to, t + span / 10));
  }
  state.time.t = Math.min(Math.max(t, state.time.from), state.time.to);
  $("t").value = String(state.time.t);
  $("t").setAttribute("aria-valuetext", utc(state.time.t));
  $("t-out").textContent = utc(state.time.t);
  if (map) for (const layer of LAYERS) layer.time(map, state.time.t);
}

function defaultWindow() {
  // Movements, conflicts and alerts set the window: sites and zones hold for months.
  let lo = Infinity, hi = -Infinity;
  const take = (a, b) => {
    if (Math.abs(a) < FAR) lo = Math.min(lo, a);
    if (Math.abs(b) < FAR) hi = Math.max(hi, b);
  };
  for (const d of state.decls.values()) for (const f of d.features) if (d.kind === "movement") take(...spanOf(f));
  for (const c of state.conflicts) take(Date.parse(c.start), Date.parse(c.end));
  if (!Number.isFinite(lo)) for (const d of state.decls.values()) for (const f of d.features) take(...spanOf(f));
  for (const a of state.alerts.values()) { const t = Date.parse(a.time); lo = Math.min(lo, t); hi = Math.max(hi, t); }
  const now = Date.now();
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [now - 3600e3, now + 24 * 3600e3];
  const pad = Math.max(600e3, (hi - lo) * 0.02);
  return [lo - pad, hi + pad];
}

$("t").addEventListener("input", () => { $("follow").checked = false; setTime(Number($("t").value)); });
for (const id of ["from", "to"]) {
  $(id).addEventListener("change", () => {
    const from = fromLocalInput($("from").value), to = fromLocalInput($("to").value);
    if (from !== null && to !== null && to > from) { setWindow(from, to); setTime(state.time.t); }
  });
}
$("now").addEventListener("click", () => setTime(Date.now(), true));
$("play").addEventListener("click", () => {
  const b = $("play");
  if (playing) { clearInterval(playing); playing = null; b.textContent = "Play"; b.setAttribute("aria-pressed", "false"); return; }
  $("follow").checked = false;
  if (state.time.t >= state.time.to) setTime(state.time.from);
  b.textContent = "Pause"; b.setAttribute("aria-pressed", "true");
  playing = setInterval(() => {
    const step = (state.time.to - state.time.from) / 300;
    if (state.time.t + step > state.time.to) { setTime(state.time.to); b.click(); return; }
    setTime(state.time.t + step);
  }, 100);
});

// -- export ------------------------------------------------------------------------------

$("export").addEventListener("click", () => {
  const src = map.getCanvas(), lab = $("labels");
  const out = document.createElement("canvas");
  out.width = src.width; out.height = src.height + 28 * (window.devicePixelRatio || 1);
  const ctx = out.getContext("2d");
  const dpr = window.devicePixelRatio || 1;
  ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(src, 0, 0);
  ctx.drawImage(lab, 0, 0, src.width, src.height);
  ctx.fillStyle = "#111"; ctx.font = `${13 * dpr}px system-ui, sans-serif`; ctx.textBaseline = "middle";
  ctx.fillText(`deconflict · ${state.me.party} · map at ${utc(state.time.t)} · ${ATTRIBUTION}`, 8 * dpr, src.height + 14 * dpr);
  out.toBlob((blob) => {
    const a = h("a", { href: URL.createObjectURL(blob), download: `deconflict-${state.me.party}-${new Date(state.time.t).toISOString().slice(0, 19).replace(/:/g, "")}Z.png` });
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    announce("Screenshot exported.");
  }, "image/png");
});

// -- start -------------------------------------------------------------------------------

function linkState(s) {
  view.stream = s;
  $("link").textContent = { live: "Live", reconnecting: "Reconnecting…", refused: "Signed out: token refused" }[s] || s;
  $("link").dataset.state = s;
  if (s === "refused") signOut("Your token was refused; sign in again.");
}

async function start() {
  if (!map) await makeMap();
  draft = new Draft($("panel-draft"), actions);
  draft.render();
  const last = await history();
  await loadAll();
  const [from, to] = defaultWindow();
  setWindow(from, to);
  const now = Date.now();
  const first = state.conflicts.length ? Date.parse(state.conflicts[0].start) : from;
  setTime(now >= from && now <= to ? now : first);
  let b = null;
  for (const d of state.decls.values()) for (const f of d.features) b = bounds(f.geometry.coordinates, b);
  if (b) map.fitBounds(b, { padding: 40, maxZoom: 12, duration: 0 });
  loadTracks(); // not awaited: the page is ready without it, the table fills when it comes
  pollTracks();
  stream = new Stream(last, onEvent, linkState).start();
  view.ready = true;
  document.body.dataset.ready = "1";
}

setInterval(() => {
  $("clock").textContent = utc(Date.now());
  tick();
  if ($("follow").checked) setTime(Date.now(), true);
}, 1000);
$("clock").textContent = utc(Date.now());

$("signin-error").textContent = sessionStorage.getItem("deconflict.message") || "";
sessionStorage.removeItem("deconflict.message");
const saved = token.get();
if (saved) signIn(saved).catch(() => { $("signin").hidden = false; });
else $("token").focus();
