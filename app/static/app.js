// The stylewave web page: submit jobs, follow them live over the event stream, show and keep results.
// Plain ES modules, no build step. Images of the API are fetched with the key and shown as object URLs.
// The browser test treats console errors as failures, so the page never asks for what it knows is absent.

import { ApiError, KEY_STORAGE, api, apiJson, apiKey, blobUrl, followJob } from "./api.js";
import { ForecastChart, drawSeries, fmt } from "./charts.js";
import { PRESETS, WaveEditor, generate, parseCsv } from "./waves.js";

const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const MY_JOBS = "stylewave.jobs"; // ids submitted from this browser, newest first
const HISTORY_SIZE = 12;
const MAX_STYLE_IMAGES = 8;

const $ = (id) => document.getElementById(id);
const defaults = { style: {}, wave: {} };
let csvApi = false; // whether POST /v1/wave-forecasts takes text/csv (read from the OpenAPI schema)

function setImage(img, url) {
  const old = img.dataset.objectUrl;
  img.src = url;
  img.dataset.objectUrl = url;
  if (old && old !== url) URL.revokeObjectURL(old);
}

function rememberJob(id) {
  const ids = [id, ...JSON.parse(localStorage.getItem(MY_JOBS) || "[]").filter((x) => x !== id)];
  localStorage.setItem(MY_JOBS, JSON.stringify(ids.slice(0, 50)));
}

// ---- files: choose or drop; thumbnails with a remove button ---------------------------------------------------

class FilePicker {
  constructor(input, { thumbs, label, multiple = false, onChange }) {
    this.input = input;
    this.thumbs = thumbs;
    this.label = label;
    this.multiple = multiple;
    this.onChange = onChange;
    this.files = [];
    input.addEventListener("change", () => this.add([...input.files]));
    const zone = input.closest(".drop");
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("over");
      this.add([...(e.dataTransfer?.files || [])]);
    });
  }

  add(files) {
    const accepted = files.filter((f) => this.input.accept.includes("image") ? f.type.startsWith("image/") : true);
    if (!accepted.length) return;
    this.files = this.multiple ? [...this.files, ...accepted].slice(-MAX_STYLE_IMAGES) : accepted.slice(0, 1);
    this.sync();
  }

  remove(index) {
    this.files.splice(index, 1);
    this.sync();
    this.input.focus();
  }

  /** Mirror the list into the <input> (so the form and the file dialog agree), and redraw the thumbnails. */
  sync() {
    const transfer = new DataTransfer();
    for (const f of this.files) transfer.items.add(f);
    this.input.files = transfer.files;
    if (this.thumbs) this.drawThumbs();
    this.onChange?.(this.files);
  }

  drawThumbs() {
    for (const img of this.thumbs.querySelectorAll("img")) URL.revokeObjectURL(img.src);
    this.thumbs.replaceChildren(...this.files.map((file, i) => {
      const box = document.createElement("span");
      box.className = "thumb-box";
      const img = Object.assign(document.createElement("img"), {
        src: URL.createObjectURL(file), alt: `${this.label}: ${file.name}`, className: "thumb",
      });
      const remove = Object.assign(document.createElement("button"), { type: "button", className: "icon", textContent: "×" });
      remove.setAttribute("aria-label", `Remove ${file.name}`);
      remove.addEventListener("click", () => this.remove(i));
      box.append(img, remove);
      return box;
    }));
  }
}

// ---- one job's live view: status, progress, time left, cancel --------------------------------------------------

class JobView {
  constructor(prefix) {
    this.box = $(`${prefix}-job`);
    this.status = $(`${prefix}-status`);
    this.progress = $(`${prefix}-progress`);
    this.cancelButton = $(`${prefix}-cancel`);
    this.error = $(`${prefix}-error`);
    this.jobId = null;
    this.abort = null;
    this.cancelButton.addEventListener("click", () => this.cancel());
  }

  showError(message) {
    this.error.textContent = message; // the region stays in the page so screen readers announce changes
  }

  /** Show a new job and follow it over its event stream; resolves with its final record (null if replaced). */
  async follow(job, { onPreview } = {}) {
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    this.jobId = job.id;
    this.runningSince = null;
    this.box.hidden = false;
    this.show(job);
    const final = await followJob(job.id, {
      signal: abort.signal,
      onEvent: ({ event, data }) => {
        if (abort.signal.aborted) return;
        if (event === "status" || event === "done") this.show(data);
        else if (event === "progress") this.showProgress(data.progress, data.message);
        else if (event === "preview") onPreview?.(data.url);
      },
      onReconnect: () => { this.status.textContent = "Connection lost; reconnecting…"; },
    });
    return abort.signal.aborted ? null : final;
  }

  show(job) {
    this.record = job;
    if (job.status === "queued") {
      this.progress.removeAttribute("value");
      const pos = job.queue_position ? `, position ${job.queue_position} in the queue` : "";
      this.status.textContent = `Queued${pos}.`;
    } else if (job.status === "running") {
      this.showProgress(job.progress || 0, job.message);
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
    this.cancelButton.hidden = TERMINAL.has(job.status);
  }

  /** Progress is weighted by the work, so the time left is about elapsed × (1 − p) / p. */
  showProgress(fraction, message) {
    const now = performance.now();
    this.runningSince ??= { at: now, p: fraction };
    this.progress.value = fraction;
    let left = "";
    const { at, p } = this.runningSince;
    if (fraction > p + 0.02 && now - at > 1500) {
      const secs = ((now - at) / (fraction - p)) * (1 - fraction) / 1000;
      left = secs < 1.5 ? ", almost done" : `, about ${Math.round(secs)} s left`;
    }
    this.status.textContent = `Running: ${Math.round(fraction * 100)}%${message ? ` (${message})` : ""}${left}.`;
    this.progress.setAttribute("aria-valuetext", this.status.textContent);
  }

  async cancel() {
    if (!this.jobId) return;
    try {
      this.show(await apiJson(`v1/jobs/${this.jobId}`, { method: "DELETE" }));
    } catch (err) {
      this.showError(err.message);
    }
  }
}

// ---- style transfer ------------------------------------------------------------------------------------------

const STYLE_FIELDS = [
  "size", "iterations", "content_weight", "style_weight", "mode", "content_layers", "style_layers", "optimizer",
  "init", "scales", "style_blend", "tv_weight", "pooling", "style_scale", "seed", "sweep_style_weights",
  "sweep_style_layers", "dream_strength", "sweep_content_layers",
];

function styleForm(pickers) {
  const form = new FormData();
  if (pickers.content.files[0]) form.append("content", pickers.content.files[0]);
  for (const file of pickers.style.files) form.append("style", file);
  for (const name of STYLE_FIELDS) {
    const value = $(name).value.trim();
    if (value !== "") form.append(name, value);
  }
  if ($("preserve_colors").checked) form.append("preserve_colors", "true");
  return form;
}

/** Fetch previews one at a time; a preview that arrives while one loads replaces the one still waiting. */
function previewLoader() {
  let busy = false;
  let pending = null;
  const load = async (url) => {
    if (busy) { pending = url; return; }
    busy = true;
    try {
      const response = await api(url);
      if (response.status === 200) {
        setImage($("style-preview"), URL.createObjectURL(await response.blob()));
        $("style-preview-fig").hidden = false;
        $("style-placeholder").hidden = true;
      }
    } catch {
      // a preview is a nicety: the next one will do
    } finally {
      busy = false;
      if (pending) { const next = pending; pending = null; load(next); }
    }
  };
  return load;
}

async function showStyleResult(job) {
  const url = await blobUrl(`v1/jobs/${job.id}/result`);
  setImage($("style-result"), url);
  $("style-download").href = url;
  $("style-download").download = `stylewave-${job.id.slice(0, 8)}.png`;
  const p = job.params || {};
  $("style-result-caption").textContent = `Job ${job.id.slice(0, 8)} · ${p.mode || "transfer"}, ${p.size} px, ${job.metrics?.iterations ?? p.iterations} steps. `;
  $("style-result-fig").hidden = false;
  $("style-placeholder").hidden = true;
}

async function followStyle(view, job) {
  $("style-preview-fig").hidden = true;
  const final = await view.follow(job, { onPreview: previewLoader() });
  if (final && final.status === "succeeded") {
    await showStyleResult(final);
    $("style-preview-fig").hidden = true;
  }
  history.refresh();
  return final;
}

async function stylize(view, pickers, event) {
  event.preventDefault();
  const button = $("stylize");
  button.disabled = true;
  view.showError("");
  try {
    // A refused submission changes nothing but the error line: the last result and status stay.
    const job = await apiJson("v1/style-transfers", { method: "POST", body: styleForm(pickers) });
    rememberJob(job.id);
    history.refresh();
    await followStyle(view, job);
  } catch (err) {
    view.showError(err.message);
  } finally {
    button.disabled = false;
  }
}

// ---- wave forecast ---------------------------------------------------------------------------------------------

function numberField(id) {
  const raw = $(id).value.trim();
  return raw === "" ? undefined : Number(raw);
}

const waveState = { csvFile: null, csvRows: null, csvError: "" };

function historyLength() {
  return numberField("history") ?? defaults.wave.history ?? 3000;
}

function redrawWaveChart(editor) {
  const rows = $("source-csv").checked ? waveState.csvRows || [] : generate(editor.waves, 0, Math.min(historyLength(), 20000));
  drawSeries($("wave-chart"), rows);
  $("wave-chart-caption").textContent = rows.length
    ? `Input series: ${rows.length} steps of ${rows[0].length} channel(s), as the model will see them`
    : "Input series (choose a CSV file)";
}

/** The request: JSON for generated waves (or a JSON series), the CSV itself when the API takes CSV. */
async function forecastRequest(editor) {
  const common = {};
  if (numberField("horizon") !== undefined) common.horizon = numberField("horizon");
  if ($("model").value) common.model = $("model").value;
  if ($("source-csv").checked) {
    if (!waveState.csvFile) throw new ApiError(0, "CSV file: choose a file");
    if (csvApi) {
      const query = new URLSearchParams(Object.entries(common).map(([k, v]) => [k, String(v)]));
      return { path: `v1/wave-forecasts?${query}`, headers: { "Content-Type": "text/csv" }, body: await waveState.csvFile.text() };
    }
    if (waveState.csvError) throw new ApiError(0, waveState.csvError);
    return jsonRequest({ series: waveState.csvRows, ...common });
  }
  const body = { waves: editor.waves, ...common };
  if (numberField("history") !== undefined) body.history = numberField("history");
  return jsonRequest(body);
}

function jsonRequest(body) {
  return { path: "v1/wave-forecasts", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
}

function showMetrics(metrics) {
  const table = $("wave-metrics");
  const body = table.querySelector("tbody");
  body.replaceChildren();
  const rows = Object.entries(metrics.backtest || {}).sort((a, b) => a[1].rmse - b[1].rmse);
  for (const [name, score] of rows) {
    const tr = document.createElement("tr");
    if (name === metrics.model) tr.className = "chosen";
    const th = Object.assign(document.createElement("th"), { scope: "row", textContent: name === metrics.model ? `${name} (used)` : name });
    tr.append(th);
    for (const key of ["rmse", "mae"]) tr.append(Object.assign(document.createElement("td"), { textContent: score[key] === undefined ? "" : fmt(score[key]) }));
    body.append(tr);
  }
  if (metrics.forecast_rmse !== undefined) {
    const tr = document.createElement("tr");
    tr.append(Object.assign(document.createElement("th"), { scope: "row", textContent: `forecast vs truth (${metrics.model})` }),
      Object.assign(document.createElement("td"), { textContent: fmt(metrics.forecast_rmse) }), document.createElement("td"));
    body.append(tr);
  }
  table.hidden = body.children.length === 0;
}

/** The history of a forecast job, from its parameters: the series it was given, or its waves regenerated. */
function jobHistory(job) {
  const p = job.params || {};
  if (Array.isArray(p.series)) return p.series;
  if (Array.isArray(p.waves)) return generate(p.waves, 0, p.history ?? 3000);
  return waveState.csvRows || [];
}

/** Steps of history shown before the forecast, from the "Show" choice. */
function zoomContext(chart) {
  const choice = document.querySelector("input[name=zoom]:checked")?.value;
  const horizon = chart.args?.forecast.length || 1;
  if (choice === "forecast") return Math.max(horizon, 10);
  if (choice === "all") return chart.args?.history.length || null;
  return null;
}

async function showForecastResult(job, chart) {
  const result = await apiJson(`v1/jobs/${job.id}/result`);
  const history = jobHistory(job);
  chart.draw({ history, start: result.start, forecast: result.forecast, intervals: result.intervals || {}, actual: result.actual || null });
  chart.zoom(zoomContext(chart));
  const noisy = (job.params || {}).noise_std ? " (history drawn without its noise)" : "";
  $("forecast-title").textContent = `${result.horizon}-step forecast from step ${result.start}, model ${result.model || (result.metrics || {}).model}${noisy}.`;
  showMetrics(result.metrics || job.metrics || {});
  const json = new Blob([JSON.stringify(result, null, 2)], { type: "application/json" });
  const link = $("wave-download");
  if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
  link.href = URL.createObjectURL(json);
  const plot = $("wave-plot-link");
  if (plot.href.startsWith("blob:")) URL.revokeObjectURL(plot.href);
  plot.href = await blobUrl(`v1/jobs/${job.id}/plot`);
  plot.download = `stylewave-forecast-${job.id.slice(0, 8)}.png`;
  $("wave-result").hidden = false;
  $("wave-placeholder").hidden = true;
}

async function followForecast(view, job, chart) {
  const final = await view.follow(job);
  if (final && final.status === "succeeded") await showForecastResult(final, chart);
  history.refresh();
  return final;
}

async function forecast(view, editor, chart, event) {
  event.preventDefault();
  const button = $("forecast");
  button.disabled = true;
  view.showError("");
  try {
    const request = await forecastRequest(editor);
    const job = await apiJson(request.path, { method: "POST", headers: request.headers, body: request.body });
    rememberJob(job.id);
    history.refresh();
    await followForecast(view, job, chart);
  } catch (err) {
    view.showError(err.message);
  } finally {
    button.disabled = false;
  }
}

function setupWaves(chart) {
  const editor = new WaveEditor($("channels"), () => {
    if (!$("json-box").hidden) $("waves-json").value = JSON.stringify(editor.waves, null, 2);
    scheduleChart();
  });
  let frame = 0;
  const scheduleChart = () => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => redrawWaveChart(editor));
  };
  const load = (waves) => {
    editor.set(waves);
    $("waves-json").value = JSON.stringify(waves, null, 2);
    scheduleChart();
  };
  $("wave-preset").addEventListener("change", () => load(PRESETS[$("wave-preset").value]));
  $("add-channel").addEventListener("click", () => {
    editor.waves.push({ offset: 0, terms: [{ fn: "sin", amplitude: 1, period: 100, phase: 0 }] });
    editor.render();
    $(`ch${editor.waves.length - 1}-offset`).focus();
    editor.changed();
  });
  $("json-toggle").addEventListener("click", () => {
    const open = $("json-box").hidden;
    $("json-box").hidden = !open;
    $("channels").hidden = open;
    $("add-channel").hidden = open;
    $("json-toggle").setAttribute("aria-pressed", String(open));
    $("json-toggle").textContent = open ? "Edit as a form" : "Edit as JSON";
    if (open) {
      $("waves-json").value = JSON.stringify(editor.waves, null, 2);
      $("waves-json").focus();
    }
  });
  $("waves-json").addEventListener("input", () => {
    try {
      const parsed = JSON.parse($("waves-json").value);
      const waves = Array.isArray(parsed) ? parsed : parsed.waves;
      if (!Array.isArray(waves) && Array.isArray(parsed.series)) {
        waveState.csvRows = parsed.series;
        throw new Error("a `series` body: send it from “Observed series”, or as CSV");
      }
      if (!Array.isArray(waves)) throw new Error("expected a list of channels, or an object with `waves`");
      if (!Array.isArray(parsed) && parsed.history !== undefined) $("history").value = parsed.history;
      if (!Array.isArray(parsed) && parsed.horizon !== undefined) $("horizon").value = parsed.horizon;
      editor.waves = waves;
      editor.render();
      $("json-error").textContent = "";
      scheduleChart();
    } catch (err) {
      $("json-error").textContent = `Waves (JSON): ${err.message}`;
    }
  });
  for (const radio of document.querySelectorAll("input[name=wave-source]")) {
    radio.addEventListener("change", () => {
      const csv = $("source-csv").checked;
      $("waves-editor").hidden = csv;
      $("csv-editor").hidden = !csv;
      $("history").disabled = csv;
      scheduleChart();
    });
  }
  $("history").addEventListener("input", scheduleChart);
  new FilePicker($("csv"), {
    label: "CSV file",
    onChange: async (files) => {
      waveState.csvFile = files[0] || null;
      waveState.csvRows = null;
      waveState.csvError = "";
      try {
        const parsed = parseCsv(await waveState.csvFile.text());
        waveState.csvRows = parsed.rows;
        $("csv-summary").textContent = `${waveState.csvFile.name}: ${parsed.rows.length} rows, channels ${parsed.columns.join(", ")}.`;
      } catch (err) {
        waveState.csvError = err.message;
        $("csv-summary").textContent = `${waveState.csvFile.name}: ${err.message}`;
      }
      scheduleChart();
    },
  });
  load(PRESETS.original);
  const view = new JobView("wave");
  $("wave-form").addEventListener("submit", (event) => forecast(view, editor, chart, event));
  return { view, redraw: scheduleChart };
}

// ---- history: this browser's (or this key's) recent jobs ----------------------------------------------------------

const thumbCache = new Map(); // job id -> object URL of its thumbnail

const history = {
  views: null,
  timer: 0,
  refresh() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.load(), 150);
  },
  async load() {
    let jobs;
    try {
      jobs = (await apiJson(`v1/jobs?limit=${HISTORY_SIZE * 3}`)).jobs;
    } catch {
      return; // e.g. no key yet: the strip stays as it is
    }
    // With a key, the key's jobs; on an open service, only those submitted from this browser.
    const mine = new Set(JSON.parse(localStorage.getItem(MY_JOBS) || "[]"));
    if (!apiKey()) jobs = jobs.filter((job) => mine.has(job.id));
    jobs = jobs.slice(0, HISTORY_SIZE);
    $("history-empty").hidden = jobs.length > 0;
    $("history-list").replaceChildren(...jobs.map((job) => this.item(job)));
  },
  item(job) {
    const li = document.createElement("li");
    li.className = `hist ${job.status}`;
    li.dataset.jobId = job.id;
    const kind = job.kind === "style_transfer" ? "Style" : "Forecast";
    const when = new Date(job.created_at * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    const open = Object.assign(document.createElement("button"), { type: "button", className: "hist-open" });
    open.setAttribute("aria-label", `Open ${kind.toLowerCase()} job ${job.id.slice(0, 8)} (${job.status}, ${when})`);
    const thumb = document.createElement("span");
    thumb.className = "hist-thumb";
    open.append(thumb, Object.assign(document.createElement("span"), { className: "hist-text", textContent: `${kind} · ${when}` }),
      Object.assign(document.createElement("span"), { className: `badge ${job.status}`, textContent: job.status }));
    open.addEventListener("click", () => this.open(job.id));
    li.append(open);
    if (job.status === "succeeded") {
      const link = Object.assign(document.createElement("a"), {
        href: job.links.result, textContent: job.kind === "style_transfer" ? "PNG" : "JSON", className: "hist-link",
      });
      link.setAttribute("aria-label", `Result of job ${job.id.slice(0, 8)}`);
      link.addEventListener("click", (e) => this.download(e, job));
      li.append(link);
      this.thumb(job, thumb);
    }
    return li;
  },
  async thumb(job, box) {
    const path = job.kind === "style_transfer" ? job.links.result : job.links.plot;
    try {
      if (!thumbCache.has(job.id)) thumbCache.set(job.id, await blobUrl(path));
      box.append(Object.assign(document.createElement("img"), { src: thumbCache.get(job.id), alt: "" }));
    } catch {
      // expired result: the strip shows the status alone
    }
  },
  /** With a key, a plain link would be refused (401): fetch with the key and open the blob instead. */
  async download(event, job) {
    if (!apiKey()) return;
    event.preventDefault();
    const url = await blobUrl(job.links.result);
    Object.assign(document.createElement("a"), { href: url, target: "_blank", download: `stylewave-${job.id.slice(0, 8)}` }).click();
  },
  async open(id) {
    const { styleView, waveView, chart } = this.views;
    try {
      const job = await apiJson(`v1/jobs/${id}`);
      if (job.kind === "style_transfer") {
        $("style-title").scrollIntoView({ behavior: "smooth" });
        if (job.status === "succeeded") await showStyleResult(job);
        else if (!TERMINAL.has(job.status)) await followStyle(styleView, job);
        else styleView.follow(job);
      } else {
        $("wave-title").scrollIntoView({ behavior: "smooth" });
        if (job.status === "succeeded") await showForecastResult(job, chart);
        else await followForecast(waveView, job, chart);
      }
    } catch (err) {
      styleView.showError(err.message);
    }
  },
};

// ---- defaults from the OpenAPI schema, the API key, wiring -----------------------------------------------------

/** Show the service's own defaults beside each field, so that an empty field says what it means. */
async function loadDefaults() {
  let spec;
  try {
    spec = await (await fetch("openapi.json")).json();
  } catch {
    return; // the hints are a convenience; the page works without them
  }
  const schemas = spec.components.schemas;
  for (const [group, schema, fields] of [["style", "StyleTransferParams", STYLE_FIELDS], ["wave", "WaveForecastRequest", ["history", "horizon", "model"]]]) {
    for (const [name, prop] of Object.entries(schemas[schema]?.properties || {})) {
      defaults[group][name] = prop.default;
      const input = $(name);
      if (!input || !fields.includes(name)) continue;
      // A default that depends on the mode has none in the schema; its description states it ("Default: ...").
      const stated = (prop.description || "").match(/Default: .*$/);
      const unset = prop.default === undefined || prop.default === null;
      if (unset && !stated) continue;
      const shown = unset ? "" : Array.isArray(prop.default) ? prop.default.join(",") : String(prop.default);
      if (input.tagName === "INPUT" && shown) input.placeholder = shown;
      const hint = $(`${name}-hint`) || input.nextElementSibling;
      if (hint && !hint.dataset.defaulted) {
        hint.dataset.defaulted = "1";
        hint.append(unset ? ` ${stated[0]}` : ` Default: ${shown}.`);
      }
    }
  }
  const body = spec.paths?.["/v1/wave-forecasts"]?.post?.requestBody?.content || {};
  csvApi = "text/csv" in body;
}

function setupKey() {
  const input = $("api-key");
  input.value = localStorage.getItem(KEY_STORAGE) || "";
  if (input.value) $("key-box").open = true;
  input.addEventListener("change", () => {
    const key = input.value.trim();
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
    history.refresh();
  });
  $("api-key-forget").addEventListener("click", () => {
    localStorage.removeItem(KEY_STORAGE);
    input.value = "";
    history.refresh();
  });
}

async function main() {
  setupKey();
  const styleView = new JobView("style");
  const pickers = {
    content: new FilePicker($("content"), { thumbs: $("content-thumbs"), label: "Content image" }),
    style: new FilePicker($("style"), { thumbs: $("style-thumbs"), label: "Style image", multiple: true }),
  };
  $("style-form").addEventListener("submit", (event) => stylize(styleView, pickers, event));
  const chart = new ForecastChart($("forecast-chart"), $("forecast-readout"));
  for (const radio of document.querySelectorAll("input[name=zoom]")) {
    radio.addEventListener("change", () => chart.zoom(zoomContext(chart)));
  }
  const waves = setupWaves(chart);
  history.views = { styleView, waveView: waves.view, chart };
  $("history-refresh").addEventListener("click", () => history.load());
  await loadDefaults();
  waves.redraw(); // the default history length is known now
  await history.load();
  document.body.dataset.ready = "true";
}

main();
