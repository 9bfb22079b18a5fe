/**
 * Turns one run's raw data (the origin's load log and every request the workers report) into a
 * row: expiries as bursts of loads per key, recomputes per expiry, and latencies split into the
 * expiry window and the steady state.
 */
import { loadavg } from 'node:os';
import type { CacheStats } from '../src/cache/cache.types.js';
import { round } from '../harness/format.js';
import { percentile } from '../harness/percentile.js';
import { FLAG_ERROR, FLAG_LOADED } from './stampede-backend.js';
import type { RunData } from './stampede-runner.js';
import { HOT_KEYS, type Settings, type StampedeRow } from './stampede-settings.js';

export function analyze(data: RunData, settings: Settings): StampedeRow {
  const { spec, measureFrom, measureTo, loads, results } = data;
  const inMeasure = (t: number) => t >= measureFrom && t < measureTo;

  // Bursts: per key, loads in time order; a load less than burstGapMs after the start of the
  // key's current burst joins it, otherwise it starts a new burst (one expiry).
  const order = Array.from(loads.t.keys()).sort((a, b) => loads.t[a]! - loads.t[b]!);
  const burstStarts = new Map<number, number[]>();
  const burstSizes: number[] = [];
  let hotBursts = 0;
  let hotLoads = 0;
  const openBurst = new Map<number, { start: number; index: number }>();
  let recomputes = 0;
  let peakBackendConcurrency = 0;
  const buckets = new Map<number, number>();
  for (const i of order) {
    const t = loads.t[i]!;
    const key = loads.key[i]!;
    const open = openBurst.get(key);
    if (open && t - open.start < settings.burstGapMs) {
      if (open.index >= 0) burstSizes[open.index]!++;
    } else {
      const index = inMeasure(t) ? burstSizes.push(1) - 1 : -1;
      if (index >= 0 && key < HOT_KEYS) hotBursts++;
      openBurst.set(key, { start: t, index });
      let starts = burstStarts.get(key);
      if (!starts) burstStarts.set(key, (starts = []));
      starts.push(t);
    }
    if (inMeasure(t)) {
      recomputes++;
      if (key < HOT_KEYS) hotLoads++;
      peakBackendConcurrency = Math.max(peakBackendConcurrency, loads.inFlight[i]!);
      const bucket = Math.floor((t - measureFrom) / 100);
      buckets.set(bucket, (buckets.get(bucket) ?? 0) + 1);
    }
  }
  const expiries = burstSizes.length;

  // Requests: all, and split into expiry window (in flight at some time during the first
  // windowMs of a burst of their key) and steady (the rest).
  let n = 0;
  for (const r of results) n += r.latencyMs.length;
  const all = new Float64Array(n);
  const windowLat: number[] = [];
  const steadyLat: number[] = [];
  const hotWindowLat: number[] = [];
  const hotSteadyLat: number[] = [];
  let windowLoaders = 0;
  let errors = 0;
  let i = 0;
  for (const r of results) {
    for (let j = 0; j < r.latencyMs.length; j++) {
      const latency = r.latencyMs[j]!;
      const issued = r.issuedAt[j]!;
      const completed = issued + latency;
      all[i++] = latency;
      if (r.flags[j]! & FLAG_ERROR) errors++;
      const starts = burstStarts.get(r.key[j]!) ?? [];
      // First burst start b with b > issued − windowMs; the request overlaps [b − preWindowMs,
      // b + windowMs) iff b − preWindowMs < completed (later bursts start later still).
      let lo = 0;
      let hi = starts.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (starts[mid]! <= issued - settings.windowMs) lo = mid + 1;
        else hi = mid;
      }
      const inWindow = lo < starts.length && starts[lo]! - settings.preWindowMs < completed;
      const loaded = (r.flags[j]! & FLAG_LOADED) !== 0;
      const hot = r.key[j]! < HOT_KEYS;
      if (inWindow || loaded) {
        windowLat.push(latency);
        if (hot) hotWindowLat.push(latency);
        if (loaded) windowLoaders++;
      } else {
        steadyLat.push(latency);
        if (hot) hotSteadyLat.push(latency);
      }
    }
  }
  all.sort();
  const windowSorted = Float64Array.from(windowLat).sort();
  const steadySorted = Float64Array.from(steadyLat).sort();
  const p99Of = (xs: number[]) => round(percentile(Float64Array.from(xs).sort(), 0.99), 2);
  const stats = results.reduce<CacheStats>(
    (sum, r) => {
      for (const name of Object.keys(sum) as (keyof CacheStats)[]) sum[name] += r.stats[name];
      return sum;
    },
    { hits: 0, misses: 0, staleServed: 0, recomputes: 0, earlyRecomputes: 0, errors: 0, l2Errors: 0 },
  );
  return {
    strategy: spec.strategy,
    instances: spec.instances,
    clients: spec.clients,
    expiries,
    recomputes,
    recomputesPerExpiry: round(expiries ? recomputes / expiries : 0, 2),
    maxRecomputesPerExpiry: Math.max(0, ...burstSizes),
    hotRecomputesPerExpiry: round(hotBursts ? hotLoads / hotBursts : 0, 2),
    peakBackendConcurrency,
    peakBackendQps100ms: Math.max(0, ...buckets.values()) * 10,
    requests: n,
    throughputRps: Math.round(n / (settings.measureMs / 1000)),
    p50Ms: round(percentile(all, 0.5), 2),
    p99Ms: round(percentile(all, 0.99), 2),
    p999Ms: round(percentile(all, 0.999), 2),
    steadyP99Ms: round(percentile(steadySorted, 0.99), 2),
    expiryWindowP99Ms: round(percentile(windowSorted, 0.99), 2),
    expiryWindowShare: round(n ? windowLat.length / n : 0, 3),
    expiryWindowLoaderShare: round(windowLat.length ? windowLoaders / windowLat.length : 0, 3),
    hotSteadyP99Ms: p99Of(hotSteadyLat),
    hotExpiryWindowP99Ms: p99Of(hotWindowLat),
    staleServed: stats.staleServed,
    errors,
    hits: stats.hits,
    misses: stats.misses,
    earlyRecomputes: stats.earlyRecomputes,
    loadAvg1m: round(loadavg()[0]!, 2),
  };
}
