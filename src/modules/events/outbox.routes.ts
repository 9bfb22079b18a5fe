import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Database } from '../../platform/db.js';
import { PageQuery } from '../../platform/pagination.js';
import type { Auth } from '../users/users.auth.js';
import { listParked, replayParked } from './outbox.parked.js';
import { outboxHealth } from './outbox.health.js';

const ParkedEvent = Type.Object({
  id: Type.String({ format: 'uuid' }),
  type: Type.String(),
  aggregateId: Type.String(),
  occurredAt: Type.String({ format: 'date-time' }),
  attempts: Type.Integer({ minimum: 0 }),
  lastError: Type.Union([Type.String(), Type.Null()]),
  parkedAt: Type.String({ format: 'date-time' }),
});

/** Operator view of the outbox: counts, events the broker refused for good, and their replay. */
export function outboxRoutes({ db, auth }: { db: Database; auth: Auth }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/admin/outbox',
      {
        preHandler: auth.admin,
        schema: {
          tags: ['operator'],
          summary: 'Events not yet delivered: waiting (retried until the broker takes them) and parked (refused for good)',
          security: [{ bearerAuth: [] }],
          response: {
            200: Type.Object({
              unsent: Type.Integer({ minimum: 0 }),
              parked: Type.Integer({ minimum: 0 }),
              oldestUnsentAgeSeconds: Type.Number({ minimum: 0 }),
            }),
          },
        },
      },
      async () => outboxHealth(db),
    );

    app.get(
      '/admin/outbox/parked',
      {
        preHandler: auth.admin,
        schema: {
          tags: ['operator'],
          summary: 'Events the broker refused for good (e.g. larger than its limit), oldest first',
          security: [{ bearerAuth: [] }],
          querystring: PageQuery,
          response: { 200: Type.Object({ items: Type.Array(ParkedEvent), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        },
      },
      async (request) => listParked(db, request.query.limit, request.query.cursor),
    );

    app.post(
      '/admin/outbox/parked/replay',
      {
        preHandler: auth.admin,
        schema: {
          tags: ['operator'],
          summary: 'Puts parked events back in line (those named, or all when `ids` is absent); answers how many',
          security: [{ bearerAuth: [] }],
          body: Type.Object({
            ids: Type.Optional(Type.Array(Type.String({ format: 'uuid' }), { minItems: 1, maxItems: 1_000, uniqueItems: true })),
          }),
          response: { 200: Type.Object({ replayed: Type.Integer({ minimum: 0 }) }) },
        },
      },
      async (request) => ({ replayed: await replayParked(db, request.body.ids) }),
    );
  };
}
