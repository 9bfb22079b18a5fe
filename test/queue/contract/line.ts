import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { QueueStore } from '../../../src/modules/queue/queue.store.js';
import { active, CLOSED, contractHelpers, expired, limits, storeOf, T0, TTL, waiting, type Joined } from './support.js';

/** Joining, leaving, and positions exact in the order of the line, also under concurrent joins. */
export function describeLineContract(current: () => QueueStore) {
  const store = storeOf(current);
  const { joinMany, statusOf } = contractHelpers(store);

  describe('join', () => {
    it('creates an entry on the first join and returns the same one, same position, on a rejoin', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 1 });
      const e0 = randomUUID();
      const e1 = randomUUID();
      const e2 = randomUUID();
      const first = [await store.join(c, 'u0', e0, T0, lim), await store.join(c, 'u1', e1, T0, lim), await store.join(c, 'u2', e2, T0, lim)];
      expect(first).toMatchObject([
        { ...active(e0, T0 + TTL), created: true },
        { ...waiting(e1, 1), created: true },
        { ...waiting(e2, 2), created: true },
      ]);
      // Places order the joins (even within one millisecond), in one epoch of the line.
      const [p0, p1, p2] = first.map((j) => j.place!);
      expect(p0!.order < p1!.order && p1!.order < p2!.order).toBe(true);
      expect(new Set([p0!.epoch, p1!.epoch, p2!.epoch]).size).toBe(1);

      // A rejoin returns the same entry, at the same place.
      expect(await store.join(c, 'u2', randomUUID(), T0 + 5, lim)).toEqual({ ...waiting(e2, 2), created: false, place: p2 });
      expect(await store.join(c, 'u1', randomUUID(), T0 + 5, lim)).toEqual({ ...waiting(e1, 1), created: false, place: p1 });
      // A rejoin does not slide an active entry either.
      expect(await store.join(c, 'u0', randomUUID(), T0 + 5, lim)).toEqual({ ...active(e0, T0 + TTL), created: false, place: p0 });
      expect(await store.stats(c, T0 + 5, 60_000)).toEqual({ admittedInWindow: 1, waiting: 2, active: 1, headOrder: p1!.order });
    });

    it('names the order of the head of the line, which moves past each entry as it leaves the line', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 1 });
      const [a, b, d] = [await store.join(c, 'u0', randomUUID(), T0, lim), await store.join(c, 'u1', randomUUID(), T0, lim), await store.join(c, 'u2', randomUUID(), T0, lim)];
      expect((await store.stats(c, T0, 60_000)).headOrder).toBe(b.place!.order); // u0 was admitted at once
      await store.leave(c, 'u0');
      expect(await store.admit(c, T0 + 1, lim)).toBe(1);
      const head = (await store.stats(c, T0 + 1, 60_000)).headOrder!;
      expect(head).toBe(d.place!.order);
      expect(b.place!.order < head && a.place!.order < head).toBe(true);
      await store.leave(c, 'u2');
      expect((await store.stats(c, T0 + 1, 60_000)).headOrder).toBeNull();
    });

    it('numbers waiting positions exactly 1..N in join order', async () => {
      const c = randomUUID();
      const joined = await joinMany(c, 12, T0, CLOSED);
      for (const [i, u] of joined.entries()) {
        expect(await statusOf(c, u, T0)).toEqual(waiting(u.entryId, i + 1));
        expect(await store.status(c, u.userId, undefined, T0)).toEqual(waiting(u.entryId, i + 1));
      }
    });

    it('admits first in, first out', async () => {
      const c = randomUUID();
      const joined = await joinMany(c, 6, T0, CLOSED);
      expect(await store.admit(c, T0 + 1, limits({ maxActive: 2 }))).toBe(2);
      expect(await statusOf(c, joined[0]!, T0 + 1)).toEqual(active(joined[0]!.entryId, T0 + 1 + TTL));
      expect(await statusOf(c, joined[1]!, T0 + 1)).toEqual(active(joined[1]!.entryId, T0 + 1 + TTL));
      for (let i = 2; i < 6; i++) expect((await statusOf(c, joined[i]!, T0 + 1))?.position).toBe(i - 1);

      await store.leave(c, joined[0]!.userId);
      expect(await store.admit(c, T0 + 2, limits({ maxActive: 2 }))).toBe(1);
      expect((await statusOf(c, joined[2]!, T0 + 2))?.state).toBe('ACTIVE');
      expect((await statusOf(c, joined[3]!, T0 + 2))?.position).toBe(1);
    });

    it('puts a user who left at the back with a new entry', async () => {
      const c = randomUUID();
      const [u0] = await joinMany(c, 4, T0, CLOSED);
      await store.leave(c, u0!.userId, u0!.entryId);
      const e = randomUUID();
      expect(await store.join(c, u0!.userId, e, T0 + 1, CLOSED)).toMatchObject({ ...waiting(e, 4), created: true });
      expect(await store.stats(c, T0 + 1, 60_000)).toMatchObject({ waiting: 4, active: 0 });
    });

    it('puts a user whose active entry expired at the back with a new entry', async () => {
      const c = randomUUID();
      const lim = limits({ maxActive: 1 });
      const [u0, u1, u2] = await joinMany(c, 3, T0, lim);
      expect((await statusOf(c, u0!, T0))?.state).toBe('ACTIVE');

      // At T0 + TTL u0 has expired: their rejoin frees the place, which goes to u1, the head.
      const e = randomUUID();
      expect(await store.join(c, u0!.userId, e, T0 + TTL, lim)).toMatchObject({ ...waiting(e, 2), created: true });
      expect(await statusOf(c, u1!, T0 + TTL)).toEqual(active(u1!.entryId, T0 + 2 * TTL));
      expect(await statusOf(c, u2!, T0 + TTL)).toEqual(waiting(u2!.entryId, 1));
      expect(await statusOf(c, u0!, T0 + TTL)).toEqual(expired(u0!.entryId));
    });
  });

  describe('leave', () => {
    it('moves everyone behind a leaving user up by one', async () => {
      const c = randomUUID();
      const joined = await joinMany(c, 5, T0, CLOSED);
      await store.leave(c, joined[2]!.userId, joined[2]!.entryId);
      const positions = await Promise.all(joined.map(async (u) => (await statusOf(c, u, T0))?.position));
      expect(positions).toEqual([1, 2, null, 3, 4]);
      expect(await store.stats(c, T0, 60_000)).toMatchObject({ waiting: 4 });
    });

    it('is a no-op for an unknown user, a second leave, or an old entry id', async () => {
      const c = randomUUID();
      const joined = await joinMany(c, 3, T0, CLOSED);
      await store.leave(c, 'nobody');
      await store.leave(c, joined[0]!.userId, randomUUID());
      await store.leave(randomUUID(), joined[0]!.userId);
      expect(await statusOf(c, joined[0]!, T0)).toEqual(waiting(joined[0]!.entryId, 1));

      await store.leave(c, joined[0]!.userId);
      await store.leave(c, joined[0]!.userId);
      expect(await statusOf(c, joined[1]!, T0)).toEqual(waiting(joined[1]!.entryId, 1));
      expect(await store.stats(c, T0, 60_000)).toMatchObject({ waiting: 2 });

      // An old token cannot remove the user's newer entry.
      const newer = await store.join(c, joined[0]!.userId, randomUUID(), T0 + 1, CLOSED);
      await store.leave(c, joined[0]!.userId, joined[0]!.entryId);
      expect(await store.status(c, joined[0]!.userId, newer.entryId, T0 + 1)).toEqual(waiting(newer.entryId, 3));
    });
  });

  describe('line order', () => {
    it('keeps positions exact through a long mix of joins, leaves and admissions', async () => {
      const c = randomUUID();
      let seed = 42;
      const rand = (n: number) => {
        seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
        return seed % n;
      };
      const line: Joined[] = []; // the reference model: waiting users in order
      let joins = 0;
      let admitted = 0;
      let now = T0;
      for (let step = 0; step < 400; step++) {
        const r = rand(10);
        if (r < 6 || line.length === 0) {
          const userId = `u${joins++}`;
          const res = await store.join(c, userId, randomUUID(), now, CLOSED);
          expect(res.position).toBe(line.length + 1);
          line.push({ userId, entryId: res.entryId });
        } else if (r < 9) {
          const [gone] = line.splice(rand(line.length), 1);
          await store.leave(c, gone!.userId, gone!.entryId);
        } else {
          const k = rand(3) + 1;
          now += 1_000;
          const lim = limits({ maxActive: admitted + k, perSecond: k, activeTtlMs: 1e9 });
          const n = await store.admit(c, now, lim);
          expect(n).toBe(Math.min(k, line.length));
          for (const u of line.splice(0, n)) expect((await statusOf(c, u, now))?.state).toBe('ACTIVE');
          admitted += n;
        }
        if (step % 50 === 49) {
          const positions = await Promise.all(line.map(async (u) => (await statusOf(c, u, now))?.position));
          expect(positions).toEqual(line.map((_, i) => i + 1));
        }
      }
      expect(await store.stats(c, now, 60_000)).toMatchObject({ waiting: line.length, active: admitted });
    });
  });

  describe('concurrency', () => {
    it('gives 500 concurrent joins unique positions 1..500 and one entry each', async () => {
      const c = randomUUID();
      const results = await Promise.all(
        Array.from({ length: 500 }, (_, i) => store.join(c, `u${i}`, randomUUID(), T0, CLOSED)),
      );
      expect(results.every((r) => r.created && r.state === 'WAITING')).toBe(true);
      expect(results.map((r) => r.position).sort((a, b) => a! - b!)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
      expect(new Set(results.map((r) => r.entryId)).size).toBe(500);
      expect(await store.stats(c, T0, 60_000)).toMatchObject({ waiting: 500, active: 0 });

      // Positions reported at join time are the ones the line keeps.
      const sample = results.filter((_, i) => i % 50 === 0);
      for (const r of sample) {
        const i = results.indexOf(r);
        expect((await store.status(c, `u${i}`, r.entryId, T0))?.position).toBe(r.position);
      }
    });

    it('creates one entry when the same user joins many times at once', async () => {
      const c = randomUUID();
      const results = await Promise.all(Array.from({ length: 50 }, () => store.join(c, 'u0', randomUUID(), T0, CLOSED)));
      expect(results.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(results.map((r) => r.entryId)).size).toBe(1);
      expect(results.every((r) => r.position === 1)).toBe(true);
      expect(await store.stats(c, T0, 60_000)).toMatchObject({ waiting: 1 });
    });
  });
}
