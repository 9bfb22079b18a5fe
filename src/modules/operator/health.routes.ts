import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Redis } from 'ioredis';
import { databaseReady, type Database } from '../../platform/db.js';
import { readEvictionPolicy } from '../../platform/redis.policy.js';
import { settlesWithin, withTimeout } from '../../platform/timeout.js';
import type { Broker } from '../events/broker.js';
import { outboxHealth } from '../events/outbox.health.js';

const Check = Type.Union([Type.Literal('ok'), Type.Literal('down')]);

const Checks = Type.Object({ database: Check, cache: Type.Optional(Check), broker: Type.Optional(Check) });
const Readiness = Type.Object({
  status: Type.String(),
  checks: Checks,
  redisMaxmemoryPolicy: Type.Optional(
    Type.String({
      description:
        "Redis's maxmemory-policy; anything but noeviction lets a full Redis evict keys (people in a line). `unknown` when CONFIG GET is refused. Reported, not fatal",
    }),
  ),
  outbox: Type.Optional(
    Type.Object({
      unsent: Type.Integer(),
      parked: Type.Integer({ description: 'events the broker refused for good (see GET /admin/outbox/parked); they wait for an operator' }),
      oldestUnsentAgeSeconds: Type.Number(),
    }),
  ),
});

export function healthRoutes({ db, redis, broker }: { db: Database; redis?: Redis; broker?: Broker }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/health/live',
      { schema: { tags: ['operator'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
      async () => ({ status: 'ok' as const }),
    );

    app.get(
      '/health/ready',
      {
        schema: {
          tags: ['operator'],
          summary: '200 when every dependency answers, else 503',
          response: { '2xx': Readiness, 503: Readiness },
        },
      },
      async (request, reply) => {
        const [database, cache, brokerUp, policy] = await Promise.all([
          databaseReady(db, 2_000),
          redis ? settlesWithin(redis.ping(), 2_000) : Promise.resolve(undefined),
          broker ? settlesWithin(broker.ping().then((ok) => (ok ? ok : Promise.reject(new Error('down')))), 2_000) : Promise.resolve(undefined),
          redis ? withTimeout(readEvictionPolicy(redis), 2_000).catch(() => undefined) : Promise.resolve(undefined),
        ]);
        const state = (ok: boolean) => (ok ? ('ok' as const) : ('down' as const));
        const checks = {
          database: state(database),
          ...(cache === undefined ? {} : { cache: state(cache) }),
          ...(brokerUp === undefined ? {} : { broker: state(brokerUp) }),
        };
        const outbox = database ? await outboxHealth(db).catch(() => undefined) : undefined;
        // A broker outage does not stop bookings (events wait in the outbox), so it is reported, not fatal.
        const ready = database && cache !== false;
        if (!ready) {
          request.log.warn({ checks }, 'not ready');
          reply.header('retry-after', '1');
        }
        return reply.code(ready ? 200 : 503).send({
          status: ready ? 'ok' : 'unavailable',
          checks,
          ...(policy === undefined ? {} : { redisMaxmemoryPolicy: policy }),
          ...(outbox ? { outbox } : {}),
        });
      },
    );
  };
}
