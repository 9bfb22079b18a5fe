import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Id, Money } from '../../platform/schema.js';
import { IdempotencyHeaders, sendIdempotent } from '../idempotency/idempotency.http.js';
import type { IdempotencyService } from '../idempotency/idempotency.service.js';
import { gatedSecurity, QueueTokenHeader, type QueueGate } from '../queue/queue.gate.js';
import { currentUser, type Auth } from '../users/users.auth.js';
import type { PaymentService } from './payments.service.js';

const PaymentSchema = Type.Object({
  id: Type.String(),
  reservationId: Type.String(),
  amount: Money,
  balance: Money,
  status: Type.Literal('PAID'),
  paidAt: Type.String({ format: 'date-time' }),
});

export function paymentRoutes(deps: {
  auth: Auth;
  gate: QueueGate;
  payments: PaymentService;
  idempotency: IdempotencyService;
}): FastifyPluginAsyncTypebox {
  const { auth, gate, payments, idempotency } = deps;
  const gateByReservation = gate.forPayment((request) => (request.body as { reservationId: string }).reservationId);

  return async (app) => {
    app.post(
      '/payments',
      {
        preHandler: [auth.user, gateByReservation],
        config: { userRateLimit: 'pay' },
        schema: {
          tags: ['payments'],
          summary: 'Pay a hold from the balance (needs an ACTIVE Queue-Token)',
          security: gatedSecurity,
          headers: Type.Intersect([IdempotencyHeaders, QueueTokenHeader]),
          body: Type.Object({ reservationId: Id }, { additionalProperties: false }),
          response: { 201: PaymentSchema },
        },
      },
      async (request, reply) =>
        sendIdempotent(idempotency, request, reply, 201, (claim) =>
          payments.pay(currentUser(request).id, request.body.reservationId, request.queueAdmission!.concertId, claim),
        ),
    );
  };
}
