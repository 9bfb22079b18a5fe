import type { Redis } from 'ioredis';
import { withTimeout } from '../../platform/timeout.js';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  compareIds,
  EpochChangedError,
  openSubscription,
  refuseOversized,
  type Broker,
  type BrokerMessage,
  type SubscribeOptions,
  type Subscription,
} from './broker.js';
import { headerFields, replyIs, startMember } from './broker.redis.member.js';

/**
 * The broker on Redis Streams with consumer groups, shared by any number of service instances.
 *
 * Layout, for prefix `p` (default "events"):
 * - `p:<topic>`  STREAM  one entry per message, fields `id`, `key`, `value` (and `header:<name>`
 *                        per header). Trimmed only below
 *                        what every group is done with: about every `trimEveryMs` (default 60 s)
 *                        each instance runs `XTRIM … MINID` at the lowest id any group still needs
 *                        (per group, from XINFO GROUPS and XPENDING: its lowest pending id, else
 *                        the entry after its last-delivered-id). A stream without groups is kept
 *                        whole (a group created later reads it from the start). So a group that
 *                        stops reading (its endpoint is down) keeps its entries, and the stream
 *                        grows until it catches up: watch Redis memory during long outages.
 *                        `maxLen` is an optional safety cap, off by default: past it the pass
 *                        drops the oldest entries even though a group still needs them, counts
 *                        them (`droppedUnread()`) and reports each such pass as an error.
 * - `p:<topic>:epoch` STRING a random marker set by the relay (`setEpoch`) once it has recorded
 *                        the epoch in PostgreSQL: gone after Redis lost its data, which tells the
 *                        relay to publish again what the groups may not have read
 *                        (src/modules/events/outbox.loss.ts). A publish naming an epoch appends
 *                        only while the marker is that epoch (a Lua script checks it, then XADDs).
 * - consumer groups live on that stream under their own name, created at id 0 with
 *   `XGROUP CREATE … MKSTREAM`, so a new group reads the topic from its start; members are
 *   stream consumers named by `SubscribeOptions.consumer`.
 * Every command touches one key, except a publish naming an epoch (the stream and its marker): on
 * Redis Cluster give the prefix a hash tag (`{events}`) so both live in one slot.
 *
 * Publishing: one MULTI of XADDs per batch (one Lua script when the publish names an epoch); `publish` resolves when Redis has answered them all
 * (durability beyond that is the server's AOF/replication setting). A batch holding a message over
 * `maxMessageBytes` is refused whole, before anything is sent (`UnpublishableMessageError`).
 *
 * Consuming and redelivery: one member per subscription, see broker.redis.member.ts.
 *
 * `close()` stops the members (CLIENT UNBLOCK ends a blocking read at once) and quits the
 * connections this adapter created; the client it was given is left open.
 */
export interface RedisBrokerOptions {
  /** Key prefix (default "events"). */
  keyPrefix?: string;
  /** How often the trim pass runs (default 60 s). */
  trimEveryMs?: number;
  /**
   * Safety cap on a stream's length, off by default: entries past it are dropped by the trim pass
   * even when a group has not read them (counted and reported as errors; those events are lost
   * for that group). Leave it off unless Redis memory matters more than those deliveries.
   */
  maxLen?: number;
  /** Messages larger than this are refused for good (default 1 MiB). */
  maxMessageBytes?: number;
  /** Reports failures: `handler` (a handler threw; the message will come back), or Redis errors. */
  onError?: (err: unknown, where: string) => void;
}

const DEFAULT_TRIM_EVERY_MS = 60_000;

const defaultOnError = (err: unknown, where: string) => {
  if (where !== 'handler') console.error(`redis broker: ${where}:`, err);
};

/** The id right after `id`: XTRIM MINID keeps it and everything later. */
function nextId(id: string): string {
  const [ms, seq] = id.split('-') as [string, string];
  return `${ms}-${BigInt(seq ?? '0') + 1n}`;
}

/** Appends the messages (ARGV: epoch, then per message its field count and fields) if KEYS[2] holds the epoch. */
const PUBLISH_IN_EPOCH = `
local marker = redis.call('GET', KEYS[2])
if marker ~= ARGV[1] then
  return redis.error_reply('EPOCHCHANGED marker ' .. tostring(marker) .. ', publisher expected ' .. ARGV[1])
end
local i = 2
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + n))
  i = i + n + 1
end
return #ARGV`;

/** Sets KEYS[1] to ARGV[2] if it holds ARGV[1] ('' for missing). */
const SET_IF = `
local current = redis.call('GET', KEYS[1])
if (current == false and ARGV[1] == '') or current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0`;

export interface RedisBroker extends Broker {
  readonly kind: 'redis';
  /**
   * Trims the topic's stream below the lowest id any group still needs (what the periodic pass
   * does); returns how many entries went.
   */
  trim(topic: string): Promise<number>;
  /** Entries the safety cap (`maxLen`) dropped while some group still needed them, since start. */
  droppedUnread(): number;
}

export function createRedisBroker(redis: Redis, opts: RedisBrokerOptions = {}): RedisBroker {
  const prefix = opts.keyPrefix ?? 'events';
  const maxLen = opts.maxLen;
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const onError = opts.onError ?? defaultOnError;
  const streamKey = (topic: string) => `${prefix}:${topic}`;
  const subscriptions = new Set<Subscription>();
  /** Topics this instance published to or read: the trim pass covers them. */
  const topics = new Set<string>();
  let dropped = 0;
  let closed = false;

  /** XINFO GROUPS of the stream, each group's fields by name; none when the stream does not exist. */
  async function groupsOf(key: string): Promise<Record<string, unknown>[]> {
    const groups = (await redis.call('XINFO', 'GROUPS', key).catch((err: unknown) => {
      if (replyIs(err, 'ERR no such key')) return [];
      throw err;
    })) as unknown[][];
    return groups.map((info) => {
      const field: Record<string, unknown> = {};
      for (let i = 0; i + 1 < info.length; i += 2) field[String(info[i])] = info[i + 1];
      return field;
    });
  }

  /** The lowest id some group of the stream still needs, or undefined (no group: keep it all). */
  async function lowestNeeded(key: string): Promise<string | undefined> {
    let low: string | undefined;
    for (const field of await groupsOf(key)) {
      let needed = nextId(String(field['last-delivered-id']));
      if (Number(field.pending) > 0) {
        const summary = (await redis.xpending(key, String(field.name))) as [number, string | null, string | null, unknown];
        if (summary[1]) needed = summary[1];
      }
      if (low === undefined || compareIds(needed, low) < 0) low = needed;
    }
    return low;
  }

  async function trim(topic: string): Promise<number> {
    const key = streamKey(topic);
    const low = await lowestNeeded(key);
    let trimmed = low === undefined ? 0 : Number(await redis.xtrim(key, 'MINID', low));
    if (maxLen !== undefined && (await redis.xlen(key)) > maxLen) {
      const lost = Number(await redis.xtrim(key, 'MAXLEN', maxLen));
      dropped += lost;
      trimmed += lost;
      onError(new Error(`${key}: the ${maxLen}-entry safety cap dropped ${lost} entries some group had not read`), 'trim cap');
    }
    return trimmed;
  }

  const trimTimer = setInterval(() => {
    for (const topic of topics) trim(topic).catch((err: unknown) => onError(err, 'trim'));
  }, opts.trimEveryMs ?? DEFAULT_TRIM_EVERY_MS);
  trimTimer.unref();

  async function subscribe(
    topic: string,
    options: SubscribeOptions,
    handler: (message: BrokerMessage) => Promise<void>,
  ): Promise<Subscription> {
    if (closed) throw new Error('redis broker closed');
    topics.add(topic);
    return openSubscription(subscriptions, await startMember(redis, streamKey(topic), options, handler, onError));
  }

  return {
    kind: 'redis',
    durable: true,
    trim,
    droppedUnread: () => dropped,

    async publish(topic, messages, options) {
      if (messages.length === 0) return;
      refuseOversized(messages, maxMessageBytes, 'redis broker');
      const key = streamKey(topic);
      topics.add(topic);
      if (options?.epoch !== undefined) {
        const args = messages.flatMap((m) => {
          const fields = ['id', m.id, 'key', m.key, 'value', m.value, ...headerFields(m)];
          return [String(fields.length), ...fields];
        });
        await redis.eval(PUBLISH_IN_EPOCH, 2, key, `${key}:epoch`, options.epoch, ...args).catch((err: unknown) => {
          throw replyIs(err, 'EPOCHCHANGED') ? new EpochChangedError(`redis broker: ${key}: ${String((err as Error).message)}`) : err;
        });
        return;
      }
      const tx = redis.multi();
      for (const m of messages) tx.xadd(key, '*', 'id', m.id, 'key', m.key, 'value', m.value, ...headerFields(m));
      const results = await tx.exec();
      if (!results) throw new Error('redis broker: publish transaction aborted');
      for (const [err] of results) if (err) throw err;
    },

    subscribe,

    /** `p:<topic>:epoch`, null when missing: a Redis that lost the stream lost it too. */
    async epoch(topic) {
      return redis.get(`${streamKey(topic)}:epoch`);
    },

    async setEpoch(topic, from, to) {
      return Number(await redis.eval(SET_IF, 1, `${streamKey(topic)}:epoch`, from ?? '', to)) === 1;
    },

    /** XINFO STREAM's last-generated-id (kept by XADD, not lowered by trimming); null without a stream. */
    async lastId(topic) {
      const info = (await redis.call('XINFO', 'STREAM', streamKey(topic)).catch((err: unknown) => {
        if (replyIs(err, 'ERR no such key')) return null;
        throw err;
      })) as unknown[] | null;
      if (!info) return null;
      const at = info.indexOf('last-generated-id');
      return at < 0 ? null : String(info[at + 1]);
    },

    /** The time part of the lowest id any group still needs (see trim); null without groups. */
    async handledBefore(topic) {
      const low = await lowestNeeded(streamKey(topic));
      return low === undefined ? null : new Date(Number(low.split('-')[0]));
    },

    /**
     * Redis 7's `lag` (entries not yet delivered to the group) plus its pending entries (delivered,
     * not acknowledged). The trim pass keeps `lag` known (it trims only below what every group has
     * been given); a group whose lag Redis cannot tell (entries it had not been given were deleted:
     * the `maxLen` cap, an XDEL by hand) is left out.
     */
    async lag(topic) {
      const lags: Array<{ group: string; lag: number }> = [];
      for (const field of await groupsOf(streamKey(topic))) {
        if (field.lag === null || field.lag === undefined) continue;
        lags.push({ group: String(field.name), lag: Number(field.lag) + Number(field.pending) });
      }
      return lags;
    },

    async ping() {
      return (await withTimeout(redis.ping(), 1_000, 'ping timeout').catch(() => undefined)) === 'PONG';
    },

    async close() {
      closed = true;
      clearInterval(trimTimer);
      await Promise.all([...subscriptions].map((s) => s.close()));
    },
  };
}
