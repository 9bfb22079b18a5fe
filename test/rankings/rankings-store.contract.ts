import { describe, expect, it } from 'vitest';
import { HOUR, MINUTE, type RankingsStore } from '../../src/modules/rankings/rankings.store.js';

/** A fixed "now"; every time in these tests is relative to it. */
const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

const top = (store: RankingsStore, windowMs: number) => store.topConcerts(windowMs, T0, 100);

/**
 * The behaviour every RankingsStore adapter must share. `makeStore` gives a fresh, empty store
 * (its own key prefix for Redis).
 */
export function describeRankingsStoreContract(name: string, makeStore: () => Promise<RankingsStore>) {
  describe(name, () => {
    it('counts confirmations per concert inside the window, once per reservation', async () => {
      const store = await makeStore();
      await store.recordConfirmation('r1', 'A', T0 - 2 * HOUR); // outside a 1h window
      await store.recordConfirmation('r2', 'A', T0 - 10 * MINUTE);
      await store.recordConfirmation('r3', 'B', T0 - 5 * MINUTE);
      await store.recordConfirmation('r4', 'B', T0 - 1 * MINUTE);
      await store.recordConfirmation('r4', 'B', T0 - 1 * MINUTE); // redelivered: no effect
      await store.recordConfirmation('r5', 'C', T0);
      expect(await top(store, HOUR)).toEqual([
        { concertId: 'B', count: 2 },
        { concertId: 'A', count: 1 },
        { concertId: 'C', count: 1 },
      ]);
      expect(await store.topConcerts(HOUR, T0, 1)).toEqual([{ concertId: 'B', count: 2 }]);
      expect((await top(store, 24 * HOUR))[0]).toEqual({ concertId: 'A', count: 2 });
      await store.reset();
      expect(await top(store, 24 * HOUR)).toEqual([]);
    });

    it('takes a cancelled confirmation out of every window, once', async () => {
      const store = await makeStore();
      await store.recordConfirmation('r1', 'A', T0 - 10 * MINUTE);
      await store.recordConfirmation('r2', 'A', T0 - 3 * HOUR);
      await store.recordConfirmation('r3', 'A', T0 - 20 * MINUTE);
      await store.recordConfirmation('r4', 'B', T0 - 5 * MINUTE);
      await store.recordCancellation('r1', 'A', T0 - 10 * MINUTE);
      await store.recordCancellation('r1', 'A', T0 - 10 * MINUTE); // redelivered: no effect
      await store.recordConfirmation('r1', 'A', T0 - 10 * MINUTE); // confirmation redelivered after: no effect
      expect(await top(store, HOUR)).toEqual([
        { concertId: 'A', count: 1 },
        { concertId: 'B', count: 1 },
      ]);
      expect(await top(store, 24 * HOUR)).toEqual([
        { concertId: 'A', count: 2 },
        { concertId: 'B', count: 1 },
      ]);
      await store.recordCancellation('r2', 'A', T0 - 3 * HOUR); // cancelled long after: gone from the day too
      await store.recordCancellation('r3', 'A', T0 - 20 * MINUTE);
      expect(await top(store, 24 * HOUR)).toEqual([{ concertId: 'B', count: 1 }]);
      expect(await top(store, 7 * 24 * HOUR)).toEqual([{ concertId: 'B', count: 1 }]);
    });

    it('a cancellation delivered before its confirmation leaves no count, and never a negative one', async () => {
      const store = await makeStore();
      await store.recordCancellation('r1', 'A', T0 - 10 * MINUTE);
      await store.recordConfirmation('r1', 'A', T0 - 10 * MINUTE);
      await store.recordConfirmation('r2', 'A', T0 - 9 * MINUTE);
      await store.recordCancellation('r9', 'B', T0 - 8 * MINUTE); // never counted here
      await store.recordConfirmation('r3', 'B', T0 - 8 * MINUTE);
      expect(await top(store, HOUR)).toEqual([
        { concertId: 'A', count: 1 },
        { concertId: 'B', count: 1 },
      ]);
      await store.recordCancellation('r2', 'A', T0 - 9 * MINUTE);
      expect(await top(store, HOUR)).toEqual([{ concertId: 'B', count: 1 }]);
    });

    it('ends in the same counts whatever the order and repetition of the changes, even all at once', async () => {
      const store = await makeStore();
      // 60 reservations of 3 concerts; every third one cancelled; each change delivered twice.
      const changes: (() => Promise<void>)[] = [];
      for (let i = 0; i < 60; i++) {
        const concert = `C${i % 3}`;
        const at = T0 - (i % 50) * MINUTE;
        for (let copy = 0; copy < 2; copy++) {
          changes.push(() => store.recordConfirmation(`r${i}`, concert, at));
          if (i % 3 === 0) changes.push(() => store.recordCancellation(`r${i}`, concert, at));
        }
      }
      changes.reverse(); // cancellations before confirmations
      await Promise.all(changes.map((apply) => apply()));
      // C0 had reservations 0, 3, 6 … : all cancelled. C1 and C2: 20 each, none cancelled.
      expect(await top(store, HOUR)).toEqual([
        { concertId: 'C1', count: 20 },
        { concertId: 'C2', count: 20 },
      ]);
    });

    it('sets and clears sell-outs; a sell-out after a seat came back replaces the first', async () => {
      const store = await makeStore();
      await store.setSellout('s1', 300);
      await store.setSellout('s2', 45);
      await store.setSellout('s3', 45);
      expect(await store.fastestSellouts(10)).toEqual([
        { scheduleId: 's2', secondsToSellOut: 45 },
        { scheduleId: 's3', secondsToSellOut: 45 },
        { scheduleId: 's1', secondsToSellOut: 300 },
      ]);
      await store.setSellout('s2', null); // a seat came back
      await store.setSellout('s2', null); // said twice: no effect
      await store.setSellout('s4', null); // never sold out: no effect
      expect(await store.fastestSellouts(10)).toEqual([
        { scheduleId: 's3', secondsToSellOut: 45 },
        { scheduleId: 's1', secondsToSellOut: 300 },
      ]);
      await store.setSellout('s2', 900); // sold out again
      expect(await store.fastestSellouts(2)).toEqual([
        { scheduleId: 's3', secondsToSellOut: 45 },
        { scheduleId: 's1', secondsToSellOut: 300 },
      ]);
      expect((await store.fastestSellouts(10)).at(-1)).toEqual({ scheduleId: 's2', secondsToSellOut: 900 });
      await store.reset();
      expect(await store.fastestSellouts(10)).toEqual([]);
    });
  });
}
