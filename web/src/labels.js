// Place names drawn on a canvas over the map, with the system font: no glyph request ever
// leaves the machine, and the canvas is composited into exported screenshots. Larger
// places win where labels would overlap. Labels of live units (`units`, set by the
// tracks layer) are drawn first and win over place names.

const MIN_RANK = [[4, 1e6], [5, 3e5], [6, 1e5], [7, 3e4], [8, 1e4], [99, 0]];

export class PlaceLabels {
  constructor(map, canvas) {
    this.map = map;
    this.canvas = canvas;
    this.places = [];
    this.pending = false;
    this.shown = [];
    /** () => [{text, at: [lon, lat], own}]: unit labels to draw above the places. */
    this.units = () => [];
    map.on("render", () => this.schedule());
    map.on("resize", () => this.schedule());
  }

  async load() {
    const res = await fetch("/ui/data/places.json");
    if (res.ok) this.places = await res.json();
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.draw(); });
  }

  draw() {
    const map = this.map, c = this.canvas;
    const box = map.getContainer();
    const w = box.clientWidth, hgt = box.clientHeight, dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(hgt * dpr)) {
      c.width = Math.round(w * dpr); c.height = Math.round(hgt * dpr);
      c.style.width = `${w}px`; c.style.height = `${hgt}px`;
    }
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    const z = map.getZoom();
    const minRank = MIN_RANK.find(([zz]) => z < zz)[1];
    const b = map.getBounds();
    const [west, south, east, north] = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()];
    ctx.textBaseline = "middle";
    const placed = [];
    this.shown = [];
    ctx.font = "600 12px system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', sans-serif";
    for (const u of this.units()) {
      const [lon, lat] = u.at;
      if (lat < south || lat > north || lon < west || lon > east) continue;
      const p = map.project(u.at);
      const tw = ctx.measureText(u.text).width;
      const r = { x0: p.x + 6, y0: p.y - 18, x1: p.x + 12 + tw, y1: p.y - 2 };
      if (placed.some((q) => r.x0 < q.x1 && r.x1 > q.x0 && r.y0 < q.y1 && r.y1 > q.y0)) continue;
      placed.push(r);
      ctx.lineWidth = 3; ctx.strokeStyle = "rgba(255,255,255,0.95)";
      ctx.strokeText(u.text, p.x + 8, p.y - 10);
      ctx.fillStyle = u.own ? "#1864ab" : "#a63c0a";
      ctx.fillText(u.text, p.x + 8, p.y - 10);
    }
    ctx.font = "12px system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', sans-serif";
    for (const [name, lon, lat, rank] of this.places) {
      if (rank < minRank) break;
      if (lat < south || lat > north || lon < west || lon > east) continue;
      const p = map.project([lon, lat]);
      const tw = ctx.measureText(name).width;
      const r = { x0: p.x - 3, y0: p.y - 8, x1: p.x + 6 + tw, y1: p.y + 8 };
      if (r.x1 > w || r.y0 < 0 || r.y1 > hgt) continue;
      if (placed.some((q) => r.x0 < q.x1 && r.x1 > q.x0 && r.y0 < q.y1 && r.y1 > q.y0)) continue;
      placed.push(r);
      this.shown.push(name);
      ctx.fillStyle = "#3b3b3b";
      ctx.beginPath(); ctx.arc(p.x, p.y, 2.5, 0, 2 * Math.PI); ctx.fill();
      ctx.lineWidth = 3; ctx.strokeStyle = "rgba(255,255,255,0.9)";
      ctx.strokeText(name, p.x + 5, p.y);
      ctx.fillStyle = "#222";
      ctx.fillText(name, p.x + 5, p.y);
      if (placed.length >= 300) break;
    }
  }
}
