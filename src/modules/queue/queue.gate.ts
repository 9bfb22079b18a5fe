import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Database } from '../../platform/db.js';
import { DomainError } from '../../platform/errors.js';
import { isUuid } from '../../platform/ids.js';
import type { CatalogService } from '../catalog/catalog.service.js';
import type { IdempotencyService } from '../idempotency/idempotency.service.js';
import { findReservation } from '../reservations/reservations.repository.js';
import { bearerBinding, currentUser, type Voucher } from '../users/users.auth.js';
import type { QueueService } from './queue.service.js';
import type { QueueTokenClaims } from './queue.token.js';
import { queueTokenHeader, type RequestQueueTokens } from './queue.token.request.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified, ACTIVE queue token of a gated request. */
    queueAdmission: QueueTokenClaims | null;
  }
}

/** The OpenAPI security and header of a gated route: the bearer token and an ACTIVE Queue-Token. */
export const gatedSecurity = [{ bearerAuth: [], queueToken: [] }];
export const QueueTokenHeader = Type.Object({ 'queue-token': Type.Optional(Type.String()) });

type PreHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

/** The routes a Queue-Token is sent to: the line, the seat map, holds and payments. */
const QUEUE_TOKEN_ROUTES = new Set(['/concerts/:concertId/queue', '/schedules/:scheduleId/seats', '/reservations', '/payments']);

/**
 * Vouches for the bearer of a request whose Queue-Token (signature checked, no store touched) was
 * issued to a join authenticated with that very bearer token: a line poll, the seat map, a hold or
 * a payment is then authenticated with no user lookup. Any other request is left to the lookup:
 * other routes (the balance, top-ups, cancels and refunds), and tokens signed with a previous
 * TOKEN_SECRET, so a secret that leaked and was rotated out can never stand in for a user.
 */
export function queueTokenVoucher(queue: QueueService, requestTokens: RequestQueueTokens): Voucher {
  return (request, bearerToken) => {
    const token = queueTokenHeader(request);
    if (token === undefined || !QUEUE_TOKEN_ROUTES.has(request.routeOptions.url ?? '') || !queue.signedWithCurrentKey(token)) return undefined;
    // A bad Queue-Token vouches for nobody: the route reports it, after the bearer was looked up.
    const claims = requestTokens.genuine(request);
    return claims?.bearer !== undefined && claims.bearer === bearerBinding(bearerToken) ? claims.userId : undefined;
  };
}

/**
 * The waiting room's gate on the seat map, POST /reservations and POST /payments. In the order the
 * contract fixes: signature and format (401, no store touched), then owner and concert (403
 * QUEUE_TOKEN_MISMATCH), then state (403 QUEUE_NOT_ACTIVE), the last in one store round trip that
 * also slides the active period when the request is the token owner's own (bearer sent).
 */
export function createQueueGate(deps: {
  queue: QueueService;
  catalog: CatalogService;
  db: Database;
  idempotency: IdempotencyService;
  /** The request's Queue-Token, verified once per request. */
  requestTokens: RequestQueueTokens;
}) {
  const { queue, catalog, idempotency, requestTokens } = deps;

  /**
   * A retry whose Idempotency-Key already has an answer only reads that answer back, so it passes
   * even when the token is no longer ACTIVE (paying leaves the line; the retry must still learn it
   * was paid). Checked only after the token was refused, so it costs nothing on the happy path.
   */
  async function isReplay(request: FastifyRequest): Promise<boolean> {
    const key = request.headers['idempotency-key'];
    return typeof key === 'string' && request.user !== null && (await idempotency.hasAnswer(request.user.id, key));
  }

  /** Only the owner's own requests (bearer sent and matching) slide the active period. */
  async function assertActiveOrReplay(request: FastifyRequest, claims: QueueTokenClaims): Promise<void> {
    try {
      await queue.assertActive(claims, { slide: request.user !== null });
    } catch (err) {
      if (err instanceof DomainError && err.code === 'QUEUE_NOT_ACTIVE' && (await isReplay(request))) return;
      throw err;
    }
  }

  return {
    /**
     * For routes that name a schedule: its concert (from the in-memory schedule cache) must match.
     * When the request is authenticated (always for holds; optionally for the seat map), the token
     * must be that user's; without a bearer the token alone is checked and nothing slides.
     */
    forSchedule(scheduleIdOf: (request: FastifyRequest) => string): PreHandler {
      return async (request) => {
        const { claims } = requestTokens.verified(request);
        const schedule = await catalog.schedule(scheduleIdOf(request));
        queue.assertOwnedBy(claims, schedule.concert_id, request.user?.id);
        await assertActiveOrReplay(request, claims);
        request.queueAdmission = claims;
      };
    },

    /**
     * For POST /payments: the token must be the payer's and ACTIVE; the payment then only confirms a
     * reservation of the token's concert (see payments.service), so the happy path reads no extra
     * row. When the token is not active, the reservation is read to report a concert mismatch first.
     */
    forPayment(reservationIdOf: (request: FastifyRequest) => string): PreHandler {
      return async (request) => {
        const { claims } = requestTokens.verified(request);
        const user = currentUser(request);
        if (claims.userId !== user.id) throw new DomainError('QUEUE_TOKEN_MISMATCH', 'This Queue-Token belongs to another user');
        try {
          await assertActiveOrReplay(request, claims);
        } catch (err) {
          const id = reservationIdOf(request);
          const r = isUuid(id) ? await findReservation(deps.db, id) : undefined;
          if (r && r.user_id === user.id && r.concert_id !== claims.concertId) {
            throw new DomainError('QUEUE_TOKEN_MISMATCH', 'This Queue-Token is for another concert');
          }
          throw err;
        }
        request.queueAdmission = claims;
      };
    },
  };
}

export type QueueGate = ReturnType<typeof createQueueGate>;
