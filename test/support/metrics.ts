import type { FastifyInstance } from 'fastify';

/** One sample of the Prometheus text format: `name{label="value",...} value`. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = LINE.exec(line);
    if (!m || line.startsWith('#')) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (m[2] ?? '').matchAll(LABEL)) labels[key!] = value!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

/** GET /metrics, parsed, with helpers to read series. */
export async function scrape(app: FastifyInstance) {
  const res = await app.inject({ url: '/metrics' });
  if (res.statusCode !== 200) throw new Error(`GET /metrics: ${res.statusCode} ${res.body}`);
  const samples = parseMetrics(res.body);
  const matches = (s: Sample, name: string, labels: Record<string, string>) =>
    s.name === name && Object.keys(labels).length === Object.keys(s.labels).length && Object.entries(labels).every(([k, v]) => s.labels[k] === v);
  return {
    samples,
    text: res.body,
    /** The value of the series with exactly these labels, or undefined when there is none. */
    value: (name: string, labels: Record<string, string> = {}) => samples.find((s) => matches(s, name, labels))?.value,
    /** The label sets of every series of the metric. */
    series: (name: string) => samples.filter((s) => s.name === name).map((s) => s.labels),
  };
}
