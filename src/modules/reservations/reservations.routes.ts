import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PageQuery } from '../../platform/pagination.js';
import { Id, Money } from '../../platform/schema.js';
import { IdempotencyHeaders, sendIdempotent } from '../idempotency/idempotency.http.js';
import type { IdempotencyService } from '../idempotency/idempotency.service.js';
import { gatedSecurity, QueueTokenHeader, type QueueGate } from '../queue/queue.gate.js';
import { bearerSecurity, currentUser, type Auth } from '../users/users.auth.js';
import type { ReservationService } from './reservations.service.js';

const ReservationSchema = Type.Object({
  id: Type.String(),
  userId: Type.String(),
  concertId: Type.String(),
  scheduleId: Type.String(),
  seatNumber: Type.Integer(),
  price: Money,
  status: Type.Union(['HELD', 'CONFIRMED', 'CANCELLED', 'EXPIRED'].map((s) => Type.Literal(s))),
  heldUntil: Type.String({ format: 'date-time' }),
  createdAt: Type.String({ format: 'date-time' }),
  confirmedAt: Type.Optional(Type.String({ format: 'date-time' })),
  cancelledAt: Type.Optional(Type.String({ format: 'date-time' })),
});

export function reservationRoutes(deps: {
  auth: Auth;
  gate: QueueGate;
  reservations: ReservationService;
  idempotency: IdempotencyService;
}): FastifyPluginAsyncTypebox {
  const { auth, gate, reservations, idempotency } = deps;
  const gateBySchedule = gate.forSchedule((request) => (request.body as { scheduleId: string }).scheduleId);

  return async (app) => {
    app.post(
      '/reservations',
      {
        preHandler: [auth.user, gateBySchedule],
        config: { userRateLimit: 'hold' },
        schema: {
          tags: ['reservations'],
          summary: 'Hold a seat (needs an ACTIVE Queue-Token); unpaid holds expire at heldUntil',
          security: gatedSecurity,
          headers: Type.Intersect([IdempotencyHeaders, QueueTokenHeader]),
          body: Type.Object(
            { scheduleId: Id, seatNumber: Type.Integer({ minimum: 1, maximum: 100_000 }) },
            { additionalProperties: false },
          ),
          response: { 201: ReservationSchema },
        },
      },
      async (request, reply) =>
        sendIdempotent(idempotency, request, reply, 201, (claim) => reservations.hold(currentUser(request).id, request.body, claim)),
    );

    app.get(
      '/reservations/:reservationId',
      {
        preHandler: auth.user,
        schema: { tags: ['reservations'], security: bearerSecurity, params: Type.Object({ reservationId: Id }), response: { 200: ReservationSchema } },
      },
      async (request) => reservations.get(currentUser(request).id, request.params.reservationId),
    );

    app.get(
      '/users/me/reservations',
      {
        preHandler: auth.user,
        schema: {
          tags: ['reservations'],
          summary: 'Your reservations, newest first',
          security: bearerSecurity,
          querystring: PageQuery,
          response: { 200: Type.Object({ items: Type.Array(ReservationSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        },
      },
      async (request) => reservations.list(currentUser(request).id, request.query.limit, request.query.cursor),
    );

    app.delete(
      '/reservations/:reservationId',
      {
        preHandler: auth.user,
        schema: {
          tags: ['reservations'],
          summary: 'Cancel: a hold is released; a confirmed seat is refunded, only before the show',
          security: bearerSecurity,
          params: Type.Object({ reservationId: Id }),
          response: { 200: ReservationSchema },
        },
      },
      async (request) => reservations.cancel(currentUser(request).id, request.params.reservationId),
    );
  };
}
