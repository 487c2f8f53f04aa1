// The API client: the party's token lives in sessionStorage (this tab only) and travels in
// the Authorization header, never in a URL.

const KEY = "deconflict.token";

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (t) => sessionStorage.setItem(KEY, t),
  clear: () => sessionStorage.removeItem(KEY),
};

export async function api(method, path, body = undefined, headers = {}) {
  const init = { method, headers: { Authorization: `Bearer ${token.get()}`, ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, "unreachable", "The service did not answer; check the connection and try again.");
  }
  const text = await res.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch { /* not JSON */ }
  if (!res.ok) {
    const err = doc && doc.error;
    throw new ApiError(res.status, err ? err.code : "http_" + res.status,
      err ? err.message : `The service answered ${res.status} ${res.statusText}.`);
  }
  return { doc, headers: res.headers, status: res.status };
}

export const get = async (path) => (await api("GET", path)).doc;
export const post = async (path, body, headers) => (await api("POST", path, body, headers)).doc;

/** Every page of a listing that pages with `next`. */
export async function all(path, key = "items") {
  const out = [];
  let after = null;
  for (let i = 0; i < 200; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const doc = await get(after ? `${path}${sep}after=${encodeURIComponent(after)}` : path);
    out.push(...doc[key]);
    if (!doc.next) break;
    after = doc.next;
  }
  return out;
}

export function declPath(party, id) {
  return `/v1/declarations/${encodeURIComponent(party)}/${id.split("/").map(encodeURIComponent).join("/")}`;
}
