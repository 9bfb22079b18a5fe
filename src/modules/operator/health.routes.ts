import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { sql } from 'kysely';
import type { Database } from '../../platform/db.js';

const Check = Type.Union([Type.Literal('ok'), Type.Literal('down')]);

async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function healthRoutes({ db }: { db: Database }): FastifyPluginAsyncTypebox {
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
          response: {
            '2xx': Type.Object({ status: Type.String(), checks: Type.Object({ database: Check }) }),
            503: Type.Object({ status: Type.String(), checks: Type.Object({ database: Check }) }),
          },
        },
      },
      async (request, reply) => {
        const database = await withTimeout(sql`SELECT 1`.execute(db), 2_000).then(
          () => 'ok' as const,
          (err) => {
            request.log.warn({ err }, 'readiness: database check failed');
            return 'down' as const;
          },
        );
        const ready = database === 'ok';
        if (!ready) reply.header('retry-after', '1');
        return reply.code(ready ? 200 : 503).send({ status: ready ? 'ok' : 'unavailable', checks: { database } });
      },
    );
  };
}
