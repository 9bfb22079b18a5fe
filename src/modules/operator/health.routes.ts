import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Redis } from 'ioredis';
import { databaseReady, type Database } from '../../platform/db.js';
import { settlesWithin } from '../../platform/timeout.js';

const Check = Type.Union([Type.Literal('ok'), Type.Literal('down')]);

const Checks = Type.Object({ database: Check, cache: Type.Optional(Check) });
const Readiness = Type.Object({ status: Type.String(), checks: Checks });

export function healthRoutes({ db, redis }: { db: Database; redis?: Redis }): FastifyPluginAsyncTypebox {
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
        const [database, cache] = await Promise.all([
          databaseReady(db, 2_000),
          redis ? settlesWithin(redis.ping(), 2_000) : Promise.resolve(undefined),
        ]);
        const checks = {
          database: database ? ('ok' as const) : ('down' as const),
          ...(cache === undefined ? {} : { cache: cache ? ('ok' as const) : ('down' as const) }),
        };
        const ready = database && cache !== false;
        if (!ready) {
          request.log.warn({ checks }, 'not ready');
          reply.header('retry-after', '1');
        }
        return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', checks });
      },
    );
  };
}
