import type { Redis } from 'ioredis';
import type { BrokerMessage, SubscribeOptions } from './broker.js';

/**
 * One member of a consumer group on a Redis stream (the reading side of the Redis broker).
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
 * Stopping ends a blocking read at once (CLIENT UNBLOCK), waits for the handlers in flight, and
 * quits the member's own connection.
 */

const DEFAULT_REDELIVER_AFTER_MS = 5_000;

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

const HEADER = 'header:';

/** A message's headers as stream entry fields: `header:<name>`, value. */
export const headerFields = (m: BrokerMessage): string[] =>
  m.headers ? Object.entries(m.headers).flatMap(([name, value]) => [HEADER + name, value]) : [];

function toMessage(fields: string[]): BrokerMessage {
  const m: Record<string, string> = {};
  let headers: Record<string, string> | undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const field = fields[i]!;
    if (field.startsWith(HEADER)) (headers ??= {})[field.slice(HEADER.length)] = fields[i + 1]!;
    else m[field] = fields[i + 1]!;
  }
  return { id: m.id ?? '', key: m.key ?? '', value: m.value ?? '', ...(headers ? { headers } : {}) };
}

/** True when `err` is a Redis reply starting with `code` (e.g. `BUSYGROUP`, `NOGROUP`). */
export const replyIs = (err: unknown, code: string): boolean => (err instanceof Error ? err.message : String(err)).startsWith(code);

async function ensureGroup(redis: Redis, key: string, group: string) {
  try {
    await redis.xgroup('CREATE', key, group, '0', 'MKSTREAM');
  } catch (err) {
    if (!replyIs(err, 'BUSYGROUP')) throw err;
  }
}

/**
 * Joins the group `options.group` on the stream `key` (creating it, at id 0, if need be) and hands
 * its entries to `handler`. Resolves, once reading has begun, with the function that stops the member.
 */
export async function startMember(
  redis: Redis,
  key: string,
  options: SubscribeOptions,
  handler: (message: BrokerMessage) => Promise<void>,
  onError: (err: unknown, where: string) => void,
): Promise<() => Promise<void>> {
  const { group, consumer } = options;
  const concurrency = Math.max(1, options.concurrency ?? 1);
  const redeliverAfterMs = options.redeliverAfterMs ?? DEFAULT_REDELIVER_AFTER_MS;
  const tickMs = Math.min(1_000, Math.max(25, Math.floor(redeliverAfterMs / 4)));

  await ensureGroup(redis, key, group);

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
        if (replyIs(err, 'NOGROUP')) {
          // The stream was deleted under us: recreate it and the group, read from the start.
          await ensureGroup(redis, key, group).catch((e: unknown) => onError(e, 'xgroup create'));
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

  return async function stop() {
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
  };
}
