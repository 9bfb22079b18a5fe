/**
 * A bounded in-process (L1) cache with a pluggable eviction policy.
 *
 * Common rules, shared by every implementation:
 * - `capacity` is a positive integer and `size` never exceeds it, not even transiently.
 * - `get` on a resident key is a hit and updates the policy's metadata; `get` on a missing key
 *   changes nothing (the caller is expected to load the value and `set` it).
 * - `peek` never changes metadata.
 * - `set` on a resident key replaces the value, does not change `size`, and counts as an access
 *   (like a hit); `set` on a new key evicts what the policy says when the cache is full.
 * - `delete` removes a resident key (no ghost or history is added) and says whether it was there.
 * - `clear` returns the policy to its freshly-constructed state.
 * - Storing `undefined` as a value is not supported: `get` could not tell it from a miss.
 */
export interface EvictionPolicy<K, V> {
  readonly name: PolicyName;
  readonly capacity: number; // max entries, never exceeded
  readonly size: number;
  get(key: K): V | undefined; // a hit updates the policy's metadata
  peek(key: K): V | undefined; // no metadata change
  set(key: K, value: V): void; // insert or replace; evicts as the policy says
  delete(key: K): boolean;
  clear(): void;
}

export type PolicyName = 'lru' | 'lfu' | 'fifo' | 'sieve' | 's3fifo' | 'wtinylfu';

export const POLICY_NAMES: readonly PolicyName[] = Object.freeze([
  'lru',
  'lfu',
  'fifo',
  'sieve',
  's3fifo',
  'wtinylfu',
] as const);

export function isPolicyName(value: string): value is PolicyName {
  return (POLICY_NAMES as readonly string[]).includes(value);
}
