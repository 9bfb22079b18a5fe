import type { Cluster, Redis } from 'ioredis';
import { LINE_RETENTION_MS, ORDERS_PER_MS, PER_SECOND_WINDOW_MS } from './queue.store.js';

/**
 * The Lua scripts of the Redis waiting room (queue.store.redis.ts, which describes the keys), and
 * their registration on a client. Each script is one atomic step on one concert's keys. Over 300
 * lines because the scripts share one key layout and helper block, read best side by side.
 */

/** Helpers shared by the scripts. KEYS: waiting, active, entries[, …]. */
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

/** The admission step. KEYS: waiting, active, entries, admitted, joined; the script passes its paused key. */
const LUA_ADMIT_STEP = `
local admittedKey, joinedKey = KEYS[4], KEYS[5]

-- Ends the ACTIVE entries whose activeUntil is at or before now, freeing their places.
local function dropExpired(now)
  local gone = redis.call('ZRANGEBYSCORE', activeKey, '-inf', fmt(now))
  for i = 1, #gone do
    local rec = redis.call('HGET', entriesKey, gone[i])
    if rec and string.sub(rec, 1, 1) == 'A' then
      redis.call('HSET', entriesKey, gone[i], 'E' .. string.sub(rec, 2))
    end
  end
  if #gone > 0 then redis.call('ZREMRANGEBYSCORE', activeKey, '-inf', fmt(now)) end
end

-- Drops expired ACTIVE entries, then admits from the head of the line while both limits allow,
-- unless an operator paused admission (the key pausedKey exists).
local function admitStep(now, maxActive, perSecond, ttl, logMs, pausedKey)
  dropExpired(now)
  redis.call('ZREMRANGEBYSCORE', admittedKey, '-inf', fmt(now - logMs))
  if redis.call('EXISTS', pausedKey) == 1 then return 0 end

  local free = math.floor(math.min(
    maxActive - redis.call('ZCARD', activeKey),
    perSecond - redis.call('ZCOUNT', admittedKey, '(' .. fmt(now - ${PER_SECOND_WINDOW_MS}), '+inf')))
  if free <= 0 then return 0 end

  local heads = redis.call('ZPOPMIN', waitingKey, free)
  local activeUntil, at = fmt(now + ttl), fmt(now)
  for i = 1, #heads, 2 do
    local user = heads[i]
    local id = string.sub(redis.call('HGET', entriesKey, user), 3)
    redis.call('HSET', entriesKey, user, 'A|' .. id)
    redis.call('ZADD', activeKey, activeUntil, user)
    redis.call('ZADD', admittedKey, at, id)
    redis.call('HDEL', joinedKey, user)
  end
  return #heads / 2
end
`;

/**
 * The keys of one concert's line that a join or a put-back keeps for LINE_RETENTION_MS more, in the
 * order the join and restore scripts take them (KEYS[1..9]; the paused key, KEYS[10], is an
 * operator's and never expires). Every one of them, so none of them (the epoch, the set of entries
 * put back in it, the last join's order) can expire while the rest of the line lives on.
 */
export const LINE_KEYS = ['waiting', 'active', 'entries', 'admitted', 'joined', 'orders', 'seq', 'epoch', 'restored'] as const;

const LUA_KEEP_LINE = `for i = 1, ${LINE_KEYS.length} do redis.call('PEXPIRE', KEYS[i], ${LINE_RETENTION_MS}) end`;

const SCRIPTS = {
  /**
   * KEYS: the line's keys (LINE_KEYS), paused. ARGV: user, entryId, now, maxActive, perSecond, ttl,
   * logMs. Returns view .. {created, admitted, order|false, epoch}.
   */
  join: {
    keys: 10,
    lua: `${LUA_COMMON}${LUA_ADMIT_STEP}
local ordersKey, seqKey, epochKey = KEYS[6], KEYS[7], KEYS[8]
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
  -- First in, first out, and comparable with the join time a token carries (see LinePlace).
  local order = fmt(math.max(now * ${ORDERS_PER_MS}, (tonumber(redis.call('GET', seqKey)) or 0) + 1))
  redis.call('SET', seqKey, order)
  redis.call('ZADD', waitingKey, order, user)
  redis.call('HSET', ordersKey, user, order)
  redis.call('HSET', joinedKey, user, ARGV[3])
  rec = 'W|' .. entryId
  redis.call('HSET', entriesKey, user, rec)
end
local epoch = redis.call('GET', epochKey)
if not epoch then
  epoch = entryId
  redis.call('SET', epochKey, epoch)
end
local admitted = admitStep(now, tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), KEYS[10])
-- A concert's line (and the ended-entry tombstones) is dropped a week after its last join.
${LUA_KEEP_LINE}
local result = view(user, redis.call('HGET', entriesKey, user), now)
result[5] = live and 0 or 1
result[6] = admitted
result[7] = redis.call('HGET', ordersKey, user) or false
result[8] = epoch
return result`,
  },

  /**
   * KEYS: the line's keys (LINE_KEYS), paused. ARGV: user, entryId,
   * order, epoch, activeUntil|'', newEpoch, now, maxActive, perSecond, ttl, logMs, restorable (1|0:
   * the token is recent enough, see `restorable` in queue.store.ts).
   * Returns view .. {admitted}, or false when the entry is not to be put back (QueueStore.restore).
   */
  restore: {
    keys: 10,
    lua: `${LUA_COMMON}${LUA_ADMIT_STEP}
local ordersKey, epochKey, restoredKey = KEYS[6], KEYS[8], KEYS[9]
local user, entryId, order, now = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[7])
local maxActive = tonumber(ARGV[8])
local rec = redis.call('HGET', entriesKey, user)
if rec then
  if string.sub(rec, 3) ~= entryId then return {'EXPIRED', entryId, false, false, 0} end
  local result = view(user, rec, now)
  result[5] = 0
  return result
end
if ARGV[12] ~= '1' then return false end
local current = redis.call('GET', epochKey)
if current == ARGV[4] or redis.call('SISMEMBER', restoredKey, entryId) == 1 then return false end
if not current then redis.call('SET', epochKey, ARGV[6]) end
redis.call('SADD', restoredKey, entryId)
dropExpired(now)
local activeUntil = tonumber(ARGV[5])
if activeUntil and activeUntil > now and redis.call('ZCARD', activeKey) < maxActive then
  redis.call('ZADD', activeKey, fmt(activeUntil), user)
  redis.call('HSET', entriesKey, user, 'A|' .. entryId)
else
  redis.call('ZADD', waitingKey, fmt(order), user)
  redis.call('HSET', joinedKey, user, fmt(math.floor(order / ${ORDERS_PER_MS})))
  redis.call('HSET', entriesKey, user, 'W|' .. entryId)
end
redis.call('HSET', ordersKey, user, fmt(order))
local admitted = admitStep(now, maxActive, tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11]), KEYS[10])
${LUA_KEEP_LINE}
local result = view(user, redis.call('HGET', entriesKey, user), now)
result[5] = admitted
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

  /** KEYS: waiting, active, entries, joined. ARGV: user, hasEntryId, entryId. Returns 1 when it emptied the concert. */
  leave: {
    keys: 4,
    lua: `${LUA_COMMON}
local user = ARGV[1]
local rec = redis.call('HGET', entriesKey, user)
if not rec or string.sub(rec, 1, 1) == 'E' then return 0 end
if ARGV[2] == '1' and string.sub(rec, 3) ~= ARGV[3] then return 0 end
redis.call('ZREM', waitingKey, user)
redis.call('HDEL', KEYS[4], user)
redis.call('ZREM', activeKey, user)
redis.call('HSET', entriesKey, user, 'E' .. string.sub(rec, 2))
return occupancy() == 0 and 1 or 0`,
  },

  /**
   * KEYS: waiting, active, entries, admitted, joined, paused. ARGV: now, maxActive, perSecond, ttl,
   * logMs. Returns {admitted, isEmpty}.
   */
  admit: {
    keys: 6,
    lua: `${LUA_COMMON}${LUA_ADMIT_STEP}
local admitted = admitStep(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), KEYS[6])
return {admitted, occupancy() == 0 and 1 or 0}`,
  },

  /**
   * KEYS: waiting, active, entries, admitted. ARGV: now, windowMs. Read-only. Returns
   * {admittedInWindow, waiting, active, headOrder|false} (the order as text: exact).
   */
  stats: {
    keys: 4,
    lua: `${LUA_COMMON}
local now = tonumber(ARGV[1])
local head = redis.call('ZRANGE', waitingKey, 0, 0, 'WITHSCORES')
return {
  redis.call('ZCOUNT', KEYS[4], '(' .. fmt(now - tonumber(ARGV[2])), fmt(now)),
  redis.call('ZCARD', waitingKey),
  redis.call('ZCOUNT', activeKey, '(' .. fmt(now), '+inf'),
  head[2] or false,
}`,
  },

  /**
   * KEYS: waiting, active, joined. ARGV: now. Read-only. Returns {waiting, active, headJoinedAt|false}
   * (false also for a head that joined before join times were kept).
   */
  line: {
    keys: 3,
    lua: `
local now = tonumber(ARGV[1])
local head = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
return {
  redis.call('ZCARD', KEYS[1]),
  redis.call('ZCOUNT', KEYS[2], '(' .. string.format('%.17g', now), '+inf'),
  head and redis.call('HGET', KEYS[3], head) or false,
}`,
  },

  /** KEYS: entries, orders. ARGV: users found ended. Forgets those still ended (a rejoin may have raced). */
  purgeEnded: {
    keys: 2,
    lua: `
local n = 0
for i = 1, #ARGV do
  local rec = redis.call('HGET', KEYS[1], ARGV[i])
  if rec and string.sub(rec, 1, 1) == 'E' then
    redis.call('HDEL', KEYS[1], ARGV[i])
    redis.call('HDEL', KEYS[2], ARGV[i])
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
export function defineScripts(redis: Redis | Cluster): Record<ScriptName, Script> {
  const scripts = {} as Record<ScriptName, Script>;
  for (const [name, { keys, lua }] of Object.entries(SCRIPTS) as [ScriptName, { keys: number; lua: string }][]) {
    const command = `ticketingQueue_${name}`;
    redis.defineCommand(command, { numberOfKeys: keys, lua });
    const fn = (redis as unknown as Record<string, (...args: (string | number)[]) => Promise<unknown>>)[command]!;
    scripts[name] = (keys, args) => fn.call(redis, ...keys, ...args);
  }
  return scripts;
}
