import { describe, expect, it } from 'vitest';
import { createBatcher } from '../../src/platform/batcher.js';

/** A run function whose batches finish only when the test says so. */
function controlledRun<T>() {
  const batches: { items: T[]; finish: (fail?: Error) => void }[] = [];
  const run = (items: T[]) =>
    new Promise<string[]>((resolve, reject) => {
      batches.push({ items, finish: (fail) => (fail ? reject(fail) : resolve(items.map((i) => `done ${String(i)}`))) });
    });
  return { batches, run };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('createBatcher', () => {
  it('sends a lone call at once, on its own', async () => {
    const { batches, run } = controlledRun<number>();
    const b = createBatcher({ run, maxBatch: 10, maxInFlight: 2 });
    const p = b.submit(1);
    await turn();
    expect(batches.map((x) => x.items)).toEqual([[1]]);
    batches[0]!.finish();
    expect(await p).toBe('done 1');
    expect(b.size).toBe(0);
  });

  it('coalesces calls that arrive while every slot is busy, up to maxBatch', async () => {
    const { batches, run } = controlledRun<number>();
    const b = createBatcher({ run, maxBatch: 3, maxInFlight: 1 });
    const first = b.submit(0);
    await turn();
    const rest = [1, 2, 3, 4, 5].map((i) => b.submit(i));
    await turn();
    expect(batches).toHaveLength(1); // the only slot is busy: the others wait
    expect(b.size).toBe(6);
    batches[0]!.finish();
    await first;
    await turn();
    expect(batches.map((x) => x.items)).toEqual([[0], [1, 2, 3]]);
    batches[1]!.finish();
    await turn();
    expect(batches.map((x) => x.items)).toEqual([[0], [1, 2, 3], [4, 5]]);
    batches[2]!.finish();
    expect(await Promise.all(rest)).toEqual(['done 1', 'done 2', 'done 3', 'done 4', 'done 5']);
  });

  it('runs up to maxInFlight batches side by side', async () => {
    const { batches, run } = controlledRun<number>();
    const b = createBatcher({ run, maxBatch: 2, maxInFlight: 3 });
    const all = Array.from({ length: 8 }, (_, i) => b.submit(i));
    await turn();
    expect(batches.map((x) => x.items)).toEqual([[0, 1], [2, 3], [4, 5]]);
    batches[1]!.finish();
    await turn();
    expect(batches.map((x) => x.items)).toEqual([[0, 1], [2, 3], [4, 5], [6, 7]]);
    for (const x of batches) x.finish();
    expect(await Promise.all(all)).toHaveLength(8);
  });

  it('never puts two items with a common key in one batch, and keeps their order', async () => {
    const { batches, run } = controlledRun<string>();
    const b = createBatcher({ run, maxBatch: 10, maxInFlight: 1, conflictKeys: (s: string) => [s[0]!, s[1]!] });
    // 'ax' and 'ay' share 'a'; 'bx' shares 'x' with 'ax'; 'cz' is free; 'az' must wait behind 'ay'.
    const all = ['ax', 'ay', 'bx', 'cz', 'az'].map((s) => b.submit(s));
    await turn();
    expect(batches.map((x) => x.items)).toEqual([['ax', 'cz']]);
    batches[0]!.finish();
    await turn();
    await turn();
    expect(batches[1]!.items).toEqual(['ay', 'bx']);
    batches[1]!.finish();
    await turn();
    await turn();
    expect(batches[2]!.items).toEqual(['az']);
    batches[2]!.finish();
    expect(await Promise.all(all)).toEqual(['done ax', 'done ay', 'done bx', 'done cz', 'done az']);
  });

  it('fails the calls of a failed batch only', async () => {
    const { batches, run } = controlledRun<number>();
    const b = createBatcher({ run, maxBatch: 2, maxInFlight: 2 });
    const all = [1, 2, 3, 4].map((i) => b.submit(i).then((v) => v, (e: Error) => e.message));
    await turn();
    batches[0]!.finish(new Error('boom'));
    batches[1]!.finish();
    expect(await Promise.all(all)).toEqual(['boom', 'boom', 'done 3', 'done 4']);
    expect(b.size).toBe(0);
  });

  it('with settled outcomes, fails only the items that failed', async () => {
    const b = createBatcher<number, number>({
      run: async (items) =>
        items.map((i): PromiseSettledResult<number> => (i % 2 ? { status: 'fulfilled', value: i * 10 } : { status: 'rejected', reason: new Error(`bad ${i}`) })),
      settled: true,
      maxBatch: 5,
      maxInFlight: 1,
    });
    const all = [1, 2, 3].map((i) => b.submit(i).then(String, (e: Error) => e.message));
    expect(await Promise.all(all)).toEqual(['10', 'bad 2', '30']);
  });

  it('fails every call when run returns the wrong number of outcomes', async () => {
    const b = createBatcher<number, number>({ run: async () => [1], maxBatch: 5, maxInFlight: 1 });
    const all = [1, 2].map((i) => b.submit(i).then(() => 'ok', (e: Error) => e.message));
    expect(await Promise.all(all)).toEqual(['a batch of 2 returned 1 outcomes', 'a batch of 2 returned 1 outcomes']);
  });

  it('refuses a batch size or concurrency below one', () => {
    expect(() => createBatcher({ run: async () => [], maxBatch: 0, maxInFlight: 1 })).toThrow(/at least 1/);
  });
});
