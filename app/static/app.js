// The stylewave web page: submit jobs, follow them, show results. Plain ES module, no build step.
//
// Every request goes through fetch() with the optional API key as a Bearer header, so images (preview,
// result, plot) are fetched as blobs and shown through object URLs rather than <img src="/v1/...">.
// The page never asks for something it knows is not there yet: a 4xx answer is logged to the browser
// console, and the browser test treats console errors as failures.

const KEY_STORAGE = "stylewave.apiKey";
const POLL_MS = 400;
const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
// The worker stores a preview every PREVIEW_EVERY steps (models/style.py `preview_every`); asking
// before the first one would only earn a 409.
const PREVIEW_EVERY = 10;

// The original two-channel experiment (DESIGN.md / README), and a one-channel toy.
const PRESETS = {
  original: [
    { offset: 5, terms: [
      { fn: "sin", amplitude: 5, period: 300, phase: 0.2 },
      { fn: "cos", amplitude: 10, period: 200, phase: 0.7 },
    ] },
    { offset: 7, terms: [
      { fn: "sin", amplitude: 7, period: 200, phase: 0.7 },
      { fn: "cos", amplitude: 14, period: 300, phase: 0.2 },
    ] },
  ],
  single: [{ offset: 0, terms: [{ fn: "sin", amplitude: 1, period: 50, phase: 0 }] }],
};

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- HTTP ----------------------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function authHeaders() {
  const key = localStorage.getItem(KEY_STORAGE);
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

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, { ...options, headers: { ...authHeaders(), ...(options.headers || {}) } });
  } catch (err) {
    throw new ApiError(0, `the service cannot be reached (${err.message})`);
  }
  if (!response.ok) {
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
    throw new ApiError(response.status, message);
  }
  return response;
}

async function blobUrl(path) {
  const response = await api(path);
  return URL.createObjectURL(await response.blob());
}

function setImage(img, url) {
  const old = img.dataset.objectUrl;
  img.src = url;
  img.dataset.objectUrl = url;
  if (old) URL.revokeObjectURL(old);
}

// ---- one job's view: status line, progress bar, cancel button, error region ------------------------------

class JobView {
  constructor(prefix) {
    this.box = $(`${prefix}-job`);
    this.status = $(`${prefix}-status`);
    this.progress = $(`${prefix}-progress`);
    this.cancel = $(`${prefix}-cancel`);
    this.error = $(`${prefix}-error`);
    this.jobId = null;
    this.cancel.addEventListener("click", () => this.requestCancel());
  }

  showError(message) {
    this.error.textContent = message; // the region stays in the page so screen readers announce changes
  }

  /** An error outside the job (refused submission, network): the message, and no stale progress. */
  fail(message) {
    this.showError(message);
    if (!this.jobId) this.box.hidden = true;
    this.cancel.hidden = true;
  }

  start() {
    this.jobId = null;
    this.showError("");
    this.box.hidden = false;
    this.progress.removeAttribute("value"); // indeterminate until the job reports progress
    this.status.textContent = "Submitting…";
  }

  show(job) {
    const pct = Math.round((job.progress || 0) * 100);
    if (job.status === "queued") {
      this.progress.removeAttribute("value");
      const pos = job.queue_position ? `, position ${job.queue_position} in the queue` : "";
      this.status.textContent = `Queued${pos}.`;
    } else if (job.status === "running") {
      this.progress.value = job.progress || 0;
      this.status.textContent = `Running: ${pct}%${job.message ? ` (${job.message})` : ""}.`;
    } else if (job.status === "succeeded") {
      this.progress.value = 1;
      const secs = job.started_at && job.finished_at ? ` in ${(job.finished_at - job.started_at).toFixed(1)} s` : "";
      this.status.textContent = `Done${secs}.`;
    } else if (job.status === "canceled") {
      this.status.textContent = "Canceled.";
    } else if (job.status === "failed") {
      this.status.textContent = "Failed.";
      const err = job.error || {};
      this.showError(`The job failed (${err.code || "error"}): ${err.message || "no message"}`);
    }
    this.progress.setAttribute("aria-valuetext", this.status.textContent);
    this.cancel.hidden = TERMINAL.has(job.status);
  }

  async requestCancel() {
    if (!this.jobId) return;
    try {
      const job = await (await api(`v1/jobs/${this.jobId}`, { method: "DELETE" })).json();
      this.show(job);
    } catch (err) {
      this.showError(err.message);
    }
  }

  /** Poll the job until it finishes; `whileRunning(job)` runs on each running poll. */
  async follow(job, whileRunning) {
    this.jobId = job.id;
    for (;;) {
      this.show(job);
      if (TERMINAL.has(job.status)) return job;
      if (job.status === "running" && whileRunning) await whileRunning(job);
      await sleep(POLL_MS);
      if (this.jobId !== job.id) return null; // a newer job took over this view
      job = await (await api(`v1/jobs/${job.id}`)).json();
    }
  }
}

// ---- style transfer ----------------------------------------------------------------------------------------

const STYLE_FIELDS = [
  "size", "iterations", "content_weight", "style_weight", "mode", "content_layers", "style_layers", "optimizer",
  "init", "scales", "style_blend", "tv_weight", "pooling", "style_scale", "seed", "sweep_style_weights",
  "sweep_style_layers",
];

function showThumbs(input, box, label) {
  for (const img of box.querySelectorAll("img")) URL.revokeObjectURL(img.src);
  box.replaceChildren();
  for (const file of input.files) {
    const img = document.createElement("img");
    img.src = URL.createObjectURL(file);
    img.alt = `${label}: ${file.name}`;
    img.className = "thumb";
    box.append(img);
  }
}

function styleForm() {
  const form = new FormData();
  const content = $("content").files[0];
  if (content) form.append("content", content);
  for (const file of $("style").files) form.append("style", file);
  for (const name of STYLE_FIELDS) {
    const value = $(name).value.trim();
    if (value !== "") form.append(name, value);
  }
  if ($("preserve_colors").checked) form.append("preserve_colors", "true");
  return form;
}

/** The step the worker last reported, from its message "step N/T"; null when there is none. */
function reportedStep(job) {
  const match = /step (\d+)\s*\/\s*(\d+)/.exec(job.message || "");
  return match ? Number(match[1]) : null;
}

async function stylize(view, event) {
  event.preventDefault();
  const button = $("stylize");
  button.disabled = true;
  view.start();
  $("style-preview-fig").hidden = true;
  $("style-result-fig").hidden = true;
  let previewStep = 0;
  try {
    const submitted = await (await api("v1/style-transfers", { method: "POST", body: styleForm() })).json();
    const job = await view.follow(submitted, async (running) => {
      const step = reportedStep(running);
      if (step === null || step < PREVIEW_EVERY || step === previewStep) return;
      previewStep = step;
      const response = await api(`v1/jobs/${running.id}/preview`);
      if (response.status !== 200) return; // 204: nothing yet
      setImage($("style-preview"), URL.createObjectURL(await response.blob()));
      $("style-preview-fig").hidden = false;
    });
    if (job && job.status === "succeeded") {
      const url = await blobUrl(`v1/jobs/${job.id}/result`);
      setImage($("style-result"), url);
      $("style-download").href = url;
      $("style-download").download = `stylewave-${job.id.slice(0, 8)}.png`;
      $("style-result-fig").hidden = false;
      $("style-preview-fig").hidden = true;
    }
  } catch (err) {
    view.fail(err.message);
  } finally {
    button.disabled = false;
  }
}

// ---- wave forecast -----------------------------------------------------------------------------------------

function fillPreset() {
  $("waves-json").value = JSON.stringify(PRESETS[$("wave-preset").value], null, 2);
}

function numberField(id) {
  const raw = $(id).value.trim();
  return raw === "" ? undefined : Number(raw);
}

/** The request body: the JSON box holds a list of channels, or a whole body with `waves` or `series`. */
function forecastBody() {
  let parsed;
  try {
    parsed = JSON.parse($("waves-json").value);
  } catch (err) {
    throw new ApiError(0, `Waves (JSON): ${err.message}`);
  }
  const body = Array.isArray(parsed) ? { waves: parsed } : { ...parsed };
  if (body.series === undefined && numberField("history") !== undefined) body.history = numberField("history");
  if (numberField("horizon") !== undefined) body.horizon = numberField("horizon");
  body.model = $("model").value;
  return body;
}

function fmt(x) {
  return typeof x === "number" ? (Math.abs(x) >= 1e4 || (x !== 0 && Math.abs(x) < 1e-3) ? x.toExponential(3) : x.toFixed(4)) : String(x);
}

function showMetrics(metrics) {
  const table = $("wave-metrics");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  const backtest = metrics.backtest || {};
  const rows = Object.entries(backtest).sort((a, b) => a[1].rmse - b[1].rmse);
  for (const [name, score] of rows) {
    const tr = document.createElement("tr");
    if (name === metrics.model) tr.className = "chosen";
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = name === metrics.model ? `${name} (used)` : name;
    tr.append(th);
    for (const key of ["rmse", "mae"]) {
      const td = document.createElement("td");
      td.textContent = score[key] === undefined ? "" : fmt(score[key]);
      tr.append(td);
    }
    body.append(tr);
  }
  if (metrics.forecast_rmse !== undefined) {
    const tr = document.createElement("tr");
    tr.innerHTML = '<th scope="row"></th><td></td><td></td>';
    tr.children[0].textContent = `forecast vs truth (${metrics.model})`;
    tr.children[1].textContent = fmt(metrics.forecast_rmse);
    body.append(tr);
  }
  table.hidden = body.children.length === 0;
}

async function forecast(view, event) {
  event.preventDefault();
  const button = $("forecast");
  button.disabled = true;
  view.start();
  $("wave-plot-fig").hidden = true;
  $("wave-metrics").hidden = true;
  try {
    const body = forecastBody();
    const submitted = await (await api("v1/wave-forecasts", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    })).json();
    const job = await view.follow(submitted);
    if (job && job.status === "succeeded") {
      const result = await (await api(`v1/jobs/${job.id}/result`)).json();
      showMetrics(result.metrics || job.metrics || {});
      const json = new Blob([JSON.stringify(result, null, 2)], { type: "application/json" });
      const link = $("wave-download");
      if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
      link.href = URL.createObjectURL(json);
      setImage($("wave-plot"), await blobUrl(`v1/jobs/${job.id}/plot`));
      $("wave-plot-fig").hidden = false;
    }
  } catch (err) {
    view.fail(err.message);
  } finally {
    button.disabled = false;
  }
}

// ---- defaults from the OpenAPI schema, the API key, wiring -------------------------------------------------

/** Show the service's own defaults as placeholders, so the page never drifts from the API. */
async function loadDefaults() {
  try {
    const spec = await (await fetch("openapi.json")).json();
    const props = spec.components.schemas.StyleTransferParams.properties;
    for (const [name, prop] of Object.entries(props)) {
      const input = $(name);
      if (!input || input.tagName !== "INPUT" || input.type === "checkbox") continue;
      if (prop.default !== undefined && prop.default !== null && input.value === "") {
        input.placeholder = `default ${prop.default}`;
      }
      if (prop.description && !input.title) input.title = prop.description;
    }
  } catch {
    // the placeholders are a convenience; the page works without them
  }
}

function setupKey() {
  const input = $("api-key");
  input.value = localStorage.getItem(KEY_STORAGE) || "";
  if (input.value) $("key-box").open = true;
  input.addEventListener("change", () => {
    const key = input.value.trim();
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  });
  $("api-key-forget").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORAGE);
    input.value = "";
  });
}

function main() {
  setupKey();
  const styleView = new JobView("style");
  const waveView = new JobView("wave");
  $("content").addEventListener("change", () => showThumbs($("content"), $("content-thumbs"), "Content image"));
  $("style").addEventListener("change", () => showThumbs($("style"), $("style-thumbs"), "Style image"));
  $("style-form").addEventListener("submit", (event) => stylize(styleView, event));
  $("wave-preset").addEventListener("change", fillPreset);
  $("wave-form").addEventListener("submit", (event) => forecast(waveView, event));
  fillPreset();
  loadDefaults();
  document.body.dataset.ready = "true";
}

main();
