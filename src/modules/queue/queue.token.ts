import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { DomainError } from '../../platform/errors.js';

/**
 * Queue tokens: `qt1.<kid>.<payload>.<signature>`, where payload is base64url JSON
 * `{ u: userId, c: concertId, e: entryId, iat: issuedAtMs, b?: bearerBinding, j?: joinOrder, g?: epoch,
 * a?: activeUntilMs }` and signature is
 * HMAC-SHA256(secret, "qt1.<kid>.<payload>"). The key id names the secret (a hash prefix of it),
 * so a new TOKEN_SECRET can sign while TOKEN_SECRET_PREVIOUS still verifies tokens issued before
 * the rotation. Verification needs no store.
 *
 * `j` and `g` say where the entry stood in line and in which epoch of the line (LinePlace in
 * queue.store.ts), `a` until when it was known to be ACTIVE: with them a store that lost the line
 * (Redis restarted empty) puts the entry back in its original order (QueueStore.restore).
 */
export interface QueueTokenClaims {
  userId: string;
  concertId: string;
  entryId: string;
  issuedAt: number;
  /**
   * The binding (users.auth bearerBinding) of the bearer token the joining request was
   * authenticated with: a request that sends that bearer with this token needs no user lookup.
   * Absent from tokens issued before bindings existed.
   */
  bearer?: string;
  /** Where the entry stood; absent in tokens of entries made before places were kept. */
  place?: { order: number; epoch: string };
  /** Until when the entry was ACTIVE when the token was issued (a lower bound: it slides). */
  activeUntil?: number;
}

/** A Queue-Token whose signature and format were checked, with what it says. */
export interface VerifiedQueueToken {
  token: string;
  claims: QueueTokenClaims;
}

/**
 * A Queue-Token as a caller of the waiting room has it: as sent (verified by the callee), or
 * already verified (an HTTP request checks its token once: queue.token.request.ts).
 */
export type QueueTokenInput = string | undefined | VerifiedQueueToken;

const VERSION = 'qt1';

export const keyIdOf = (secret: string): string => createHash('sha256').update(secret).digest('hex').slice(0, 8);

const sign = (secret: string, data: string) => createHmac('sha256', secret).update(data).digest();

const invalid = (why: string) => new DomainError('QUEUE_TOKEN_INVALID', `Queue-Token ${why}; join the queue to get one`);

export function createQueueTokens(opts: { secret: string; previousSecrets?: string[] }) {
  const current = { kid: keyIdOf(opts.secret), secret: opts.secret };
  const keys = new Map<string, string>([[current.kid, current.secret]]);
  for (const s of opts.previousSecrets ?? []) if (!keys.has(keyIdOf(s))) keys.set(keyIdOf(s), s);

  return {
    issue(claims: QueueTokenClaims): string {
      const payload = Buffer.from(
        JSON.stringify({
          u: claims.userId,
          c: claims.concertId,
          e: claims.entryId,
          iat: claims.issuedAt,
          ...(claims.bearer === undefined ? {} : { b: claims.bearer }),
          ...(claims.place ? { j: claims.place.order, g: claims.place.epoch } : {}),
          ...(claims.activeUntil === undefined ? {} : { a: claims.activeUntil }),
        }),
      ).toString('base64url');
      const head = `${VERSION}.${current.kid}.${payload}`;
      return `${head}.${sign(current.secret, head).toString('base64url')}`;
    },

    /**
     * Whether a token names the current secret as its signer (not one of the previous ones kept
     * for a rotation). Says nothing of the signature: verify that first.
     */
    signedWithCurrentKey: (token: string): boolean => token.split('.')[1] === current.kid,

    /** Checks format and signature; throws QUEUE_TOKEN_INVALID for anything else. */
    verify(token: string | undefined): QueueTokenClaims {
      if (!token) throw invalid('is missing');
      const parts = token.split('.');
      if (parts.length !== 4 || parts[0] !== VERSION) throw invalid('is malformed');
      const [, kid, payload, signature] = parts as [string, string, string, string];
      const secret = keys.get(kid);
      if (!secret) throw invalid('was signed with an unknown key');
      const expected = sign(secret, `${VERSION}.${kid}.${payload}`);
      const given = Buffer.from(signature, 'base64url');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid('signature does not match');
      let claims: unknown;
      try {
        claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
      } catch {
        throw invalid('payload is malformed');
      }
      const c = claims as Record<string, unknown>;
      if (typeof c.u !== 'string' || typeof c.c !== 'string' || typeof c.e !== 'string' || typeof c.iat !== 'number') {
        throw invalid('payload is malformed');
      }
      const hasPlace = typeof c.j === 'number' && typeof c.g === 'string';
      return {
        userId: c.u,
        concertId: c.c,
        entryId: c.e,
        issuedAt: c.iat,
        ...(typeof c.b === 'string' ? { bearer: c.b } : {}),
        ...(hasPlace ? { place: { order: c.j as number, epoch: c.g as string } } : {}),
        ...(typeof c.a === 'number' ? { activeUntil: c.a } : {}),
      };
    },
  };
}

export type QueueTokens = ReturnType<typeof createQueueTokens>;
