import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manualClock } from '../../src/platform/clock.js';
import { charge, createTestApp, createUser, type TestApp } from '../support/harness.js';

const HOUR = 3_600_000;

describe('purging expired Idempotency-Keys', () => {
  // Two days in the past, so that no other test's keys are old enough to be purged here.
  const clock = manualClock(new Date(Date.now() - 48 * HOUR));
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ IDEMPOTENCY_RETENTION_HOURS: '24' }, { clock });
  });
  afterAll(() => t.close());

  const keysOf = async (userId: string) =>
    (
      await sql<{ key: string }>`SELECT key FROM idempotency_keys WHERE user_id = ${userId} ORDER BY key`.execute(t.db)
    ).rows.map((r) => r.key);

  it('deletes keys past retention in bounded statements, and keeps the rest answering', async () => {
    const user = await createUser(t.app);
    for (let i = 0; i < 5; i++) expect((await charge(t.app, user, 100, `old-key-${i}`)).statusCode).toBe(201);
    clock.advance(25 * HOUR);
    const fresh = await charge(t.app, user, 100, 'fresh-key-0');
    expect(fresh.statusCode).toBe(201);

    // Five expired keys, two per statement: 2 + 2 + 1, the short one ends the run.
    expect(await t.services.idempotency.purgeExpired({ batchSize: 2 })).toEqual({ deleted: 5, statements: 3 });
    expect(await keysOf(user.id)).toEqual(['fresh-key-0']);
    expect(await t.services.idempotency.purgeExpired({ batchSize: 2 })).toEqual({ deleted: 0, statements: 1 });

    // The kept key still replays its answer; a purged key is a new request again.
    const replay = await charge(t.app, user, 100, 'fresh-key-0');
    expect(replay.json()).toEqual(fresh.json());
    const reused = await charge(t.app, user, 100, 'old-key-0');
    expect(reused.statusCode).toBe(201);
    expect(reused.json().balance).toBe(700);
  });
});
