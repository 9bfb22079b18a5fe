import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { IdempotencyHeaders, sendIdempotent } from '../idempotency/idempotency.http.js';
import type { IdempotencyService } from '../idempotency/idempotency.service.js';
import type { WalletService } from '../wallet/wallet.service.js';
import { PageQuery } from '../../platform/pagination.js';
import { Money, PlainText } from '../../platform/schema.js';
import { bearerSecurity, currentUser, type Auth } from './users.auth.js';
import type { UsersService } from './users.service.js';

const LedgerItem = Type.Object({
  id: Type.String(),
  type: Type.Union([Type.Literal('CHARGE'), Type.Literal('PAYMENT'), Type.Literal('REFUND')]),
  amount: Type.Integer({ description: 'positive for CHARGE/REFUND, negative for PAYMENT' }),
  balanceAfter: Money,
  reservationId: Type.Optional(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
});

export function usersRoutes(deps: {
  auth: Auth;
  users: UsersService;
  wallet: WalletService;
  idempotency: IdempotencyService;
}): FastifyPluginAsyncTypebox {
  const { auth, users, wallet, idempotency } = deps;
  return async (app) => {
    app.post(
      '/users',
      {
        config: { signupRateLimit: true },
        schema: {
          tags: ['users'],
          summary: 'Register; the token is shown only in this answer',
          body: Type.Object({ name: PlainText({ minLength: 1, maxLength: 50 }) }, { additionalProperties: false }),
          response: { 201: Type.Object({ id: Type.String(), name: Type.String(), token: Type.String() }) },
        },
      },
      async (request, reply) => reply.code(201).send(await users.register(request.body.name)),
    );

    app.get(
      '/users/me',
      {
        preHandler: auth.user,
        schema: {
          tags: ['users'],
          security: bearerSecurity,
          response: { 200: Type.Object({ id: Type.String(), name: Type.String(), balance: Money }) },
        },
      },
      async (request) => users.profile(currentUser(request).id),
    );

    app.get(
      '/users/me/balance',
      {
        preHandler: auth.user,
        schema: { tags: ['balance'], security: bearerSecurity, response: { 200: Type.Object({ balance: Money }) } },
      },
      async (request) => ({ balance: await wallet.balance(currentUser(request).id) }),
    );

    app.post(
      '/users/me/balance/charges',
      {
        preHandler: auth.user,
        schema: {
          tags: ['balance'],
          summary: 'Top up the balance',
          security: bearerSecurity,
          headers: IdempotencyHeaders,
          body: Type.Object({ amount: Type.Integer({ minimum: 1, maximum: 10_000_000 }) }, { additionalProperties: false }),
          response: { 201: Type.Object({ id: Type.String(), amount: Money, balance: Money }) },
        },
      },
      async (request, reply) =>
        sendIdempotent(idempotency, request, reply, 201, (claim) => wallet.charge(currentUser(request).id, request.body.amount, claim)),
    );

    app.get(
      '/users/me/balance/transactions',
      {
        preHandler: auth.user,
        schema: {
          tags: ['balance'],
          summary: 'Ledger, newest first',
          security: bearerSecurity,
          querystring: PageQuery,
          response: { 200: Type.Object({ items: Type.Array(LedgerItem), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
        },
      },
      async (request) => wallet.transactions(currentUser(request).id, request.query.limit, request.query.cursor),
    );
  };
}
