import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../../src/modules/events/broker.js';
import { createRedisBroker, type RedisBroker } from '../../../src/modules/events/broker.redis.js';
import { EVENTS_TOPIC } from '../../../src/modules/events/outbox.event.js';
import { checkTopicLoss, recordHandledBefore, REMARK_BATCH } from '../../../src/modules/events/outbox.loss.js';
import type { RelayOptions } from '../../../src/modules/events/outbox.relay.js';
import type { TestApp } from '../../support/harness.js';
import { insertEvent, passes } from '../../support/outbox.js';
import { createTestAppOnOwnDatabase } from '../../support/own-database.js';
import { deleteKeys } from '../../support/redis-keys.js';

/**
 * Losses the relay finds by the stream's epoch, on keys and a database of the test's own (the
 * stream and its marker deleted, as a Redis restarted empty leaves them; the stream cut back, as a
 * Redis restored from a snapshot leaves it).
 */
const redisUrl = process.env.REDIS_URL;

/** A database and a Redis broker of the describe block's own, set up before its tests. */
function ownStream(database: string) {
  const prefix = `events-${database}-${randomUUID()}`;
  const own = { prefix, streamKey: `${prefix}:${EVENTS_TOPIC}` } as { prefix: string; streamKey: string; t: TestApp; redis: Redis; broker: RedisBroker };
  beforeAll(async () => {
    own.t = await createTestAppOnOwnDatabase(database);
    own.redis = new Redis(redisUrl!);
    own.broker = createRedisBroker(own.redis, { keyPrefix: prefix });
  });
  afterAll(async () => {
    await own.broker?.close();
    if (own.redis) await deleteKeys(own.redis, prefix);
    await own.redis?.quit();
    await own.t?.close();
  });
  return own;
}

/**
 * Two losses in quick succession (before the relay next records how far the groups got): each
 * publishes again only what was published since the groups last had everything, not every row
 * the outbox keeps.
 */
describe.skipIf(!redisUrl)('two stream losses in quick succession', () => {
  const own = ownStream('events_loss_twice');
  let republished: number[] = [];

  /** Inserts `count` events, one aggregate each; returns their ids. */
  const insertMany = async (count: number) => {
    const { rows } = await sql<{ id: string }>`
      INSERT INTO outbox (aggregate_id, type, payload, occurred_at)
      SELECT gen_random_uuid(), 'test.event', '{"n":1}'::jsonb, now() FROM generate_series(1, ${count})
      RETURNING id`.execute(own.t.db);
    return rows.map((r) => r.id);
  };
  const relay = (): RelayOptions => ({
    db: own.t.db,
    broker: own.broker,
    clock: own.t.services.clock,
    lossCheckEveryMs: 0, // look at every pass: nothing is published between the losses to be refused
    handledRecordEveryMs: 3_600_000,
    onRepublished: (n) => republished.push(n),
  });
  const lose = () => own.redis.del(own.streamKey, `${own.streamKey}:epoch`);

  it('each publishes again only the rows published since the groups last had everything', { timeout: 60_000 }, async () => {
    const { t, redis, broker, streamKey } = own;
    // A day of history, published and handled long ago.
    const old = await insertMany(300);
    await sql`UPDATE outbox SET published_at = now() - interval '2 hours' WHERE id = ANY(${old})`.execute(t.db);
    await passes(relay()); // first sight of the stream
    // Recent events, more than one marking batch, published now.
    const recent = await insertMany(REMARK_BATCH + 500);
    await passes(relay());
    expect(await redis.xlen(streamKey)).toBe(recent.length);
    // A group that has had everything so far, recorded as the relay does (the recent rows are
    // within the clock-skew margin of that time, so a loss publishes them again).
    await redis.xgroup('CREATE', streamKey, 'audit', '$');
    await recordHandledBefore(t.db, broker, EVENTS_TOPIC, (await broker.epoch!(EVENTS_TOPIC))!);

    republished = [];
    await lose();
    await passes(relay());
    expect(republished).toEqual([recent.length]);
    expect(await redis.xlen(streamKey)).toBe(recent.length);

    // Lost again before the relay recorded the new stream's progress.
    republished = [];
    await lose();
    await passes(relay());
    expect(republished).toEqual([recent.length]);
    expect(await redis.xlen(streamKey)).toBe(recent.length);
    const { rows } = await sql<{ unsent: number }>`SELECT count(*)::int AS unsent FROM outbox WHERE published_at IS NULL`.execute(t.db);
    expect(rows[0]!.unsent).toBe(0);
  });
});

describe.skipIf(!redisUrl)('a stream that went backwards under the same marker', () => {
  const own = ownStream('events_loss_back');
  const republished: number[] = [];

  it('is a loss: what the groups may not have read is published again under a new marker', { timeout: 30_000 }, async () => {
    const { t, redis, broker, streamKey } = own;
    const relay: RelayOptions = { db: t.db, broker, clock: t.services.clock, lossCheckEveryMs: 0, onRepublished: (n) => republished.push(n) };
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await insertEvent(t, randomUUID()));
    await passes(relay);
    const entries = await redis.xrange(streamKey, '-', '+');
    expect(entries).toHaveLength(5);
    await redis.xgroup('CREATE', streamKey, 'audit', '$');
    await recordHandledBefore(t.db, broker, EVENTS_TOPIC, (await broker.epoch!(EVENTS_TOPIC))!);
    const marker = await redis.get(`${streamKey}:epoch`);

    // Redis back from a copy made after the first two entries: same marker, the last three gone.
    await redis.del(streamKey);
    for (const [id, fields] of entries.slice(0, 2)) await redis.xadd(streamKey, id, ...fields);
    await passes(relay);

    expect(republished.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(3);
    expect(await redis.get(`${streamKey}:epoch`)).not.toBe(marker);
    const stream = (await redis.xrange(streamKey, '-', '+')).map(([, fields]) => fields[1]);
    expect(stream).toEqual(expect.arrayContaining(ids));
    const firstEntries = stream.filter((id, i) => stream.indexOf(id) === i);
    expect(firstEntries).toEqual(ids); // each event first in commit order
  });
});

/**
 * The stream lost (and the loss handled by another instance) between a relay's publish and its
 * marking the rows published: what it appended went with the stream, so the rows go again.
 */
describe.skipIf(!redisUrl)('a loss between a publish and its mark', () => {
  const own = ownStream('events_loss_mark');

  it('leaves the rows unsent, and they reach the new stream', { timeout: 30_000 }, async () => {
    const { t, redis, broker, streamKey, prefix } = own;
    const other = createRedisBroker(redis, { keyPrefix: prefix });
    let loseAfterPublish = false;
    const racing: Broker = {
      ...broker,
      async publish(topic, messages, options) {
        await broker.publish(topic, messages, options);
        if (!loseAfterPublish) return;
        loseAfterPublish = false;
        await redis.del(streamKey, `${streamKey}:epoch`);
        await checkTopicLoss(t.db, other, EVENTS_TOPIC);
      },
    };
    const relay: RelayOptions = { db: t.db, broker: racing, clock: t.services.clock, lossCheckEveryMs: 60_000 };
    await passes(relay); // first sight
    const id = await insertEvent(t, randomUUID());
    loseAfterPublish = true;
    await passes(relay);
    const stream = (await redis.xrange(streamKey, '-', '+')).map(([, fields]) => fields[1]);
    expect(stream).toEqual([id]);
    const [row] = await t.db.selectFrom('outbox').select(['published_at', 'claimed_by']).where('id', '=', id).execute();
    expect(row!.published_at).not.toBeNull();
    await other.close();
  });
});
