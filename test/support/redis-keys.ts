import type { Redis } from 'ioredis';

/** Every key matching the pattern (SCAN, never KEYS). */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...found);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}

/** Deletes every key under the prefix. */
export async function deleteKeys(redis: Redis, prefix: string) {
  const keys = await scanKeys(redis, `${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
}
