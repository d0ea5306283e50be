// chart.js — horizontal bar charts as SVG, built with DOM APIs only (no
// markup from data). Every label and value is text in the picture, so a
// chart reads in print and in black and white; the table beside it is the
// accessible alternative (the chart itself is one image with a title).

const SVG = "http://www.w3.org/2000/svg";

const WIDTH = 860;
const LABEL_W = 300; // the bars' names, right-aligned against the axis
const GAP = 10;
const VALUE_W = 90; // room after the longest bar for its value
const ROW_H = 28;
const BAR_H = 18;
const TOP = 30; // the name of the label axis
const BOTTOM = 50; // the ticks and the name of the value axis
const LABEL_CHARS = 40;

/** A new SVG element with these attributes (and text). */
function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value !== null && value !== undefined) node.setAttribute(key, String(value));
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

/** About `count` round steps from 0 up to at least `max`. */
export function ticks(max, { integer = false, count = 4 } = {}) {
  if (!(max > 0)) return [0, 1];
  const raw = max / count;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  if (integer) step = Math.max(1, Math.ceil(step));
  const top = Math.ceil(max / step) * step;
  const list = [];
  for (let v = 0; v <= top + step / 2; v += step) list.push(Number(v.toFixed(6)));
  return list;
}

/** `text` cut to `n` characters with an ellipsis. */
const cut = (text, n) => (text.length > n ? `${text.slice(0, n - 1).trimEnd()}…` : text);

/**
 * A horizontal bar chart.
 *
 * - `id`: a prefix for the ids of its title and description;
 * - `title`, `desc`: what the chart shows (its accessible name and description);
 * - `bars`: [{label, value (a number, or null for no bar), text (the value in words)}];
 * - `labelAxis`, `valueAxis`: the axes' names;
 * - `max`: the scale's end (else the largest value, rounded up);
 * - `integer`: whole-number ticks; `fmtTick`: a tick's value in words.
 */
export function barChart({ id, title, desc, bars, labelAxis, valueAxis, max, integer = false, fmtTick = String }) {
  const largest = Math.max(0, ...bars.map((b) => (typeof b.value === "number" ? b.value : 0)));
  const scale = ticks(max ?? largest, { integer: integer && max === undefined });
  const end = scale[scale.length - 1] || 1;
  const x0 = LABEL_W + GAP;
  const area = WIDTH - x0 - VALUE_W;
  const plotH = bars.length * ROW_H;
  const height = TOP + plotH + BOTTOM;

  const root = svg("svg", {
    class: "chart",
    viewBox: `0 0 ${WIDTH} ${height}`,
    width: WIDTH,
    height,
    role: "img",
    "aria-labelledby": `${id}-title`,
    "aria-describedby": `${id}-desc`,
    preserveAspectRatio: "xMinYMin meet",
  });
  root.append(svg("title", { id: `${id}-title` }, title), svg("desc", { id: `${id}-desc` }, desc));

  // The label axis's name, above the names of the bars.
  root.append(svg("text", { x: LABEL_W, y: TOP - 10, "text-anchor": "end", class: "axis-title" }, labelAxis));

  // The grid and the ticks of the value axis.
  const grid = svg("g", { class: "grid" });
  for (const value of scale) {
    const x = x0 + (value / end) * area;
    grid.append(
      svg("line", { x1: x, x2: x, y1: TOP, y2: TOP + plotH, class: value === 0 ? "axis" : "gridline" }),
      svg("text", { x, y: TOP + plotH + 16, "text-anchor": "middle", class: "tick" }, fmtTick(value)),
    );
  }
  root.append(grid);
  root.append(
    svg("text", { x: x0 + area / 2, y: TOP + plotH + 40, "text-anchor": "middle", class: "axis-title" }, valueAxis),
  );

  // The bars, each with its name and its value as text.
  bars.forEach((bar, i) => {
    const y = TOP + i * ROW_H;
    const middle = y + ROW_H / 2;
    const row = svg("g", { class: "bar-row" });
    const name = svg("text", { x: LABEL_W, y: middle, dy: "0.35em", "text-anchor": "end", class: "bar-label" }, cut(bar.label, LABEL_CHARS));
    if (bar.label.length > LABEL_CHARS) name.append(svg("title", {}, bar.label));
    row.append(name);
    let after = x0 + 6;
    if (typeof bar.value === "number" && bar.value > 0) {
      const w = Math.max(1, (Math.min(bar.value, end) / end) * area);
      row.append(svg("rect", { x: x0, y: y + (ROW_H - BAR_H) / 2, width: w.toFixed(1), height: BAR_H, class: "bar" }));
      after = x0 + w + 6;
    }
    const value = svg("text", { x: after, y: middle, dy: "0.35em", class: bar.value === null ? "bar-value no-bar" : "bar-value" }, bar.text);
    row.append(value);
    root.append(row);
  });
  return root;
}
