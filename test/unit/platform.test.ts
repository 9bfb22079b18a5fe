import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { seedDemoConcerts, } from '../../src/modules/catalog/catalog.demo.js';
import type { CatalogService, NewConcert } from '../../src/modules/catalog/catalog.service.js';
import { startLoop } from '../../src/platform/loop.js';
import { createMetrics, registerOutboxGauges } from '../../src/platform/metrics.js';
import { createRedis } from '../../src/platform/redis.js';
import { loadOrCreateSecrets } from '../../src/platform/secrets.js';
import { createServer, type AddressInfo } from 'node:net';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('generated secrets', () => {
  it('are created once, kept private, and reused on the next start', () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    try {
      const first = loadOrCreateSecrets(dir);
      expect(first.adminToken).toMatch(/^adm_[\w-]{40,}$/);
      expect(first.tokenSecret.length).toBeGreaterThanOrEqual(32);
      expect(statSync(join(dir, 'secrets.json')).mode & 0o777).toBe(0o600);
      expect(loadOrCreateSecrets(dir)).toEqual(first);
      expect(JSON.parse(readFileSync(join(dir, 'secrets.json'), 'utf8'))).toEqual(first);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('background loop', () => {
  it('runs passes one at a time, survives a failing pass, and stop waits for the pass in flight', async () => {
    let passes = 0;
    let running = 0;
    let overlap = false;
    const errors: unknown[] = [];
    const loop = startLoop({
      intervalMs: 5,
      onError: (err) => errors.push(err),
      run: async () => {
        running++;
        overlap ||= running > 1;
        passes++;
        await sleep(10);
        running--;
        if (passes === 2) throw new Error('one bad pass');
      },
    });
    await sleep(120);
    await loop.stop();
    const after = passes;
    await sleep(50);
    expect(passes).toBe(after);
    expect(passes).toBeGreaterThan(3);
    expect(overlap).toBe(false);
    expect(running).toBe(0);
    expect(errors).toHaveLength(1);
  });
});

describe('demo data', () => {
  it('fills an empty catalog and leaves a used one alone', async () => {
    const created: NewConcert[] = [];
    const catalog = (empty: boolean) =>
      ({
        hasAnyConcert: async () => !empty,
        createConcert: async (c: NewConcert) => {
          created.push(c);
        },
      }) as unknown as CatalogService;
    expect(await seedDemoConcerts(catalog(false), new Date())).toBe(false);
    expect(created).toHaveLength(0);
    const now = new Date('2030-03-01T08:00:00Z');
    expect(await seedDemoConcerts(catalog(true), now)).toBe(true);
    expect(created.length).toBeGreaterThanOrEqual(3);
    for (const c of created) {
      for (const s of c.schedules) expect(new Date(s.startsAt).getTime()).toBeGreaterThan(now.getTime());
    }
  });
});

describe('outbox gauges', () => {
  it('are read at scrape time, once per scrape', async () => {
    const metrics = createMetrics();
    let reads = 0;
    registerOutboxGauges(metrics, async () => {
      reads++;
      return { unsent: 7, parked: 2, oldestUnsentAgeSeconds: 1.5 };
    });
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^outbox_unsent_events 7$/m);
    expect(text).toMatch(/^outbox_parked_events 2$/m);
    expect(text).toMatch(/^outbox_oldest_unsent_age_seconds 1.5$/m);
    expect(reads).toBe(1);
  });
});

describe('Redis connection errors', () => {
  it('reach the log once per interval while Redis keeps refusing, not once per reconnection', async () => {
    // A port that refuses: listen, note it, close.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const errors: Error[] = [];
    let attempts = 0;
    const redis = createRedis(`redis://127.0.0.1:${port}`, { onError: (err) => errors.push(err), errorEveryMs: 60_000 });
    redis.on('error', () => attempts++);
    try {
      await sleep(1_500); // ioredis reconnects every 50 ms, then more slowly: several refusals
      expect(attempts).toBeGreaterThan(2);
      expect(errors).toHaveLength(1);
      expect(errors[0]!.message).toMatch(/ECONNREFUSED/);
    } finally {
      redis.disconnect();
    }
  });
});
