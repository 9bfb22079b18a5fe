import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../harness/random.js';
import { createPolicy, POLICY_NAMES, type PolicyName } from '../../src/cache/eviction/policy.js';
import { FrequencySketch } from '../../src/cache/eviction/sketch.js';
import { S3FifoPolicy } from '../../src/cache/eviction/s3fifo.js';

// The differential tests against reference models are in eviction.differential.test.ts.

describe('W-TinyLFU sketch', () => {
  it('estimates frequencies and halves them after 10 × capacity increments', () => {
    const sketch = new FrequencySketch(64);
    for (let i = 0; i < 12; i++) sketch.increment('hot');
    sketch.increment('cold');
    expect(sketch.frequency('hot')).toBeGreaterThanOrEqual(12);
    expect(sketch.frequency('cold')).toBeGreaterThanOrEqual(1);
    expect(sketch.frequency('hot')).toBeGreaterThan(sketch.frequency('cold'));
    for (let i = 0; i < 20; i++) sketch.increment('saturated');
    expect(sketch.frequency('saturated')).toBe(15); // 4-bit counters
    let n = 0;
    let before = sketch.size;
    while (n < 10 * 64) {
      sketch.increment(`filler-${n++}`);
      if (sketch.size < before) break; // a reset happened
      before = sketch.size;
    }
    expect(sketch.size).toBeLessThan(before);
    expect(sketch.size).toBeLessThanOrEqual(sketch.sampleSize / 2);
    expect(sketch.frequency('hot')).toBeLessThanOrEqual(8); // 12..15 halved
  });

  it('keeps frequently read keys through a stream of one-hit wonders (scan resistance)', () => {
    const residentHotKeys = (name: PolicyName) => {
      const cache = createPolicy<string, number>(name, 100);
      const read = (key: string) => {
        if (cache.get(key) === undefined) cache.set(key, 0);
      };
      for (let i = 0; i < 200; i++) read(`hot-${i % 50}`);
      // One hot read for every four scan keys: a hot key's reuse distance (250) exceeds the capacity.
      for (let i = 0; i < 20_000; i++) {
        read(`scan-${i}`);
        if (i % 4 === 3) read(`hot-${(i >> 2) % 50}`);
      }
      let resident = 0;
      for (let i = 0; i < 50; i++) if (cache.peek(`hot-${i}`) !== undefined) resident++;
      return resident;
    };
    expect(residentHotKeys('wtinylfu')).toBe(50);
    expect(residentHotKeys('lru')).toBeLessThanOrEqual(20); // only those read among the last 100 requests
  });

  it('hashes keys of every type deterministically', () => {
    const sketch = new FrequencySketch(16);
    const obj = {};
    for (const key of [1, -0, 2.5, 'a', obj, true, 10n, undefined, null, Symbol.for('s')]) {
      sketch.increment(key);
      expect(sketch.frequency(key)).toBeGreaterThanOrEqual(1);
    }
  });
});

describe('S3-FIFO specifics', () => {
  it('sends a key evicted from the ghost straight into main when it returns', () => {
    const cache = new S3FifoPolicy<number, number>(10); // small 1, main 9, ghost 9
    for (let k = 0; k < 10; k++) cache.set(k, k);
    cache.set(10, 10); // evicts 0 (never hit) from small into the ghost
    expect(cache.peek(0)).toBeUndefined();
    cache.set(0, 0); // ghost hit: admitted into main
    for (let k = 100; k < 105; k++) cache.set(k, k); // new keys churn through small only
    expect(cache.peek(0)).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Contract tests, across all six policies.
// ---------------------------------------------------------------------------------------------

describe.each(POLICY_NAMES)('%s contract', (name) => {
  it('reports its name and capacity, and rejects a capacity that is not a positive integer', () => {
    const cache = createPolicy<string, number>(name, 5);
    expect(cache.name).toBe(name);
    expect(cache.capacity).toBe(5);
    expect(cache.size).toBe(0);
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => createPolicy(name, bad)).toThrow(RangeError);
  });

  it('get, peek, set, delete and clear', () => {
    const cache = createPolicy<string, number>(name, 4);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.peek('a')).toBeUndefined();
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1);
    expect(cache.peek('b')).toBe(2);
    expect(cache.size).toBe(2);
    cache.set('a', 10); // replace
    expect(cache.size).toBe(2);
    expect(cache.get('a')).toBe(10);
    expect(cache.delete('a')).toBe(true);
    expect(cache.delete('a')).toBe(false);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(1);
    cache.clear();
    expect(cache.size).toBe(0);
    expect(cache.get('b')).toBeUndefined();
    cache.set('c', 3);
    expect(cache.get('c')).toBe(3);
    expect(cache.size).toBe(1);
  });

  it('replacing values never grows the cache', () => {
    const cache = createPolicy<number, number>(name, 8);
    for (let i = 0; i < 8; i++) cache.set(i, i);
    for (let round = 0; round < 5; round++) for (let i = 0; i < 8; i++) cache.set(i, i * 100 + round);
    expect(cache.size).toBe(8);
    for (let i = 0; i < 8; i++) expect(cache.peek(i)).toBe(i * 100 + 4);
  });

  it('fills up to capacity and never beyond, whatever the trace', () => {
    for (const capacity of [1, 2, 5, 64, 333]) {
      const rand = mulberry32(capacity);
      const cache = createPolicy<number, number>(name, capacity);
      for (let i = 0; i < capacity; i++) cache.set(-1 - i, i);
      expect(cache.size).toBe(capacity);
      for (let step = 0; step < 5000; step++) {
        const key = Math.floor(rand() * rand() * capacity * 4);
        const r = rand();
        if (r < 0.5) {
          if (cache.get(key) === undefined) cache.set(key, step);
        } else if (r < 0.9) cache.set(key, step);
        else cache.delete(key);
        expect(cache.size).toBeLessThanOrEqual(capacity);
      }
      // Fresh keys always land, and the cache refills to exactly its capacity.
      for (let i = 0; i < capacity * 3; i++) cache.set(1_000_000 + i, i);
      expect(cache.size).toBe(capacity);
    }
  });

  it('accepts non-primitive keys by identity', () => {
    const cache = createPolicy<object, string>(name, 3);
    const a = {};
    const b = {};
    cache.set(a, 'a');
    cache.set(b, 'b');
    expect(cache.get(a)).toBe('a');
    expect(cache.get({})).toBeUndefined();
    expect(cache.size).toBe(2);
  });
});

describe('createPolicy', () => {
  it('knows the six policies', () => {
    expect([...POLICY_NAMES].sort()).toEqual(['fifo', 'lfu', 'lru', 's3fifo', 'sieve', 'wtinylfu']);
  });
});
