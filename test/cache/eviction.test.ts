import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../lab/random.js';
import { createPolicy, POLICY_NAMES, type EvictionPolicy, type PolicyName } from '../../src/cache/eviction/policy.js';
import { FrequencySketch } from '../../src/cache/eviction/sketch.js';
import { S3FifoPolicy } from '../../src/cache/eviction/s3fifo.js';


// ---------------------------------------------------------------------------------------------
// Reference models: slow, linear scans over arrays, written straight from each paper's rules.
// Arrays are ordered oldest first (index 0 = tail / LRU end).
// ---------------------------------------------------------------------------------------------

interface Model {
  get(key: number): string | undefined;
  set(key: number, value: string): void;
  delete(key: number): boolean;
  clear(): void;
  entries(): Map<number, string>;
}

interface Item {
  key: number;
  value: string;
}

function findIn<T extends Item>(list: T[], key: number): number {
  return list.findIndex((e) => e.key === key);
}

function toMap(...lists: Item[][]): Map<number, string> {
  const m = new Map<number, string>();
  for (const list of lists) for (const e of list) m.set(e.key, e.value);
  return m;
}

class FifoModel implements Model {
  q: Item[] = [];
  constructor(readonly capacity: number) {}
  get(key: number) {
    return this.q.find((e) => e.key === key)?.value;
  }
  set(key: number, value: string) {
    const i = findIn(this.q, key);
    if (i >= 0) {
      this.q[i]!.value = value;
      return;
    }
    if (this.q.length >= this.capacity) this.q.shift();
    this.q.push({ key, value });
  }
  delete(key: number) {
    const i = findIn(this.q, key);
    if (i < 0) return false;
    this.q.splice(i, 1);
    return true;
  }
  clear() {
    this.q = [];
  }
  entries() {
    return toMap(this.q);
  }
}

class LruModel implements Model {
  q: Item[] = [];
  constructor(readonly capacity: number) {}
  get(key: number) {
    const i = findIn(this.q, key);
    if (i < 0) return undefined;
    const [e] = this.q.splice(i, 1);
    this.q.push(e!);
    return e!.value;
  }
  set(key: number, value: string) {
    const i = findIn(this.q, key);
    if (i >= 0) this.q.splice(i, 1);
    else if (this.q.length >= this.capacity) this.q.shift();
    this.q.push({ key, value });
  }
  delete(key: number) {
    const i = findIn(this.q, key);
    if (i < 0) return false;
    this.q.splice(i, 1);
    return true;
  }
  clear() {
    this.q = [];
  }
  entries() {
    return toMap(this.q);
  }
}

/** LFU-DA: evict min priority (ties: earliest to reach it); L := evicted priority; insert at L+1. */
class LfuDaModel implements Model {
  items: (Item & { priority: number; since: number })[] = [];
  age = 0;
  clock = 0;
  constructor(readonly capacity: number) {}
  private hit(e: { priority: number; since: number }) {
    e.priority += 1;
    e.since = ++this.clock;
  }
  get(key: number) {
    const e = this.items.find((x) => x.key === key);
    if (!e) return undefined;
    this.hit(e);
    return e.value;
  }
  set(key: number, value: string) {
    const e = this.items.find((x) => x.key === key);
    if (e) {
      e.value = value;
      this.hit(e);
      return;
    }
    if (this.items.length >= this.capacity) {
      let v = 0;
      for (let i = 1; i < this.items.length; i++) {
        const a = this.items[i]!;
        const b = this.items[v]!;
        if (a.priority < b.priority || (a.priority === b.priority && a.since < b.since)) v = i;
      }
      this.age = this.items[v]!.priority;
      this.items.splice(v, 1);
    }
    this.items.push({ key, value, priority: this.age + 1, since: ++this.clock });
  }
  delete(key: number) {
    const i = findIn(this.items, key);
    if (i < 0) return false;
    this.items.splice(i, 1);
    return true;
  }
  clear() {
    this.items = [];
    this.age = 0;
  }
  entries() {
    return toMap(this.items);
  }
}

/** SIEVE, NSDI'24 Algorithm 1, with q[0] = tail (oldest) and q[q.length-1] = head (newest). */
class SieveModel implements Model {
  q: (Item & { visited: boolean })[] = [];
  hand: (Item & { visited: boolean }) | null = null;
  constructor(readonly capacity: number) {}
  get(key: number) {
    const e = this.q.find((x) => x.key === key);
    if (!e) return undefined;
    e.visited = true;
    return e.value;
  }
  set(key: number, value: string) {
    const e = this.q.find((x) => x.key === key);
    if (e) {
      e.value = value;
      e.visited = true;
      return;
    }
    if (this.q.length >= this.capacity) {
      let i = this.hand ? this.q.indexOf(this.hand) : 0;
      while (this.q[i]!.visited) {
        this.q[i]!.visited = false;
        i = i + 1 < this.q.length ? i + 1 : 0; // toward the head, wrapping to the tail
      }
      this.hand = i + 1 < this.q.length ? this.q[i + 1]! : null;
      this.q.splice(i, 1);
    }
    this.q.push({ key, value, visited: false });
  }
  delete(key: number) {
    const i = findIn(this.q, key);
    if (i < 0) return false;
    if (this.hand === this.q[i]) this.hand = i + 1 < this.q.length ? this.q[i + 1]! : null;
    this.q.splice(i, 1);
    return true;
  }
  clear() {
    this.q = [];
    this.hand = null;
  }
  entries() {
    return toMap(this.q);
  }
}

/** S3-FIFO, SOSP'23 Algorithm 1 (promotion resets freq; G sized like M). */
class S3FifoModel implements Model {
  S: (Item & { freq: number })[] = [];
  M: (Item & { freq: number })[] = [];
  G: number[] = [];
  readonly smallTarget: number;
  readonly ghostCapacity: number;
  constructor(readonly capacity: number) {
    this.smallTarget = Math.max(1, Math.round(capacity * 0.1));
    this.ghostCapacity = Math.max(1, capacity - this.smallTarget);
  }
  private find(key: number) {
    return this.S.find((x) => x.key === key) ?? this.M.find((x) => x.key === key);
  }
  get(key: number) {
    const e = this.find(key);
    if (!e) return undefined;
    e.freq = Math.min(e.freq + 1, 3);
    return e.value;
  }
  set(key: number, value: string) {
    const e = this.find(key);
    if (e) {
      e.value = value;
      e.freq = Math.min(e.freq + 1, 3);
      return;
    }
    const g = this.G.indexOf(key);
    if (g >= 0) this.G.splice(g, 1);
    while (this.S.length + this.M.length >= this.capacity) {
      if (this.S.length >= this.smallTarget) this.evictS();
      else this.evictM();
    }
    (g >= 0 ? this.M : this.S).push({ key, value, freq: 0 });
  }
  private evictS() {
    while (this.S.length > 0) {
      const t = this.S.shift()!;
      if (t.freq > 0) {
        t.freq = 0;
        this.M.push(t);
      } else {
        this.G.push(t.key);
        if (this.G.length > this.ghostCapacity) this.G.shift();
        return;
      }
    }
  }
  private evictM() {
    while (this.M.length > 0) {
      const t = this.M.shift()!;
      if (t.freq > 0) {
        t.freq -= 1;
        this.M.push(t);
      } else {
        return;
      }
    }
  }
  delete(key: number) {
    for (const q of [this.S, this.M]) {
      const i = findIn(q, key);
      if (i >= 0) {
        q.splice(i, 1);
        return true;
      }
    }
    return false;
  }
  clear() {
    this.S = [];
    this.M = [];
    this.G = [];
  }
  entries() {
    return toMap(this.S, this.M);
  }
}

/** W-TinyLFU (Caffeine layout, static 1% window); frequencies from the policy's own sketch class. */
class WTinyLfuModel implements Model {
  W: Item[] = [];
  P: Item[] = [];
  R: Item[] = [];
  sketch: FrequencySketch;
  readonly windowCapacity: number;
  readonly mainCapacity: number;
  readonly protectedCapacity: number;
  constructor(readonly capacity: number) {
    this.windowCapacity = Math.max(1, Math.ceil(capacity / 100));
    this.mainCapacity = capacity - this.windowCapacity;
    this.protectedCapacity = Math.floor(this.mainCapacity * 0.8 + 1e-9);
    this.sketch = new FrequencySketch(capacity);
  }
  private hit(key: number): Item | undefined {
    for (const q of [this.W, this.R]) {
      const i = findIn(q, key);
      if (i >= 0) {
        const [e] = q.splice(i, 1);
        q.push(e!);
        return e;
      }
    }
    const i = findIn(this.P, key);
    if (i < 0) return undefined;
    const [e] = this.P.splice(i, 1);
    this.R.push(e!);
    if (this.R.length > this.protectedCapacity) this.P.push(this.R.shift()!);
    return e;
  }
  get(key: number) {
    if (!this.entries().has(key)) return undefined;
    this.sketch.increment(key);
    return this.hit(key)!.value;
  }
  set(key: number, value: string) {
    this.sketch.increment(key);
    const e = this.hit(key);
    if (e) {
      e.value = value;
      return;
    }
    if (this.W.length >= this.windowCapacity) {
      const candidate = this.W.shift()!;
      if (this.P.length + this.R.length < this.mainCapacity) {
        this.P.push(candidate);
      } else {
        const victim = this.P[0];
        if (victim && this.sketch.frequency(candidate.key) > this.sketch.frequency(victim.key)) {
          this.P.shift();
          this.P.push(candidate);
        }
      }
    }
    this.W.push({ key, value });
  }
  delete(key: number) {
    for (const q of [this.W, this.P, this.R]) {
      const i = findIn(q, key);
      if (i >= 0) {
        q.splice(i, 1);
        return true;
      }
    }
    return false;
  }
  clear() {
    this.W = [];
    this.P = [];
    this.R = [];
    this.sketch = new FrequencySketch(this.capacity);
  }
  entries() {
    return toMap(this.W, this.P, this.R);
  }
}

const MODELS: Record<PolicyName, (capacity: number) => Model> = {
  lru: (c) => new LruModel(c),
  lfu: (c) => new LfuDaModel(c),
  fifo: (c) => new FifoModel(c),
  sieve: (c) => new SieveModel(c),
  s3fifo: (c) => new S3FifoModel(c),
  wtinylfu: (c) => new WTinyLfuModel(c),
};

// ---------------------------------------------------------------------------------------------
// Differential test: the real policy and its model on seeded random traces.
// ---------------------------------------------------------------------------------------------

const KEYS = 300;
const OPS = 4000;
const CAPACITIES = [1, 2, 3, 10, 37, 120, 250];

function skewedKey(rand: () => number): number {
  // Half the requests on a hot tenth of the keys, the rest spread out: enough hits to exercise
  // promotion, enough misses to exercise eviction.
  return rand() < 0.5 ? Math.floor(rand() * rand() * (KEYS / 10)) : Math.floor(rand() * KEYS);
}

function assertSameResidents(policy: EvictionPolicy<number, string>, model: Model, step: number, op: string): void {
  // Plain comparisons, and expect only on failure: this runs ~500,000 times.
  const expected = model.entries();
  const context = () => `step ${step} (${op}), capacity ${policy.capacity}`;
  if (policy.size > policy.capacity) expect.fail(`${context()}: size ${policy.size} exceeds the capacity`);
  if (policy.size !== expected.size) expect.fail(`${context()}: size ${policy.size}, model ${expected.size}`);
  for (let key = 0; key < KEYS; key++) {
    const actual = policy.peek(key);
    if (actual !== expected.get(key)) {
      expect.fail(`${context()}: key ${key} is ${String(actual)} in the policy, ${String(expected.get(key))} in the model`);
    }
  }
}

function same<T>(actual: T, expected: T, what: string): void {
  if (actual !== expected) expect.fail(`${what}: policy ${String(actual)}, model ${String(expected)}`);
}

function runDifferential(name: PolicyName, capacity: number, seed: number): void {
  const rand = mulberry32(seed);
  const policy = createPolicy<number, string>(name, capacity);
  const model = MODELS[name](capacity);
  for (let step = 0; step < OPS; step++) {
    const r = rand();
    const key = skewedKey(rand);
    let op: string;
    if (r < 0.55) {
      op = `get ${key}`;
      const got = policy.get(key);
      same(got, model.get(key), op);
      if (got === undefined && rand() < 0.9) {
        policy.set(key, `v${step}`); // cache-aside: load and fill after a miss
        model.set(key, `v${step}`);
        op += ' + set';
      }
    } else if (r < 0.8) {
      op = `set ${key}`;
      policy.set(key, `v${step}`);
      model.set(key, `v${step}`);
    } else if (r < 0.9) {
      op = `peek ${key}`;
      same(policy.peek(key), model.entries().get(key), op);
    } else if (r < 0.9995) {
      op = `delete ${key}`;
      same(policy.delete(key), model.delete(key), op);
    } else {
      op = 'clear';
      policy.clear();
      model.clear();
    }
    assertSameResidents(policy, model, step, op);
  }
}

describe.each(['fifo', 'lru', 'lfu', 'sieve', 's3fifo', 'wtinylfu'] as const)('%s matches its reference model', (name) => {
  it.each(CAPACITIES)('capacity %i on seeded random traces', (capacity) => {
    for (const seed of [1, 2, 3]) runDifferential(name, capacity, seed * 7919 + capacity);
  });
});

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
