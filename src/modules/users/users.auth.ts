import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '../../platform/errors.js';
import type { AuthUser, UsersService } from './users.service.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the `user` preHandler; null on public routes. */
    user: AuthUser | null;
  }
}

/** The OpenAPI security of a route that needs the user's bearer token. */
export const bearerSecurity = [{ bearerAuth: [] }];

function bearer(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * A digest of a bearer token that a credential signed by the service can carry to name the token it
 * was issued for, revealing neither the token nor the hash the users table keeps of it.
 */
export const bearerBinding = (token: string): string =>
  createHash('sha256').update(`ticketing bearer binding\n${token}`).digest('base64url').slice(0, 22);

/** The binding of the request's bearer token (of a request `auth.user` let through). */
export function requestBearerBinding(request: FastifyRequest): string {
  const token = bearer(request);
  if (!token) throw new DomainError('UNAUTHENTICATED', 'Authentication required');
  return bearerBinding(token);
}

/**
 * Authenticates a request without a lookup when another credential it carries, signed by the
 * service, was issued for this very bearer token (it carries the token's bearerBinding): the user
 * that credential names, else undefined (the bearer is then looked up). Sound because a token
 * never changes owner and users are never deleted.
 */
export type Voucher = (request: FastifyRequest, bearerToken: string) => string | undefined;

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export function createAuth(users: UsersService, adminToken: string, vouch?: Voucher) {
  /** preHandler: the bearer token must belong to a user. */
  async function user(request: FastifyRequest, _reply: FastifyReply) {
    const token = bearer(request);
    if (!token) throw new DomainError('UNAUTHENTICATED', 'Send Authorization: Bearer <token> from POST /users');
    const vouched = vouch?.(request, token);
    if (vouched !== undefined) {
      request.user = { id: vouched };
      return;
    }
    const found = await users.authenticate(token);
    if (!found) throw new DomainError('UNAUTHENTICATED', 'The bearer token is not recognised');
    request.user = found;
  }

  return {
    user,

    /** preHandler for routes a bearer is optional on: when one is sent, it must belong to a user. */
    async optionalUser(request: FastifyRequest, reply: FastifyReply) {
      if (request.headers.authorization !== undefined) await user(request, reply);
    },

    /** Whether the request's bearer token is the operator's ADMIN_TOKEN (a comparison, no I/O). */
    isOperator(request: FastifyRequest): boolean {
      const token = bearer(request);
      return token !== undefined && sameSecret(token, adminToken);
    },

    /** preHandler: the bearer token must be the operator's ADMIN_TOKEN. */
    async admin(request: FastifyRequest, _reply: FastifyReply) {
      const token = bearer(request);
      if (!token) throw new DomainError('UNAUTHENTICATED', 'Send Authorization: Bearer <ADMIN_TOKEN>');
      if (sameSecret(token, adminToken)) return;
      if (await users.authenticate(token)) throw new DomainError('FORBIDDEN', 'Operator credential required');
      throw new DomainError('UNAUTHENTICATED', 'The bearer token is not recognised');
    },
  };
}

export type Auth = ReturnType<typeof createAuth>;

/** The authenticated user of a route guarded by `auth.user`. */
export function currentUser(request: FastifyRequest): AuthUser {
  if (!request.user) throw new DomainError('UNAUTHENTICATED', 'Authentication required');
  return request.user;
}
