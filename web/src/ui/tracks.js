// The Tracks table: every unit whose recent reports you may see (GET /v1/tracks: yours,
// and another party's while an open alert that involves you names it), with its last
// report. Choosing one moves the map and the slider to that report.
import { h, table, utc } from "../util.js";
import { state } from "../state.js";

const fixed = (x, n) => (x === null || x === undefined ? "—" : Number(x).toFixed(n));

export function renderTracks(panel, actions) {
  panel.replaceChildren();
  const me = state.me?.party;
  const rows = (state.tracks || []).map((tr) => {
    const name = `${tr.party}/${tr.unit}`;
    const last = tr.reports[tr.reports.length - 1];
    const own = tr.party === me;
    return {
      attrs: { "data-unit": name, class: own ? "own" : "other" },
      cells: [
        h("button", { type: "button", class: "link", "aria-label": `Show unit ${name} at its last report`, onclick: () => actions.showUnit(tr) }, name),
        own ? "yours" : "in an alert with you",
        utc(last.t),
        `${fixed(last.lat, 5)}, ${fixed(last.lon, 5)}`,
        last.speed_mps === null || last.speed_mps === undefined ? "—" : `${fixed(last.speed_mps, 1)} m/s`,
        String(tr.reports.length),
      ],
    };
  });
  panel.append(table(
    "Live units you may see: their last report in the last 10 minutes",
    ["Unit", "Whose", "Last report (UTC)", "Lat, lon", "Speed", "Reports"],
    rows, "No live units: none of yours reported in the last 10 minutes, and no open alert names another party's.",
  ));
  panel.append(h("p", { class: "note" },
    "Another party's unit is shown only while an open alert that involves you names it, from the alert's opening on. The map draws each track up to the time shown."));
}
