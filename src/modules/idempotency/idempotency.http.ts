import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { afterCommit } from '../../platform/after-commit.js';
import type { Database } from '../../platform/db.js';
import { problemFromDomainError } from '../../platform/problem.js';
import { PlainText } from '../../platform/schema.js';
import { currentUser } from '../users/users.auth.js';
import { requestFingerprint, type IdempotencyService, type KeyClaim } from './idempotency.service.js';

/** Header schema for routes that accept an Idempotency-Key. */
export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    PlainText({ minLength: 8, maxLength: 255, description: 'Makes the request safe to retry' }),
  ),
});

/** Runs a use case under the request's Idempotency-Key (if any) and sends its result or replay. */
export async function sendIdempotent<T>(
  idempotency: IdempotencyService,
  request: FastifyRequest,
  reply: FastifyReply,
  successStatus: number,
  work: (executor: Database) => Promise<T>,
  /** Runs after the work committed (not on a replay), before the answer is sent; see platform/after-commit.ts. */
  afterCommitted?: () => Promise<void>,
  /** With a key: the work storing its own answer in its statement (see IdempotencyService.run). */
  answered?: (claim: KeyClaim) => Promise<T>,
) {
  const user = currentUser(request);
  const key = request.headers['idempotency-key'];
  const instance = request.url.split('?')[0] ?? request.url;
  const outcome = await idempotency.run({
    userId: user.id,
    key: typeof key === 'string' ? key : undefined,
    fingerprint: requestFingerprint(request.method, instance, request.body),
    successStatus,
    work,
    answered,
    failure: (err) => {
      const body = problemFromDomainError(err, instance);
      return { status: body.status, body };
    },
  });
  if (outcome.replayed) reply.header('idempotent-replayed', 'true');
  else if (outcome.status < 400 && afterCommitted) await afterCommit(request.log, `${request.method} ${instance}`, afterCommitted);
  if (outcome.status >= 400) reply.type('application/problem+json; charset=utf-8');
  return reply.code(outcome.status).send(outcome.body);
}
