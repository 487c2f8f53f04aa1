// The inbox: notifications to acknowledge or object to, messages to acknowledge, incidents
// awaiting an account, each with its deadline counting down.
import { h, table, utc, countdown, announce } from "../util.js";
import { post, declPath } from "../api.js";
import { state } from "../state.js";

const ACK = "To acknowledge is to confirm receipt and raise no objection; it never grants permission or guarantees safety.";

function due(deadline) {
  const t = typeof deadline === "number" ? deadline : Date.parse(deadline);
  return h("span", {}, utc(t), h("br"), h("span", { class: "countdown", "data-deadline": String(t) }, countdown(t, Date.now())));
}

async function act(button, work, done) {
  button.disabled = true;
  const status = button.closest("td").querySelector(".status") || button.closest("td").appendChild(h("span", { class: "status", role: "status" }));
  try {
    const text = await work();
    status.textContent = text;
    announce(text);
    await done();
  } catch (e) {
    status.textContent = e.message;
    status.classList.add("error");
    button.disabled = false;
  }
}

export function renderInbox(panel, actions) {
  panel.replaceChildren();
  const { clearance, messages, incidents } = state.inbox;
  panel.append(h("p", { class: "note" }, ACK));
  panel.append(table("Notifications awaiting your answer", ["Declaration", "Reasons", "Answer by", "Your answer"],
    clearance.map((n) => {
      const d = n.declaration, path = declPath(d.party, d.id);
      const reason = h("textarea", { id: `why-${d.party}-${d.id}`, rows: "2", maxlength: "2000", required: true });
      const objectForm = h("form", { class: "object", hidden: true },
        h("label", { for: reason.id }, `Why you object to ${d.id}`), reason,
        h("button", { type: "submit" }, "Send objection"));
      objectForm.addEventListener("submit", (ev) => {
        ev.preventDefault();
        if (!reason.value.trim()) { reason.focus(); return; }
        act(ev.submitter || objectForm.querySelector("button"), async () => {
          await post(`${path}/object`, { reason: reason.value.trim(), version: d.version });
          return `Objection to ${d.party}/${d.id} sent.`;
        }, actions.reload);
      });
      return {
        attrs: { "data-key": `${d.party}/${d.id}` },
        cells: [
          h("button", { type: "button", class: "link", "aria-label": `Show ${d.id} of ${d.party} on the map`, onclick: () => actions.showDecl(`${d.party}/${d.id}`) }, `${d.party}/${d.id}`),
          `${n.kind}: ${n.reasons.join(", ")}${n.late ? " (late)" : ""}`,
          due(n.deadline_s * 1000),
          h("div", { class: "actions" },
            h("button", { type: "button", "aria-label": `Acknowledge ${d.party}/${d.id}`, onclick: (ev) => act(ev.currentTarget, async () => {
              await post(`${path}/acknowledge`, { version: d.version });
              return `Acknowledged ${d.party}/${d.id}.`;
            }, actions.reload) }, "Acknowledge"),
            h("button", { type: "button", "aria-label": `Object to ${d.party}/${d.id}`, "aria-expanded": "false", onclick: (ev) => {
              objectForm.hidden = !objectForm.hidden;
              ev.currentTarget.setAttribute("aria-expanded", String(!objectForm.hidden));
              if (!objectForm.hidden) reason.focus();
            } }, "Object…"),
            objectForm),
        ],
      };
    }), "Nothing awaits your answer."));
  panel.append(table("Messages to acknowledge", ["From", "Message", "Acknowledge by", ""],
    messages.map((m) => ({
      cells: [m.from, m.text, due(m.deadline),
        h("button", { type: "button", "aria-label": `Acknowledge the message from ${m.from}`, onclick: (ev) => act(ev.currentTarget, async () => {
          await post(`/v1/messages/${encodeURIComponent(m.message)}/acknowledge`, {});
          return `Message from ${m.from} acknowledged.`;
        }, actions.reload) }, "Acknowledge")],
    })), "No messages await you."));
  panel.append(table("Incidents awaiting your account", ["Filed by", "Category", "At (UTC)", "Account due", ""],
    incidents.map((i) => {
      const text = h("textarea", { id: `acct-${i.incident}`, rows: "2", required: true });
      const form = h("form", {}, h("label", { for: text.id }, "Your account"), text, h("button", { type: "submit" }, "Send account"));
      form.addEventListener("submit", (ev) => {
        ev.preventDefault();
        if (!text.value.trim()) { text.focus(); return; }
        act(form.querySelector("button"), async () => {
          await post(`/v1/incidents/${encodeURIComponent(i.incident)}/accounts`, { text: text.value.trim() });
          return "Account sent.";
        }, actions.reload);
      });
      return { cells: [i.filer, i.category, utc(Date.parse(i.at)), due(i.deadline), form] };
    }), "No incidents await your account."));
}

/** Refresh every countdown on the page (called each second). */
export function tick() {
  const now = Date.now();
  for (const el of document.querySelectorAll("[data-deadline]")) {
    const text = countdown(Number(el.dataset.deadline), now);
    if (el.textContent !== text) el.textContent = text;
  }
}
