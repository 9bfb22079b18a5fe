import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMemoryQueueStore } from '../../src/modules/queue/queue.store.memory.js';
import { describeQueueStoreContract } from './queue-store.contract.js';

describeQueueStoreContract('in-process queue store', async (opts) => {
  const store = createMemoryQueueStore(opts);
  // A line in process is lost with the process: the one after it starts with a new store.
  return { store, lose: async () => createMemoryQueueStore(opts), cleanup: () => store.close() };
});

describe('in-process queue store memory', () => {
  it('is bounded by the people in line: ended entries and empty concerts are forgotten', async () => {
    const store = createMemoryQueueStore({ admissionLogMs: 1_000 });
    const T0 = Date.parse('2030-05-01T12:00:00.000Z');
    const limits = { maxActive: 1_000, perSecond: 1_000, activeTtlMs: 5_000 }; // everyone is admitted at once
    for (let round = 0; round < 20; round++) {
      const now = T0 + round * 10_000;
      const concertId = `concert-${round}`;
      for (let i = 0; i < 100; i++) {
        const joined = await store.join(concertId, `u${i}`, randomUUID(), now, limits);
        if (i % 2 === 0) await store.leave(concertId, `u${i}`, joined.entryId); // half leave, half expire
      }
      await store.admit(concertId, now + 5_000, limits);
    }
    // 20 concerts × 100 entries ended; nobody is left in any line.
    expect(await store.purgeEnded(T0 + 20 * 10_000)).toBe(2_000);
    expect(await store.activeConcerts()).toEqual([]);
    expect(await store.purgeEnded(T0 + 20 * 10_000)).toBe(0);
    expect(await store.status('concert-0', 'u1', undefined, T0 + 20 * 10_000)).toBeNull();
  });
});
