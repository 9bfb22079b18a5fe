import type { FastifyRequest } from 'fastify';
import type { QueueTokenClaims, VerifiedQueueToken } from './queue.token.js';

/** What checking a request's Queue-Token found: the verified token, or the refusal to throw. */
export type QueueTokenCheck = { by: object; token: string | undefined } & ({ verified: VerifiedQueueToken } | { refusal: unknown });

declare module 'fastify' {
  interface FastifyRequest {
    /** Its Queue-Token as first checked (requestQueueTokens); null until a step asks. */
    queueTokenCheck: QueueTokenCheck | null;
  }
}

/** The request's Queue-Token header; an empty one is missing. */
export const queueTokenHeader = (request: FastifyRequest): string | undefined => {
  const value = request.headers['queue-token'];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
};

/**
 * A request's Queue-Token, its signature checked at most once however many steps ask: load
 * shedding and the rate limits (before the user is known), the bearer voucher, the gate and the
 * line's routes. The first to ask verifies it; the claims, or the refusal (401
 * QUEUE_TOKEN_INVALID: missing, malformed, forged, signed with an unknown key), are kept on the
 * request (`queueTokenCheck`, a request decoration) and every later step gets the same answer. A
 * check is reused only for the same header and by the checker that made it.
 */
export function requestQueueTokens(verifier: { verify(token: string | undefined): QueueTokenClaims }) {
  const by = {};

  function check(request: FastifyRequest): QueueTokenCheck {
    const token = queueTokenHeader(request);
    const known = request.queueTokenCheck;
    if (known && known.by === by && known.token === token) return known;
    let found: QueueTokenCheck;
    try {
      found = { by, token, verified: { token: token!, claims: verifier.verify(token) } };
    } catch (refusal) {
      found = { by, token, refusal };
    }
    request.queueTokenCheck = found;
    return found;
  }

  return {
    /** The request's verified Queue-Token; throws its refusal otherwise. */
    verified(request: FastifyRequest): VerifiedQueueToken {
      const found = check(request);
      if ('verified' in found) return found.verified;
      throw found.refusal;
    },

    /** The claims of the request's Queue-Token when it is genuine; undefined when missing or refused. */
    genuine(request: FastifyRequest): QueueTokenClaims | undefined {
      const found = check(request);
      return 'verified' in found ? found.verified.claims : undefined;
    },
  };
}

export type RequestQueueTokens = ReturnType<typeof requestQueueTokens>;
