import { describe, expect, it } from 'vitest';
import { createLongPolls } from '../../src/modules/queue/queue.longpoll.js';
import { createSoldOutWatch, SOLD_OUT_CHECK_MS } from '../../src/modules/queue/queue.soldout.js';

/** The sold-out state the admission pass keeps per instance, and the held polls it wakes. */
describe('the sold-out watch', () => {
  function watched(initial: Record<string, boolean>) {
    const answers = { ...initial };
    const asked: string[] = [];
    const longPolls = createLongPolls({ max: 10 });
    const watch = createSoldOutWatch({
      check: async (concertId) => {
        asked.push(concertId);
        return answers[concertId] ?? false;
      },
      longPolls,
    });
    return { answers, asked, longPolls, watch };
  }

  it('asks at most once a check interval per concert with a line, and reads the last answer in between', async () => {
    const { answers, asked, watch } = watched({ a: false, b: true });
    await watch.refresh(['a', 'b'], 0);
    expect(asked).toEqual(['a', 'b']);
    expect([watch.is('a'), watch.is('b')]).toEqual([false, true]);
    answers.a = true;
    await watch.refresh(['a', 'b'], SOLD_OUT_CHECK_MS - 1);
    expect(asked).toHaveLength(2);
    expect(watch.is('a')).toBe(false);
    await watch.refresh(['a', 'b'], SOLD_OUT_CHECK_MS);
    expect(asked).toEqual(['a', 'b', 'a', 'b']);
    expect(watch.is('a')).toBe(true);
  });

  it('turns back when a seat comes back, and forgets a concert whose line is gone', async () => {
    const { answers, asked, watch } = watched({ a: true });
    await watch.refresh(['a'], 0);
    answers.a = false;
    await watch.refresh(['a'], SOLD_OUT_CHECK_MS);
    expect(watch.is('a')).toBe(false);
    answers.a = true;
    await watch.refresh(['a'], 2 * SOLD_OUT_CHECK_MS);
    expect(watch.is('a')).toBe(true);
    await watch.refresh([], 2 * SOLD_OUT_CHECK_MS + 1);
    expect(watch.is('a')).toBe(false);
    // A line that forms again is asked about at once.
    await watch.refresh(['a'], 2 * SOLD_OUT_CHECK_MS + 2);
    expect(asked).toHaveLength(4);
  });

  it('wakes the held polls of a concert that turns sold out, not those of another, and holds no later poll of it', async () => {
    const { answers, longPolls, watch } = watched({ a: false, b: false });
    await watch.refresh(['a', 'b'], 0);
    const a = longPolls.hold('a', 'u1', 5, 30_000)!;
    const b = longPolls.hold('b', 'u2', 5, 50)!;
    expect(longPolls.held()).toBe(2);
    answers.a = true;
    await watch.refresh(['a', 'b'], SOLD_OUT_CHECK_MS);
    expect(longPolls.held()).toBe(1);
    expect(await a).toBeLessThan(30_000);
    expect(await longPolls.hold('a', 'u3', 6, 30_000)).toBe(0);
    await b;
    expect(longPolls.held()).toBe(0);
  });
});
