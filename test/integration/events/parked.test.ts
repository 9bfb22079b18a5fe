import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createMemoryBroker } from '../../../src/modules/events/broker.memory.js';
import { startConsumers } from '../../../src/modules/events/consumers.js';
import { ADMIN_TOKEN, bearer, createUser, expectProblem, type TestApp } from '../../support/harness.js';
import { insertEvent, log, passes, recorder } from '../../support/outbox.js';
import { until } from '../../support/wait.js';
import { createTestAppOnOwnDatabase } from '../../support/own-database.js';

let t: TestApp;
beforeAll(async () => {
  t = await createTestAppOnOwnDatabase('events_parked');
});
afterAll(() => t.close());

describe('parked events: list and replay', () => {
  const admin = bearer(ADMIN_TOKEN);

  type ParkedItem = { id: string; type: string; aggregateId: string; attempts: number; lastError: string | null; parkedAt: string; occurredAt: string };
  async function listAll(): Promise<ParkedItem[]> {
    const all: ParkedItem[] = [];
    let cursor: string | null = null;
    do {
      const res: { statusCode: number; json(): { items: ParkedItem[]; nextCursor: string | null } } = await t.app.inject({
        url: `/admin/outbox/parked?limit=1${cursor ? `&cursor=${cursor}` : ''}`,
        headers: admin,
      });
      expect(res.statusCode).toBe(200);
      const body = res.json();
      all.push(...body.items);
      cursor = body.nextCursor;
    } while (cursor);
    return all;
  }

  it('parks an event the broker refuses for good, lists it, and delivers it once replayed after the cause is gone', async () => {
    const small = createMemoryBroker({ maxMessageBytes: 2_000 });
    const rec = recorder();
    const subs = await startConsumers({ broker: small, instanceId: 'test', log, consumers: { recorder: rec.handle } });
    const key = `big-${randomUUID()}`;
    const big1 = await insertEvent(t, key, { blob: 'x'.repeat(3_000) });
    const after = await insertEvent(t, key, { n: 2 }); // same aggregate, after the refused one
    const big2 = await insertEvent(t, `big-${randomUUID()}`, { blob: 'y'.repeat(3_000) });
    await until(async () => {
      await passes({ db: t.db, broker: small, clock: t.services.clock });
      return rec.deliveries.has(after);
    });
    const parked = await listAll();
    const mine = parked.filter((p) => p.id === big1 || p.id === big2);
    expect(mine.map((p) => p.id)).toEqual([big1, big2]);
    expect(mine[0]).toEqual({
      id: big1,
      type: 'test.event',
      aggregateId: key,
      occurredAt: expect.any(String),
      attempts: 1,
      lastError: expect.stringMatching(/larger than/),
      parkedAt: expect.any(String),
    });
    const counts = (await t.app.inject({ url: '/admin/outbox', headers: admin })).json();
    expect(counts.parked).toBeGreaterThanOrEqual(2);

    // Refusals: no credential, a user's credential, bad ids, a bad cursor. Nothing changes.
    const user = await createUser(t.app);
    expectProblem(await t.app.inject({ method: 'POST', url: '/admin/outbox/parked/replay', payload: {} }), 401, 'UNAUTHENTICATED');
    expectProblem(await t.app.inject({ method: 'POST', url: '/admin/outbox/parked/replay', headers: bearer(user.token), payload: {} }), 403, 'FORBIDDEN');
    expectProblem(await t.app.inject({ url: '/admin/outbox/parked', headers: bearer(user.token) }), 403, 'FORBIDDEN');
    expectProblem(await t.app.inject({ method: 'POST', url: '/admin/outbox/parked/replay', headers: admin, payload: { ids: ['x'] } }), 400, 'VALIDATION_FAILED');
    expectProblem(await t.app.inject({ method: 'POST', url: '/admin/outbox/parked/replay', headers: admin, payload: { ids: [] } }), 400, 'VALIDATION_FAILED');
    expectProblem(await t.app.inject({ url: '/admin/outbox/parked?cursor=bm9wZQ', headers: admin }), 400, 'VALIDATION_FAILED');
    expect((await listAll()).filter((p) => p.id === big1 || p.id === big2)).toHaveLength(2);

    // The cause goes (a broker with a larger limit); the operator replays one, then the rest.
    const large = createMemoryBroker();
    const subsLarge = await startConsumers({ broker: large, instanceId: 'test', log, consumers: { recorder: rec.handle } });
    const one = await t.app.inject({ method: 'POST', url: '/admin/outbox/parked/replay', headers: admin, payload: { ids: [big1, randomUUID()] } });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toEqual({ replayed: 1 });
    expect((await listAll()).map((p) => p.id)).not.toContain(big1);
    await until(async () => {
      await passes({ db: t.db, broker: large, clock: t.services.clock });
      return rec.deliveries.has(big1);
    });
    expect(rec.deliveries.has(big2)).toBe(false);
    const rest = await t.app.inject({ method: 'POST', url: '/admin/outbox/parked/replay', headers: admin, payload: {} });
    expect(rest.json().replayed).toBeGreaterThanOrEqual(1);
    await until(async () => {
      await passes({ db: t.db, broker: large, clock: t.services.clock });
      return rec.deliveries.has(big2);
    });
    for (const id of [big1, after, big2]) expect(rec.deliveries.get(id)).toBe(1);
    expect((await listAll()).filter((p) => p.id === big1 || p.id === big2)).toEqual([]);
    await Promise.all([...subs, ...subsLarge].map((s) => s.close()));
  });

  it('documents the operator endpoints in the OpenAPI document', async () => {
    const doc = (await t.app.inject({ url: '/docs/json' })).json();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/admin/outbox', '/admin/outbox/parked', '/admin/outbox/parked/replay']));
  });
});
