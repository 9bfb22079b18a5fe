import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { QueueStore } from '../../../src/modules/queue/queue.store.js';
import { active, limits, storeOf, T0, TTL, waiting } from './support.js';

/** An operator's pause of one concert's admission, and its resume. */
export function describePauseContract(current: () => QueueStore) {
  const store = storeOf(current);

  describe('pause', () => {
    it('admits nobody to a paused concert, at a join or a step, keeps the active active, and admits in order once resumed', async () => {
      const c = randomUUID();
      const other = randomUUID();
      const lim = limits({ maxActive: 5 });
      const u0 = await store.join(c, 'u0', randomUUID(), T0, lim);
      expect(await store.isPaused(c)).toBe(false);
      await store.setPaused(c, true);
      expect(await store.isPaused(c)).toBe(true);

      const u1 = await store.join(c, 'u1', randomUUID(), T0 + 1, lim);
      const u2 = await store.join(c, 'u2', randomUUID(), T0 + 2, lim);
      expect([u1.state, u2.state]).toEqual(['WAITING', 'WAITING']);
      expect(await store.admit(c, T0 + 2_000, lim)).toBe(0);
      expect(await store.touch(c, 'u0', u0.entryId, T0 + 2_000, TTL)).toEqual(active(u0.entryId, T0 + 2_000 + TTL));
      // Another concert is not paused.
      expect((await store.join(other, 'u0', randomUUID(), T0, lim)).state).toBe('ACTIVE');

      await store.setPaused(c, false);
      expect(await store.isPaused(c)).toBe(false);
      expect(await store.admit(c, T0 + 3_000, limits({ maxActive: 2 }))).toBe(1);
      expect((await store.status(c, 'u1', u1.entryId, T0 + 3_000))?.state).toBe('ACTIVE');
      expect(await store.status(c, 'u2', u2.entryId, T0 + 3_000)).toEqual(waiting(u2.entryId, 1));
    });
  });
}
