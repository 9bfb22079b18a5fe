import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { afterCommit } from '../../platform/after-commit.js';
import { PageQuery } from '../../platform/pagination.js';
import { Id } from '../../platform/schema.js';
import { IdempotencyHeaders, sendIdempotent } from '../idempotency/idempotency.http.js';
import type { IdempotencyService } from '../idempotency/idempotency.service.js';
import type { PaymentOutcome, PaymentService } from '../payments/payments.service.js';
import type { CatalogService } from '../catalog/catalog.service.js';
import type { QueueGate } from '../queue/queue.gate.js';
import type { QueueService } from '../queue/queue.service.js';
import { currentUser, type Auth } from '../users/users.auth.js';
import type { ReservationService } from './reservations.service.js';

const Money = Type.Integer({ minimum: 0, description: 'won' });
const bearer = [{ bearerAuth: [] }];
const gated = [{ bearerAuth: [], queueToken: [] }];
const GatedHeaders = Type.Intersect([IdempotencyHeaders, Type.Object({ 'queue-token': Type.Optional(Type.String()) })]);

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
  auth: Auth;
  gate: QueueGate;
  reservations: ReservationService;
  payments: PaymentService;
  idempotency: IdempotencyService;
  queue: QueueService;
  catalog: CatalogService;
}): FastifyPluginAsyncTypebox {
  const { auth, gate, reservations, payments, idempotency, queue, catalog } = deps;
  const gateBySchedule = gate.forSchedule((request) => (request.body as { scheduleId: string }).scheduleId);
  const gateByReservation = gate.forPayment((request) => (request.body as { reservationId: string }).reservationId);

  return async (app) => {
    app.post(
      '/reservations',
      {
        preHandler: [auth.user, gateBySchedule],
        config: { userRateLimit: 'hold' },
        schema: {
          tags: ['reservations'],
          summary: 'Hold a seat (needs an ACTIVE Queue-Token); unpaid holds expire at heldUntil',
          security: gated,
          headers: GatedHeaders,
          body: Type.Object(
            { scheduleId: Id, seatNumber: Type.Integer({ minimum: 1, maximum: 100_000 }) },
            { additionalProperties: false },
          ),
          response: { 201: ReservationSchema },
        },
      },
      async (request, reply) => {
        let held: { scheduleId: string; concertId: string } | undefined;
        return sendIdempotent(
          idempotency,
          request,
          reply,
          201,
          async (executor) => (held = await reservations.hold(executor, currentUser(request).id, request.body)),
          async () => catalog.seatsChanged(held ? [held] : []),
          async (claim) => (held = await reservations.holdAnswered(currentUser(request).id, request.body, claim)),
        );
      },
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
      async (request) => {
        const cancelled = await reservations.cancel(currentUser(request).id, request.params.reservationId);
        await afterCommit(request.log, 'seat map invalidation', () => catalog.seatsChanged([cancelled]));
        return cancelled;
      },
    );

    app.post(
      '/payments',
      {
        preHandler: [auth.user, gateByReservation],
        config: { userRateLimit: 'pay' },
        schema: {
          tags: ['payments'],
          summary: 'Pay a hold from the balance (needs an ACTIVE Queue-Token)',
          security: gated,
          headers: GatedHeaders,
          body: Type.Object({ reservationId: Id }, { additionalProperties: false }),
          response: { 201: PaymentSchema },
        },
      },
      async (request, reply) => {
        const userId = currentUser(request).id;
        const concertId = request.queueAdmission!.concertId;
        let outcome: PaymentOutcome | undefined;
        return sendIdempotent(
          idempotency,
          request,
          reply,
          201,
          async (executor) => {
            outcome = await payments.pay(executor, userId, request.body.reservationId, concertId);
            return outcome.payment;
          },
          // The seat shows SOLD; paid and holding nothing else for the concert, the user leaves the line.
          async () => {
            if (!outcome) return;
            await catalog.seatsChanged([outcome.seat]);
            if (outcome.otherHolds === 0) await queue.leaveAfterPayment(userId, concertId);
          },
          async (claim) => {
            outcome = await payments.payAnswered(userId, request.body.reservationId, concertId, claim);
            return outcome.payment;
          },
        );
      },
    );
  };
}
