import type { Cluster, Redis } from 'ioredis';
import { defineScripts, LINE_KEYS } from './queue.store.redis.lua.js';
import {
  admissionLogMsOf,
  restorable,
  type JoinResult,
  type LineSnapshot,
  type QueueEntry,
  type QueueLimits,
  type QueueState,
  type QueueStore,
  type QueueStoreOptions,
} from './queue.store.js';

/**
 * The waiting room in Redis, shared by any number of service instances. Every change is one Lua
 * script (queue.store.redis.lua.ts, run by EVALSHA through `defineCommand`), so each step is
 * atomic however many instances race. Times are arguments, never Redis TIME.
 *
 * Keys, for prefix `p` (default "queue"); the hash tag `{concertId}` puts one concert's keys in
 * one Cluster slot, so every script touches a single slot:
 * - `p:{c}:seq`      STRING  the order of the concert's last join (see LinePlace in queue.store.ts)
 * - `p:{c}:waiting`  ZSET    userId scored by join order: FIFO order, position = ZRANK + 1
 * - `p:{c}:orders`   HASH    userId -> join order of the user's entry (for the tokens of a rejoin)
 * - `p:{c}:epoch`    STRING  the line's epoch: made by the first join or restore after the keys
 *                            were lost, so a token of an older epoch shows its entry was lost
 * - `p:{c}:restored` SET     entryIds put back in this epoch (QueueStore.restore): each only once
 * - `p:{c}:paused`   STRING  present while an operator has paused the concert's admission
 * - `p:{c}:active`   ZSET    userId scored by activeUntil (epoch ms)
 * - `p:{c}:entries`  HASH    userId -> "<W|A|E>|<entryId>": the user's current entry, WAITING,
 *                            ACTIVE or ended. An ended entry (left or expired) stays as an "E"
 *                            tombstone until the user joins again or purgeEnded() forgets it (a
 *                            forgotten entry reads null: the service answers EXPIRED all the same).
 *                            An "A" entry whose activeUntil has passed reads EXPIRED at once and is
 *                            dropped from `active` by the next admission step.
 * - `p:{c}:admitted` ZSET    entryId scored by admission time; trimmed to `admissionLogMs`
 * - `p:{c}:joined`   HASH    userId -> join time (epoch ms) of each WAITING entry: how long the
 *                            head of the line has waited (`lines()`)
 * - `p:concerts`     SET     concert ids with anyone waiting or active (the ticker's work list)
 *
 * Every join and put-back sets every key of the concert's line (all above but `paused`) to expire a
 * week later, so a finished sale's line, tombstones included, leaves Redis by itself, and no key
 * of a line in use (the epoch and its `restored` set above all) expires before the others.
 *
 * Admission limit: a step admits at most
 *   min(maxActive - |active|, perSecond - |admissions with time > now - 1000|)
 * entries, so no half-open one-second window ever holds more than perSecond admissions.
 *
 * The registry `p:concerts` lives in another slot, so scripts cannot update it. Every join SADDs
 * after its script; a leave or admit that finds the concert empty SREMs afterwards, then re-checks
 * occupancy and SADDs back if a join slipped in between. Only a join turns a concert non-empty and
 * it always SADDs after its script, so a concert with people is never left unlisted; a stale
 * listing of an empty concert is removed by the ticker's next admit().
 */

type EntryReply = [QueueState, string, number | null, string | null, ...(number | string | null)[]];

function toEntry(reply: EntryReply): QueueEntry {
  const [state, entryId, position, activeUntil] = reply;
  return { entryId, state, position: position ?? null, activeUntil: activeUntil === null ? null : Number(activeUntil) };
}

export function createRedisQueueStore(
  redis: Redis | Cluster,
  opts: QueueStoreOptions & { keyPrefix?: string } = {},
): QueueStore {
  const prefix = opts.keyPrefix ?? 'queue';
  if (/[{}]/.test(prefix)) throw new Error('queue store keyPrefix must not contain { or }: the concert id is the hash tag');
  const admissionLogMs = admissionLogMsOf(opts);
  const registryKey = `${prefix}:concerts`;
  const scripts = defineScripts(redis);

  const keysOf = (concertId: string) => {
    const base = `${prefix}:{${concertId}}`;
    return {
      waiting: `${base}:waiting`,
      active: `${base}:active`,
      entries: `${base}:entries`,
      admitted: `${base}:admitted`,
      joined: `${base}:joined`,
      orders: `${base}:orders`,
      seq: `${base}:seq`,
      epoch: `${base}:epoch`,
      restored: `${base}:restored`,
      paused: `${base}:paused`,
    };
  };

  /** The keys the join and restore scripts take: the line's, then the paused key. */
  const lineKeys = (k: ReturnType<typeof keysOf>) => [...LINE_KEYS.map((name) => k[name]), k.paused];

  /** Unlists a concert found empty; lists it again if a join made it occupied meanwhile. */
  const unlist = async (concertId: string) => {
    await redis.srem(registryKey, concertId);
    const k = keysOf(concertId);
    if (Number(await scripts.occupancy([k.waiting, k.active, k.entries], [])) > 0) {
      await redis.sadd(registryKey, concertId);
    }
  };

  const limitArgs = (now: number, limits: QueueLimits) => [now, limits.maxActive, limits.perSecond, limits.activeTtlMs, admissionLogMs];

  return {
    async join(concertId, userId, entryId, now, limits): Promise<JoinResult> {
      const k = keysOf(concertId);
      const reply = (await scripts.join(
        lineKeys(k),
        [userId, entryId, ...limitArgs(now, limits)],
      )) as EntryReply;
      // Listed after every join, not only the first: a process that died between a script and
      // its SADD leaves the concert unlisted only until the next join.
      await redis.sadd(registryKey, concertId);
      const [, , , , created, admitted, order, epoch] = reply;
      if (admitted) opts.onAdmitted?.(Number(admitted));
      return {
        ...toEntry(reply),
        created: created === 1,
        place: order === null || order === undefined ? null : { order: Number(order), epoch: String(epoch) },
      };
    },

    async restore(concertId, userId, entry, now, limits) {
      const k = keysOf(concertId);
      const reply = (await scripts.restore(
        lineKeys(k),
        [userId, entry.entryId, entry.order, entry.epoch, entry.activeUntil ?? '', entry.newEpoch, ...limitArgs(now, limits), restorable(entry, now) ? 1 : 0],
      )) as EntryReply | null;
      if (!reply) return null;
      await redis.sadd(registryKey, concertId);
      if (reply[4]) opts.onAdmitted?.(Number(reply[4]));
      return toEntry(reply);
    },

    async status(concertId, userId, entryId, now) {
      const k = keysOf(concertId);
      const reply = (await scripts.status(
        [k.waiting, k.active, k.entries],
        [userId, entryId === undefined ? '0' : '1', entryId ?? '', now],
      )) as EntryReply | null;
      return reply && toEntry(reply);
    },

    async touch(concertId, userId, entryId, now, activeTtlMs) {
      const k = keysOf(concertId);
      const reply = (await scripts.touch([k.waiting, k.active, k.entries], [userId, entryId, now, activeTtlMs])) as EntryReply | null;
      return reply && toEntry(reply);
    },

    async leave(concertId, userId, entryId) {
      const k = keysOf(concertId);
      const emptied = await scripts.leave(
        [k.waiting, k.active, k.entries, k.joined],
        [userId, entryId === undefined ? '0' : '1', entryId ?? ''],
      );
      if (emptied === 1) await unlist(concertId);
    },

    async admit(concertId, now, limits) {
      const k = keysOf(concertId);
      const [admitted, empty] = (await scripts.admit(
        [k.waiting, k.active, k.entries, k.admitted, k.joined, k.paused],
        limitArgs(now, limits),
      )) as [number, number];
      if (admitted > 0) opts.onAdmitted?.(admitted);
      if (empty === 1) await unlist(concertId);
      return admitted;
    },

    /**
     * Walks the entries of every listed concert (HSCAN, 1,000 at a time) and forgets the ended
     * ones. An unlisted concert has nobody in it; its keys, tombstones included, expire a week
     * after its last join. `now` is unused: entries whose activeUntil passed end at an admission step.
     */
    async purgeEnded() {
      let forgotten = 0;
      for (const concertId of await redis.smembers(registryKey)) {
        const { entries, orders } = keysOf(concertId);
        let cursor = '0';
        do {
          const [next, flat] = await redis.hscan(entries, cursor, 'COUNT', 1000);
          const ended: string[] = [];
          for (let i = 0; i < flat.length; i += 2) if (flat[i + 1]!.startsWith('E')) ended.push(flat[i]!);
          if (ended.length > 0) forgotten += Number(await scripts.purgeEnded([entries, orders], ended));
          cursor = next;
        } while (cursor !== '0');
      }
      return forgotten;
    },

    async setPaused(concertId, paused) {
      const { paused: key } = keysOf(concertId);
      await (paused ? redis.set(key, '1') : redis.del(key));
    },

    async isPaused(concertId) {
      return (await redis.exists(keysOf(concertId).paused)) === 1;
    },

    async activeConcerts() {
      return redis.smembers(registryKey);
    },

    async lines(now) {
      const lines = await Promise.all(
        (await redis.smembers(registryKey)).map(async (concertId): Promise<LineSnapshot> => {
          const k = keysOf(concertId);
          const [waiting, active, head] = (await scripts.line([k.waiting, k.active, k.joined], [now])) as [number, number, string | null];
          return { concertId, waiting, active, headJoinedAt: head === null ? null : Number(head) };
        }),
      );
      return lines.filter((line) => line.waiting + line.active > 0);
    },

    async stats(concertId, now, windowMs) {
      const k = keysOf(concertId);
      const [admittedInWindow, waiting, active, head] = (await scripts.stats(
        [k.waiting, k.active, k.entries, k.admitted],
        [now, windowMs],
      )) as [number, number, number, string | null];
      return { admittedInWindow, waiting, active, headOrder: head === null || head === undefined ? null : Number(head) };
    },

    /** The client belongs to the caller, who quits it. */
    async close() {},
  };
}
