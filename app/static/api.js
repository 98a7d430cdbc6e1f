// HTTP for the page: fetch() with the optional API key, error messages, and the job event stream.
//
// The event stream is read with fetch() rather than EventSource, because EventSource cannot send an
// Authorization header: with an API key set, the key would otherwise have to travel in the URL (where logs
// and browser history keep it). fetch() sends the same `Authorization: Bearer` as every other call, and
// `Last-Event-ID` when it reconnects, so a dropped stream resumes where it stopped.

export const KEY_STORAGE = "stylewave.apiKey";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function apiKey() {
  return localStorage.getItem(KEY_STORAGE) || "";
}

export function authHeaders() {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}` } : {};
}

/** FastAPI's 422 `detail` is a list of {loc, msg}: render each as "field: msg". */
export function describeDetail(detail) {
  if (Array.isArray(detail)) {
    return detail
      .map((item) => {
        const loc = (item.loc || []).filter((part) => !["body", "query", "header", "path"].includes(part));
        const msg = String(item.msg || "invalid").replace(/^Value error, /, "");
        const field = loc.join(".");
        // The API may already name the field in its message; don't say it twice.
        return field && !msg.startsWith(`${field}:`) ? `${field}: ${msg}` : msg;
      })
      .join("\n");
  }
  if (typeof detail === "string") return detail;
  return JSON.stringify(detail);
}

async function errorOf(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body && body.detail !== undefined) message = describeDetail(body.detail);
  } catch {
    // not JSON: keep the status line
  }
  if (response.status === 401) message += " (enter an API key under “API key” at the top of the page)";
  const retry = response.headers.get("Retry-After");
  if (response.status === 429 && retry) message += ` (retry in ${retry} s)`;
  return new ApiError(response.status, message);
}

/** fetch() a path of the API; a non-2xx answer throws an ApiError carrying the API's own message. */
export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  } catch (err) {
    throw new ApiError(0, `the service cannot be reached (${err.message})`);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function apiJson(path, options = {}) {
  return (await api(path, options)).json();
}

/** An object URL for an image (or any blob) of the API: <img src> cannot send the API key. */
export async function blobUrl(path) {
  const response = await api(path);
  return URL.createObjectURL(await response.blob());
}

// ---- the event stream (W3C server-sent events over fetch) ---------------------------------------------------

/** Parse a text/event-stream body into {id, event, data} objects, as the W3C spec does. */
async function* parseEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let event = { id: "", event: "message", data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (;;) {
      const end = buffer.search(/\r\n|\r|\n/);
      // A trailing "\r" may be the first half of a "\r\n" still on its way.
      if (end < 0 || (end === buffer.length - 1 && buffer[end] === "\r")) break;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + (buffer.startsWith("\r\n", end) ? 2 : 1));
      if (line === "") {
        if (event.data.length) yield { id: event.id, event: event.event, data: event.data.join("\n") };
        event = { id: event.id, event: "message", data: [] };
      } else if (!line.startsWith(":")) {
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let val = colon < 0 ? "" : line.slice(colon + 1);
        if (val.startsWith(" ")) val = val.slice(1);
        if (field === "data") event.data.push(val);
        else if (field === "event") event.event = val;
        else if (field === "id") event.id = val;
      }
    }
  }
}

/**
 * Follow a job over its event stream until `done`; `onEvent({event, data})` sees every event (data parsed).
 * A dropped stream is reopened with `Last-Event-ID` (after 0.5, 1, 2 … 8 s); `onReconnect(attempt)` is told.
 * Resolves with the final record, or null when `signal` aborts. A 4xx (job gone, key refused) rejects.
 */
export async function followJob(jobId, { onEvent, onReconnect, signal } = {}) {
  let lastId = null;
  let failures = 0;
  while (!signal?.aborted) {
    try {
      const headers = { Accept: "text/event-stream", ...authHeaders() };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const response = await fetch(`v1/jobs/${jobId}/events`, { headers, signal, cache: "no-store" });
      if (!response.ok) {
        const err = await errorOf(response);
        if (response.status < 500) throw err;
        throw new Error(err.message); // 5xx: worth another try
      }
      for await (const raw of parseEvents(response.body)) {
        if (raw.id) lastId = raw.id;
        failures = 0;
        const data = JSON.parse(raw.data);
        onEvent?.({ event: raw.event, data });
        if (raw.event === "done") return data;
      }
    } catch (err) {
      if (signal?.aborted) return null;
      if (err instanceof ApiError) throw err;
    }
    failures += 1;
    onReconnect?.(failures);
    await new Promise((resolve) => setTimeout(resolve, Math.min(500 * 2 ** (failures - 1), 8000)));
  }
  return null;
}
