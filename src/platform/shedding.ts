import underPressure from '@fastify/under-pressure';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ArrivalLane } from './arrivals.js';
import type { Config } from '../config.js';
import type { Metrics } from './metrics.js';
import { problem, PROBLEM_CONTENT_TYPE, type Problem } from './problem.js';

/** Probes and scrapes: an instance under pressure must still say so and be measured. */
const NEVER_SHED = new Set(['/health/live', '/health/ready', '/metrics']);

/**
 * An admitted user's booking work, by method and route template: the line (poll, leave), the seat
 * map, holds and payments. With a genuine Queue-Token they go on while arrivals are shed.
 */
const ADMITTED_WORK = new Set([
  'GET /concerts/:concertId/queue',
  'DELETE /concerts/:concertId/queue',
  'GET /schedules/:scheduleId/seats',
  'POST /reservations',
  'POST /payments',
]);

/** Whether the event loop or the heap is watched (by @fastify/under-pressure's samples). */
const sampled = (config: Config): boolean =>
  config.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS > 0 || config.OVERLOAD_MAX_EVENT_LOOP_UTILIZATION > 0 || config.OVERLOAD_MAX_HEAP_USED_MB > 0;

/** Whether the instance sheds load at all: some threshold is set. */
export const sheddingEnabled = (config: Config): boolean =>
  sampled(config) || config.OVERLOAD_MAX_DATABASE_WAIT_MS > 0 || config.OVERLOAD_MAX_ARRIVALS_IN_FLIGHT > 0;

/** The `reason` of a request shed because the request pool's oldest wait for a connection was over its threshold. */
export const DATABASE_WAIT = 'databaseWait';

export interface SheddingSignals {
  /** Whether the request's Queue-Token is there and its signature verifies (no I/O). */
  genuineQueueToken: (request: FastifyRequest) => boolean;
  /** How long the caller waiting longest for a connection of the request pool has waited so far (ms; no I/O). */
  databaseWaitMs: () => number;
  /** Whether the request carries the operator's credential (no I/O): an operator pausing a line must get through. */
  operator?: (request: FastifyRequest) => boolean;
}

/**
 * Load shedding. Two kinds of pressure: the event loop and the heap, sampled by
 * @fastify/under-pressure (the loop's mean delay over each OVERLOAD_SAMPLE_INTERVAL_MS, its
 * utilisation over the same interval, the heap used), and the database, read on every request: how
 * long the oldest caller still waiting for a connection of the request pool has waited. A
 * saturated database keeps the event loop fast while requests queue for connections, so only the
 * second sees it. While one is over its threshold, every new request is refused at once, in its
 * first hooks (before rate limits, authentication or the body: no PostgreSQL, no Redis), with 503
 * UNAVAILABLE, Retry-After and `shed: true` (nothing was done: any request, a sign-up too, is safe
 * to repeat). Let through: health probes and /metrics, the operator's requests (ADMIN_TOKEN),
 * and an admitted user's booking work whose Queue-Token verifies (a signature check, no I/O), so
 * the users the waiting room let in keep their pace while the crowd at the door (sign-ups, top-ups, catalogue reads, joins) is turned away and
 * its requests stop taking the connections the bookings need. Register it before anything else
 * that does work in onRequest.
 */
export async function registerShedding(app: FastifyInstance, config: Config, metrics: Metrics, signals: SheddingSignals): Promise<void> {
  if (!sheddingEnabled(config)) return;
  const retryAfter = config.OVERLOAD_RETRY_AFTER_SECONDS;

  const letThrough = (request: FastifyRequest): boolean => {
    const route = request.routeOptions.url;
    if (route === undefined) return false;
    if (NEVER_SHED.has(route) || signals.operator?.(request) === true) return true;
    return ADMITTED_WORK.has(`${request.method} ${route}`) && signals.genuineQueueToken(request);
  };

  /** Refuses the request: sets the status and headers, counts it, and returns the body to send. */
  const refuse = (request: FastifyRequest, reply: FastifyReply, reason: string): Problem => {
    metrics.shed.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', reason });
    reply.code(503).type(PROBLEM_CONTENT_TYPE).header('retry-after', String(retryAfter));
    const instance = request.url.split('?')[0] ?? request.url;
    return problem('UNAVAILABLE', `The service is overloaded and did nothing with this request; retry in ${retryAfter} s`, instance, {
      shed: true,
      retryAfterSeconds: retryAfter,
    });
  };

  /** The refusal's body; undefined lets the request through. */
  const shed = (request: FastifyRequest, reply: FastifyReply, reason: string): Problem | undefined =>
    letThrough(request) ? undefined : refuse(request, reply, reason);

  if (sampled(config)) await registerSampledPressure(app, config, shed);

  const maxWaitMs = config.OVERLOAD_MAX_DATABASE_WAIT_MS;
  if (maxWaitMs > 0) {
    app.addHook('onRequest', (request, reply, done) => {
      const refusal = signals.databaseWaitMs() > maxWaitMs ? shed(request, reply, DATABASE_WAIT) : undefined;
      if (refusal === undefined) done();
      else reply.send(refusal);
    });
  }
  if (config.OVERLOAD_MAX_ARRIVALS_IN_FLIGHT > 0) registerArrivalLane(app, config, signals.databaseWaitMs, letThrough, refuse);
}

/** The `reason` of an arrival refused because its wait for the arrivals' lane ran out (or the lane's queue was full). */
export const ARRIVAL_WAIT = 'arrivalWait';
/** How often the arrivals' lane adapts its limit. */
const LANE_TICK_MS = 100;
/** Arrivals waiting at most per instance (each a socket and a few objects). */
const LANE_MAX_QUEUE = 10_000;

/**
 * Every request that is not let through (the crowd's) goes through the arrivals' lane (see
 * arrivals.ts): it runs when its turn comes, or is refused as shed once it waited
 * OVERLOAD_ARRIVAL_MAX_WAIT_MS. Each tick the lane narrows while the event loop's mean delay over
 * the tick, or the request pool's oldest wait, is above OVERLOAD_ARRIVAL_TARGET_DELAY_MS.
 */
function registerArrivalLane(
  app: FastifyInstance,
  config: Config,
  databaseWaitMs: () => number,
  letThrough: (request: FastifyRequest) => boolean,
  refuse: (request: FastifyRequest, reply: FastifyReply, reason: string) => Problem,
): void {
  const lane = new ArrivalLane({ max: config.OVERLOAD_MAX_ARRIVALS_IN_FLIGHT, maxWaitMs: config.OVERLOAD_ARRIVAL_MAX_WAIT_MS, maxQueue: LANE_MAX_QUEUE });
  const target = config.OVERLOAD_ARRIVAL_TARGET_DELAY_MS;
  const resolution = 10;
  const delay = monitorEventLoopDelay({ resolution });
  delay.enable();
  const tick = setInterval(() => {
    // No sample in a whole tick: the loop was held all along.
    const lagMs = delay.count > 0 ? delay.mean / 1e6 - resolution : Infinity;
    delay.reset();
    lane.adapt(lagMs > target || databaseWaitMs() > target);
  }, LANE_TICK_MS);
  tick.unref();
  app.addHook('onClose', async () => {
    clearInterval(tick);
    delay.disable();
  });
  app.addHook('onRequest', (request, reply, done) => {
    if (letThrough(request)) return done();
    // 'close' comes once the answer is sent or the client went away, whichever the request's end,
    // so it is listened for from the start: a client that leaves while waiting is not served, and
    // the place it is given on its turn goes back at once.
    let holding = false;
    let gone = false;
    reply.raw.once('close', () => {
      gone = true;
      if (holding) lane.release();
    });
    const run = (admitted: boolean) => {
      if (!admitted) return gone ? undefined : reply.send(refuse(request, reply, ARRIVAL_WAIT));
      if (gone) return lane.release();
      holding = true;
      done();
    };
    const admitted = lane.acquire();
    if (typeof admitted === 'boolean') run(admitted);
    else void admitted.then(run);
  });
}

type Shed = (request: FastifyRequest, reply: FastifyReply, reason: string) => Problem | undefined;

/** The event loop's and the heap's pressure, sampled by @fastify/under-pressure; `reason` is the plugin's name of the measure. */
async function registerSampledPressure(app: FastifyInstance, config: Config, shed: Shed): Promise<void> {
  // Starting (compiling every route's schemas) holds the loop for a while, and the first samples
  // would count it as pressure: nothing is shed until two samples after the app is ready.
  let armedAt = Infinity;
  app.addHook('onReady', async () => {
    armedAt = performance.now() + 2 * config.OVERLOAD_SAMPLE_INTERVAL_MS;
  });
  await app.register(underPressure, {
    sampleInterval: config.OVERLOAD_SAMPLE_INTERVAL_MS,
    maxEventLoopDelay: config.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS,
    maxEventLoopUtilization: config.OVERLOAD_MAX_EVENT_LOOP_UTILIZATION,
    // Over the last interval, not since the start (the plugin's default): pressure must also end.
    eventLoopUtilizationMode: 'interval',
    maxHeapUsedBytes: config.OVERLOAD_MAX_HEAP_USED_MB * 1_048_576,
    retryAfter: config.OVERLOAD_RETRY_AFTER_SECONDS,
    // A body returned is sent as the answer (the request goes no further); nothing returned lets it through.
    pressureHandler: (request, reply, type) => (performance.now() < armedAt ? undefined : shed(request, reply, type)) as unknown as void,
  });
}
