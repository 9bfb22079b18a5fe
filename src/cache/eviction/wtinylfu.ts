import { LinkedLists } from './list.js';
import { SlotPolicy } from './table.js';

const WINDOW = 0;
const PROBATION = 1;
const PROTECTED = 2;

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

/**
 * W-TinyLFU — Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission Policy"
 * (ACM ToS 2017), as laid out in Caffeine (Ben Manes) with a static window:
 *
 * - Window: an LRU of `max(1, ceil(capacity / 100))` entries (≈1%) where new keys arrive.
 * - Main: the remaining capacity, a segmented LRU: probation (≈20%) and protected
 *   (`floor(0.8 · main)` entries at most).
 * - Frequencies: a {@link FrequencySketch} of the same capacity, incremented on every hit and
 *   every `set` (so once per request in cache-aside use; a `get` miss records nothing, as in
 *   Caffeine, because the `set` that follows it does).
 * - Hit in window: move to the window's MRU end. Hit in probation: move to protected's MRU end;
 *   if protected is now over its size, its LRU entry is demoted to probation's MRU end. Hit in
 *   protected: move to its MRU end. `set` on a resident key is a hit.
 * - Insert of a new key: increment its frequency; if the window is full, its LRU entry (the
 *   candidate) leaves it: when main has room the candidate goes to probation's MRU end;
 *   otherwise it is compared with probation's LRU entry (the victim): the candidate is admitted
 *   (victim evicted, candidate to probation's MRU end) only if its estimated frequency is
 *   strictly greater, else the candidate is evicted. Then the new key enters the window's MRU
 *   end. (No random admission of warm candidates: Caffeine's HashDoS guard is left out.)
 * - `delete` unlinks from whichever segment; `clear` also clears the sketch.
 *
 * Layout: the {@link SlotPolicy} table (Map key → slot); the three segments are one
 * {@link LinkedLists} over the slots, LRU end first; each slot caches its key's hash so hits do
 * not rehash the key. O(1).
 */
export class WTinyLfuPolicy<K, V> extends SlotPolicy<K, V> {
  readonly name = 'wtinylfu' as const;
  declare readonly windowCapacity: number;
  declare readonly mainCapacity: number;
  declare readonly protectedCapacity: number;
  declare readonly sketch: FrequencySketch;
  declare private readonly segments: LinkedLists;
  declare private readonly hashOf: Int32Array;
  declare private readonly segmentOf: Uint8Array;
  declare private readonly windowQ: number;
  declare private readonly probationQ: number;
  declare private readonly protectedQ: number;
  private windowSize = 0;
  private probationSize = 0;
  private protectedSize = 0;

  constructor(capacity: number) {
    super(capacity);
    this.windowCapacity = Math.max(1, Math.ceil(capacity / 100));
    this.mainCapacity = capacity - this.windowCapacity;
    this.protectedCapacity = Math.floor((this.mainCapacity * 4) / 5);
    this.sketch = new FrequencySketch(capacity);
    this.segments = new LinkedLists(capacity, 3);
    this.windowQ = this.segments.sentinel(WINDOW);
    this.probationQ = this.segments.sentinel(PROBATION);
    this.protectedQ = this.segments.sentinel(PROTECTED);
    this.hashOf = new Int32Array(capacity);
    this.segmentOf = new Uint8Array(capacity);
  }

  get(key: K): V | undefined {
    const slot = this.table.slotOf(key);
    if (slot < 0) return undefined;
    this.onHit(slot);
    return this.table.valueOf[slot];
  }

  set(key: K, value: V): void {
    const table = this.table;
    const found = table.slotOf(key);
    if (found >= 0) {
      table.valueOf[found] = value;
      this.onHit(found);
      return;
    }
    const hash = hashKey(key);
    this.sketch.incrementHash(hash);
    if (this.windowSize >= this.windowCapacity) this.evictFromWindow();
    const slot = table.store(key, value);
    this.hashOf[slot] = hash;
    this.segmentOf[slot] = WINDOW;
    this.segments.pushLast(this.windowQ, slot);
    this.windowSize++;
  }

  delete(key: K): boolean {
    const slot = this.table.slotOf(key);
    if (slot < 0) return false;
    this.unlink(slot);
    this.table.forget(slot);
    return true;
  }

  clear(): void {
    this.table.clear();
    this.windowSize = 0;
    this.probationSize = 0;
    this.protectedSize = 0;
    this.sketch.clear();
    this.segments.reset();
  }

  /** A hit (`get`, or `set` on a resident key): count it, then move the entry per its segment. */
  private onHit(slot: number): void {
    this.sketch.incrementHash(this.hashOf[slot]!);
    const segments = this.segments;
    const segment = this.segmentOf[slot];
    if (segment === WINDOW) {
      if (segments.last(this.windowQ) !== slot) segments.moveToLast(this.windowQ, slot);
    } else if (segment === PROTECTED) {
      if (segments.last(this.protectedQ) !== slot) segments.moveToLast(this.protectedQ, slot);
    } else {
      segments.unlink(slot);
      this.probationSize--;
      this.segmentOf[slot] = PROTECTED;
      segments.pushLast(this.protectedQ, slot);
      if (++this.protectedSize > this.protectedCapacity) {
        const demoted = segments.first(this.protectedQ);
        segments.unlink(demoted);
        this.protectedSize--;
        this.toProbation(demoted);
      }
    }
  }

  /** Unlinks a resident slot from its segment. */
  private unlink(slot: number): void {
    this.segments.unlink(slot);
    const segment = this.segmentOf[slot];
    if (segment === WINDOW) this.windowSize--;
    else if (segment === PROBATION) this.probationSize--;
    else this.protectedSize--;
  }

  /** Appends an unlinked slot to probation's MRU end. */
  private toProbation(slot: number): void {
    this.segmentOf[slot] = PROBATION;
    this.segments.pushLast(this.probationQ, slot);
    this.probationSize++;
  }

  /** Moves the window's LRU entry into main, through the TinyLFU admission filter when full. */
  private evictFromWindow(): void {
    const segments = this.segments;
    const candidate = segments.first(this.windowQ);
    segments.unlink(candidate);
    this.windowSize--;
    if (this.probationSize + this.protectedSize < this.mainCapacity) {
      this.toProbation(candidate);
      return;
    }
    const victim = segments.first(this.probationQ);
    if (
      victim !== this.probationQ &&
      this.sketch.frequencyOfHash(this.hashOf[candidate]!) > this.sketch.frequencyOfHash(this.hashOf[victim]!)
    ) {
      this.unlink(victim);
      this.table.forget(victim);
      this.toProbation(candidate);
      return;
    }
    this.table.forget(candidate);
  }
}
