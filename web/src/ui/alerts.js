// Alerts from live tracks (SPEC section 5): the ones seen since sign-in and in the event
// history, newest first; one selected shows both units, the plans it names, its closest
// approach, and can be acknowledged.
import { h, table, utc, metres, announce } from "../util.js";
import { post } from "../api.js";
import { state } from "../state.js";
import { alertPlanPositions } from "../layers/alerts.js";

const TYPES = {
  proximity: "Proximity", predicted_proximity: "Predicted proximity", deviation: "Deviation",
  intrusion: "Intrusion", stale: "Stale unit",
};

function detail(a, actions) {
  const me = state.me?.party;
  const acked = a.acknowledged_by || {};
  const box = h("div", { class: "detail", id: "alert-detail", tabindex: "-1" },
    h("h3", {}, `${TYPES[a.type] || a.type} alert ${a.alert}`),
    h("p", {}, `${a.open === false || a.event === "close" ? "Closed" : "Open"}; last ${a.event} at ${utc(Date.parse(a.time))}.`));
  box.append(h("h4", {}, "Units"), h("ul", { class: "units" }, a.units.map((u) => h("li", {}, u))));
  const facts = [];
  if (a.distance_m !== null) facts.push(`Distance ${metres(a.distance_m)}.`);
  if (a.cpa_time) facts.push(`Closest approach ${metres(a.cpa_distance_m)} at ${utc(Date.parse(a.cpa_time))}.`);
  if (facts.length) box.append(h("p", { class: "cpa" }, facts.join(" ")));
  box.append(h("h4", {}, "Plans"));
  if (!a.declarations.length) box.append(h("p", {}, "The alert names no declaration (units of two parties met; their plans are in the Plans table)."));
  const planned = alertPlanPositions(a, state.decls);
  box.append(h("ul", {}, a.declarations.map((ref) => h("li", {},
    state.decls.has(ref)
      ? h("button", { type: "button", class: "link", onclick: () => actions.showDecl(ref) }, ref)
      : `${ref} (not visible to you)`,
    planned.filter((p) => p.ref === ref).map((p) => ` · planned position at ${p.what}: ${p.at[0].toFixed(4)}, ${p.at[1].toFixed(4)}`)))));
  box.append(h("p", {}, `Acknowledged by: ${Object.keys(acked).length ? Object.entries(acked).map(([p, t]) => `${p} at ${utc(Date.parse(t))}`).join("; ") : "nobody yet"}.`));
  if (me && a.parties.includes(me) && !acked[me] && a.open !== false) {
    const b = h("button", { type: "button", id: "alert-ack" }, "Acknowledge this alert");
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        const view = await post(`/v1/alerts/${encodeURIComponent(a.alert)}/acknowledge`, {});
        state.alerts.set(a.alert, { ...a, ...view });
        announce(`Alert ${a.alert} acknowledged.`);
        actions.alertsChanged();
      } catch (e) {
        b.disabled = false;
        box.append(h("p", { class: "error", role: "alert" }, e.message));
      }
    });
    box.append(b);
  }
  return box;
}

export function renderAlerts(panel, actions) {
  panel.replaceChildren();
  const list = [...state.alerts.values()].sort((x, y) => (Number(y.open !== false) - Number(x.open !== false)) || Date.parse(y.time) - Date.parse(x.time));
  panel.append(table("Alerts involving you, open first", ["Alert", "Units", "Time (UTC)", "Distance", "Closest approach", "Status"],
    list.map((a) => ({
      attrs: { "data-alert": a.alert, class: state.selectedAlert === a.alert ? "selected" : "" },
      cells: [
        h("button", { type: "button", class: "link", "aria-label": `Show ${TYPES[a.type] || a.type} alert ${a.alert}`, onclick: () => actions.selectAlert(a.alert) }, TYPES[a.type] || a.type),
        a.units.join(", "), utc(Date.parse(a.time)), metres(a.distance_m),
        a.cpa_time ? `${metres(a.cpa_distance_m)} at ${utc(Date.parse(a.cpa_time)).slice(11)}` : "—",
        `${a.open === false || a.event === "close" ? "closed" : "open"}${state.me && a.acknowledged_by?.[state.me.party] ? ", acknowledged" : ""}`,
      ],
    })), "No alerts."));
  const sel = state.selectedAlert && state.alerts.get(state.selectedAlert);
  if (sel) panel.append(detail(sel, actions));
}
