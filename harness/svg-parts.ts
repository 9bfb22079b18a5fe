/**
 * The pieces both SVG charts are drawn with: tick placement (linear and log), number and XML
 * formatting, and the frame around a plot (title, axis labels, legend).
 */

export const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#17becf',
  '#7f7f7f',
  '#bcbd22',
];

const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';

export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&${{ '<': 'lt', '>': 'gt', '&': 'amp', '"': 'quot', "'": 'apos' }[c]!};`);
}

/** Compact number format for ticks: 0.001, 0.5, 12, 1.5k, 2M. */
export function formatNumber(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  const trim = (s: string) => (s.includes('.') ? s.replace(/\.?0+$/, '') : s);
  if (a >= 1e9) return `${trim((v / 1e9).toFixed(1))}G`;
  if (a >= 1e6) return `${trim((v / 1e6).toFixed(1))}M`;
  if (a >= 1e4) return `${trim((v / 1e3).toFixed(1))}k`;
  if (a >= 100) return trim(v.toFixed(0));
  if (a >= 1) return trim(v.toFixed(2));
  return trim(v.toPrecision(2));
}

/** A coordinate rounded to 0.1 px, as written into the SVG. */
export function r(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

/** "Nice" linear ticks covering [min, max] (Heckbert's algorithm). */
export function niceTicks(min: number, max: number, count = 5): number[] {
  if (!(max > min)) max = min + 1;
  const niceNum = (range: number, round: boolean) => {
    const exp = Math.floor(Math.log10(range));
    const f = range / 10 ** exp;
    const nf = round ? (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10) : f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10;
    return nf * 10 ** exp;
  };
  const step = niceNum(niceNum(max - min, false) / (count - 1), true);
  const lo = Math.floor(min / step) * step;
  const hi = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let t = lo; t <= hi + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Ticks at 1, 2, 5 × powers of ten within [min, max] (min > 0). */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) {
    for (const m of [1, 2, 5]) {
      const t = Number((m * 10 ** e).toPrecision(12));
      if (t >= min * 0.999 && t <= max * 1.001) ticks.push(t);
    }
  }
  return ticks;
}

/** The chart's size and the margins around its plot area. */
export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** The opening tag, white background and title. */
export function header(frame: Frame, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${frame.width}" height="${frame.height}" viewBox="0 0 ${frame.width} ${frame.height}" ${FONT} font-size="12">`,
    `<rect width="${frame.width}" height="${frame.height}" fill="#ffffff"/>`,
    `<text x="${r(frame.width / 2)}" y="22" text-anchor="middle" font-size="15" font-weight="600">${escapeXml(title)}</text>`,
  ];
}

export function axisLabels(frame: Frame, xLabel: string | undefined, yLabel: string): string[] {
  const plotMidY = frame.top + (frame.height - frame.top - frame.bottom) / 2;
  const out = [
    `<text transform="translate(16 ${r(plotMidY)}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  ];
  if (xLabel) {
    const plotMidX = frame.left + (frame.width - frame.left - frame.right) / 2;
    out.push(`<text x="${r(plotMidX)}" y="${frame.height - 10}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  }
  return out;
}

export function legend(frame: Frame, names: string[], kind: 'line' | 'box'): string[] {
  const x = frame.width - frame.right + 14;
  return names.flatMap((name, i) => {
    const y = frame.top + 8 + i * 18;
    const color = PALETTE[i % PALETTE.length]!;
    const mark =
      kind === 'line'
        ? `<line x1="${x}" y1="${y}" x2="${x + 18}" y2="${y}" stroke="${color}" stroke-width="2.5"/><circle cx="${x + 9}" cy="${y}" r="3" fill="${color}"/>`
        : `<rect x="${x + 3}" y="${y - 6}" width="12" height="12" fill="${color}"/>`;
    return [mark, `<text x="${x + 24}" y="${y + 4}">${escapeXml(name)}</text>`];
  });
}

export function legendWidth(names: string[]): number {
  return 40 + Math.max(0, ...names.map((n) => n.length)) * 7;
}
