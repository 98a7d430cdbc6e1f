// The waves editor: channels of sine/cosine terms as a form, the same as JSON, and the series they generate.

// The original two-channel experiment (DESIGN.md / README), and a one-channel toy.
export const PRESETS = {
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

const TERM_FIELDS = [
  ["amplitude", "Amplitude"],
  ["period", "Period"],
  ["phase", "Phase"],
];

/** Channel c at step t is offset_c + Σ amplitude·fn(phase + 2π·t/period), for t = start … start+n−1: (n, C). */
export function generate(waves, start, n) {
  const rows = [];
  for (let t = start; t < start + n; t += 1) {
    rows.push(waves.map((ch) => (ch.terms || []).reduce((sum, term) => {
      const fn = term.fn === "cos" ? Math.cos : Math.sin;
      const period = Number(term.period) || 1;
      return sum + Number(term.amplitude || 0) * fn(Number(term.phase || 0) + (2 * Math.PI * t) / period);
    }, Number(ch.offset || 0))));
  }
  return rows;
}

/** A CSV as rows of numbers, oldest first: the header names the columns; a date column is left out. */
export function parseCsv(text) {
  const lines = text.split(/\r\n|\r|\n/).filter((line) => line.trim() !== "");
  if (lines.length < 2) throw new Error("the CSV needs a header row and at least one row of values");
  const header = lines[0].split(",").map((h) => h.trim());
  const cells = lines.slice(1).map((line) => line.split(",").map((c) => c.trim()));
  const isDate = (v) => /^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v);
  const keep = header.map((_, col) => !cells.every((row) => isDate(row[col] ?? "")));
  const rows = cells.map((row, i) => {
    if (row.length !== header.length) {
      throw new Error(`CSV row ${i + 2}: ${row.length} values for ${header.length} columns`);
    }
    return row.filter((_, col) => keep[col]).map((v, j) => {
      const x = Number(v);
      if (v === "" || !Number.isFinite(x)) {
        const name = header.filter((_, col) => keep[col])[j];
        throw new Error(`CSV row ${i + 2}, column ${name}: “${v}” is not a number`);
      }
      return x;
    });
  });
  return { columns: header.filter((_, col) => keep[col]), rows };
}

function el(tag, props = {}, ...children) {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
}

/**
 * The channels form. `waves` is the model; every edit calls `onChange(waves)`. Ids stay unique per field so
 * that each input has its own <label for>.
 */
export class WaveEditor {
  constructor(root, onChange) {
    this.root = root;
    this.onChange = onChange;
    this.waves = [];
    this.seq = 0;
  }

  set(waves) {
    this.waves = structuredClone(waves);
    this.render();
  }

  changed() {
    this.onChange(this.waves);
  }

  render() {
    const focusedId = document.activeElement?.id;
    this.root.replaceChildren(...this.waves.map((ch, c) => this.channel(ch, c)));
    if (focusedId && document.getElementById(focusedId)) document.getElementById(focusedId).focus();
  }

  numberInput(id, value, label, onInput, labelClass = "") {
    const input = el("input", { id, type: "number", step: "any", value: String(value ?? "") });
    input.addEventListener("input", () => {
      if (input.value.trim() === "" || !Number.isFinite(Number(input.value))) return;
      onInput(Number(input.value));
      this.changed();
    });
    return [el("label", { htmlFor: id, textContent: label, className: labelClass }), input];
  }

  channel(ch, c) {
    const box = el("fieldset", { className: "channel" }, el("legend", { textContent: `Channel ${c + 1}` }));
    const head = el("div", { className: "channel-head" },
      ...this.numberInput(`ch${c}-offset`, ch.offset ?? 0, "Offset", (v) => { ch.offset = v; }));
    const remove = el("button", { type: "button", className: "secondary small", textContent: "Remove channel" });
    remove.setAttribute("aria-label", `Remove channel ${c + 1}`);
    remove.disabled = this.waves.length <= 1;
    remove.addEventListener("click", () => { this.waves.splice(c, 1); this.render(); this.changed(); });
    head.append(remove);
    box.append(head);
    const terms = el("ol", { className: "terms" });
    if ((ch.terms || []).length) {
      // Column heads for sighted users; each input also has its own (visually hidden) label.
      const heads = el("li", { className: "term heads" });
      heads.setAttribute("aria-hidden", "true");
      for (const text of ["", "fn", "amplitude", "period", "phase", ""]) heads.append(el("span", { textContent: text }));
      terms.append(heads);
    }
    (ch.terms || []).forEach((term, i) => terms.append(this.term(ch, term, c, i)));
    box.append(terms);
    const add = el("button", { type: "button", className: "secondary small", textContent: "Add a term" });
    add.setAttribute("aria-label", `Add a term to channel ${c + 1}`);
    add.addEventListener("click", () => {
      ch.terms = ch.terms || [];
      ch.terms.push({ fn: "sin", amplitude: 1, period: 100, phase: 0 });
      this.render();
      document.getElementById(`ch${c}-t${ch.terms.length - 1}-fn`)?.focus();
      this.changed();
    });
    box.append(add);
    return box;
  }

  term(ch, term, c, i) {
    const id = `ch${c}-t${i}`;
    const fn = el("select", { id: `${id}-fn` },
      el("option", { value: "sin", textContent: "sin" }), el("option", { value: "cos", textContent: "cos" }));
    fn.value = term.fn === "cos" ? "cos" : "sin";
    fn.addEventListener("change", () => { term.fn = fn.value; this.changed(); });
    const row = el("li", { className: "term" },
      el("label", { htmlFor: fn.id, textContent: `Term ${i + 1}` }), fn);
    for (const [name, label] of TERM_FIELDS) {
      const [lab, input] = this.numberInput(`${id}-${name}`, term[name], `${label} of term ${i + 1}, channel ${c + 1}`,
        (v) => { term[name] = v; }, "sr-only");
      row.append(el("span", {}, lab, input));
    }
    const remove = el("button", { type: "button", className: "icon", textContent: "×" });
    remove.setAttribute("aria-label", `Remove term ${i + 1} of channel ${c + 1}`);
    remove.addEventListener("click", () => { ch.terms.splice(i, 1); this.render(); this.changed(); });
    row.append(remove);
    return row;
  }
}
