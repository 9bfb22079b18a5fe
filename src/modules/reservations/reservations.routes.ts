import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Database } from '../../platform/db.js';
import { PageQuery } from '../../platform/pagination.js';
import type { CatalogService } from '../catalog/catalog.service.js';
import { IdempotencyHeaders, sendIdempotent } from '../idempotency/idempotency.http.js';
import type { IdempotencyService } from '../idempotency/idempotency.service.js';
import type { PaymentService } from '../payments/payments.service.js';
import { gatePreHandler, type QueueGate } from '../queue/queue.gate.js';
import { currentUser, type Auth } from '../users/users.auth.js';
import { ownReservation, type ReservationService } from './reservations.service.js';

const Id = Type.String({ minLength: 1, maxLength: 100 });
const Money = Type.Integer({ minimum: 0, description: 'won' });
const bearer = [{ bearerAuth: [] }];

export const ReservationSchema = Type.Object({
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

const PaymentSchema = Type.Object({
  id: Type.String(),
  reservationId: Type.String(),
  amount: Money,
  balance: Money,
  status: Type.Literal('PAID'),
  paidAt: Type.String({ format: 'date-time' }),
});

export function reservationRoutes(deps: {
  db: Database;
  auth: Auth;
  gate: QueueGate;
  catalog: CatalogService;
  reservations: ReservationService;
  payments: PaymentService;
  idempotency: IdempotencyService;
}): FastifyPluginAsyncTypebox {
  const { db, auth, gate, catalog, reservations, payments, idempotency } = deps;
  const gateBySchedule = gatePreHandler(gate, async (request) => {
    const { scheduleId } = request.body as { scheduleId: string };
    return (await catalog.schedule(scheduleId)).concert_id;
  });
  const gateByReservation = gatePreHandler(gate, async (request) => {
    const { reservationId } = request.body as { reservationId: string };
    return (await ownReservation(db, currentUser(request).id, reservationId)).concert_id;
  });

  return async (app) => {
    app.post(
      '/reservations',
      {
        preHandler: [auth.user, gateBySchedule],
        schema: {
          tags: ['reservations'],
          summary: `Hold a seat; unpaid holds expire at heldUntil`,
          security: bearer,
          headers: IdempotencyHeaders,
          body: Type.Object(
            { scheduleId: Id, seatNumber: Type.Integer({ minimum: 1, maximum: 100_000 }) },
            { additionalProperties: false },
          ),
          response: { 201: ReservationSchema },
        },
      },
      async (request, reply) =>
        sendIdempotent(idempotency, request, reply, 201, (trx) =>
          reservations.hold(trx, currentUser(request).id, request.body),
        ),
    );

    app.get(
      '/reservations/:reservationId',
      {
        preHandler: auth.user,
        schema: { tags: ['reservations'], security: bearer, params: Type.Object({ reservationId: Id }), response: { 200: ReservationSchema } },
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
          security: bearer,
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
          security: bearer,
          params: Type.Object({ reservationId: Id }),
          response: { 200: ReservationSchema },
        },
      },
      async (request) => reservations.cancel(currentUser(request).id, request.params.reservationId),
    );

    app.post(
      '/payments',
      {
        preHandler: [auth.user, gateByReservation],
        schema: {
          tags: ['payments'],
          summary: 'Pay a hold from the balance',
          security: bearer,
          headers: IdempotencyHeaders,
          body: Type.Object({ reservationId: Id }, { additionalProperties: false }),
          response: { 201: PaymentSchema },
        },
      },
      async (request, reply) =>
        sendIdempotent(idempotency, request, reply, 201, (trx) =>
          payments.pay(trx, currentUser(request).id, request.body.reservationId),
        ),
    );
  };
}
