import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { afterCommit } from '../../platform/after-commit.js';
import { PageQuery } from '../../platform/pagination.js';
import { Id, Money, PlainText } from '../../platform/schema.js';
import { bearerSecurity, type Auth } from '../users/users.auth.js';
import { QueueTokenHeader, type QueueGate } from '../queue/queue.gate.js';
import type { CatalogService } from './catalog.service.js';

export const ScheduleSchema = Type.Object({
  id: Type.String(),
  concertId: Type.String(),
  startsAt: Type.String({ format: 'date-time' }),
  bookingOpensAt: Type.String({ format: 'date-time' }),
  seatCount: Type.Integer(),
  availableSeats: Type.Integer(),
  price: Money,
});

const ConcertSummary = Type.Object({ id: Type.String(), title: Type.String(), artist: Type.String(), venue: Type.String() });
const ConcertDetail = Type.Object({
  id: Type.String(),
  title: Type.String(),
  artist: Type.String(),
  venue: Type.String(),
  schedules: Type.Array(ScheduleSchema),
});
const Text = PlainText({ minLength: 1, maxLength: 200 });

export function catalogRoutes(deps: { catalog: CatalogService; auth: Auth; gate: QueueGate }): FastifyPluginAsyncTypebox {
  const { catalog, auth, gate } = deps;
  return async (app) => {
    app.get(
      '/concerts',
      {
        schema: {
          tags: ['catalog'],
          summary: 'Concerts, newest first',
          querystring: PageQuery,
          response: { 200: Type.Object({ items: Type.Array(ConcertSummary), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        },
      },
      async (request) => catalog.list(request.query.limit, request.query.cursor),
    );

    app.get(
      '/concerts/:concertId',
      { schema: { tags: ['catalog'], params: Type.Object({ concertId: Id }), response: { 200: ConcertDetail } } },
      async (request) => catalog.detail(request.params.concertId),
    );

    app.get(
      '/concerts/:concertId/schedules',
      {
        schema: {
          tags: ['catalog'],
          summary: 'Dates of a concert; available=true keeps the bookable ones with seats left',
          params: Type.Object({ concertId: Id }),
          querystring: Type.Object({ available: Type.Boolean({ default: false }) }),
          response: { 200: Type.Object({ items: Type.Array(ScheduleSchema) }) },
        },
      },
      async (request) => catalog.schedules(request.params.concertId, request.query.available),
    );

    app.get(
      '/schedules/:scheduleId/seats',
      {
        // The bearer is optional here (the contract lets the Queue-Token alone read the map); when
        // sent it must be the token's owner, and only then does the read slide the active period.
        preHandler: [auth.optionalUser, gate.forSchedule((request) => (request.params as { scheduleId: string }).scheduleId)],
        // Read every second while a fan picks seats: counted as a line poll is (per user and
        // schedule when the Queue-Token verifies, never against the address).
        config: { userRateLimit: 'poll' },
        schema: {
          tags: ['catalog'],
          summary:
            'Seat map (needs an ACTIVE Queue-Token for the concert; with its owner\'s bearer the read also slides the active period); a hold past its heldUntil shows AVAILABLE',
          security: [{ bearerAuth: [], queueToken: [] }, { queueToken: [] }],
          headers: QueueTokenHeader,
          params: Type.Object({ scheduleId: Id }),
          response: {
            200: Type.Object({
              scheduleId: Type.String(),
              seats: Type.Array(
                Type.Object({
                  number: Type.Integer(),
                  status: Type.Union([Type.Literal('AVAILABLE'), Type.Literal('HELD'), Type.Literal('SOLD')]),
                  price: Money,
                }),
              ),
            }),
          },
        },
      },
      // The body is JSON text built by PostgreSQL; the schema above documents it and is not re-applied.
      async (request, reply) =>
        reply.type('application/json; charset=utf-8').send((await catalog.seatMapJson(request.params.scheduleId)) as never),
    );

    app.post(
      '/admin/concerts',
      {
        preHandler: auth.admin,
        schema: {
          tags: ['operator'],
          summary: 'Create a concert with its schedules and seats',
          security: bearerSecurity,
          body: Type.Object({
            title: Text,
            artist: Text,
            venue: Text,
            schedules: Type.Array(
              Type.Object({
                startsAt: Type.String({ format: 'date-time' }),
                bookingOpensAt: Type.Optional(Type.String({ format: 'date-time' })),
                seatCount: Type.Integer({ minimum: 1, maximum: 5000 }),
                price: Type.Integer({ minimum: 0, maximum: 10_000_000 }),
              }),
              { minItems: 1, maxItems: 100 },
            ),
          }),
          response: { 201: ConcertDetail },
        },
      },
      async (request, reply) => {
        const created = await catalog.createConcert(request.body);
        await afterCommit(request.log, 'concert list invalidation', () => catalog.concertsChanged());
        return reply.code(201).send(created);
      },
    );
  };
}
