import type { PolicyName } from './eviction/eviction.types.js';

/**
 * How a cache protects its loader when a hot key expires (a cache stampede):
 * - `none`: every reader that misses recomputes;
 * - `singleflight`: readers in one process share one recomputation;
 * - `lock`: a lease across instances (Redis `SET NX PX` with a token): its holder recomputes,
 *   the others serve the stale value if they have it or wait briefly for the new one; the lease
 *   expires by itself if its holder dies;
 * - `xfetch`: probabilistic early recomputation (Vattani, Chierichetti, Lowenstein, VLDB 2015):
 *   a reader recomputes before expiry when `now − Δ·β·ln(rand()) ≥ expiry`, Δ being the measured
 *   recomputation time stored with the value;
 * - `swr`: stale-while-revalidate: past the soft TTL the stale value is served while one
 *   background refresh runs; past the hard TTL it is a miss.
 */
export type StampedeStrategy = 'none' | 'lock' | 'singleflight' | 'xfetch' | 'swr';

export const STAMPEDE_STRATEGIES: readonly StampedeStrategy[] = ['none', 'lock', 'singleflight', 'xfetch', 'swr'];

export interface CacheOptions<V> {
  /** Names the cache in keys, metrics and invalidation messages. */
  name: string;
  strategy: StampedeStrategy;
  /** A value is fresh this long after it was computed. */
  ttlMs: number;
  /** `swr` and `lock` may serve a value this long after it went stale (default 2 × ttlMs). */
  staleMs?: number;
  /** XFetch's β (default 1; above 1 refreshes earlier). */
  beta?: number;
  /** `lock`: how long a lease lives if its holder never releases it. */
  leaseMs?: number;
  /** `lock`: how long a reader without a stale value waits for the lease holder. */
  lockWaitMs?: number;
  /** L1 size (entries) and eviction policy. */
  l1Capacity: number;
  l1Policy: PolicyName;
  /** Keep values in Redis too (when the cache has one). */
  l2?: boolean;
  /** A value may declare it goes stale sooner (e.g. a seat map at the next hold's heldUntil). */
  validUntil?: (value: V) => number | undefined;
}

/** What a tier stores: the value and what the strategies need to judge it. */
export interface CacheEntry<V> {
  value: V;
  /** Epoch ms it was computed. */
  computedAt: number;
  /** Milliseconds the computation took (XFetch's Δ). */
  delta: number;
  /** Fresh until (epoch ms). */
  freshUntil: number;
  /** May be served stale until (epoch ms); past it the entry is gone. */
  staleUntil: number;
}

export interface CacheStats {
  hits: number;
  misses: number;
  staleServed: number;
  recomputes: number;
  earlyRecomputes: number;
  errors: number;
  /** Redis (L2 or a lease) failed or timed out; the cache went on without it. */
  l2Errors: number;
}
