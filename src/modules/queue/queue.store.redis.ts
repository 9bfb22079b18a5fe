import type { Cluster, Redis } from 'ioredis';
import type { JoinResult, QueueEntry, QueueLimits, QueueState, QueueStore } from './queue.store.js';

/**
 * The waiting room in Redis, shared by any number of service instances. Every change is one Lua
 * script (run by EVALSHA through `defineCommand`), so each step is atomic however many instances
 * race. Times are arguments, never Redis TIME.
 *
 * Keys, for prefix `p` (default "queue"); the hash tag `{concertId}` puts one concert's keys in
 * one Cluster slot, so every script touches a single slot:
 * - `p:{c}:seq`      STRING  per-concert join counter (INCR)
 * - `p:{c}:waiting`  ZSET    userId scored by join sequence: FIFO order, position = ZRANK + 1
 * - `p:{c}:active`   ZSET    userId scored by activeUntil (epoch ms)
 * - `p:{c}:entries`  HASH    userId -> "<W|A|E>|<entryId>": the user's current entry, WAITING,
 *                            ACTIVE or ended. An ended entry (left or expired) stays as an "E"
 *                            tombstone until the user joins again or purgeEnded() forgets it (a
 *                            forgotten entry reads null: the service answers EXPIRED all the same).
 *                            An "A" entry whose activeUntil has passed reads EXPIRED at once and is
 *                            dropped from `active` by the next admission step.
 * - `p:{c}:admitted` ZSET    entryId scored by admission time; trimmed to `admissionLogMs`
 * - `p:concerts`     SET     concert ids with anyone waiting or active (the ticker's work list)
 *
 * Every join sets the concert's keys to expire a week later, so a finished sale's line, tombstones
 * included, leaves Redis by itself.
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

/** The sliding window of the per-second admission limit. */
const RATE_WINDOW_MS = 1000;
const DEFAULT_ADMISSION_LOG_MS = 60_000;
/** How long a concert's keys outlive its last join. */
const KEY_RETENTION_MS = 7 * 86_400_000;

/** Helpers shared by the scripts. KEYS: waiting, active, entries[, admitted, seq]. */
const LUA_COMMON = `
local waitingKey, activeKey, entriesKey = KEYS[1], KEYS[2], KEYS[3]

-- Exact decimal text of a double (ms epochs are integers, printed without exponent).
local function fmt(x) return string.format('%.17g', x) end

local function occupancy()
  return redis.call('ZCARD', waitingKey) + redis.call('ZCARD', activeKey)
end

-- The entry as a caller sees it at now: {state, entryId, position|false, activeUntil|false}.
local function view(user, rec, now)
  local state, id = string.sub(rec, 1, 1), string.sub(rec, 3)
  if state == 'W' then
    local rank = redis.call('ZRANK', waitingKey, user)
    if rank then return {'WAITING', id, rank + 1, false} end
  elseif state == 'A' then
    local activeUntil = redis.call('ZSCORE', activeKey, user)
    if activeUntil and tonumber(activeUntil) > now then return {'ACTIVE', id, false, activeUntil} end
  end
  return {'EXPIRED', id, false, false}
end
`;

/** The admission step. KEYS: waiting, active, entries, admitted. */
const LUA_ADMIT_STEP = `
local admittedKey = KEYS[4]

-- Drops expired ACTIVE entries, then admits from the head of the line while both limits allow.
local function admitStep(now, maxActive, perSecond, ttl, logMs)
  local gone = redis.call('ZRANGEBYSCORE', activeKey, '-inf', fmt(now))
  for i = 1, #gone do
    local rec = redis.call('HGET', entriesKey, gone[i])
    if rec and string.sub(rec, 1, 1) == 'A' then
      redis.call('HSET', entriesKey, gone[i], 'E' .. string.sub(rec, 2))
    end
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', activeKey, '-inf', fmt(now)) end
  redis.call('ZREMRANGEBYSCORE', admittedKey, '-inf', fmt(now - logMs))

  local free = math.floor(math.min(
    maxActive - redis.call('ZCARD', activeKey),
    perSecond - redis.call('ZCOUNT', admittedKey, '(' .. fmt(now - ${RATE_WINDOW_MS}), '+inf')))
  if free <= 0 then return 0 end

  local heads = redis.call('ZPOPMIN', waitingKey, free)
  local activeUntil, at = fmt(now + ttl), fmt(now)
  for i = 1, #heads, 2 do
    local user = heads[i]
    local id = string.sub(redis.call('HGET', entriesKey, user), 3)
    redis.call('HSET', entriesKey, user, 'A|' .. id)
    redis.call('ZADD', activeKey, activeUntil, user)
    redis.call('ZADD', admittedKey, at, id)
  end
  return #heads / 2
end
`;

const SCRIPTS = {
  /**
   * KEYS: waiting, active, entries, admitted, seq. ARGV: user, entryId, now, maxActive, perSecond,
   * ttl, logMs. Returns view .. {created}.
   */
  join: {
    keys: 5,
    lua: `${LUA_COMMON}${LUA_ADMIT_STEP}
local user, entryId, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local rec = redis.call('HGET', entriesKey, user)
local live = false
if rec then
  local state = string.sub(rec, 1, 1)
  if state == 'W' then
    live = true
  elseif state == 'A' then
    local activeUntil = redis.call('ZSCORE', activeKey, user)
    live = activeUntil ~= false and tonumber(activeUntil) > now
    if not live then redis.call('ZREM', activeKey, user) end
  end
end
if not live then
  redis.call('ZADD', waitingKey, redis.call('INCR', KEYS[5]), user)
  rec = 'W|' .. entryId
  redis.call('HSET', entriesKey, user, rec)
end
admitStep(now, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]))
-- A concert's line (and the ended-entry tombstones) is dropped a week after its last join.
for i = 1, 5 do redis.call('PEXPIRE', KEYS[i], ${KEY_RETENTION_MS}) end
local result = view(user, redis.call('HGET', entriesKey, user), now)
result[5] = live and 0 or 1
return result`,
  },

  /** KEYS: waiting, active, entries. ARGV: user, hasEntryId, entryId, now. Read-only. */
  status: {
    keys: 3,
    lua: `${LUA_COMMON}
local user = ARGV[1]
local rec = redis.call('HGET', entriesKey, user)
if not rec then return false end
if ARGV[2] == '1' and string.sub(rec, 3) ~= ARGV[3] then return {'EXPIRED', ARGV[3], false, false} end
return view(user, rec, tonumber(ARGV[4]))`,
  },

  /** KEYS: waiting, active, entries. ARGV: user, entryId, now, ttl. */
  touch: {
    keys: 3,
    lua: `${LUA_COMMON}
local user, entryId, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local rec = redis.call('HGET', entriesKey, user)
if not rec then return false end
if string.sub(rec, 3) ~= entryId then return {'EXPIRED', entryId, false, false} end
if string.sub(rec, 1, 1) == 'A' then
  local activeUntil = redis.call('ZSCORE', activeKey, user)
  if activeUntil and tonumber(activeUntil) > now then
    activeUntil = fmt(now + tonumber(ARGV[4]))
    redis.call('ZADD', activeKey, activeUntil, user)
    return {'ACTIVE', entryId, false, activeUntil}
  end
end
return view(user, rec, now)`,
  },

  /** KEYS: waiting, active, entries. ARGV: user, hasEntryId, entryId. Returns 1 when it emptied the concert. */
  leave: {
    keys: 3,
    lua: `${LUA_COMMON}
local user = ARGV[1]
local rec = redis.call('HGET', entriesKey, user)
if not rec or string.sub(rec, 1, 1) == 'E' then return 0 end
if ARGV[2] == '1' and string.sub(rec, 3) ~= ARGV[3] then return 0 end
redis.call('ZREM', waitingKey, user)
redis.call('ZREM', activeKey, user)
redis.call('HSET', entriesKey, user, 'E' .. string.sub(rec, 2))
return occupancy() == 0 and 1 or 0`,
  },

  /**
   * KEYS: waiting, active, entries, admitted. ARGV: now, maxActive, perSecond, ttl, logMs.
   * Returns {admitted, isEmpty}.
   */
  admit: {
    keys: 4,
    lua: `${LUA_COMMON}${LUA_ADMIT_STEP}
local admitted = admitStep(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return {admitted, occupancy() == 0 and 1 or 0}`,
  },

  /** KEYS: waiting, active, entries, admitted. ARGV: now, windowMs. Read-only. */
  stats: {
    keys: 4,
    lua: `${LUA_COMMON}
local now = tonumber(ARGV[1])
return {
  redis.call('ZCOUNT', KEYS[4], '(' .. fmt(now - tonumber(ARGV[2])), fmt(now)),
  redis.call('ZCARD', waitingKey),
  redis.call('ZCOUNT', activeKey, '(' .. fmt(now), '+inf'),
}`,
  },

  /** KEYS: entries. ARGV: users found ended. Forgets those still ended (a rejoin may have raced). */
  purgeEnded: {
    keys: 1,
    lua: `
local n = 0
for i = 1, #ARGV do
  local rec = redis.call('HGET', KEYS[1], ARGV[i])
  if rec and string.sub(rec, 1, 1) == 'E' then
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n`,
  },

  /** KEYS: waiting, active, entries. How many are waiting or in the active set. Read-only. */
  occupancy: {
    keys: 3,
    lua: `${LUA_COMMON}
return occupancy()`,
  },
} as const;

type ScriptName = keyof typeof SCRIPTS;
type Script = (keys: string[], args: (string | number)[]) => Promise<unknown>;

/** Registers the scripts on the client (EVALSHA, EVAL on NOSCRIPT) under names unlikely to clash. */
function defineScripts(redis: Redis | Cluster): Record<ScriptName, Script> {
  const scripts = {} as Record<ScriptName, Script>;
  for (const [name, { keys, lua }] of Object.entries(SCRIPTS) as [ScriptName, { keys: number; lua: string }][]) {
    const command = `ticketingQueue_${name}`;
    redis.defineCommand(command, { numberOfKeys: keys, lua });
    const fn = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[command]!;
    scripts[name] = (keys, args) => fn.call(redis, ...keys, ...args);
  }
  return scripts;
}

type EntryReply = [QueueState, string, number | null, string | null, ...number[]];

function toEntry(reply: EntryReply): QueueEntry {
  const [state, entryId, position, activeUntil] = reply;
  return { entryId, state, position: position ?? null, activeUntil: activeUntil === null ? null : Number(activeUntil) };
}

export function createRedisQueueStore(
  redis: Redis | Cluster,
  opts: { keyPrefix?: string; admissionLogMs?: number } = {},
): QueueStore {
  const prefix = opts.keyPrefix ?? 'queue';
  if (/[{}]/.test(prefix)) throw new Error('queue store keyPrefix must not contain { or }: the concert id is the hash tag');
  const admissionLogMs = Math.max(RATE_WINDOW_MS, opts.admissionLogMs ?? DEFAULT_ADMISSION_LOG_MS);
  const registryKey = `${prefix}:concerts`;
  const scripts = defineScripts(redis);

  const keysOf = (concertId: string) => {
    const base = `${prefix}:{${concertId}}`;
    return {
      waiting: `${base}:waiting`,
      active: `${base}:active`,
      entries: `${base}:entries`,
      admitted: `${base}:admitted`,
      seq: `${base}:seq`,
    };
  };

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
        [k.waiting, k.active, k.entries, k.admitted, k.seq],
        [userId, entryId, ...limitArgs(now, limits)],
      )) as EntryReply;
      // Listed after every join, not only the first: a process that died between a script and
      // its SADD leaves the concert unlisted only until the next join.
      await redis.sadd(registryKey, concertId);
      return { ...toEntry(reply), created: reply[4] === 1 };
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
        [k.waiting, k.active, k.entries],
        [userId, entryId === undefined ? '0' : '1', entryId ?? ''],
      );
      if (emptied === 1) await unlist(concertId);
    },

    async admit(concertId, now, limits) {
      const k = keysOf(concertId);
      const [admitted, empty] = (await scripts.admit(
        [k.waiting, k.active, k.entries, k.admitted],
        limitArgs(now, limits),
      )) as [number, number];
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
        const { entries } = keysOf(concertId);
        let cursor = '0';
        do {
          const [next, flat] = await redis.hscan(entries, cursor, 'COUNT', 1000);
          const ended: string[] = [];
          for (let i = 0; i < flat.length; i += 2) if (flat[i + 1]!.startsWith('E')) ended.push(flat[i]!);
          if (ended.length > 0) forgotten += Number(await scripts.purgeEnded([entries], ended));
          cursor = next;
        } while (cursor !== '0');
      }
      return forgotten;
    },

    async activeConcerts() {
      return redis.smembers(registryKey);
    },

    async stats(concertId, now, windowMs) {
      const k = keysOf(concertId);
      const [admittedInWindow, waiting, active] = (await scripts.stats(
        [k.waiting, k.active, k.entries, k.admitted],
        [now, windowMs],
      )) as [number, number, number];
      return { admittedInWindow, waiting, active };
    },

    /** The client belongs to the caller, who quits it. */
    async close() {},
  };
}
