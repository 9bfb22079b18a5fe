import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createCache, type CacheDeps } from '../../src/cache/cache.js';
import type { CacheOptions, StampedeStrategy } from '../../src/cache/cache.types.js';
import { createRedisBus, type InvalidationBus } from '../../src/cache/invalidation.js';
import { manualClock } from '../../src/platform/clock.js';
import { createRedis } from '../../src/platform/redis.js';
import { stallableProxy } from '../support/stallable-proxy.js';

const REDIS_URL = process.env.REDIS_URL;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function options(strategy: StampedeStrategy, extra: Partial<CacheOptions<string>> = {}): CacheOptions<string> {
  return { name: `t${randomUUID().slice(0, 8)}`, strategy, ttlMs: 1_000, l1Capacity: 100, l1Policy: 'lru', ...extra };
}

/** A loader that counts its calls and can be made slow or failing. */
function loader(values: string[] = ['v1', 'v2', 'v3', 'v4'], opts: { delayMs?: number } = {}) {
  let calls = 0;
  const fn = async () => {
    const value = values[Math.min(calls, values.length - 1)]!;
    calls++;
    if (opts.delayMs) await sleep(opts.delayMs);
    return value;
  };
  return Object.assign(fn, { calls: () => calls });
}

/** The cache contract every tier set-up must keep. */
function contract(name: string, deps: () => Promise<CacheDeps>) {
  describe(`cache contract: ${name}`, () => {
    it('loads once, hits until the TTL, then loads again', async () => {
      const clock = manualClock();
      const cache = createCache(options('singleflight'), { ...(await deps()), clock });
      const load = loader();
      expect(await cache.get('k', load)).toBe('v1');
      clock.advance(999);
      expect(await cache.get('k', load)).toBe('v1');
      clock.advance(1);
      expect(await cache.get('k', load)).toBe('v2');
      expect(load.calls()).toBe(2);
      expect(cache.stats()).toMatchObject({ hits: 1, misses: 2, recomputes: 2 });
    });

    it('drops a key on invalidate and never serves past validUntil', async () => {
      const clock = manualClock();
      const cache = createCache(options('swr', { validUntil: (v) => (v === 'v1' ? clock.now().getTime() + 100 : undefined) }), {
        ...(await deps()),
        clock,
      });
      const load = loader();
      expect(await cache.get('k', load)).toBe('v1');
      clock.advance(100); // v1 said it is only good for 100 ms: not even swr serves it now
      expect(await cache.get('k', load)).toBe('v2');
      await cache.invalidate('k');
      expect(await cache.get('k', load)).toBe('v3');
    });

    it('does not cache a failure', async () => {
      const cache = createCache(options('singleflight'), { ...(await deps()), clock: manualClock() });
      await expect(cache.get('k', async () => Promise.reject(new Error('db down')))).rejects.toThrow('db down');
      expect(await cache.get('k', loader())).toBe('v1');
      expect(cache.stats().errors).toBe(1);
    });
  });
}

contract('L1 only', async () => ({ clock: manualClock() }));

describe('stampede strategies (one process)', () => {
  it('none: every concurrent miss recomputes', async () => {
    const cache = createCache(options('none'), { clock: manualClock() });
    const load = loader(['v'], { delayMs: 20 });
    await Promise.all(Array.from({ length: 20 }, () => cache.get('k', load)));
    expect(load.calls()).toBe(20);
  });

  it('singleflight: concurrent misses share one load, and a failed flight is cleared', async () => {
    const cache = createCache(options('singleflight'), { clock: manualClock() });
    const load = loader(['v'], { delayMs: 20 });
    const values = await Promise.all(Array.from({ length: 50 }, () => cache.get('k', load)));
    expect(new Set(values)).toEqual(new Set(['v']));
    expect(load.calls()).toBe(1);

    let failing = 0;
    const failingLoad = async () => {
      failing++;
      await sleep(10);
      throw new Error('boom');
    };
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => cache.get('x', failingLoad)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(failing).toBe(1);
    expect(await cache.get('x', loader(['ok']))).toBe('ok');
  });

  it('swr: past the soft TTL serves stale at once and refreshes once in the background', async () => {
    const clock = manualClock();
    const cache = createCache(options('swr', { ttlMs: 100, staleMs: 1_000 }), { clock });
    const load = loader(['v1', 'v2'], { delayMs: 20 });
    expect(await cache.get('k', load)).toBe('v1');
    clock.advance(150);
    const stale = await Promise.all(Array.from({ length: 10 }, () => cache.get('k', load)));
    expect(stale).toEqual(Array.from({ length: 10 }, () => 'v1'));
    await sleep(40);
    expect(load.calls()).toBe(2);
    expect(await cache.get('k', load)).toBe('v2');
    clock.advance(2_000); // past the hard TTL: a plain miss
    expect(await cache.get('k', loader(['v9']))).toBe('v9');
    expect(cache.stats().staleServed).toBe(10);
  });

  it("xfetch: refreshes early with probability exp(-gap / (delta * beta))", async () => {
    const clock = manualClock();
    let r = 0.5;
    const cache = createCache(options('xfetch', { ttlMs: 1_000, beta: 1 }), { clock, random: () => r });
    // a 100 ms computation
    const slow = async () => {
      clock.advance(100);
      return 'v';
    };
    await cache.get('k', slow);
    clock.advance(1_000 - 50); // 50 ms before expiry: refresh iff -100 * ln(1 - r) >= 50
    r = 0.3; // -100 ln(0.7) = 35.7 < 50
    await cache.get('k', slow);
    expect(cache.stats().earlyRecomputes).toBe(0);
    r = 0.5; // -100 ln(0.5) = 69.3 >= 50
    await cache.get('k', slow);
    expect(cache.stats().earlyRecomputes).toBe(1);

    // Over many reads the frequency matches the formula: gap 100 ms, delta 100 ms, beta 2 gives exp(-0.5).
    const trials = 4_000;
    let early = 0;
    for (let i = 0; i < trials; i++) {
      const t = manualClock();
      const c = createCache(options('xfetch', { ttlMs: 1_000, beta: 2 }), { clock: t });
      await c.get('k', async () => {
        t.advance(100);
        return 'v';
      });
      t.advance(1_000 - 100);
      await c.get('k', async () => 'v');
      early += c.stats().earlyRecomputes;
    }
    expect(early / trials).toBeGreaterThan(Math.exp(-0.5) - 0.04);
    expect(early / trials).toBeLessThan(Math.exp(-0.5) + 0.04);
  });
});

const withRedis = REDIS_URL ? describe : describe.skip;
withRedis(`two tiers over Redis${REDIS_URL ? '' : ' (REDIS_URL unset: skipped)'}`, () => {
  const clients: Redis[] = [];
  const buses: InvalidationBus[] = [];
  const client = () => {
    const c = new Redis(REDIS_URL!);
    clients.push(c);
    return c;
  };
  /** One "instance": its own connections, its own L1, the shared Redis. */
  const instance = async (): Promise<CacheDeps> => {
    const redis = client();
    const bus = await createRedisBus(redis, client());
    buses.push(bus);
    return { clock: { now: () => new Date() }, redis, bus };
  };
  afterAll(async () => {
    await Promise.all(buses.map((b) => b.close()));
    await Promise.all(clients.map((c) => c.quit().catch(() => {})));
  });

  contract('L1 + Redis L2', instance);

  it('a value computed by one instance is served from L2 by another', async () => {
    const opts = options('singleflight');
    const [a, b] = [createCache(opts, await instance()), createCache(opts, await instance())];
    const load = loader(['from-a', 'from-b']);
    expect(await a.get('k', load)).toBe('from-a');
    expect(await b.get('k', load)).toBe('from-a');
    expect(load.calls()).toBe(1);
  });

  it('an invalidation in one instance reaches the L1 of the others', async () => {
    const opts = options('singleflight', { ttlMs: 60_000 });
    const [a, b] = [createCache(opts, await instance()), createCache(opts, await instance())];
    await a.get('k', loader(['old']));
    expect(await b.get('k', loader(['never']))).toBe('old'); // now in b's L1 too
    await a.invalidate('k');
    await sleep(100);
    expect(await b.get('k', loader(['new']))).toBe('new');
  });

  it('lock: one instance recomputes while the others wait for its value', async () => {
    const opts = options('lock', { lockWaitMs: 2_000 });
    const caches = await Promise.all(Array.from({ length: 3 }, async () => createCache(opts, await instance())));
    const load = loader(['v'], { delayMs: 100 });
    const values = await Promise.all(caches.flatMap((c) => Array.from({ length: 10 }, () => c.get('k', load))));
    expect(new Set(values)).toEqual(new Set(['v']));
    expect(load.calls()).toBe(1);
  });

  it('an instance whose L1 copy went stale takes the fresh value another instance put in L2', async () => {
    const opts = options('lock', { ttlMs: 150, staleMs: 5_000 });
    const [a, b] = [createCache(opts, await instance()), createCache(opts, await instance())];
    const load = loader(['v1', 'v2', 'v3']);
    expect(await a.get('k', load)).toBe('v1');
    expect(await b.get('k', load)).toBe('v1'); // from L2, now in b's L1
    await sleep(200); // both L1 copies are stale
    expect(await a.get('k', load)).toBe('v2'); // a holds the lease and recomputes
    expect(await b.get('k', load)).toBe('v2'); // b finds a's value in L2 instead of recomputing
    expect(load.calls()).toBe(2);
  });

  it('lock: when the lease holder dies, its lease expires and the others recover', async () => {
    const opts = options('lock', { leaseMs: 300, lockWaitMs: 150 });
    const deps = await instance();
    // A holder that took the lease and died: nobody will release it.
    await deps.redis!.set(`cache-lease:${opts.name}:k`, 'dead-holder', 'PX', 300);
    const cache = createCache(opts, deps);
    const started = Date.now();
    expect(await cache.get('k', loader(['recovered']))).toBe('recovered'); // waited, then computed itself
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    await sleep(300);
    expect(await deps.redis!.get(`cache-lease:${opts.name}:k`)).toBeNull(); // the dead lease is gone
    await cache.invalidate('k');
    expect(await cache.get('k', loader(['fresh']))).toBe('fresh'); // and the lease can be taken again
  });

  it('lock: a reader with a stale value serves it instead of waiting', async () => {
    const clock = manualClock();
    const opts = options('lock', { ttlMs: 100, staleMs: 10_000, lockWaitMs: 5_000 });
    const deps = { ...(await instance()), clock };
    const cache = createCache(opts, deps);
    await cache.get('k', loader(['old']));
    clock.advance(200);
    await deps.redis!.set(`cache-lease:${opts.name}:k`, 'someone-else', 'PX', 5_000);
    const started = Date.now();
    expect(await cache.get('k', loader(['new']))).toBe('old');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(cache.stats().staleServed).toBe(1);
    await deps.redis!.del(`cache-lease:${opts.name}:k`);
  });
});

withRedis(`a stalled Redis${REDIS_URL ? '' : ' (REDIS_URL unset: skipped)'}`, () => {
  it.each(['swr', 'lock', 'singleflight'] as const)('%s: reads go on from the loader, and L2 is used again once Redis answers', async (strategy) => {
    const proxy = await stallableProxy(new URL(REDIS_URL!));
    const redis = createRedis(proxy.url, { commandTimeoutMs: 100 });
    try {
      const clock = manualClock();
      const opts = options(strategy, { leaseMs: 100 });
      const cache = createCache(opts, { clock, redis });
      const load = loader(['v1', 'v2', 'v3']);
      await redis.ping(); // connected and ready before Redis stalls
      proxy.stall();
      // A miss with Redis stalled: the value comes from the loader, not a 503 and not a hang.
      expect(await cache.get('k', load)).toBe('v1');
      expect(load.calls()).toBe(1);
      // And the value is kept in L1 meanwhile.
      expect(await cache.get('k', load)).toBe('v1');
      expect(cache.stats().l2Errors).toBeGreaterThan(0);
      proxy.resume();
      await redis.ping();
      await sleep(150); // the lease taken while stalled has lapsed in Redis
      clock.advance(10_000); // and the value is past its TTL and stale window
      const other = createCache(opts, { clock, redis });
      expect(await cache.get('k', load)).toBe('v2'); // stored in L2 again...
      expect(await other.get('k', load)).toBe('v2'); // ...and served from it to another instance
      expect(load.calls()).toBe(2);
    } finally {
      redis.disconnect();
      await proxy.close();
    }
  });
});
