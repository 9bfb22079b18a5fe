import type { Redis } from 'ioredis';
import {
  DEFAULT_MAX_MESSAGE_BYTES,
  refuseOversized,
  type Broker,
  type BrokerMessage,
  type SubscribeOptions,
  type Subscription,
} from './broker.js';

/**
 * The broker on Redis Streams with consumer groups, shared by any number of service instances.
 *
 * Layout, for prefix `p` (default "events"):
 * - `p:<topic>`  STREAM  one entry per message, fields `id`, `key`, `value`. Trimmed only below
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
 * - consumer groups live on that stream under their own name, created at id 0 with
 *   `XGROUP CREATE … MKSTREAM`, so a new group reads the topic from its start; members are
 *   stream consumers named by `SubscribeOptions.consumer`.
 * Every command touches one key, so the layout works on Redis Cluster as it is.
 *
 * Publishing: one MULTI of XADDs per batch; `publish` resolves when Redis has answered them all
 * (durability beyond that is the server's AOF/replication setting). A batch holding a message over
 * `maxMessageBytes` is refused whole, before anything is sent (`UnpublishableMessageError`).
 *
 * Consuming: each subscription reads with `XREADGROUP … BLOCK` on a connection of its own (a
 * duplicate of the given client), so blocking reads never stall the shared client, and asks for
 * at most as many entries as it has free slots (`concurrency`). It acknowledges with XACK after
 * the handler resolves. While a handler runs, the member refreshes the entry's idle time (XCLAIM
 * JUSTID to itself, only if it still owns it), so a slow handler is not redelivered elsewhere.
 *
 * Redelivery: a failed handler's entry stays in the group's pending list, no longer refreshed;
 * a dead consumer's entries likewise. Every member runs `XAUTOCLAIM … min-idle redeliverAfterMs`
 * at subscribe and then about every redeliverAfterMs / 4 (25 ms to 1 s), taking over entries
 * idle that long: a failed or orphaned message comes back after about redeliverAfterMs, to
 * whichever member claims it first. A message that always fails comes back forever; parking it
 * is the consumer's business.
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
const DEFAULT_REDELIVER_AFTER_MS = 5_000;

const defaultOnError = (err: unknown, where: string) => {
  if (where !== 'handler') console.error(`redis broker: ${where}:`, err);
};

/**
 * Refreshes the idle time of entries this consumer still owns (so XAUTOCLAIM leaves them alone).
 * KEYS[1] stream; ARGV: group, consumer, ids…
 */
const LUA_TOUCH = `
local group, me = ARGV[1], ARGV[2]
local touched = 0
for i = 3, #ARGV do
  local p = redis.call('XPENDING', KEYS[1], group, ARGV[i], ARGV[i], 1)
  if p[1] and p[1][2] == me then
    redis.call('XCLAIM', KEYS[1], group, me, 0, ARGV[i], 'JUSTID')
    touched = touched + 1
  end
end
return touched
`;

type RawEntry = [id: string, fields: string[] | null];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function toMessage(fields: string[]): BrokerMessage {
  const m: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) m[fields[i]!] = fields[i + 1]!;
  return { id: m.id ?? '', key: m.key ?? '', value: m.value ?? '' };
}

const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** Stream ids compared as (milliseconds, sequence). */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(BigInt) as [bigint, bigint];
  const [bm, bs] = b.split('-').map(BigInt) as [bigint, bigint];
  if (am !== bm) return am < bm ? -1 : 1;
  return as === bs ? 0 : as < bs ? -1 : 1;
}

/** The id right after `id`: XTRIM MINID keeps it and everything later. */
function nextId(id: string): string {
  const [ms, seq] = id.split('-') as [string, string];
  return `${ms}-${BigInt(seq ?? '0') + 1n}`;
}

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

  /** The lowest id some group of the stream still needs, or undefined (no group: keep it all). */
  async function lowestNeeded(key: string): Promise<string | undefined> {
    const groups = (await redis.call('XINFO', 'GROUPS', key)) as unknown[][];
    let low: string | undefined;
    for (const info of groups) {
      const field: Record<string, unknown> = {};
      for (let i = 0; i + 1 < info.length; i += 2) field[String(info[i])] = info[i + 1];
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
    const low = await lowestNeeded(key).catch((err: unknown) => {
      if (errorText(err).startsWith('ERR no such key')) return undefined;
      throw err;
    });
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

  async function ensureGroup(key: string, group: string) {
    try {
      await redis.xgroup('CREATE', key, group, '0', 'MKSTREAM');
    } catch (err) {
      if (!errorText(err).startsWith('BUSYGROUP')) throw err;
    }
  }

  async function subscribe(
    topic: string,
    options: SubscribeOptions,
    handler: (message: BrokerMessage) => Promise<void>,
  ): Promise<Subscription> {
    if (closed) throw new Error('redis broker closed');
    const key = streamKey(topic);
    topics.add(topic);
    const { group, consumer } = options;
    const concurrency = Math.max(1, options.concurrency ?? 1);
    const redeliverAfterMs = options.redeliverAfterMs ?? DEFAULT_REDELIVER_AFTER_MS;
    const tickMs = Math.min(1_000, Math.max(25, Math.floor(redeliverAfterMs / 4)));

    await ensureGroup(key, group);

    // Blocking reads wait up to tickMs for entries: the shared client's command timeout is not for them.
    const conn = redis.duplicate({ commandTimeout: undefined });
    conn.on('error', (err) => onError(err, 'subscriber connection'));
    let connId = Number(await conn.client('ID'));
    conn.on('ready', () => {
      conn.client('ID').then(
        (id) => (connId = Number(id)),
        () => {},
      );
    });

    let stopping = false;
    /** Entries taken and not yet finished (handler and ack): the slots in use. */
    const inFlight = new Map<string, Promise<void>>();
    /** Entries whose handler is running: kept fresh by the touch timer. */
    const handling = new Set<string>();
    let wake: (() => void) | undefined;
    const notify = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };

    function dispatch(entries: RawEntry[]) {
      for (const [id, fields] of entries) {
        if (!fields || inFlight.has(id)) continue;
        const message = toMessage(fields);
        handling.add(id);
        const run = (async () => {
          try {
            await handler(message);
          } catch (err) {
            onError(err, 'handler');
            return; // left pending: XAUTOCLAIM brings it back
          } finally {
            // From here on the entry is not refreshed any more.
            handling.delete(id);
          }
          try {
            await redis.xack(key, group, id);
          } catch (err) {
            onError(err, 'xack'); // still pending: it comes back, and consumers deduplicate
          }
        })().finally(() => {
          inFlight.delete(id);
          notify();
        });
        inFlight.set(id, run);
      }
    }

    let cursor = '0-0';
    let nextClaimAt = 0;

    async function claim(count: number) {
      const res = (await conn.xautoclaim(key, group, consumer, redeliverAfterMs, cursor, 'COUNT', count)) as [
        string,
        RawEntry[],
        string[]?,
      ];
      cursor = res[0];
      dispatch(res[1]);
      return res[1].length;
    }

    async function loop() {
      let backoff = 50;
      while (!stopping) {
        if (inFlight.size >= concurrency) {
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        const free = concurrency - inFlight.size;
        try {
          if (Date.now() >= nextClaimAt) {
            const claimed = await claim(free);
            // Keep claiming while a backlog of idle entries remains; otherwise wait a tick.
            if (cursor === '0-0' || claimed === 0) nextClaimAt = Date.now() + tickMs;
            if (claimed > 0) continue;
          }
          const blockMs = Math.max(1, Math.min(tickMs, nextClaimAt - Date.now()));
          const res = (await conn.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', free, 'BLOCK', blockMs, 'STREAMS', key, '>')) as
            | [string, RawEntry[]][]
            | null;
          if (res) for (const [, entries] of res) dispatch(entries);
          backoff = 50;
        } catch (err) {
          if (stopping) break;
          if (errorText(err).startsWith('NOGROUP')) {
            // The stream was deleted under us: recreate it and the group, read from the start.
            await ensureGroup(key, group).catch((e: unknown) => onError(e, 'xgroup create'));
          } else {
            onError(err, 'xreadgroup');
          }
          await sleep(backoff);
          backoff = Math.min(backoff * 2, 2_000);
        }
      }
    }

    // Keeps running handlers' entries fresh so no other member claims them.
    const touchTimer = setInterval(
      () => {
        if (handling.size === 0) return;
        redis.eval(LUA_TOUCH, 1, key, group, consumer, ...handling).catch((err: unknown) => onError(err, 'touch'));
      },
      Math.max(10, Math.floor(redeliverAfterMs / 3)),
    );
    touchTimer.unref();

    const loopDone = loop();

    let closing: Promise<void> | undefined;
    const subscription: Subscription = {
      close() {
        closing ??= (async () => {
          stopping = true;
          clearInterval(touchTimer);
          notify();
          // End a blocking read now; retry in case the read had not reached the server yet.
          let done = false;
          void loopDone.then(() => (done = true));
          const giveUpAt = Date.now() + 2_000;
          while (!done) {
            if (Date.now() > giveUpAt) {
              conn.disconnect();
              break;
            }
            await redis.call('CLIENT', 'UNBLOCK', connId).catch(() => {});
            await Promise.race([loopDone, sleep(20)]);
          }
          await loopDone;
          await Promise.allSettled([...inFlight.values()]);
          // A member that owns nothing any more leaves the group's consumer list.
          try {
            const own = (await redis.xpending(key, group, '-', '+', 1, consumer)) as unknown[];
            if (own.length === 0) await redis.xgroup('DELCONSUMER', key, group, consumer);
          } catch (err) {
            onError(err, 'delconsumer');
          }
          await conn.quit().catch(() => conn.disconnect());
          subscriptions.delete(subscription);
        })();
        return closing;
      },
    };
    subscriptions.add(subscription);
    return subscription;
  }

  return {
    kind: 'redis',
    durable: true,
    trim,
    droppedUnread: () => dropped,

    async publish(topic, messages) {
      if (messages.length === 0) return;
      refuseOversized(messages, maxMessageBytes, 'redis broker');
      const key = streamKey(topic);
      topics.add(topic);
      const tx = redis.multi();
      for (const m of messages) tx.xadd(key, '*', 'id', m.id, 'key', m.key, 'value', m.value);
      const results = await tx.exec();
      if (!results) throw new Error('redis broker: publish transaction aborted');
      for (const [err] of results) if (err) throw err;
    },

    subscribe,

    async ping() {
      let timer: NodeJS.Timeout | undefined;
      try {
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error('ping timeout')), 1_000);
        });
        return (await Promise.race([redis.ping(), timeout])) === 'PONG';
      } catch {
        return false;
      } finally {
        clearTimeout(timer);
      }
    },

    async close() {
      closed = true;
      clearInterval(trimTimer);
      await Promise.all([...subscriptions].map((s) => s.close()));
    },
  };
}
