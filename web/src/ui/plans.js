// The Plans and Conflicts tables: everything the map shows, readable and keyboard-usable.
import { h, table, utc, metres } from "../util.js";
import { keyOf, spanOf, state } from "../state.js";

function windowOf(d) {
  let lo = Infinity, hi = -Infinity;
  for (const f of d.features) {
    const [a, b] = spanOf(f);
    lo = Math.min(lo, a); hi = Math.max(hi, b);
  }
  return Number.isFinite(lo) || Number.isFinite(hi) ? [lo, hi] : [null, null];
}

function clearanceDetail(d) {
  const c = d.clearance || {};
  const box = h("div", { class: "detail", id: "plan-detail", tabindex: "-1", "aria-live": "polite" },
    h("h3", {}, `${d.party} / ${d.id}`),
    h("p", {}, `${d.kind}, version ${d.version}, state ${d.state}${c.late ? ", submitted late" : ""}. `,
      d.whole ? "Shown whole." : "Only the portions that conflict with your plans are shown."));
  if (c.notified) {
    box.append(table("Notified parties", ["Party", "Deadline (UTC)", "Answer"],
      c.notified.map((n) => ({ cells: [n.party, utc(Date.parse(n.deadline)), n.answer ? n.answer : (n.escalated ? "none: escalated" : "awaited")] })),
      "Nobody was notified."));
  }
  if (c.responses && c.responses.length) {
    box.append(table("Answers", ["Party", "Answer", "Reason", "At (UTC)"],
      c.responses.map((r) => ({ cells: [r.party, r.answer, r.reason || "—", utc(Date.parse(r.at))] })), ""));
  }
  if (c.your_notification) {
    const n = c.your_notification;
    box.append(h("p", {}, `You were notified: ${n.reasons.join(", ")}; answer by ${utc(Date.parse(n.deadline))}.`));
  }
  if (c.your_answer) box.append(h("p", {}, `You answered: ${c.your_answer.answer}${c.your_answer.reason ? ` (${c.your_answer.reason})` : ""}.`));
  return box;
}

export function renderPlans(panel, actions) {
  panel.replaceChildren();
  if (state.me?.kind === "operator") {
    panel.append(h("p", { class: "note" }, "The operator sees clearance metadata, never the geometry of a party's plans; sign in with a party's token to see its map."));
  }
  const rows = [...state.decls.values()].sort((a, b) => (b.own - a.own) || a.party.localeCompare(b.party) || a.id.localeCompare(b.id));
  const counts = new Map();
  for (const c of state.conflicts) {
    for (const k of [keyOf(c.party_a, c.a), keyOf(c.party_b, c.b)]) counts.set(k, (counts.get(k) || 0) + 1);
  }
  panel.append(table(
    "Declarations you may see: your own, and the parts of others' shown to you",
    ["Declaration (party)", "Kind", "State", "From – to (UTC)", "Conflicts", "Seen as"],
    rows.map((d) => {
      const key = keyOf(d.party, d.id);
      const [lo, hi] = windowOf(d);
      return {
        attrs: { "data-key": key, class: d.own ? "own" : "other" },
        cells: [
          h("span", {}, h("button", { type: "button", class: "link", "aria-label": `Show ${d.id} of ${d.party} on the map`, onclick: () => actions.showDecl(key) }, d.id), h("br"), h("small", {}, d.party)),
          d.kind, d.state, h("span", { class: "when" }, utc(lo), h("br"), utc(hi)), String(counts.get(key) || 0), d.access,
        ],
      };
    }),
    "No declarations yet.",
  ));
  const sel = state.selectedKeys && [...state.selectedKeys][0];
  if (sel && state.decls.has(sel)) panel.append(clearanceDetail(state.decls.get(sel)));
}

export function renderConflicts(panel, actions) {
  panel.replaceChildren();
  const me = state.me?.party;
  panel.append(table(
    "Conflicts you may know of (SPEC section 3: within the separation minima)",
    ["When (UTC)", "Yours", "Theirs", "Closest", "Where (lon, lat)"],
    state.conflicts.map((c, n) => {
      const mineA = c.party_a === me;
      const ours = mineA ? c.a : c.party_b === me ? c.b : `${c.party_a}/${c.a}`;
      const theirs = mineA ? `${c.party_b}/${c.b}` : c.party_b === me ? `${c.party_a}/${c.a}` : `${c.party_b}/${c.b}`;
      return {
        attrs: { "data-conflict": String(n) },
        cells: [
          h("button", { type: "button", class: "link", "aria-label": `Show the conflict of ${ours} with ${theirs} on the map at its start`, onclick: () => actions.showConflict(c) },
            `${utc(Date.parse(c.start))} – ${utc(Date.parse(c.end)).slice(11)}`),
          ours, theirs, metres(c.min_distance_m), `${c.at[0].toFixed(4)}, ${c.at[1].toFixed(4)}`,
        ],
      };
    }),
    "No conflicts.",
  ));
}
