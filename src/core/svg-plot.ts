/**
 * A minimal line-plot writer producing standalone SVG text: axes with ticks and labels, an optional log x axis, a
 * legend, and labelled marker points. Enough for an ROC curve a person can read; no dependencies.
 */

/** One curve. */
export interface PlotSeries {
  label: string;
  points: readonly { x: number; y: number }[];
  /** CSS colour. Default: from a fixed palette by series index. */
  color?: string;
}

/** A labelled point drawn as a dot with its text. */
export interface PlotMarker {
  x: number;
  y: number;
  label: string;
}

export interface LinePlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Logarithmic x axis (decades). Default false. Values at or below `xMin` are drawn at `xMin`. */
  xLog?: boolean;
  /** Axis ranges. Default: the data's range (x in log space when `xLog`). */
  xMin?: number;
  xMax?: number;
  yMin?: number;
  yMax?: number;
  /** Image size in pixels. Default 720 x 540. */
  widthPx?: number;
  heightPx?: number;
  markers?: readonly PlotMarker[];
  /** Extra lines of text under the legend (a summary of the numbers). Default none. */
  notes?: readonly string[];
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b'];

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

/** Tick values for a linear axis: about 5-10 round steps. */
function linearTicks(min: number, max: number): number[] {
  const span = max - min || 1;
  const raw = span / 8;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= 10) ?? 10 * mag;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + 1e-9 * span; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

function decadeLabel(v: number): string {
  const e = Math.round(Math.log10(v));
  if (e === 0) return '1';
  if (e === -1) return '0.1';
  if (e === -2) return '0.01';
  return `1e${e}`;
}

/** Renders the series as an SVG document (a string starting with `<svg`). */
export function linePlotSvg(series: readonly PlotSeries[], options: LinePlotOptions): string {
  const W = options.widthPx ?? 720;
  const H = options.heightPx ?? 540;
  const left = 70;
  const right = 20;
  const top = 40;
  const bottom = 60;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const xLog = options.xLog ?? false;
  const all = series.flatMap((s) => s.points);
  const xs = all.map((p) => p.x).filter((x) => Number.isFinite(x) && (!xLog || x > 0));
  const ys = all.map((p) => p.y).filter(Number.isFinite);
  let xMin = options.xMin ?? (xs.length ? Math.min(...xs) : xLog ? 1e-3 : 0);
  let xMax = options.xMax ?? (xs.length ? Math.max(...xs) : 1);
  const yMin = options.yMin ?? (ys.length ? Math.min(...ys) : 0);
  const yMax = options.yMax ?? (ys.length ? Math.max(...ys) : 1);
  if (xLog) {
    xMin = 10 ** Math.floor(Math.log10(xMin) + 1e-9);
    xMax = 10 ** Math.ceil(Math.log10(xMax) - 1e-9);
  }
  const tx = (x: number): number => {
    const f = xLog ? (Math.log10(Math.max(x, xMin)) - Math.log10(xMin)) / (Math.log10(xMax) - Math.log10(xMin) || 1) : (x - xMin) / (xMax - xMin || 1);
    return left + Math.min(1, Math.max(0, f)) * pw;
  };
  const ty = (y: number): number => top + (1 - Math.min(1, Math.max(0, (y - yMin) / (yMax - yMin || 1)))) * ph;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="16">${esc(options.title)}</text>`);
  // Grid and ticks.
  const xTicks = xLog
    ? Array.from({ length: Math.round(Math.log10(xMax / xMin)) + 1 }, (_, i) => xMin * 10 ** i)
    : linearTicks(xMin, xMax);
  for (const v of xTicks) {
    const x = tx(v).toFixed(1);
    out.push(`<line x1="${x}" y1="${top}" x2="${x}" y2="${top + ph}" stroke="#ddd"/>`);
    out.push(`<text x="${x}" y="${top + ph + 18}" text-anchor="middle">${xLog ? decadeLabel(v) : fmt(v)}</text>`);
  }
  for (const v of linearTicks(yMin, yMax)) {
    const y = ty(v).toFixed(1);
    out.push(`<line x1="${left}" y1="${y}" x2="${left + pw}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 8}" y="${(+y + 4).toFixed(1)}" text-anchor="end">${fmt(v)}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
  out.push(`<text x="${left + pw / 2}" y="${H - 18}" text-anchor="middle" font-size="14">${esc(options.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="14">${esc(options.yLabel)}</text>`);
  // Curves.
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length]!;
    const pts = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).map((p) => `${tx(p.x).toFixed(2)},${ty(p.y).toFixed(2)}`);
    if (pts.length) out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.join(' ')}"/>`);
  });
  // Markers.
  for (const m of options.markers ?? []) {
    const x = tx(m.x);
    const y = ty(m.y);
    out.push(`<circle cx="${x.toFixed(1)}" cy="${y.toFixed(1)}" r="4" fill="black"/>`);
    const anchor = x > left + pw * 0.7 ? 'end' : 'start';
    out.push(`<text x="${(x + (anchor === 'end' ? -8 : 8)).toFixed(1)}" y="${(y + 16).toFixed(1)}" text-anchor="${anchor}">${esc(m.label)}</text>`);
  }
  // Legend and notes, bottom-right inside the plot.
  const lines = [...series.map((s, i) => ({ text: s.label, color: s.color ?? PALETTE[i % PALETTE.length]! })), ...(options.notes ?? []).map((t) => ({ text: t, color: '' }))];
  // Text width estimated at 6.7 px per character of 12 px sans-serif: no font metrics without a renderer.
  const boxW = Math.min(pw - 10, 20 + Math.max(0, ...lines.map((l) => l.text.length * 6.7 + (l.color ? 28 : 0))));
  const lx = left + pw - boxW;
  let ly = top + ph - 14 - 18 * (lines.length - 1);
  out.push(`<rect x="${lx - 8}" y="${ly - 16}" width="${boxW}" height="${18 * lines.length + 8}" fill="white" fill-opacity="0.85" stroke="#999"/>`);
  for (const l of lines) {
    if (l.color) out.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 22}" y2="${ly - 4}" stroke="${l.color}" stroke-width="3"/>`);
    out.push(`<text x="${lx + (l.color ? 28 : 0)}" y="${ly}">${esc(l.text)}</text>`);
    ly += 18;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
