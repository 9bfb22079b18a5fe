import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EpochChangedError, type BrokerMessage } from '../../src/modules/events/broker.js';
import { createRedisBroker } from '../../src/modules/events/broker.redis.js';
import { describeBrokerContract } from './broker.contract.js';
import { deleteKeys } from '../support/redis-keys.js';

const redisUrl = process.env.REDIS_URL;

/** Handler failures are part of the contract; anything else is worth seeing. */
const onError = (err: unknown, where: string) => {
  if (where !== 'handler') console.error(`redis broker ${where}:`, err);
};

const message = (key = 'k'): BrokerMessage => ({ id: randomUUID(), key, value: JSON.stringify({ n: 1 }) });

function redisSuite(url: string) {
  describeBrokerContract('contract', async () => {
    const redis = new Redis(url);
    const keyPrefix = `test-events-${randomUUID()}`;
    const broker = createRedisBroker(redis, { keyPrefix, onError, maxMessageBytes: 4_096 });
    return {
      broker,
      maxMessageBytes: 4_096,
      async cleanup() {
        await broker.close();
        await deleteKeys(redis, keyPrefix);
        await redis.quit();
      },
    };
  });

  describe('Redis specifics', () => {
    const keyPrefix = `test-events-${randomUUID()}`;
    let redis: Redis;

    beforeAll(() => {
      redis = new Redis(url);
    });
    afterAll(async () => {
      await deleteKeys(redis, keyPrefix);
      await redis.quit();
    });

    it('keeps one stream per topic with the message as fields and the group on it', async () => {
      const broker = createRedisBroker(redis, { keyPrefix, onError });
      const topic = `t-${randomUUID()}`;
      const m = message('order-1');
      await broker.publish(topic, [m]);
      const sub = await broker.subscribe(topic, { group: 'rankings', consumer: 'c1' }, async () => {});
      const entries = await redis.xrange(`${keyPrefix}:${topic}`, '-', '+');
      expect(entries.map(([, fields]) => fields)).toEqual([['id', m.id, 'key', 'order-1', 'value', m.value]]);
      const groups = (await redis.call('XINFO', 'GROUPS', `${keyPrefix}:${topic}`)) as unknown[][];
      expect(groups.map((g) => g[1])).toEqual(['rankings']);
      await sub.close();
      await broker.close();
      expect(await redis.ping()).toBe('PONG'); // close() leaves the caller's client alone
    });

    it('reads on a connection of its own, never blocking the shared client', async () => {
      // A client name of this test's own, which the broker's reading connection inherits: other
      // test files read from the same Redis at the same time.
      const name = `broker-test-${randomUUID().slice(0, 8)}`;
      const shared = new Redis(url, { connectionName: name });
      const broker = createRedisBroker(shared, { keyPrefix, onError });
      const readersNow = async () =>
        String(await redis.call('CLIENT', 'LIST'))
          .split('\n')
          .filter((line) => line.includes(` name=${name} `) && / cmd=xreadgroup /.test(line))
          .map((line) => Number(/(?:^|\s)id=(\d+)/.exec(line)?.[1]));
      const topic = `t-${randomUUID()}`;
      const sub = await broker.subscribe(topic, { group: 'g', consumer: 'c1' }, async () => {});
      await sleep(50);
      const sharedId = Number(await shared.client('ID'));
      const readerIds = await readersNow();
      expect(readerIds.length).toBeGreaterThan(0);
      expect(readerIds).not.toContain(sharedId);
      expect(await broker.ping()).toBe(true);

      await broker.close();
      expect(await readersNow()).toEqual([]); // its reading connection is gone
      await sub.close(); // already closed: a no-op
      await shared.quit();
    });

    it('reclaims the pending entries of a consumer that died without acknowledging', async () => {
      const broker = createRedisBroker(redis, { keyPrefix, onError });
      const topic = `t-${randomUUID()}`;
      const key = `${keyPrefix}:${topic}`;
      await redis.xgroup('CREATE', key, 'g', '0', 'MKSTREAM');
      const [m1, m2] = [message(), message()];
      await broker.publish(topic, [m1!, m2!]);
      // A consumer reads both and crashes: they stay pending under its name.
      const ghost = redis.duplicate();
      await ghost.call('XREADGROUP', 'GROUP', 'g', 'ghost', 'COUNT', 10, 'STREAMS', key, '>');
      ghost.disconnect();

      const seen: BrokerMessage[] = [];
      const sub = await broker.subscribe(topic, { group: 'g', consumer: 'heir', redeliverAfterMs: 150 }, async (m) => {
        seen.push(m);
      });
      const deadline = Date.now() + 5_000;
      while (seen.length < 2 && Date.now() < deadline) await sleep(10);
      expect(seen).toEqual([m1, m2]);
      await sleep(100);
      const pending = (await redis.xpending(key, 'g')) as [number, ...unknown[]];
      expect(pending[0]).toBe(0); // acknowledged
      await sub.close();
      await broker.close();
    });

    it('does not redeliver a message whose handler runs longer than redeliverAfterMs', async () => {
      const broker = createRedisBroker(redis, { keyPrefix, onError });
      const topic = `t-${randomUUID()}`;
      const byMember: string[] = [];
      const slow = async () => {
        await sleep(500);
      };
      const a = await broker.subscribe(topic, { group: 'g', consumer: 'a', redeliverAfterMs: 100 }, async () => {
        byMember.push('a');
        await slow();
      });
      const b = await broker.subscribe(topic, { group: 'g', consumer: 'b', redeliverAfterMs: 100 }, async () => {
        byMember.push('b');
        await slow();
      });
      await broker.publish(topic, [message()]);
      await sleep(800);
      expect(byMember).toHaveLength(1);
      await Promise.all([a.close(), b.close()]);
      await broker.close();
    });

    it('trims only entries every group is done with: unread and pending entries stay, read ones go', async () => {
      const broker = createRedisBroker(redis, { keyPrefix, onError });
      const topic = `t-${randomUUID()}`;
      const key = `${keyPrefix}:${topic}`;
      const sent = Array.from({ length: 50 }, () => message());
      const fast: string[] = [];
      const fastSub = await broker.subscribe(topic, { group: 'fast', consumer: 'c1', concurrency: 8 }, async (m) => {
        fast.push(m.id);
      });
      await redis.xgroup('CREATE', key, 'slow', '0'); // a group that has read nothing yet (its endpoint is down)
      await broker.publish(topic, sent);
      while (fast.length < 50) await sleep(10);
      await sleep(50); // the fast group's acknowledgements
      expect(await broker.trim(topic)).toBe(0);
      expect(await redis.xlen(key)).toBe(50); // the slow group still needs them all

      // The slow group reads everything, but one entry keeps failing: it stays pending.
      let failing = true;
      const slow: string[] = [];
      const slowSub = await broker.subscribe(topic, { group: 'slow', consumer: 'c1', redeliverAfterMs: 100 }, async (m) => {
        if (m.id === sent[10]!.id && failing) throw new Error('down');
        slow.push(m.id);
      });
      while (slow.length < 49) await sleep(10);
      await sleep(50);
      expect(await broker.trim(topic)).toBe(10);
      expect((await redis.xrange(key, '-', '+', 'COUNT', 1)).map(([, f]) => f[1])).toEqual([sent[10]!.id]);

      failing = false;
      while (slow.length < 50) await sleep(10);
      await sleep(50);
      expect(await broker.trim(topic)).toBe(40);
      expect(await redis.xlen(key)).toBe(0);
      expect(broker.droppedUnread()).toBe(0);
      await fastSub.close();
      await slowSub.close();
      await broker.close();
    });

    it('trims on its own schedule, and keeps a stream without groups whole', async () => {
      const broker = createRedisBroker(redis, { keyPrefix, onError, trimEveryMs: 50 });
      const lonely = `t-${randomUUID()}`;
      await broker.publish(lonely, [message(), message()]);
      const topic = `t-${randomUUID()}`;
      let handled = 0;
      const sub = await broker.subscribe(topic, { group: 'g', consumer: 'c1' }, async () => {
        handled++;
      });
      await broker.publish(topic, [message(), message(), message()]);
      const deadline = Date.now() + 5_000;
      while ((handled < 3 || (await redis.xlen(`${keyPrefix}:${topic}`)) > 0) && Date.now() < deadline) await sleep(20);
      expect(await redis.xlen(`${keyPrefix}:${topic}`)).toBe(0);
      expect(await redis.xlen(`${keyPrefix}:${lonely}`)).toBe(2);
      await sub.close();
      await broker.close();
    });

    it('the optional safety cap drops unread entries only past maxLen, counting them and reporting an error', async () => {
      const errors: string[] = [];
      const broker = createRedisBroker(redis, { keyPrefix, maxLen: 10, onError: (_err, where) => void errors.push(where) });
      const topic = `t-${randomUUID()}`;
      const key = `${keyPrefix}:${topic}`;
      await broker.publish(topic, Array.from({ length: 30 }, () => message()));
      await redis.xgroup('CREATE', key, 'slow', '0');
      expect(await broker.trim(topic)).toBe(20);
      expect(await redis.xlen(key)).toBe(10);
      expect(broker.droppedUnread()).toBe(20);
      expect(errors).toEqual(['trim cap']);
      await broker.close();
    });

    it('refuses a batch holding an oversized message whole, before anything is appended', async () => {
      const broker = createRedisBroker(redis, { keyPrefix, maxMessageBytes: 1_024, onError });
      const topic = `t-${randomUUID()}`;
      const big = { id: randomUUID(), key: 'k', value: 'x'.repeat(2_000) };
      await expect(broker.publish(topic, [message(), big, message()])).rejects.toMatchObject({
        name: 'UnpublishableMessageError',
        ids: [big.id],
      });
      expect(await redis.xlen(`${keyPrefix}:${topic}`)).toBe(0);
      await broker.close();
    });

    it('publishes under an epoch only while the marker is that epoch; a missing or other marker refuses the batch whole', async () => {
      const broker = createRedisBroker(redis, { keyPrefix, onError });
      const topic = `t-${randomUUID()}`;
      const key = `${keyPrefix}:${topic}`;
      expect(await broker.epoch!(topic)).toBeNull();
      await expect(broker.publish(topic, [message(), message()], { epoch: 'e1' })).rejects.toBeInstanceOf(EpochChangedError);
      expect(await redis.exists(key)).toBe(0); // nothing appended, no stream made
      expect(await broker.setEpoch!(topic, null, 'e1')).toBe(true);
      expect(await broker.setEpoch!(topic, null, 'e2')).toBe(false); // set only from the value named
      const sent = [message('a'), { ...message('b'), headers: { traceparent: 'tp' } }];
      await broker.publish(topic, sent, { epoch: 'e1' });
      const entries = await redis.xrange(key, '-', '+');
      expect(entries.map(([, fields]) => fields[1])).toEqual(sent.map((m) => m.id));
      expect(entries[1]![1]).toEqual(['id', sent[1]!.id, 'key', 'b', 'value', sent[1]!.value, 'header:traceparent', 'tp']);
      expect(await broker.setEpoch!(topic, 'e1', 'e2')).toBe(true);
      await expect(broker.publish(topic, [message()], { epoch: 'e1' })).rejects.toBeInstanceOf(EpochChangedError);
      expect(await redis.xlen(key)).toBe(2);
      await broker.close();
    });

    it('fails publish and ping while Redis cannot be reached', async () => {
      const dead = new Redis({ port: 1, lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
      dead.on('error', () => {});
      const broker = createRedisBroker(dead, { keyPrefix, onError });
      await expect(broker.publish('t', [message()])).rejects.toThrow();
      expect(await broker.ping()).toBe(false);
      await broker.close();
      dead.disconnect();
    });
  });
}

// Skipped, with the reason in its title, where no Redis is configured.
describe.skipIf(!redisUrl)(`Redis Streams broker${redisUrl ? '' : ' (REDIS_URL unset: skipped)'}`, () =>
  redisSuite(redisUrl ?? 'redis://unused'),
);
