/**
 * The eviction lab's settings, its workloads and their seeded traces, and the cache-aside replay
 * that measures a policy's miss ratio on a trace.
 */
import { createPolicy, type PolicyName } from '../src/cache/eviction/policy.js';
import { fmtInt } from '../harness/format.js';
import { mulberry32, zipfSampler } from '../harness/random.js';

export interface EvictionRow {
  policy: PolicyName;
  workload: WorkloadName;
  cacheSizeRatio: number;
  missRatio: number;
  opsPerSecond: number | null;
}

export type WorkloadName = 'zipf-0.8' | 'zipf-1.0' | 'zipf-1.2' | 'zipf-scan' | 'loop';

export interface Settings {
  keys: number;
  requests: number;
  rounds: number;
  seed: number;
}

const SEED = 20_240_416;
export const FULL: Settings = { keys: 100_000, requests: 1_000_000, rounds: 5, seed: SEED };
export const QUICK: Settings = { keys: 20_000, requests: 200_000, rounds: 3, seed: SEED };
export const SIZE_RATIOS = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5];
export const THROUGHPUT_WORKLOAD: WorkloadName = 'zipf-1.0';
export const THROUGHPUT_SIZE_RATIO = 0.1;
const SCAN_SHARE = 0.2;

export const WORKLOADS: { name: WorkloadName; describe: (s: Settings) => string }[] = [
  { name: 'zipf-0.8', describe: (s) => `Zipf s = 0.8 over ${fmtInt(s.keys)} keys` },
  { name: 'zipf-1.0', describe: (s) => `Zipf s = 1.0 over ${fmtInt(s.keys)} keys` },
  { name: 'zipf-1.2', describe: (s) => `Zipf s = 1.2 over ${fmtInt(s.keys)} keys` },
  {
    name: 'zipf-scan',
    describe: (s) =>
      `Zipf s = 1.0 over ${fmtInt(s.keys)} keys; every ${fmtInt(s.keys / 10)} requests end with a sequential scan of ` +
      `${fmtInt((s.keys / 10) * SCAN_SHARE)} never-repeated keys (${SCAN_SHARE * 100}% of requests)`,
  },
  { name: 'loop', describe: (s) => `cyclic access 0, 1, …, ${fmtInt(s.keys - 1)}, 0, 1, … (the loop is larger than every cache)` },
];

function seedFor(settings: Settings, workload: WorkloadName): number {
  let h = settings.seed;
  for (let i = 0; i < workload.length; i++) h = Math.imul(h ^ workload.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Builds a workload's trace of key ids. Zipf ranks are scattered over the key space with a
 * seeded permutation so that hot keys are not simply the smallest integers.
 */
export function buildTrace(workload: WorkloadName, settings: Settings): Int32Array {
  const { keys, requests } = settings;
  const rand = mulberry32(seedFor(settings, workload));
  const trace = new Int32Array(requests);
  if (workload === 'loop') {
    for (let i = 0; i < requests; i++) trace[i] = i % keys;
    return trace;
  }
  const permutation = new Int32Array(keys);
  for (let i = 0; i < keys; i++) permutation[i] = i;
  for (let i = keys - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = permutation[i]!;
    permutation[i] = permutation[j]!;
    permutation[j] = t;
  }
  const s = workload === 'zipf-0.8' ? 0.8 : workload === 'zipf-1.2' ? 1.2 : 1.0;
  const sample = zipfSampler(keys, s);
  const next = () => sample(rand);
  if (workload !== 'zipf-scan') {
    for (let i = 0; i < requests; i++) trace[i] = permutation[next()]!;
    return trace;
  }
  const block = Math.max(10, Math.floor(keys / 10));
  const scanLength = Math.floor(block * SCAN_SHARE);
  let fresh = keys; // scan keys are never repeated and never collide with Zipf keys
  for (let i = 0; i < requests; i++) {
    trace[i] = i % block >= block - scanLength ? fresh++ : permutation[next()]!;
  }
  return trace;
}

export function capacityFor(keys: number, ratio: number): number {
  return Math.max(1, Math.round(keys * ratio));
}

// ---------------------------------------------------------------------------------------------
// Miss ratio
// ---------------------------------------------------------------------------------------------

/** Cache-aside replay: get, and set on a miss. Cold misses count. */
export function missRatio(policy: PolicyName, capacity: number, trace: Int32Array): number {
  const cache = createPolicy<number, number>(policy, capacity);
  let misses = 0;
  for (let i = 0; i < trace.length; i++) {
    const key = trace[i]!;
    if (cache.get(key) === undefined) {
      misses++;
      cache.set(key, 1);
    }
  }
  return misses / trace.length;
}
