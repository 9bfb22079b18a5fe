/** Finalizer of MurmurHash3 (fmix32): spreads the bits of a 32-bit integer. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x | 0;
}

/** FNV-1a over UTF-16 code units, finished with mix32 so that every bit is usable. */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return mix32(h);
}

const objectIds = new WeakMap<object, number>();
let nextObjectId = 1;

/**
 * A deterministic, well-mixed 32-bit hash of any key: integers are mixed, strings hashed with
 * FNV-1a, objects get a sequential identity (keys are compared by identity, as in a Map),
 * anything else is hashed through `String(key)`. Every result has passed through mix32.
 */
export function hashKey(key: unknown): number {
  if (typeof key === 'string') return hashString(key);
  if (typeof key === 'number' && (key | 0) === key) return mix32(key);
  if ((typeof key === 'object' && key !== null) || typeof key === 'function') {
    let id = objectIds.get(key);
    if (id === undefined) {
      id = nextObjectId++;
      objectIds.set(key, id);
    }
    return mix32(id);
  }
  return hashString(String(key));
}

/**
 * Count-min sketch of 4-bit counters used by TinyLFU to estimate how often a key was seen
 * (Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission Policy", ACM ToS
 * 2017; Caffeine's `FrequencySketch`).
 *
 * - 16 counters per cache entry: `2 · nextPow2(max(capacity, 8))` Uint32 words of 8 nibbles,
 *   grouped in 64-byte blocks of 16 words (Caffeine's cache-line-sized blocks): a key's 4
 *   counters all sit in one block, so an increment or an estimate touches one cache line.
 * - 4 hash functions: the key's mixed 32-bit hash ({@link hashKey}) picks the block; a second
 *   mix of it supplies, for each of the 4 counters, 4 bits for the word in the block and 3 bits
 *   for the nibble in the word. `*Hash` methods take a hash from `hashKey`.
 * - `increment` adds one to each of the 4 counters that is below 15 (no conservative update,
 *   as in Caffeine); the estimate is the minimum of the 4.
 * - Aging ("reset"): once `10 · capacity` increments have raised at least one counter, every
 *   counter is halved and the increment count becomes `(count − odd/4) / 2`, where `odd` is
 *   the number of counters that were odd (their lost halves).
 * - No doorkeeper.
 */
export class FrequencySketch {
  readonly sampleSize: number;
  private readonly table: Uint32Array;
  private readonly blockMask: number;
  private additions = 0;

  constructor(capacity: number) {
    let words = 8;
    while (words < capacity) words *= 2;
    words *= 2;
    this.table = new Uint32Array(words);
    this.blockMask = words / 16 - 1;
    this.sampleSize = 10 * Math.max(1, capacity);
  }

  /** Increments counted since the last reset (for tests). */
  get size(): number {
    return this.additions;
  }

  frequency(key: unknown): number {
    return this.frequencyOfHash(hashKey(key));
  }

  increment(key: unknown): void {
    this.incrementHash(hashKey(key));
  }

  frequencyOfHash(hash: number): number {
    const table = this.table;
    const base = (hash & this.blockMask) << 4;
    const bits = mix32(hash ^ 0x5bd1e995);
    let min = 15;
    for (let i = 0; i < 32; i += 8) {
      const b = bits >>> i;
      const count = (table[base + (b & 15)]! >>> ((b & 0x70) >>> 2)) & 15;
      if (count < min) min = count;
    }
    return min;
  }

  incrementHash(hash: number): void {
    const base = (hash & this.blockMask) << 4;
    const bits = mix32(hash ^ 0x5bd1e995);
    // The four counters, unrolled: word in the block from 4 bits, nibble from the next 3.
    const added =
      this.bump(base + (bits & 15), (bits & 0x70) >>> 2) |
      this.bump(base + ((bits >>> 8) & 15), ((bits >>> 8) & 0x70) >>> 2) |
      this.bump(base + ((bits >>> 16) & 15), ((bits >>> 16) & 0x70) >>> 2) |
      this.bump(base + ((bits >>> 24) & 15), ((bits >>> 24) & 0x70) >>> 2);
    if (added !== 0 && ++this.additions >= this.sampleSize) this.reset();
  }

  /** Adds one to the 4-bit counter at `shift` in `word` unless it is saturated; 1 if it did. */
  private bump(word: number, shift: number): number {
    const w = this.table[word]!;
    if (((w >>> shift) & 15) === 15) return 0;
    this.table[word] = w + (1 << shift);
    return 1;
  }

  /** Halves every counter (the TinyLFU "reset" that ages old popularity). */
  reset(): void {
    const table = this.table;
    let odd = 0;
    for (let i = 0; i < table.length; i++) {
      const w = table[i]!;
      let ones = w & 0x11111111;
      // popcount of the low bits of the 8 nibbles
      ones = (ones & 0x0f0f0f0f) + ((ones >>> 4) & 0x0f0f0f0f);
      odd += Math.imul(ones, 0x01010101) >>> 24;
      table[i] = (w >>> 1) & 0x77777777;
    }
    this.additions = (this.additions - (odd >>> 2)) >>> 1;
  }

  clear(): void {
    this.table.fill(0);
    this.additions = 0;
  }
}
