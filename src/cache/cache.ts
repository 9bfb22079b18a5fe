import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Clock } from '../platform/clock.js';
import type { InvalidationBus } from './invalidation.js';
import { createPolicy } from './eviction/policy.js';
import type { CacheEntry, CacheOptions, CacheStats } from './cache.types.js';

export interface CacheDeps {
  clock: Clock;
  /** L2 and the `lock` strategy's leases; without it the cache is in-process only. */
  redis?: Redis;
  /** Carries invalidations to every instance. */
  bus?: InvalidationBus;
  /** Random numbers in [0, 1) for XFetch (injectable for tests). */
  random?: () => number;
  onEvent?: (cache: string, event: keyof CacheStats) => void;
}

export interface Cache<V> {
  readonly name: string;
  get(key: string, load: () => Promise<V>): Promise<V>;
  /** Drops keys here, in Redis and, through the bus, in every other instance's L1. */
  invalidate(...keys: string[]): Promise<void>;
  /** Drops every key of this cache in every instance (for caches kept in L1 only). */
  invalidateAll(): Promise<void>;
  stats(): CacheStats;
}

const RELEASE_LEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A two-tier cache: L1 in process (bounded, pluggable eviction), L2 in Redis when configured, and
 * one of five stampede strategies (see cache.types.ts). Values past their soft TTL may be served
 * stale by `swr` and `lock` until `staleMs` later; nothing is served past a value's own
 * `validUntil`.
 */
export function createCache<V>(opts: CacheOptions<V>, deps: CacheDeps): Cache<V> {
  const { clock, redis } = deps;
  const random = deps.random ?? Math.random;
  const l1 = createPolicy<string, CacheEntry<V>>(opts.l1Policy, opts.l1Capacity);
  const useL2 = Boolean(redis && opts.l2 !== false);
  const staleMs = opts.staleMs ?? opts.ttlMs * 2;
  const beta = opts.beta ?? 1;
  const leaseMs = opts.leaseMs ?? 2_000;
  const lockWaitMs = opts.lockWaitMs ?? 1_000;
  const flights = new Map<string, Promise<CacheEntry<V>>>();
  /** When each key was last invalidated: a load that started before must not store its result. */
  const invalidatedAt = new Map<string, number>();
  let allInvalidatedAt = -Infinity;
  const ALL = '*';
  const stats: CacheStats = { hits: 0, misses: 0, staleServed: 0, recomputes: 0, earlyRecomputes: 0, errors: 0, l2Errors: 0 };
  const count = (event: keyof CacheStats) => {
    stats[event]++;
    deps.onEvent?.(opts.name, event);
  };
  const l2Key = (key: string) => `cache:${opts.name}:${key}`;
  const leaseKey = (key: string) => `cache-lease:${opts.name}:${key}`;

  const dropLocal = (keys: string[]) => {
    const now = clock.now().getTime();
    if (keys.includes(ALL)) {
      l1.clear();
      allInvalidatedAt = now;
      return;
    }
    for (const key of keys) {
      l1.delete(key);
      invalidatedAt.set(key, now);
    }
    if (invalidatedAt.size > 10_000) {
      for (const [key, at] of invalidatedAt) if (now - at > 60_000) invalidatedAt.delete(key);
    }
  };
  deps.bus?.subscribe(opts.name, dropLocal);

  /**
   * Redis is a speed-up, never a dependency of an answer: a failed or timed-out L2 read is a miss,
   * a failed write or lease leaves the value in L1 and the load to this process alone (single flight).
   */
  const withoutL2 = <T>(fallback: T) => (): T => {
    count('l2Errors');
    return fallback;
  };

  async function readL2(key: string): Promise<CacheEntry<V> | undefined> {
    if (!useL2) return undefined;
    const raw = await redis!.get(l2Key(key)).catch(withoutL2(null));
    return raw ? (JSON.parse(raw) as CacheEntry<V>) : undefined;
  }

  /** Computes and stores a value; the one place a loader runs. */
  async function load(key: string, loader: () => Promise<V>): Promise<CacheEntry<V>> {
    const started = clock.now().getTime();
    count('recomputes');
    let value: V;
    try {
      value = await loader();
    } catch (err) {
      count('errors');
      throw err;
    }
    const now = clock.now().getTime();
    const validUntil = opts.validUntil?.(value) ?? Infinity;
    const entry: CacheEntry<V> = {
      value,
      computedAt: now,
      delta: Math.max(1, now - started),
      freshUntil: Math.min(now + opts.ttlMs, validUntil),
      staleUntil: Math.min(now + opts.ttlMs + staleMs, validUntil),
    };
    if (Math.max(invalidatedAt.get(key) ?? -Infinity, allInvalidatedAt) >= started || entry.staleUntil <= now) return entry;
    l1.set(key, entry);
    if (useL2) {
      await redis!.set(l2Key(key), JSON.stringify(entry), 'PX', Math.max(1, Math.ceil(entry.staleUntil - now))).catch(withoutL2(null));
    }
    return entry;
  }

  /**
   * Under a lease: look in L2 once more first, since the previous holder may have stored a fresh
   * value between our read and our lease (double-checked), and only then recompute.
   */
  async function leasedRefresh(key: string, loader: () => Promise<V>): Promise<CacheEntry<V>> {
    const shared = await readL2(key);
    if (shared && clock.now().getTime() < shared.freshUntil) {
      l1.set(key, shared);
      return shared;
    }
    return flight(key, loader);
  }

  /** One load per key at a time in this process; the map is cleared whether it succeeds or not. */
  function flight(key: string, loader: () => Promise<V>): Promise<CacheEntry<V>> {
    let pending = flights.get(key);
    if (!pending) {
      pending = load(key, loader).finally(() => flights.delete(key));
      flights.set(key, pending);
    }
    return pending;
  }

  function refreshInBackground(key: string, loader: () => Promise<V>) {
    if (flights.has(key)) return;
    void withLease(key, () => leasedRefresh(key, loader)).catch(() => {});
  }

  /** Runs fn only if this instance gets the key's lease (always, without Redis or when it fails). */
  async function withLease<T>(key: string, fn: () => Promise<T>): Promise<T | undefined> {
    if (!redis) return fn();
    const token = randomBytes(12).toString('base64url');
    const taken = await redis.set(leaseKey(key), token, 'PX', leaseMs, 'NX').catch(withoutL2('unavailable' as const));
    if (taken === 'unavailable') return fn();
    if (taken !== 'OK') return undefined;
    try {
      return await fn();
    } finally {
      await redis.eval(RELEASE_LEASE, 1, leaseKey(key), token).catch(() => {});
    }
  }

  async function viaLock(key: string, loader: () => Promise<V>, stale: CacheEntry<V> | undefined): Promise<V> {
    const local = flights.get(key);
    if (local) {
      if (stale) {
        count('staleServed');
        return stale.value;
      }
      return (await local).value;
    }
    const fresh = await withLease(key, () => leasedRefresh(key, loader));
    if (fresh) return fresh.value;
    if (stale) {
      count('staleServed');
      return stale.value;
    }
    // Another instance holds the lease: wait for its value, then give up waiting and compute.
    const deadline = clock.now().getTime() + lockWaitMs;
    while (clock.now().getTime() < deadline) {
      await sleep(10);
      const entry = await readL2(key);
      if (entry && clock.now().getTime() < entry.freshUntil) {
        l1.set(key, entry);
        return entry.value;
      }
    }
    return (await flight(key, loader)).value;
  }

  return {
    name: opts.name,

    async get(key, loader) {
      const now = clock.now().getTime();
      let entry = l1.get(key);
      if (entry && now >= entry.staleUntil) {
        l1.delete(key);
        entry = undefined;
      }
      if (!entry || (useL2 && now >= entry.freshUntil)) {
        // Missing or stale here: another instance may already have put a fresher value in L2.
        const shared = await readL2(key);
        if (shared && now < shared.staleUntil && (!entry || shared.freshUntil > entry.freshUntil)) {
          l1.set(key, shared);
          entry = shared;
        }
      }
      if (entry && now < entry.freshUntil) {
        // XFetch: the closer to expiry and the slower the value is to compute, the likelier a
        // reader recomputes it early, so expiry never finds everyone waiting at once.
        if (opts.strategy === 'xfetch' && now - entry.delta * beta * Math.log(1 - random()) >= entry.freshUntil) {
          count('earlyRecomputes');
          return (await flight(key, loader)).value;
        }
        count('hits');
        return entry.value;
      }
      count('misses');
      switch (opts.strategy) {
        case 'none':
          return (await load(key, loader)).value;
        case 'singleflight':
        case 'xfetch':
          return (await flight(key, loader)).value;
        case 'swr':
          if (entry) {
            count('staleServed');
            refreshInBackground(key, loader);
            return entry.value;
          }
          return (await flight(key, loader)).value;
        case 'lock':
          return viaLock(key, loader, entry);
      }
    },

    async invalidate(...keys) {
      if (keys.length === 0) return;
      dropLocal(keys);
      if (useL2) await redis!.del(...keys.map(l2Key));
      await deps.bus?.publish(opts.name, keys);
    },

    async invalidateAll() {
      dropLocal([ALL]);
      await deps.bus?.publish(opts.name, [ALL]);
    },

    stats: () => ({ ...stats }),
  };
}
