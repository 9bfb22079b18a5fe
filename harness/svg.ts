/**
 * A tiny, dependency-free SVG chart helper for the labs: line charts (optionally with a log x
 * axis) and grouped bar charts. Output is deterministic for the same input, so committed charts
 * only change when the data does.
 */
import { axisLabels, escapeXml, formatNumber, header, legend, legendWidth, logTicks, niceTicks, PALETTE, r, type Frame } from './svg-parts.js';

export interface LineSeries {
  name: string;
  points: [number, number][];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  logX?: boolean;
  logY?: boolean;
  /** Fix the y range instead of fitting it (e.g. [0, 1] for ratios). */
  yDomain?: [number, number];
  /** Format tick labels; defaults to a compact number format. */
  formatX?: (x: number) => string;
  formatY?: (y: number) => string;
  /** Draw a dot at every point (default true; off for long time series). */
  markers?: boolean;
  width?: number;
  height?: number;
}

export interface BarSeries {
  name: string;
  values: (number | null)[];
}

export interface BarChartOptions {
  title: string;
  xLabel?: string;
  yLabel: string;
  /** One group of bars per category, one bar per series in each group. */
  categories: string[];
  series: BarSeries[];
  /** Horizontal dashed reference lines, e.g. a target. */
  references?: { y: number; label: string }[];
  logY?: boolean;
  formatY?: (y: number) => string;
  /** Print each bar's value above it. */
  valueLabels?: boolean;
  width?: number;
  height?: number;
}

/** A line chart: one polyline with point markers per series. */
export function lineChart(options: LineChartOptions): string {
  const { title, xLabel, yLabel, series, logX = false, logY = false } = options;
  const formatX = options.formatX ?? formatNumber;
  const formatY = options.formatY ?? formatNumber;
  const frame: Frame = {
    width: options.width ?? 760,
    height: options.height ?? 440,
    left: 70,
    right: legendWidth(series.map((s) => s.name)),
    top: 40,
    bottom: 52,
  };
  const plotW = frame.width - frame.left - frame.right;
  const plotH = frame.height - frame.top - frame.bottom;
  const xs = series.flatMap((s) => s.points.map((p) => p[0])).filter((x) => Number.isFinite(x) && (!logX || x > 0));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((y) => Number.isFinite(y) && (!logY || y > 0));
  let xMin = xs.length ? Math.min(...xs) : logX ? 1 : 0;
  let xMax = xs.length ? Math.max(...xs) : xMin + 1;
  if (xMax === xMin) xMax = logX ? xMin * 10 : xMin + 1;
  let [yMin, yMax] = options.yDomain ?? [ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1];
  let xTicks: number[];
  let yTicks: number[];
  if (logX) {
    xTicks = logTicks(xMin, xMax);
  } else {
    xTicks = niceTicks(xMin, xMax);
    xMin = xTicks[0]!;
    xMax = xTicks[xTicks.length - 1]!;
  }
  if (logY) {
    if (!(yMin > 0)) yMin = Math.min(...ys.filter((y) => y > 0), 1);
    if (yMax <= yMin) yMax = yMin * 10;
    yTicks = logTicks(yMin, yMax);
  } else {
    if (!options.yDomain) yMin = Math.min(0, yMin);
    yTicks = niceTicks(yMin, yMax);
    if (!options.yDomain) {
      yMin = yTicks[0]!;
      yMax = yTicks[yTicks.length - 1]!;
    } else {
      yTicks = yTicks.filter((t) => t >= yMin - 1e-12 && t <= yMax + 1e-12);
    }
  }
  const sx = (x: number) =>
    frame.left + (logX ? (Math.log(x) - Math.log(xMin)) / (Math.log(xMax) - Math.log(xMin)) : (x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number) =>
    frame.top +
    plotH -
    (logY ? (Math.log(y) - Math.log(yMin)) / (Math.log(yMax) - Math.log(yMin)) : (y - yMin) / (yMax - yMin)) * plotH;

  const out = header(frame, title);
  out.push(`<g stroke="#e5e5e5" stroke-width="1">`);
  for (const t of yTicks) out.push(`<line x1="${frame.left}" y1="${r(sy(t))}" x2="${frame.left + plotW}" y2="${r(sy(t))}"/>`);
  for (const t of xTicks) out.push(`<line x1="${r(sx(t))}" y1="${frame.top}" x2="${r(sx(t))}" y2="${frame.top + plotH}"/>`);
  out.push('</g>');
  out.push(`<rect x="${frame.left}" y="${frame.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  for (const t of yTicks) {
    out.push(`<text x="${frame.left - 6}" y="${r(sy(t) + 4)}" text-anchor="end">${escapeXml(formatY(t))}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<text x="${r(sx(t))}" y="${frame.top + plotH + 16}" text-anchor="middle">${escapeXml(formatX(t))}</text>`);
  }
  out.push(...axisLabels(frame, xLabel, yLabel));
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length]!;
    const pts = s.points
      .filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logX || x > 0) && (!logY || y > 0))
      .sort((a, b) => a[0] - b[0]);
    if (pts.length === 0) return;
    const d = pts.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${r(sx(x))} ${r(sy(y))}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"/>`);
    if (options.markers !== false) for (const [x, y] of pts) out.push(`<circle cx="${r(sx(x))}" cy="${r(sy(y))}" r="3" fill="${color}"/>`);
  });
  out.push(...legend(frame, series.map((s) => s.name), 'line'));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** A grouped bar chart: one group per category, one bar per series. */
export function barChart(options: BarChartOptions): string {
  const { title, xLabel, yLabel, categories, series, references = [], logY = false, valueLabels = false } = options;
  const formatY = options.formatY ?? formatNumber;
  const names = series.map((s) => s.name);
  const frame: Frame = {
    width: options.width ?? 760,
    height: options.height ?? 420,
    left: 70,
    right: series.length > 1 ? legendWidth(names) : 20,
    top: 40,
    bottom: xLabel ? 56 : 40,
  };
  const plotW = frame.width - frame.left - frame.right;
  const plotH = frame.height - frame.top - frame.bottom;
  const values = series.flatMap((s) => s.values).filter((v): v is number => v !== null && Number.isFinite(v));
  const refYs = references.map((ref) => ref.y);
  const all = [...values, ...refYs];
  let yMin: number;
  let yMax: number;
  let yTicks: number[];
  if (logY) {
    const positive = all.filter((v) => v > 0);
    yMin = positive.length ? Math.min(...positive) / 1.5 : 1;
    yMax = positive.length ? Math.max(...positive) * 1.2 : 10;
    yTicks = logTicks(yMin, yMax);
  } else {
    yTicks = niceTicks(Math.min(0, ...all), Math.max(1e-9, ...all) * 1.05);
    yMin = yTicks[0]!;
    yMax = yTicks[yTicks.length - 1]!;
  }
  const sy = (y: number) =>
    frame.top +
    plotH -
    (logY ? (Math.log(Math.max(y, yMin)) - Math.log(yMin)) / (Math.log(yMax) - Math.log(yMin)) : (y - yMin) / (yMax - yMin)) * plotH;
  const groupW = plotW / Math.max(1, categories.length);
  const barW = (groupW * 0.8) / Math.max(1, series.length);

  const out = header(frame, title);
  out.push(`<g stroke="#e5e5e5" stroke-width="1">`);
  for (const t of yTicks) out.push(`<line x1="${frame.left}" y1="${r(sy(t))}" x2="${frame.left + plotW}" y2="${r(sy(t))}"/>`);
  out.push('</g>');
  for (const t of yTicks) {
    out.push(`<text x="${frame.left - 6}" y="${r(sy(t) + 4)}" text-anchor="end">${escapeXml(formatY(t))}</text>`);
  }
  const base = logY ? sy(yMin) : sy(Math.max(0, yMin));
  categories.forEach((category, c) => {
    const gx = frame.left + c * groupW + groupW * 0.1;
    series.forEach((s, i) => {
      const v = s.values[c];
      if (v === null || v === undefined || !Number.isFinite(v)) return;
      const x = gx + i * barW;
      const y = sy(v);
      const color = series.length > 1 ? PALETTE[i % PALETTE.length]! : PALETTE[c % PALETTE.length]!;
      out.push(
        `<rect x="${r(x)}" y="${r(Math.min(y, base))}" width="${r(barW * 0.92)}" height="${r(Math.abs(base - y))}" fill="${color}"><title>${escapeXml(`${s.name} · ${category}: ${formatY(v)}`)}</title></rect>`,
      );
      if (valueLabels) {
        out.push(`<text x="${r(x + (barW * 0.92) / 2)}" y="${r(Math.min(y, base) - 4)}" text-anchor="middle" font-size="11">${escapeXml(formatY(v))}</text>`);
      }
    });
    out.push(`<text x="${r(frame.left + c * groupW + groupW / 2)}" y="${frame.top + plotH + 16}" text-anchor="middle">${escapeXml(category)}</text>`);
  });
  for (const ref of references) {
    const y = r(sy(ref.y));
    out.push(`<line x1="${frame.left}" y1="${y}" x2="${frame.left + plotW}" y2="${y}" stroke="#333" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${frame.left + plotW - 4}" y="${r(sy(ref.y) - 5)}" text-anchor="end" font-size="11">${escapeXml(ref.label)}</text>`);
  }
  out.push(`<rect x="${frame.left}" y="${frame.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(...axisLabels(frame, xLabel, yLabel));
  if (series.length > 1) out.push(...legend(frame, names, 'box'));
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
