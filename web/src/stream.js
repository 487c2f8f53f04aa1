// The party's event stream (GET /v1/events/stream, Server-Sent Events) read with fetch,
// so that the token goes in the Authorization header: EventSource cannot set headers.
// Reconnects after a drop with Last-Event-ID, so nothing is missed and nothing comes twice.
import { token } from "./api.js";

export class Stream {
  constructor(lastId, onEvent, onState) {
    this.last = lastId;
    this.onEvent = onEvent;
    this.onState = onState;
    this.stopped = false;
    this.retryMs = 2000;
    this.controller = null;
  }

  start() { this.loop(); return this; }

  stop() {
    this.stopped = true;
    if (this.controller) this.controller.abort();
  }

  async loop() {
    while (!this.stopped) {
      try {
        await this.once();
      } catch (e) {
        if (this.stopped) return;
        if (e && e.status === 401) { this.onState("refused"); return; }
      }
      if (this.stopped) return;
      this.onState("reconnecting");
      await new Promise((r) => setTimeout(r, this.retryMs));
    }
  }

  async once() {
    this.controller = new AbortController();
    const headers = { Authorization: `Bearer ${token.get()}`, Accept: "text/event-stream" };
    if (this.last !== null) headers["Last-Event-ID"] = String(this.last);
    const res = await fetch("/v1/events/stream", { headers, signal: this.controller.signal, cache: "no-store" });
    if (!res.ok) throw Object.assign(new Error("stream refused"), { status: res.status });
    this.onState("live");
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buf += value.replace(/\r\n?/g, "\n");
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        this.dispatch(block);
      }
    }
  }

  dispatch(block) {
    let id = null, type = "message";
    const data = [];
    for (const line of block.split("\n")) {
      if (!line || line.startsWith(":")) continue;
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "id") id = value;
      else if (field === "event") type = value;
      else if (field === "data") data.push(value);
      else if (field === "retry" && /^\d+$/.test(value)) this.retryMs = Number(value);
    }
    if (id !== null) this.last = Number(id);
    if (!data.length) return;
    let payload;
    try { payload = JSON.parse(data.join("\n")); } catch { return; }
    this.onEvent(type, payload, id === null ? null : Number(id));
  }
}
