import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { systemClock } from '../../src/platform/clock.js';
import { createDb, type Database } from '../../src/platform/db.js';
import { createIdempotencyService, RENEWAL_RETRY_MS, renewEveryMs } from '../../src/modules/idempotency/idempotency.service.js';
import { freePort } from '../support/dependencies.js';
import { createTestApp, createUser, type TestApp } from '../support/harness.js';

/**
 * A renewal that fails is reported and tried again RENEWAL_RETRY_MS later, not a whole beat later
 * (a renewal that waited out the connect timeout must still land before the lease ends). Renewals
 * here go to a database nobody listens on; timers are faked, the network is real.
 */
const LEASE_MS = 9_000; // a beat of 3 s, three times the retry delay
let t: TestApp;
let away: Database;
beforeAll(async () => {
  t = await createTestApp();
  away = createDb({ connectionString: `postgres://postgres@127.0.0.1:${await freePort()}/none`, poolSize: 1 });
});
afterAll(async () => {
  vi.useRealTimers();
  await away?.destroy();
  await t?.close();
});

/** Lets real I/O (a refused connection) finish while timers are faked: up to 5 s of real time. */
async function untilReal(done: () => boolean) {
  const deadline = Date.now() + 5_000;
  while (!done() && Date.now() < deadline) await new Promise((r) => setImmediate(r));
}

it('retries a failed renewal after RENEWAL_RETRY_MS and reports each failure', async () => {
  expect(RENEWAL_RETRY_MS).toBeLessThan(renewEveryMs(LEASE_MS));
  const user = await createUser(t.app);
  const failures: unknown[] = [];
  const service = createIdempotencyService({
    db: t.db,
    clock: systemClock,
    retentionHours: 24,
    leaseMs: LEASE_MS,
    renewDb: away,
    onRenewalFailed: (err) => failures.push(err),
  });
  let finish!: () => void;
  let started!: () => void;
  const working = new Promise<void>((r) => (started = r));
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  const run = service.run({
    userId: user.id,
    key: 'renewal-retry',
    fingerprint: 'f',
    successStatus: 201,
    work: () => {
      started();
      return new Promise<string>((r) => (finish = () => r('done')));
    },
    failure: () => ({ status: 500, body: null }),
  });
  await working;
  await vi.advanceTimersByTimeAsync(renewEveryMs(LEASE_MS));
  await untilReal(() => failures.length === 1);
  expect(failures).toHaveLength(1);
  // One retry delay later, not a beat later: tried (and failed) again.
  await vi.advanceTimersByTimeAsync(RENEWAL_RETRY_MS);
  await untilReal(() => failures.length === 2);
  expect(failures).toHaveLength(2);
  vi.useRealTimers();
  finish();
  expect(await run).toEqual({ replayed: false, value: 'done' });
});
