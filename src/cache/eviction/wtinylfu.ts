import { LinkedLists } from './list.js';
import { FrequencySketch, hashKey } from './sketch.js';
import { SlotPolicy } from './table.js';

const WINDOW = 0;
const PROBATION = 1;
const PROTECTED = 2;

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
