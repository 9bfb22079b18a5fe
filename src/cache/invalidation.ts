import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * Carries cache invalidations to every instance. With Redis: one pub/sub channel; each instance
 * ignores its own messages (it already dropped the keys). Without Redis there is one instance and
 * nothing to carry.
 */
export interface InvalidationBus {
  subscribe(cache: string, drop: (keys: string[]) => void): void;
  publish(cache: string, keys: string[]): Promise<void>;
  close(): Promise<void>;
}

const CHANNEL = 'cache:invalidate';

export function createLocalBus(): InvalidationBus {
  return { subscribe() {}, async publish() {}, async close() {} };
}

/** `subscriber` must be a connection of its own: a subscribed connection can do nothing else. */
export async function createRedisBus(publisher: Redis, subscriber: Redis): Promise<InvalidationBus> {
  const origin = randomUUID();
  const handlers = new Map<string, ((keys: string[]) => void)[]>();
  subscriber.on('message', (channel: string, message: string) => {
    if (channel !== CHANNEL) return;
    try {
      const { o, c, k } = JSON.parse(message) as { o: string; c: string; k: string[] };
      if (o === origin) return;
      for (const drop of handlers.get(c) ?? []) drop(k);
    } catch {
      // not one of ours
    }
  });
  await subscriber.subscribe(CHANNEL);
  return {
    subscribe(cache, drop) {
      handlers.set(cache, [...(handlers.get(cache) ?? []), drop]);
    },
    async publish(cache, keys) {
      await publisher.publish(CHANNEL, JSON.stringify({ o: origin, c: cache, k: keys }));
    },
    async close() {
      await subscriber.quit().catch(() => {});
    },
  };
}
