import type { Redis } from 'ioredis';
import { isRedisUnavailable } from './redis.js';

/**
 * Redis holds state that must not vanish under memory pressure: a waiting line's keys, the event
 * stream, the rankings. Only `maxmemory-policy noeviction` makes a full Redis refuse writes (which
 * the service answers 503) instead of silently evicting a key, which would drop people from a line.
 */
export const REQUIRED_EVICTION_POLICY = 'noeviction';

/**
 * What the server says its `maxmemory-policy` is, or `unknown` when it will not say (a provider
 * that disables or renames CONFIG, or an ACL without it). Throws only when Redis is unreachable.
 */
export async function readEvictionPolicy(redis: Redis): Promise<string> {
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as unknown;
    const value = Array.isArray(reply) ? reply[1] : undefined;
    return typeof value === 'string' && value !== '' ? value : 'unknown';
  } catch (err) {
    if (isRedisUnavailable(err)) throw err;
    return 'unknown';
  }
}

interface PolicyLog {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Checks the policy now and on every reconnection (a Redis restarted, or failed over, may come back
 * configured otherwise), and logs an error when it is not noeviction, a warning when it cannot be
 * read. `current()` is the last policy read (undefined before the first answer), for readiness.
 * `which` names the server in the log lines (the variable it comes from) and what it would lose.
 */
export function watchEvictionPolicy(
  redis: Redis,
  log: PolicyLog,
  which: { redis: string; loses: string } = { redis: 'REDIS_URL', loses: 'waiting-room keys and drop people from a line' },
) {
  let current: string | undefined;
  const check = async () => {
    const policy = await readEvictionPolicy(redis).catch(() => undefined);
    if (policy === undefined) return; // unreachable: checked again when it reconnects
    current = policy;
    if (policy === 'unknown') {
      log.warn({ redis: which.redis, required: REQUIRED_EVICTION_POLICY }, 'could not check Redis maxmemory-policy (CONFIG GET refused): make sure it is noeviction');
    } else if (policy !== REQUIRED_EVICTION_POLICY) {
      log.error(
        { redis: which.redis, maxmemoryPolicy: policy, required: REQUIRED_EVICTION_POLICY },
        `Redis maxmemory-policy is not noeviction: under memory pressure Redis may evict ${which.loses}`,
      );
    }
  };
  const onReady = () => void check();
  redis.on('ready', onReady);
  const first = redis.status === 'ready' ? check() : Promise.resolve();
  return {
    /** Resolves once the check made at start has answered (or given up). */
    checked: first,
    current: () => current,
    stop: () => void redis.off('ready', onReady),
  };
}
