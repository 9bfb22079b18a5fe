import underPressure from '@fastify/under-pressure';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
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

/** Whether the instance sheds load at all: some threshold is set. */
export const sheddingEnabled = (config: Config): boolean =>
  config.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS > 0 || config.OVERLOAD_MAX_EVENT_LOOP_UTILIZATION > 0 || config.OVERLOAD_MAX_HEAP_USED_MB > 0;

/**
 * Load shedding with @fastify/under-pressure. It samples the event loop's delay (the mean over
 * each OVERLOAD_SAMPLE_INTERVAL_MS), its utilisation over the same interval and the heap used;
 * while one is over its threshold the instance is under pressure and every new request is
 * refused at once, in its first hook (before rate limits, authentication or the body: no
 * PostgreSQL, no Redis), with 503 UNAVAILABLE, Retry-After and `shed: true` (nothing was done: any
 * request, a sign-up too, is safe to repeat). Let through: health probes and /metrics, and an
 * admitted user's booking work whose Queue-Token verifies (a signature check, no I/O), so the
 * users the waiting room let in keep their pace while the crowd at the door is turned away.
 * Register it before anything else that does work in onRequest.
 */
export async function registerShedding(
  app: FastifyInstance,
  config: Config,
  metrics: Metrics,
  /** Whether the request's Queue-Token is there and its signature verifies (no I/O). */
  genuineQueueToken: (request: FastifyRequest) => boolean,
): Promise<void> {
  if (!sheddingEnabled(config)) return;
  const retryAfter = config.OVERLOAD_RETRY_AFTER_SECONDS;
  // Starting (compiling every route's schemas) holds the loop for a while, and the first samples
  // would count it as pressure: nothing is shed until two samples after the app is ready.
  let armedAt = Infinity;
  app.addHook('onReady', async () => {
    armedAt = performance.now() + 2 * config.OVERLOAD_SAMPLE_INTERVAL_MS;
  });

  const letThrough = (request: FastifyRequest): boolean => {
    const route = request.routeOptions.url;
    if (route === undefined) return false;
    if (NEVER_SHED.has(route)) return true;
    return ADMITTED_WORK.has(`${request.method} ${route}`) && genuineQueueToken(request);
  };

  /** The refusal's body, which the plugin sends (the request goes no further); undefined lets the request through. */
  const shed = (request: FastifyRequest, reply: FastifyReply, type: string): Problem | undefined => {
    if (performance.now() < armedAt || letThrough(request)) return undefined;
    metrics.shed.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', reason: type });
    reply.code(503).type(PROBLEM_CONTENT_TYPE).header('retry-after', String(retryAfter));
    const instance = request.url.split('?')[0] ?? request.url;
    return problem('UNAVAILABLE', `The service is overloaded and did nothing with this request; retry in ${retryAfter} s`, instance, {
      shed: true,
      retryAfterSeconds: retryAfter,
    });
  };

  await app.register(underPressure, {
    sampleInterval: config.OVERLOAD_SAMPLE_INTERVAL_MS,
    maxEventLoopDelay: config.OVERLOAD_MAX_EVENT_LOOP_DELAY_MS,
    maxEventLoopUtilization: config.OVERLOAD_MAX_EVENT_LOOP_UTILIZATION,
    // Over the last interval, not since the start (the plugin's default): pressure must also end.
    eventLoopUtilizationMode: 'interval',
    maxHeapUsedBytes: config.OVERLOAD_MAX_HEAP_USED_MB * 1_048_576,
    retryAfter,
    // A body returned is sent as the answer (the request goes no further); nothing returned lets it through.
    pressureHandler: (request, reply, type) => shed(request, reply, type) as unknown as void,
  });
}
