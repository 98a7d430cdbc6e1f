// SVG charts, drawn by hand (no library, no build step): the waves' history, and the interactive forecast.

const NS = "http://www.w3.org/2000/svg";
export const COLORS = ["#2952cc", "#c2410c", "#15803d", "#9333ea", "#0e7490", "#b91c1c", "#4d7c0f", "#a16207"];

function svgEl(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export function fmt(x) {
  if (typeof x !== "number" || !Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return x.toExponential(2);
  return x.toFixed(a >= 100 ? 1 : 3);
}

function extent(values) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (Number.isFinite(v)) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
  }
  if (!Number.isFinite(lo)) return [0, 1];
  const pad = (hi - lo || Math.abs(hi) || 1) * 0.06;
  return [lo - pad, hi + pad];
}

/** A linear scale from [d0, d1] to [r0, r1]. */
function scale(d0, d1, r0, r1) {
  const k = (r1 - r0) / (d1 - d0 || 1);
  return (v) => r0 + (v - d0) * k;
}

function path(points) {
  return points.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
}

/** Every k-th point, so that a long series costs at most ~`max` points per line. */
function thin(n, max) {
  const step = Math.max(1, Math.ceil(n / max));
  const idx = [];
  for (let i = 0; i < n; i += step) idx.push(i);
  if (idx[idx.length - 1] !== n - 1) idx.push(n - 1);
  return idx;
}

function yAxis(svg, y, lo, hi, x0, width) {
  for (const v of [lo, (lo + hi) / 2, hi]) {
    svg.append(svgEl("line", { x1: x0, x2: x0 + width, y1: y(v), y2: y(v), class: "gridline" }));
    svg.append(svgEl("text", { x: x0 - 6, y: y(v) + 4, class: "tick", "text-anchor": "end" }, fmt(v)));
  }
}

/** The generated (or uploaded) history: one line per channel, over steps 0 … n−1. */
export function drawSeries(svg, rows, { height = 180 } = {}) {
  const width = 640;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.replaceChildren();
  const n = rows.length;
  const channels = n ? rows[0].length : 0;
  if (!n || !channels) return;
  const [lo, hi] = extent(rows.flat());
  const left = 54;
  const x = scale(0, Math.max(n - 1, 1), left, width - 8);
  const y = scale(lo, hi, height - 22, 8);
  yAxis(svg, y, lo, hi, left, width - left - 8);
  svg.append(svgEl("text", { x: left, y: height - 4, class: "tick" }, "0"));
  svg.append(svgEl("text", { x: width - 8, y: height - 4, class: "tick", "text-anchor": "end" }, `step ${n - 1}`));
  const idx = thin(n, 1200);
  for (let c = 0; c < channels; c += 1) {
    const d = path(idx.map((i) => [x(i), y(rows[i][c])]));
    svg.append(svgEl("path", { d, class: "series", stroke: COLORS[c % COLORS.length], "data-channel": c }));
  }
}

/**
 * The forecast, one panel per channel: the end of the history, the 95% and 80% bands, the forecast, and the
 * actual values above it. Hovering (or the arrow keys, when focused) reads the values of one step.
 */
export class ForecastChart {
  constructor(root, readout) {
    this.root = root;
    this.readout = readout;
    this.tip = null;
    root.addEventListener("keydown", (e) => this.key(e));
    root.addEventListener("focus", () => { if (this.cursor === null && this.data) this.show(this.data.start); });
  }

  /** `context`: how many steps of history to show before the forecast (default: max(3·horizon, 200)). */
  draw({ history, start, forecast, intervals = {}, actual = null, maxPanels = 8, context = null }) {
    this.args = { history, start, forecast, intervals, actual, maxPanels };
    const horizon = forecast.length;
    const shown = history.slice(-(context ?? Math.max(3 * horizon, 200)));
    const first = start - shown.length;
    this.data = { history: shown, first, start, forecast, intervals, actual, horizon };
    this.cursor = null;
    const channels = Math.min(forecast[0]?.length || 0, maxPanels);
    this.root.replaceChildren();
    this.panels = [];
    for (let c = 0; c < channels; c += 1) this.panels.push(this.panel(c, channels));
    this.tip = Object.assign(document.createElement("div"), { className: "tip", hidden: true });
    this.tip.setAttribute("aria-hidden", "true"); // the readout below says the same to screen readers
    this.root.append(this.tip);
  }

  /** Redraw with another amount of history before the forecast. */
  zoom(context) {
    if (this.args) this.draw({ ...this.args, context });
  }

  panel(c, channels) {
    const { history, first, start, forecast, intervals, actual, horizon } = this.data;
    const width = 640;
    const height = channels > 2 ? 140 : 190;
    const svg = svgEl("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", "data-channel": c });
    svg.setAttribute("aria-hidden", "true");
    const values = [...history.map((r) => r[c]), ...forecast.map((r) => r[c])];
    for (const band of Object.values(intervals)) values.push(...band.lower.map((r) => r[c]), ...band.upper.map((r) => r[c]));
    if (actual) values.push(...actual.map((r) => r[c]));
    const [lo, hi] = extent(values);
    const left = 54;
    const x = scale(first, start + horizon - 1, left, width - 8);
    const y = scale(lo, hi, height - 20, 16);
    yAxis(svg, y, lo, hi, left, width - left - 8);
    svg.append(svgEl("text", { x: left + 4, y: 12, class: "panel-title" }, `channel ${c}`));
    svg.append(svgEl("text", { x: width - 8, y: height - 4, class: "tick", "text-anchor": "end" }, `step ${start + horizon - 1}`));
    svg.append(svgEl("line", { x1: x(start - 0.5), x2: x(start - 0.5), y1: 14, y2: height - 20, class: "divider" }));
    for (const [label, cls] of [["95", "band95"], ["80", "band80"]]) {
      const band = intervals[label];
      if (!band) continue;
      const upper = band.upper.map((r, i) => [x(start + i), y(r[c])]);
      const lower = band.lower.map((r, i) => [x(start + i), y(r[c])]).reverse();
      svg.append(svgEl("path", { d: `${path([...upper, ...lower])}Z`, class: cls }));
    }
    const idx = thin(history.length, 800);
    svg.append(svgEl("path", { d: path(idx.map((i) => [x(first + i), y(history[i][c])])), class: "history-line" }));
    svg.append(svgEl("path", { d: path(forecast.map((r, i) => [x(start + i), y(r[c])])), class: "forecast-line" }));
    if (actual) {
      // Drawn last, dashed, with dots: the truth must stay visible where it runs on top of the forecast.
      svg.append(svgEl("path", { d: path(actual.map((r, i) => [x(start + i), y(r[c])])), class: "actual-line" }));
      if (horizon <= 120) {
        actual.forEach((r, i) => svg.append(svgEl("circle", { cx: x(start + i), cy: y(r[c]), r: 2.2, class: "actual-dot" })));
      }
    }
    const cursor = svgEl("line", { y1: 14, y2: height - 20, class: "cursor", visibility: "hidden" });
    const dot = svgEl("circle", { r: 3.5, class: "cursor-dot", visibility: "hidden" });
    svg.append(cursor, dot);
    svg.addEventListener("pointermove", (e) => {
      const box = svg.getBoundingClientRect();
      const vx = ((e.clientX - box.left) / box.width) * width;
      const t = Math.round(first + ((vx - left) / (width - 8 - left)) * (start + horizon - 1 - first));
      this.show(Math.max(first, Math.min(start + horizon - 1, t)), e);
    });
    svg.addEventListener("pointerleave", () => this.hide());
    this.root.append(svg);
    return { svg, x, y, c, cursor, dot };
  }

  /** The values at step t, as lines of text; the same for the tooltip and the screen-reader readout. */
  describe(t) {
    const { history, first, start, forecast, intervals, actual } = this.data;
    const lines = [`step ${t}`];
    for (const { c } of this.panels) {
      const parts = [];
      if (t < start) {
        parts.push(`history ${fmt(history[t - first][c])}`);
      } else {
        const i = t - start;
        parts.push(`forecast ${fmt(forecast[i][c])}`);
        if (actual && actual[i]) parts.push(`actual ${fmt(actual[i][c])}`);
        for (const label of ["80", "95"]) {
          const band = intervals[label];
          if (band) parts.push(`${label}% ${fmt(band.lower[i][c])} to ${fmt(band.upper[i][c])}`);
        }
      }
      lines.push(`channel ${c}: ${parts.join(", ")}`);
    }
    return lines;
  }

  show(t, pointer) {
    if (!this.data) return;
    this.cursor = t;
    const { history, first, start, forecast } = this.data;
    for (const { x, y, c, cursor, dot } of this.panels) {
      const v = t < start ? history[t - first][c] : forecast[t - start][c];
      cursor.setAttribute("x1", x(t));
      cursor.setAttribute("x2", x(t));
      dot.setAttribute("cx", x(t));
      dot.setAttribute("cy", y(v));
      cursor.setAttribute("visibility", "visible");
      dot.setAttribute("visibility", "visible");
    }
    const lines = this.describe(t);
    this.tip.replaceChildren(...lines.map((line, i) => Object.assign(document.createElement(i ? "div" : "strong"), { textContent: line })));
    this.tip.hidden = false;
    const host = this.root.getBoundingClientRect();
    const px = pointer ? pointer.clientX - host.left : (this.panels[0].x(t) / 640) * host.width;
    const py = pointer ? pointer.clientY - host.top : 8;
    const right = px > host.width * 0.6;
    this.tip.style.left = right ? "" : `${px + 14}px`;
    this.tip.style.right = right ? `${host.width - px + 14}px` : "";
    this.tip.style.top = `${Math.max(0, py - 10)}px`;
    this.readout.textContent = lines.join("; ");
  }

  hide() {
    if (this.tip) this.tip.hidden = true;
    for (const { cursor, dot } of this.panels || []) {
      cursor.setAttribute("visibility", "hidden");
      dot.setAttribute("visibility", "hidden");
    }
  }

  key(e) {
    if (!this.data) return;
    const { first, start, horizon } = this.data;
    const last = start + horizon - 1;
    const t = this.cursor ?? start;
    const moves = { ArrowLeft: t - 1, ArrowRight: t + 1, Home: first, End: last, PageUp: t - 10, PageDown: t + 10 };
    if (!(e.key in moves)) return;
    e.preventDefault();
    this.show(Math.max(first, Math.min(last, moves[e.key])));
  }
}
