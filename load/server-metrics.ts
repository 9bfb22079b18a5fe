/**
 * The server's own account of the sale: the booking funnel's counters scraped from every
 * instance's /metrics before and after the run, summed over instances, and their difference.
 */

/** The counters of the funnel (and the work under it) the report compares with what users saw. */
export const FUNNEL = [
  'queue_joins_total',
  'queue_admitted_total',
  'reservation_holds_total',
  'payments_total',
  'reservation_cancellations_total',
  'reservations_expired_total',
  'idempotent_replays_total',
  'outbox_events_published_total',
  'event_consumer_handled_total',
  'process_cpu_seconds_total',
];

/** `name{labels}` → value, for the funnel's samples. */
export type Samples = Record<string, number>;

/** Picks the funnel's samples out of a Prometheus text exposition. */
export function parseFunnel(text: string): Samples {
  const out: Samples = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line === '') continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match || !FUNNEL.includes(match[1]!)) continue;
    const key = `${match[1]}${match[2] ?? ''}`;
    out[key] = (out[key] ?? 0) + Number(match[3]);
  }
  return out;
}

/** Scrapes every instance and sums their samples (an instance that does not answer is skipped). */
export async function scrapeFunnel(urls: string[]): Promise<Samples> {
  const total: Samples = {};
  for (const url of urls) {
    try {
      const res = await fetch(`${url}/metrics`);
      for (const [k, v] of Object.entries(parseFunnel(await res.text()))) total[k] = (total[k] ?? 0) + v;
    } catch {
      // an instance that is down counts nothing
    }
  }
  return total;
}

/** after - before, for every sample that changed. */
export function diffFunnel(before: Samples, after: Samples): Samples {
  const out: Samples = {};
  for (const [k, v] of Object.entries(after)) {
    const d = Math.round((v - (before[k] ?? 0)) * 1000) / 1000;
    if (d !== 0) out[k] = d;
  }
  return out;
}
