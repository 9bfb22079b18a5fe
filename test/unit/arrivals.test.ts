import { afterEach, describe, expect, it, vi } from 'vitest';
import { ArrivalLane } from '../../src/platform/arrivals.js';

describe('the arrivals lane', () => {
  afterEach(() => vi.useRealTimers());

  it('runs up to its limit at once; the others wait and run in order as places free', async () => {
    const lane = new ArrivalLane({ max: 2, maxWaitMs: 10_000, maxQueue: 10 });
    expect([lane.acquire(), lane.acquire()]).toEqual([true, true]);
    const order: string[] = [];
    const third = Promise.resolve(lane.acquire()).then((ok) => order.push(`third ${ok}`));
    const fourth = Promise.resolve(lane.acquire()).then((ok) => order.push(`fourth ${ok}`));
    expect([lane.inFlight, lane.queued]).toEqual([2, 2]);
    lane.release();
    await third;
    expect(order).toEqual(['third true']);
    lane.release();
    await fourth;
    expect(order).toEqual(['third true', 'fourth true']);
    expect([lane.inFlight, lane.queued]).toEqual([2, 0]);
  });

  it('refuses an arrival whose wait ran out, and one beyond a full queue at once', async () => {
    vi.useFakeTimers();
    const lane = new ArrivalLane({ max: 1, maxWaitMs: 500, maxQueue: 1 });
    expect(lane.acquire()).toBe(true);
    const waiting = lane.acquire();
    expect(lane.acquire()).toBe(false);
    vi.advanceTimersByTime(500);
    expect(await waiting).toBe(false);
    expect([lane.inFlight, lane.queued]).toEqual([1, 0]);
  });

  it('halves its limit under pressure (never below 1) and grows it by one without, letting waiters in as it grows', async () => {
    const lane = new ArrivalLane({ max: 8, maxWaitMs: 10_000, maxQueue: 10 });
    lane.adapt(true);
    expect(lane.limit).toBe(4);
    for (let i = 0; i < 5; i++) lane.adapt(true);
    expect(lane.limit).toBe(1);
    expect(lane.acquire()).toBe(true);
    const waiting = lane.acquire();
    lane.adapt(false);
    expect(lane.limit).toBe(2);
    expect(await waiting).toBe(true);
    for (let i = 0; i < 20; i++) lane.adapt(false);
    expect(lane.limit).toBe(8);
  });
});
