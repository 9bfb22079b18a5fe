import type { EvictionPolicy, PolicyName } from './eviction.types.js';
import { SlotPool } from './list.js';

/** Returns `capacity` if it is a positive integer; throws a RangeError otherwise. */
export function checkCapacity(capacity: number): number {
  if (!Number.isInteger(capacity) || capacity < 1) {
    throw new RangeError(`capacity must be a positive integer, got ${capacity}`);
  }
  return capacity;
}

/**
 * The key ↔ slot bookkeeping every slot-based policy shares: a Map from key to slot, each slot's
 * key and value in parallel arrays, and the pool of free resident slots `[0, capacity)`. It knows
 * nothing of eviction: a policy makes room before `store`, and unlinks a slot from its own
 * structures before `forget`.
 *
 * A policy that remembers evicted keys (S3-FIFO's ghosts) may map them in the same Map to slots
 * ≥ `capacity` that it allocates itself, with `keyOf` sized for them by `keySlots`; `slotOf` and
 * `peek` treat such keys as missing, and `size` counts them.
 *
 * It is a separate object rather than fields of {@link SlotPolicy}, so that its methods see a
 * single shape whatever the policy (see the performance notes in list.ts).
 */
export class SlotTable<K, V> {
  declare readonly capacity: number;
  readonly index = new Map<K, number>();
  declare readonly keyOf: (K | undefined)[];
  declare readonly valueOf: (V | undefined)[];
  declare private readonly free: SlotPool;

  constructor(capacity: number, keySlots = capacity) {
    this.capacity = checkCapacity(capacity);
    this.keyOf = new Array<K | undefined>(keySlots).fill(undefined);
    this.valueOf = new Array<V | undefined>(capacity).fill(undefined);
    this.free = new SlotPool(0, capacity);
  }

  /** Keys in the Map, resident or not. */
  get size(): number {
    return this.index.size;
  }

  /** The key's resident slot, or -1 if the key is missing (or only remembered). */
  slotOf(key: K): number {
    const slot = this.index.get(key);
    return slot === undefined || slot >= this.capacity ? -1 : slot;
  }

  peek(key: K): V | undefined {
    const slot = this.index.get(key);
    return slot === undefined || slot >= this.capacity ? undefined : this.valueOf[slot];
  }

  /** Takes a free resident slot for a new key (the caller made room first); maps the key to it. */
  store(key: K, value: V): number {
    const slot = this.free.alloc();
    this.keyOf[slot] = key;
    this.valueOf[slot] = value;
    this.index.set(key, slot);
    return slot;
  }

  /** Unmaps the key of a resident slot and frees the slot. */
  forget(slot: number): void {
    this.index.delete(this.keyOf[slot] as K);
    this.vacate(slot);
  }

  /** Frees a resident slot, leaving the Map alone (the caller removed or will remap its key). */
  vacate(slot: number): void {
    this.keyOf[slot] = undefined;
    this.valueOf[slot] = undefined;
    this.free.release(slot);
  }

  /** Back to the freshly constructed state. */
  clear(): void {
    this.index.clear();
    this.keyOf.fill(undefined);
    this.valueOf.fill(undefined);
    this.free.reset();
  }
}

/**
 * The base of the slot-based policies: it owns their {@link SlotTable} and answers the parts of
 * {@link EvictionPolicy} that carry no policy rule (`capacity`, `size`, `peek`). `get`, `set`,
 * `delete` and `clear` stay in each policy, with its rules: code shared through a base class is
 * compiled once for all subclasses, and on the hot path V8 would then see up to five shapes at
 * each access (megamorphic) in a process that uses several policies.
 */
export abstract class SlotPolicy<K, V> implements EvictionPolicy<K, V> {
  abstract readonly name: PolicyName;
  declare readonly capacity: number;
  declare protected readonly table: SlotTable<K, V>;

  constructor(capacity: number, keySlots = capacity) {
    this.table = new SlotTable<K, V>(capacity, keySlots);
    this.capacity = capacity;
  }

  get size(): number {
    return this.table.size;
  }

  peek(key: K): V | undefined {
    return this.table.peek(key);
  }

  abstract get(key: K): V | undefined;
  abstract set(key: K, value: V): void;
  abstract delete(key: K): boolean;
  abstract clear(): void;
}
