import { LinkedLists, SlotPool } from './list.js';
import { SlotPolicy } from './table.js';

const SMALL = 0;
const MAIN = 1;

/**
 * S3-FIFO — Yang, Zhang, Qiu, Yue, Rashmi, "FIFO queues are all you need for cache eviction",
 * SOSP 2023 (Algorithm 1), with the details of the authors' libCacheSim `S3FIFO.c`.
 *
 * Three FIFO queues: small S (target `max(1, round(0.1·capacity))` entries), main M (the rest),
 * and a ghost G holding only keys, at most `max(1, capacity − target(S))` of them (sized like M).
 * Each resident key has a 2-bit frequency, capped at 3.
 * - Hit (`get`, or `set` on a resident key): `freq = min(freq + 1, 3)`; nothing moves.
 * - Insert of a new key: if it is in G, remove it from G (first, as libCacheSim does on lookup);
 *   then, while |S| + |M| ≥ capacity, evict; then insert at the head of M if it was in G, else
 *   at the head of S, with `freq = 0`.
 * - Evict: if |S| ≥ target(S) evict from S, else from M.
 * - Evict from S: repeatedly take S's tail; if `freq > 0` move it to M's head with `freq = 0`
 *   (promotion) and continue; otherwise move its key to G's head (dropping G's tail if G is
 *   full) and stop. If S empties first, the caller's loop evicts from M next.
 * - Evict from M: repeatedly take M's tail; if `freq > 0`, reinsert it at M's head with
 *   `freq − 1`; otherwise evict it and stop.
 * - `delete` removes a resident key from S or M and leaves G untouched.
 *
 * Layout: the {@link SlotPolicy} table (Map key → slot), its Map also holding the ghosts. Slots
 * `[0, capacity)` are resident, `[capacity, capacity + ghostCapacity)` are ghost slots (key
 * only, from their own pool). The three queues are one {@link LinkedLists} over all slots,
 * tail (oldest) first. O(1) amortised: every reinsertion in M spends one of at most 3 frequency
 * units.
 */
export class S3FifoPolicy<K, V> extends SlotPolicy<K, V> {
  readonly name = 's3fifo' as const;
  declare readonly smallTarget: number;
  declare readonly ghostCapacity: number;
  declare private readonly queues: LinkedLists;
  declare private readonly freq: Uint8Array;
  declare private readonly queueOf: Uint8Array;
  declare private readonly ghostSlots: SlotPool;
  declare private readonly smallQ: number;
  declare private readonly mainQ: number;
  declare private readonly ghostQ: number;
  private smallSize = 0;
  private mainSize = 0;
  private ghostSize = 0;

  constructor(capacity: number) {
    const smallTarget = Math.max(1, Math.round(capacity * 0.1));
    const ghostCapacity = Math.max(1, capacity - smallTarget);
    super(capacity, capacity + ghostCapacity);
    this.smallTarget = smallTarget;
    this.ghostCapacity = ghostCapacity;
    this.queues = new LinkedLists(capacity + ghostCapacity, 3);
    this.smallQ = this.queues.sentinel(0);
    this.mainQ = this.queues.sentinel(1);
    this.ghostQ = this.queues.sentinel(2);
    this.freq = new Uint8Array(capacity);
    this.queueOf = new Uint8Array(capacity);
    this.ghostSlots = new SlotPool(capacity, ghostCapacity);
  }

  override get size(): number {
    return this.smallSize + this.mainSize;
  }

  get(key: K): V | undefined {
    const slot = this.table.slotOf(key);
    if (slot < 0) return undefined;
    this.hit(slot);
    return this.table.valueOf[slot];
  }

  set(key: K, value: V): void {
    const table = this.table;
    const found = table.index.get(key);
    if (found !== undefined) {
      if (found < this.capacity) {
        table.valueOf[found] = value;
        this.hit(found);
        return;
      }
      // In the ghost: forget it there; it will be admitted straight into M.
      this.queues.unlink(found);
      this.ghostSize--;
      table.keyOf[found] = undefined;
      this.ghostSlots.release(found);
      table.index.delete(key);
    }
    while (this.smallSize + this.mainSize >= this.capacity) {
      if (this.smallSize >= this.smallTarget) this.evictSmall();
      else this.evictMain();
    }
    const slot = table.store(key, value);
    this.freq[slot] = 0;
    if (found !== undefined) this.enqueueMain(slot);
    else {
      this.queueOf[slot] = SMALL;
      this.queues.pushLast(this.smallQ, slot);
      this.smallSize++;
    }
  }

  delete(key: K): boolean {
    const slot = this.table.slotOf(key);
    if (slot < 0) return false;
    this.queues.unlink(slot);
    if (this.queueOf[slot] === SMALL) this.smallSize--;
    else this.mainSize--;
    this.table.forget(slot);
    return true;
  }

  clear(): void {
    this.table.clear();
    this.ghostSlots.reset();
    this.smallSize = 0;
    this.mainSize = 0;
    this.ghostSize = 0;
    this.queues.reset();
  }

  private hit(slot: number): void {
    const f = this.freq[slot]!;
    if (f < 3) this.freq[slot] = f + 1;
  }

  private enqueueMain(slot: number): void {
    this.queueOf[slot] = MAIN;
    this.queues.pushLast(this.mainQ, slot);
    this.mainSize++;
  }

  private evictSmall(): void {
    const queues = this.queues;
    const table = this.table;
    while (this.smallSize > 0) {
      const tail = queues.first(this.smallQ);
      queues.unlink(tail);
      this.smallSize--;
      if (this.freq[tail]! > 0) {
        this.freq[tail] = 0;
        this.enqueueMain(tail);
        continue;
      }
      const key = table.keyOf[tail] as K;
      table.vacate(tail);
      let ghost: number;
      if (this.ghostSize >= this.ghostCapacity) {
        ghost = queues.first(this.ghostQ);
        queues.unlink(ghost);
        table.index.delete(table.keyOf[ghost] as K);
      } else {
        ghost = this.ghostSlots.alloc();
        this.ghostSize++;
      }
      table.keyOf[ghost] = key;
      queues.pushLast(this.ghostQ, ghost);
      table.index.set(key, ghost);
      return;
    }
  }

  private evictMain(): void {
    const queues = this.queues;
    const mainQ = this.mainQ;
    const freq = this.freq;
    while (this.mainSize > 0) {
      const tail = queues.first(mainQ);
      queues.unlink(tail);
      const f = freq[tail]!;
      if (f > 0) {
        freq[tail] = f - 1;
        queues.pushLast(mainQ, tail);
        continue;
      }
      this.mainSize--;
      this.table.forget(tail);
      return;
    }
  }
}
