/**
 * Minimal inline-SVG plots for the study report (no libraries, no scripts): line plots with
 * error bars or bands, and dot-and-whisker plots of intervals. Every plot is an
 * `<svg class="plot" data-plot="...">` whose marks carry classes (`series`, `point`, `line`,
 * `errorbar`, `band`, `whisker`) so that tests can count them.
 */

export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f", "#bcbd22"];

export function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const f = (x: number) => (Math.round(x * 100) / 100).toString();

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Number((Math.round(v / step) * step).toPrecision(12)) + 0);
  return out;
}

function tickLabel(v: number): string {
  const s = Number(v.toPrecision(6)).toString();
  return s;
}

export interface Point {
  x: number;
  y: number;
  lo?: number;
  hi?: number;
}

export interface Series {
  name: string;
  color?: string;
  dashed?: boolean;
  /** Draw lo..hi as a shaded band (else as error bars). */
  band?: boolean;
  /** Points only, no line through them (e.g. a cloud of explored settings). */
  markersOnly?: boolean;
  points: Point[];
}

export interface LinePlotOptions {
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
  /** Tick positions and labels; with `categorical`, x values are placed evenly in tick order. */
  xTicks?: { value: number; label: string }[];
  categorical?: boolean;
  /** Horizontal reference lines (e.g. float accuracy). */
  hlines?: { y: number; label: string; color?: string }[];
  attrs?: Record<string, string>;
  width?: number;
  height?: number;
}

function attrs(a: Record<string, string> | undefined): string {
  return a ? Object.entries(a).map(([k, v]) => ` ${k}="${esc(v)}"`).join("") : "";
}

function open(id: string, title: string, w: number, h: number, extra?: Record<string, string>): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="plot" data-plot="${esc(id)}"${attrs(extra)} viewBox="0 0 ${w} ${h}" width="${w}" height="${h}" role="img" aria-label="${esc(title)}">` +
    `<title>${esc(title)}</title><rect class="bg" x="0" y="0" width="${w}" height="${h}" fill="#fff"/>` +
    `<text x="${w / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`
  );
}

export function linePlot(o: LinePlotOptions): string {
  const W = o.width ?? 560;
  const H = o.height ?? 330;
  const longest = Math.max(0, ...o.series.map((s) => s.name.length));
  const m = { l: 58, r: Math.min(260, Math.max(110, 40 + 6.2 * longest)), t: 30, b: 46 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const all = o.series.flatMap((s) => s.points);
  const ys = [...all.flatMap((p) => [p.y, p.lo ?? p.y, p.hi ?? p.y]), ...(o.hlines ?? []).map((l) => l.y)].filter(Number.isFinite);
  let yLo = ys.length ? Math.min(...ys) : 0;
  let yHi = ys.length ? Math.max(...ys) : 1;
  if (yHi - yLo < 1e-9) {
    yLo -= 0.5;
    yHi += 0.5;
  }
  const pad = (yHi - yLo) * 0.06;
  yLo -= pad;
  yHi += pad;
  const yTicks = niceTicks(yLo, yHi, 5);
  const Y = (v: number) => m.t + ph - ((v - yLo) / (yHi - yLo)) * ph;

  let X: (v: number) => number;
  let xTicks: { value: number; label: string }[];
  if (o.categorical) {
    const cats = (o.xTicks ?? [...new Set(all.map((p) => p.x))].sort((a, b) => a - b).map((v) => ({ value: v, label: tickLabel(v) }))).map((t) => t.value);
    const pos = new Map(cats.map((v, i) => [v, i]));
    const step = pw / Math.max(1, cats.length);
    X = (v: number) => m.l + step * ((pos.get(v) ?? 0) + 0.5);
    xTicks = o.xTicks ?? cats.map((v) => ({ value: v, label: tickLabel(v) }));
  } else {
    const xs = all.map((p) => p.x);
    const xLo = Math.min(...xs, ...(o.xTicks ?? []).map((t) => t.value));
    const xHi = Math.max(...xs, ...(o.xTicks ?? []).map((t) => t.value));
    const span = xHi - xLo || 1;
    X = (v: number) => m.l + ((v - xLo) / span) * pw * 0.94 + pw * 0.03;
    xTicks = o.xTicks ?? niceTicks(xLo, xHi, 5).map((v) => ({ value: v, label: tickLabel(v) }));
  }

  const out: string[] = [open(o.id, o.title, W, H, o.attrs)];
  out.push(`<g class="axes" font-size="11" fill="#333">`);
  for (const t of yTicks) {
    const y = Y(t);
    out.push(`<line x1="${m.l}" x2="${m.l + pw}" y1="${f(y)}" y2="${f(y)}" stroke="#e5e5e5"/><text x="${m.l - 6}" y="${f(y + 4)}" text-anchor="end">${esc(tickLabel(t))}</text>`);
  }
  for (const t of xTicks) {
    const x = X(t.value);
    out.push(`<line x1="${f(x)}" x2="${f(x)}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#333"/><text x="${f(x)}" y="${m.t + ph + 17}" text-anchor="middle">${esc(t.label)}</text>`);
  }
  out.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 8}" text-anchor="middle" font-size="12">${esc(o.xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(o.yLabel)}</text>`);
  out.push(`</g>`);

  for (const [i, l] of (o.hlines ?? []).entries()) {
    const y = Y(l.y);
    const color = l.color ?? "#555";
    out.push(`<g class="hline"><line x1="${m.l}" x2="${m.l + pw}" y1="${f(y)}" y2="${f(y)}" stroke="${color}" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${m.l + pw - 4}" y="${f(y - 4 - i * 12)}" text-anchor="end" font-size="10" fill="${color}">${esc(l.label)}</text></g>`);
  }

  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts = [...s.points].filter((p) => Number.isFinite(p.y)).sort((a, b) => X(a.x) - X(b.x));
    out.push(`<g class="series" data-series="${esc(s.name)}" fill="${color}" stroke="${color}">`);
    const withRange = pts.filter((p) => p.lo !== undefined && p.hi !== undefined);
    if (s.band && withRange.length > 1) {
      const up = withRange.map((p) => `${f(X(p.x))},${f(Y(p.hi!))}`);
      const down = [...withRange].reverse().map((p) => `${f(X(p.x))},${f(Y(p.lo!))}`);
      out.push(`<polygon class="band" points="${[...up, ...down].join(" ")}" fill-opacity="0.15" stroke="none"/>`);
    } else {
      for (const p of withRange) {
        const x = X(p.x);
        out.push(`<path class="errorbar" d="M${f(x)},${f(Y(p.lo!))}V${f(Y(p.hi!))}M${f(x - 3)},${f(Y(p.lo!))}h6M${f(x - 3)},${f(Y(p.hi!))}h6" fill="none" stroke-width="1"/>`);
      }
    }
    if (pts.length > 1 && !s.markersOnly) {
      out.push(`<path class="line" d="${pts.map((p, k) => `${k ? "L" : "M"}${f(X(p.x))},${f(Y(p.y))}`).join("")}" fill="none" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ""}/>`);
    }
    for (const p of pts) {
      const tip = `${s.name}: ${tickLabel(p.x)} → ${p.y.toFixed(2)}${p.lo !== undefined ? ` [${p.lo.toFixed(2)}, ${p.hi!.toFixed(2)}]` : ""}`;
      out.push(`<circle class="point" cx="${f(X(p.x))}" cy="${f(Y(p.y))}" r="3.5" stroke="#fff" stroke-width="1"><title>${esc(tip)}</title></circle>`);
    }
    out.push(`</g>`);
  });

  // legend
  out.push(`<g class="legend" font-size="11">`);
  o.series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const y = m.t + 10 + i * 16;
    const x = m.l + pw + 12;
    out.push(`<line x1="${x}" x2="${x + 18}" y1="${y}" y2="${y}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="4 3"' : ""}/><circle cx="${x + 9}" cy="${y}" r="3" fill="${color}"/><text x="${x + 24}" y="${y + 4}">${esc(s.name)}</text>`);
  });
  out.push(`</g></svg>`);
  return out.join("");
}

export interface WhiskerRow {
  label: string;
  value: number;
  lo: number;
  hi: number;
  color?: string;
}

/** Horizontal dot-and-whisker plot: one row per interval, with a line at 0. */
export function whiskerPlot(o: { id: string; title: string; xLabel: string; rows: WhiskerRow[]; attrs?: Record<string, string>; width?: number }): string {
  const W = o.width ?? 640;
  const rowH = 16;
  const m = { l: 220, r: 24, t: 30, b: 44 };
  const H = m.t + m.b + Math.max(1, o.rows.length) * rowH;
  const pw = W - m.l - m.r;
  const vals = o.rows.flatMap((r) => [r.lo, r.hi, r.value]).filter(Number.isFinite);
  let lo = Math.min(0, ...vals);
  let hi = Math.max(0, ...vals);
  if (hi - lo < 1e-9) hi = lo + 1;
  const pad = (hi - lo) * 0.05;
  lo -= pad;
  hi += pad;
  const X = (v: number) => m.l + ((v - lo) / (hi - lo)) * pw;
  const out: string[] = [open(o.id, o.title, W, H, o.attrs)];
  out.push(`<g class="axes" font-size="11" fill="#333">`);
  for (const t of niceTicks(lo, hi, 6)) {
    const x = X(t);
    out.push(`<line x1="${f(x)}" x2="${f(x)}" y1="${m.t}" y2="${H - m.b}" stroke="#e5e5e5"/><text x="${f(x)}" y="${H - m.b + 15}" text-anchor="middle">${esc(tickLabel(t))}</text>`);
  }
  out.push(`<line class="zero" x1="${f(X(0))}" x2="${f(X(0))}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`);
  out.push(`<text x="${m.l + pw / 2}" y="${H - 10}" text-anchor="middle" font-size="12">${esc(o.xLabel)}</text></g>`);
  o.rows.forEach((r, i) => {
    const y = m.t + rowH * (i + 0.5);
    const color = r.color ?? PALETTE[0];
    const tip = `${r.label}: ${r.value.toFixed(2)} [${r.lo.toFixed(2)}, ${r.hi.toFixed(2)}]`;
    out.push(
      `<g class="whisker" fill="${color}" stroke="${color}"><text x="${m.l - 6}" y="${f(y + 4)}" text-anchor="end" font-size="10" stroke="none" fill="#333">${esc(r.label)}</text>` +
        `<line x1="${f(X(r.lo))}" x2="${f(X(r.hi))}" y1="${f(y)}" y2="${f(y)}" stroke-width="1.5"/>` +
        `<circle class="point" cx="${f(X(r.value))}" cy="${f(y)}" r="3.5"><title>${esc(tip)}</title></circle></g>`,
    );
  });
  out.push(`</svg>`);
  return out.join("");
}
