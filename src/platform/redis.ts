import { Redis } from 'ioredis';

/** One ioredis client; commands fail fast while disconnected instead of queueing without bound. */
export function createRedis(url: string): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    connectTimeout: 5_000,
    lazyConnect: false,
  });
}
