import { Redis } from 'ioredis';

export interface RedisOptions {
  /** Longest a command waits for its answer before it fails ("Command timed out"). */
  commandTimeoutMs?: number;
  /**
   * Told of connection errors (refused, reset, reconnecting), at most once per `errorEveryMs` (5 s):
   * an outage is a few log lines, not one per reconnection attempt. Without it ioredis prints each.
   */
  onError?: (err: Error) => void;
  errorEveryMs?: number;
}

/**
 * One ioredis client. Commands fail fast instead of waiting without bound: while disconnected
 * after two reconnection attempts (MaxRetriesPerRequestError), and when a connected server does not
 * answer within `commandTimeoutMs` (a stalled or overloaded Redis). Callers see isRedisUnavailable
 * errors, which the HTTP layer answers 503 UNAVAILABLE.
 */
export function createRedis(url: string, { commandTimeoutMs = 1_000, onError, errorEveryMs = 5_000 }: RedisOptions = {}): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    connectTimeout: 5_000,
    commandTimeout: commandTimeoutMs,
    lazyConnect: false,
  });
  if (onError) {
    let last = -Infinity;
    redis.on('error', (err: Error) => {
      if (Date.now() - last < errorEveryMs) return;
      last = Date.now();
      onError(err);
    });
  }
  return redis;
}

/** Replies of a Redis that cannot serve right now (loading, busy with a script, no reachable primary, failing over). */
const UNAVAILABLE_REPLY = /^(LOADING|BUSY|MASTERDOWN|TRYAGAIN|CLUSTERDOWN|READONLY)\b/;

/** True for the errors ioredis gives when Redis cannot be reached or does not answer in time. */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err.name === 'MaxRetriesPerRequestError') return true;
  if (err.name === 'ReplyError') return UNAVAILABLE_REPLY.test(err.message);
  return /^(Command timed out|Connection is closed\.|Stream isn't writeable|Socket timeout|connect ETIMEDOUT)/.test(err.message);
}
