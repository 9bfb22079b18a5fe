import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../harness/random.js';
import { createPolicy, type EvictionPolicy, type PolicyName } from '../../src/cache/eviction/policy.js';
import { FifoModel, LfuDaModel, LruModel, SieveModel, type Model } from './eviction.models.js';
import { S3FifoModel, WTinyLfuModel } from './eviction.models.segmented.js';

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
