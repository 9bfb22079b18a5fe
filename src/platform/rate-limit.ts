import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import { hashToken } from './ids.js';
import { problem, sendProblem } from './problem.js';
import { withTimeout } from './timeout.js';

/** The per-user limits a route may name in its `config.userRateLimit`. */
export type UserRateLimit = 'join' | 'poll' | 'hold' | 'pay';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Counts the route's requests against this per-user limit, on top of the per-address one; polls
     * count per user and concert only (see below).
     */
    userRateLimit?: UserRateLimit;
    /** Registration: counted per address against RATE_LIMIT_SIGNUP, on top of the per-address limit. */
    signupRateLimit?: boolean;
  }
}

/** Routes no limit ever refuses: probes, scrapes and the API explorer. */
const EXEMPT = /^\/(health|metrics|docs)(\/|$)/;
/** Redis keys start with this, apart from every other key of the service (queue:, rank:, events:, cache). */
export const RATE_LIMIT_KEY_PREFIX = 'ratelimit:';
/** A store that does not answer within this is treated as down (the request passes). */
const STORE_TIMEOUT_MS = 250;
/** After a store failure, requests pass without asking it for this long (no timeout paid per request). */
const SKIP_AFTER_FAILURE_MS = 5_000;
/**
 * In-process store: counters kept per limit, least recently used dropped first (a dropped counter
 * starts again at zero: an idle client is forgotten, a flooding one stays hot and counted).
 */
const LOCAL_KEYS = 50_000;

const bearerOf = (request: FastifyRequest): string | undefined =>
  /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];

/**
 * Rate limits with @fastify/rate-limit, in one onRequest hook, before the body is read or the user
 * looked up, so a flood costs a counter increment and no database work:
 * - per client address (IPv6 by /64), on every route except health, metrics and docs;
 * - per user, on routes that name a limit in `config.userRateLimit`. The user is the bearer
 *   token's SHA-256 (the hash the users table keys tokens by: one token, one user), so no lookup
 *   is needed; polls count per user and concert, so a fan in two lines polls both at their pace;
 *   seat-map reads are polls too (the page re-reads the map every second), per user and schedule.
 * Counters are fixed windows of RATE_LIMIT_WINDOW_MS, in Redis when a client is given (shared by
 * every instance) and in process otherwise. A refusal is 429 RATE_LIMITED with Retry-After in
 * seconds until the window ends. If the store fails or stalls, the request passes (fail open), a
 * warning is logged and the store is left alone for a few seconds (so an outage costs requests no
 * timeout each): a Redis outage must not also close the box office.
 */
export async function registerRateLimits(
  app: FastifyInstance,
  config: Config,
  redis?: Redis,
  /**
   * The user and concert the request's Queue-Token was signed for, or undefined when it is missing
   * or does not verify (no I/O: an HMAC). A poll with a genuine token is counted for that user
   * alone, never against its address.
   */
  queueTokenUser?: (request: FastifyRequest) => { userId: string; concertId: string } | undefined,
): Promise<void> {
  if (!config.RATE_LIMIT_ENABLED) return;
  const windowMs = config.RATE_LIMIT_WINDOW_MS;
  // A client polling at the slowest cadence the server asks for (1 s) sends windowMs/1000 polls in a
  // window, one more if its timer fires a little early: the poll limit must leave room for that.
  const minPoll = Math.ceil(windowMs / 1000) + 1;
  if (config.RATE_LIMIT_POLL < minPoll) {
    throw new Error(`RATE_LIMIT_POLL must be at least ${minPoll} (one poll a second over RATE_LIMIT_WINDOW_MS, plus one)`);
  }

  await app.register(rateLimit, {
    global: false,
    timeWindow: windowMs,
    ...(redis ? { redis, nameSpace: RATE_LIMIT_KEY_PREFIX } : {}),
  });
  // Each limiter gets a store of its own (a child of the plugin's); `cache` sizes the in-process one.
  const store = { cache: LOCAL_KEYS } as object;
  const perAddress = app.createRateLimit({
    ...store,
    max: config.RATE_LIMIT_PER_IP,
    keyGenerator: (request) => `ip:${normalizeIP(request.ip)}`,
  });
  const signups = app.createRateLimit({
    ...store,
    max: config.RATE_LIMIT_SIGNUP,
    keyGenerator: (request) => `signup:${normalizeIP(request.ip)}`,
  });
  const perUserMax: Record<UserRateLimit, number> = {
    join: config.RATE_LIMIT_JOIN,
    poll: config.RATE_LIMIT_POLL,
    hold: config.RATE_LIMIT_HOLD,
    pay: config.RATE_LIMIT_PAY,
  };
  const perUser = Object.fromEntries(
    Object.entries(perUserMax).map(([name, max]) => [
      name,
      app.createRateLimit({
        ...store,
        max,
        keyGenerator: (request) => {
          if (name === 'poll') {
            // The user and concert the Queue-Token was signed for (never the URL's ids, which the
            // client picks: one counter per made-up id would never fill), else the bearer's; the
            // line and the concert's seat maps apart, so a fan reading a map and polling the line
            // keeps both paces.
            const signed = pollUsers.get(request);
            const what = request.routeOptions.url?.startsWith('/schedules/') ? 'map' : 'line';
            return signed ? `poll:u${signed.userId}:${what}:${signed.concertId}` : `poll:${hashToken(bearerOf(request)!).slice(0, 32)}:${what}`;
          }
          return `${name}:${hashToken(bearerOf(request)!).slice(0, 32)}`;
        },
      }),
    ]),
  ) as Record<UserRateLimit, ReturnType<FastifyInstance['createRateLimit']>>;

  /** Polls whose Queue-Token verifies: the user and concert it was signed for (the counter's key). */
  const pollUsers = new WeakMap<FastifyRequest, { userId: string; concertId: string }>();
  const isGenuinePoll = (request: FastifyRequest): boolean => {
    const signed = queueTokenUser?.(request);
    if (signed === undefined) return false;
    pollUsers.set(request, signed);
    return true;
  };

  let skipUntil = 0;
  const check = async (request: FastifyRequest, limiter: ReturnType<FastifyInstance['createRateLimit']>) => {
    if (Date.now() < skipUntil) return undefined;
    try {
      const result = await withTimeout(limiter(request), STORE_TIMEOUT_MS, `rate-limit store did not answer within ${STORE_TIMEOUT_MS} ms`);
      return !result.isAllowed && result.isExceeded ? result : undefined;
    } catch (err) {
      if (Date.now() >= skipUntil) {
        skipUntil = Date.now() + SKIP_AFTER_FAILURE_MS;
        request.log.warn({ err }, `rate-limit store unavailable: requests pass unlimited for ${SKIP_AFTER_FAILURE_MS} ms, then it is tried again`);
      }
      return undefined;
    }
  };

  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const url = request.routeOptions.url;
    if (url !== undefined && EXEMPT.test(url)) return;
    const { userRateLimit: name, signupRateLimit } = request.routeOptions.config;
    // A poll at the pace the server asks for must never be refused, whatever else comes from its
    // address (a hundred fans behind one NAT at the head of the line poll once a second each). A poll
    // whose Queue-Token verifies is counted for the user it was signed for, per concert, and not
    // against its address: the signature cannot be forged, and made-up bearers change nothing.
    const byAddressToo = name !== 'poll' || !isGenuinePoll(request);
    const [byAddress, byUser, bySignup] = await Promise.all([
      byAddressToo ? check(request, perAddress) : undefined,
      name && (bearerOf(request) || pollUsers.has(request)) ? check(request, perUser[name]) : undefined,
      signupRateLimit ? check(request, signups) : undefined,
    ]);
    const refusedBy = byUser ? `for this user (${name})` : bySignup ? 'from this address (registrations)' : 'from this address';
    const refused = byUser ?? bySignup ?? byAddress;
    if (!refused) return;
    const retryAfter = Math.max(1, refused.ttlInSeconds);
    reply.header('retry-after', String(retryAfter));
    reply.header('x-ratelimit-limit', String(refused.max));
    reply.header('x-ratelimit-remaining', '0');
    reply.header('x-ratelimit-reset', String(retryAfter));
    const instance = request.url.split('?')[0] ?? request.url;
    return sendProblem(
      reply,
      problem('RATE_LIMITED', `Too many requests ${refusedBy}; retry in ${retryAfter} s`, instance, { retryAfterSeconds: retryAfter }),
    );
  });
}
