import type { EvictionPolicy, PolicyName } from './eviction.types.js';
import { FifoPolicy } from './fifo.js';
import { LfuPolicy } from './lfu.js';
import { LruPolicy } from './lru.js';
import { S3FifoPolicy } from './s3fifo.js';
import { SievePolicy } from './sieve.js';
import { WTinyLfuPolicy } from './wtinylfu.js';

/** The callers' entry: the factory, and the policy types and names from eviction.types.ts. */
export { isPolicyName, POLICY_NAMES, type EvictionPolicy, type PolicyName } from './eviction.types.js';

/** A new, empty policy called `name`. The only module that imports the policies themselves. */
export function createPolicy<K, V>(name: PolicyName, capacity: number): EvictionPolicy<K, V> {
  switch (name) {
    case 'lru':
      return new LruPolicy<K, V>(capacity);
    case 'lfu':
      return new LfuPolicy<K, V>(capacity);
    case 'fifo':
      return new FifoPolicy<K, V>(capacity);
    case 'sieve':
      return new SievePolicy<K, V>(capacity);
    case 's3fifo':
      return new S3FifoPolicy<K, V>(capacity);
    case 'wtinylfu':
      return new WTinyLfuPolicy<K, V>(capacity);
    default: {
      const unknownName: never = name;
      throw new RangeError(`unknown eviction policy: ${String(unknownName)}`);
    }
  }
}
