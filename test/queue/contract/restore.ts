import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { JoinResult, LostEntry, QueueStore } from '../../../src/modules/queue/queue.store.js';
import { active, CLOSED, expired, limits, storeOf, T0, TTL, waiting } from './support.js';

/** What a signed token of a join says about the entry (the service builds the same from the token). */
const lostOf = (joined: JoinResult, activeUntil: number | null = null): LostEntry => ({
  entryId: joined.entryId,
  ...joined.place!,
  activeUntil,
  newEpoch: randomUUID(),
});

/**
 * Putting back entries a store lost (Redis restarted empty): in their original order, ACTIVE ones
 * ACTIVE while places allow, each once per loss, and never an entry that ended before.
 */
export function describeRestoreContract(current: () => QueueStore, lose: (concertId: string) => Promise<QueueStore>) {
  const store = storeOf(current);

  describe('restore after the line was lost', () => {
    it('puts waiting entries back in their original order, ahead of everyone who joined after the loss', async () => {
      const c = randomUUID();
      const one = limits({ maxActive: 1 });
      const [u0, u1, u2, u3] = [
        await store.join(c, 'u0', randomUUID(), T0, one),
        await store.join(c, 'u1', randomUUID(), T0, one),
        await store.join(c, 'u2', randomUUID(), T0, one),
        await store.join(c, 'u3', randomUUID(), T0 + 1, one),
      ];
      expect(u0!.state).toBe('ACTIVE');

      const after = await lose(c);
      expect(await after.status(c, 'u2', u2!.entryId, T0 + 10)).toBeNull();
      const n0 = await after.join(c, 'n0', randomUUID(), T0 + 10, CLOSED);
      expect(n0).toMatchObject(waiting(n0.entryId, 1));
      expect(n0.place!.epoch).not.toBe(u2!.place!.epoch);

      expect(await after.restore(c, 'u2', lostOf(u2!), T0 + 20, CLOSED)).toEqual(waiting(u2!.entryId, 1));
      expect(await after.restore(c, 'u1', lostOf(u1!), T0 + 21, CLOSED)).toEqual(waiting(u1!.entryId, 1));
      // Asked again (two requests of the user at once), it answers the entry as it stands.
      expect(await after.restore(c, 'u1', lostOf(u1!), T0 + 22, CLOSED)).toEqual(waiting(u1!.entryId, 1));
      const n1 = await after.join(c, 'n1', randomUUID(), T0 + 30, CLOSED);
      expect(await after.restore(c, 'u3', lostOf(u3!), T0 + 40, CLOSED)).toEqual(waiting(u3!.entryId, 3));
      expect(await after.status(c, 'u2', u2!.entryId, T0 + 40)).toEqual(waiting(u2!.entryId, 2));
      expect(await after.status(c, 'n0', n0.entryId, T0 + 40)).toEqual(waiting(n0.entryId, 4));
      expect(await after.status(c, 'n1', n1.entryId, T0 + 40)).toEqual(waiting(n1.entryId, 5));

      // Admission goes on first in, first out: the put-back entries first.
      await after.admit(c, T0 + 50, limits({ maxActive: 2 }));
      expect((await after.status(c, 'u1', u1!.entryId, T0 + 50))?.state).toBe('ACTIVE');
      expect((await after.status(c, 'u2', u2!.entryId, T0 + 50))?.state).toBe('ACTIVE');
      expect(await after.status(c, 'u3', u3!.entryId, T0 + 50)).toEqual(waiting(u3!.entryId, 1));
      expect(await after.lines(T0 + 50)).toContainEqual({ concertId: c, waiting: 3, active: 2, headJoinedAt: T0 + 1 });
    });

    it('keeps an ACTIVE entry ACTIVE until the activeUntil it knew of, without counting an admission, while places allow', async () => {
      const c = randomUUID();
      const two = limits({ maxActive: 2, perSecond: 1 });
      const u0 = await store.join(c, 'u0', randomUUID(), T0, two);
      const u1 = await store.join(c, 'u1', randomUUID(), T0 + 1_000, two);
      expect([u0.state, u1.state]).toEqual(['ACTIVE', 'ACTIVE']);

      const after = await lose(c);
      const until = T0 + TTL;
      expect(await after.restore(c, 'u0', lostOf(u0, until), T0 + 2_000, two)).toEqual(active(u0.entryId, until));
      // Not an admission: the per-second budget is left for the line.
      expect((await after.stats(c, T0 + 2_000, 60_000)).admittedInWindow).toBe(0);
      const n0 = await after.join(c, 'n0', randomUUID(), T0 + 2_000, two);
      expect(n0.state).toBe('ACTIVE');
      // Both places are taken now: the other active entry waits at the head of the line.
      expect(await after.restore(c, 'u1', lostOf(u1, until), T0 + 2_001, two)).toEqual(waiting(u1.entryId, 1));
      // One whose activeUntil has passed waits as well.
      const c2 = randomUUID();
      const v0 = await store.join(c2, 'v0', randomUUID(), T0, two);
      const after2 = await lose(c2);
      expect(await after2.restore(c2, 'v0', lostOf(v0, T0 + 10), T0 + 20, CLOSED)).toEqual(waiting(v0.entryId, 1));
    });

    it('never puts back an entry that ended or was forgotten in the same line, nor one put back before', async () => {
      const c = randomUUID();
      const u0 = await store.join(c, 'u0', randomUUID(), T0, CLOSED);
      const u1 = await store.join(c, 'u1', randomUUID(), T0, CLOSED);
      await store.leave(c, 'u0', u0.entryId);
      expect(await store.restore(c, 'u0', lostOf(u0), T0 + 1, CLOSED)).toEqual(expired(u0.entryId));
      await store.purgeEnded(T0 + 2);
      expect(await store.status(c, 'u0', u0.entryId, T0 + 2)).toBeNull();
      expect(await store.restore(c, 'u0', lostOf(u0), T0 + 2, CLOSED)).toBeNull();
      expect(await store.status(c, 'u0', undefined, T0 + 2)).toBeNull();

      // Lost: put back once. Ended and forgotten afterwards: not again, until the line is lost again.
      let after = await lose(c);
      await after.join(c, 'n0', randomUUID(), T0 + 3, CLOSED); // someone stays in line: the purge visits it
      expect(await after.restore(c, 'u1', lostOf(u1), T0 + 3, CLOSED)).toEqual(waiting(u1.entryId, 1));
      await after.leave(c, 'u1', u1.entryId);
      await after.purgeEnded(T0 + 4);
      expect(await after.restore(c, 'u1', lostOf(u1), T0 + 5, CLOSED)).toBeNull();
      after = await lose(c);
      expect(await after.restore(c, 'u1', lostOf(u1), T0 + 6, CLOSED)).toEqual(waiting(u1.entryId, 1));
    });
  });
}
