/**
 * The stampede lab's parameters (full and quick grids), the configuration its targets are judged
 * on, and the row each run produces.
 */
import type { StampedeStrategy } from '../src/cache/cache.types.js';
import type { WorkerConfig } from './stampede-backend.js';

export interface StampedeRow {
  strategy: StampedeStrategy;
  instances: number;
  clients: number;
  /** Bursts of loads of one key (see Settings.burstGapMs) that started during the measurement. */
  expiries: number;
  /** Origin loads that started during the measurement. */
  recomputes: number;
  recomputesPerExpiry: number;
  /** Loads in the largest single burst. */
  maxRecomputesPerExpiry: number;
  /** recomputesPerExpiry over the HOT_KEYS most popular keys only. */
  hotRecomputesPerExpiry: number;
  peakBackendConcurrency: number;
  /** Most loads started in one 100 ms bucket, × 10 (per second). */
  peakBackendQps100ms: number;
  requests: number;
  throughputRps: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  steadyP99Ms: number;
  expiryWindowP99Ms: number;
  /** Share of all requests that fall in an expiry window. */
  expiryWindowShare: number;
  /** Share of expiry-window requests whose own loader ran (each waited for an origin load). */
  expiryWindowLoaderShare: number;
  /** The same two p99s over the HOT_KEYS most popular keys only. */
  hotSteadyP99Ms: number;
  hotExpiryWindowP99Ms: number;
  staleServed: number;
  errors: number;
  hits: number;
  misses: number;
  earlyRecomputes: number;
  /** The machine's 1-minute load average when the run ended (other work competes for the CPUs). */
  loadAvg1m: number;
}

/** The lab's grid and analysis parameters, plus the cache and client settings every worker gets. */
export interface Settings
  extends Pick<
    WorkerConfig,
    'keys' | 'zipfS' | 'seed' | 'ttlMs' | 'staleMs' | 'leaseMs' | 'lockWaitMs' | 'beta' | 'l1Capacity' | 'thinkMs' | 'timeoutMs'
  > {
  instances: number[];
  clients: number[];
  warmupMs: number;
  measureMs: number;
  backendBaseMs: number;
  backendK: number;
  /** A load of K less than this after the start of K's current burst belongs to that burst. */
  burstGapMs: number;
  /** Requests for K in flight during [burst start − preWindowMs, burst start + windowMs) are in the expiry window. */
  windowMs: number;
  /**
   * The key went stale a little before its reload reached the origin (the first reader's L2 read,
   * lease and HTTP round trips): reads in that gap belong to the expiry too.
   */
  preWindowMs: number;
}

const COMMON = {
  keys: 1_000,
  zipfS: 1.0,
  seed: 20_240_417,
  ttlMs: 1_000,
  staleMs: 1_000,
  leaseMs: 2_000,
  lockWaitMs: 1_000,
  beta: 1,
  l1Capacity: 2_000,
  thinkMs: 100,
  timeoutMs: 2_000,
  backendBaseMs: 20,
  backendK: 50,
  burstGapMs: 500,
  windowMs: 250,
  preWindowMs: 50,
};
export const FULL: Settings = { ...COMMON, instances: [1, 3], clients: [100, 300, 1_000], warmupMs: 4_000, measureMs: 12_000 };
export const QUICK: Settings = { ...COMMON, instances: [1, 3], clients: [100, 1_000], warmupMs: 2_500, measureMs: 5_000 };

/** The configuration the targets and the recommended default are judged on. */
export const TARGET_INSTANCES = 3;
export const TARGET_CLIENTS = 1_000;
export const MAX_RECOMPUTES_PER_EXPIRY = 1.5;
/** Keys of Zipf rank below this are "hot" (about 40% of all requests with Zipf 1.0 over 1,000 keys). */
export const HOT_KEYS = 10;

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
