import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
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

/**
 * Runs a use case under the request's Idempotency-Key, if any (see IdempotencyService.run), and
 * sends its answer with `successStatus`, or the answer stored for the key with its own status.
 */
export async function sendIdempotent(
  idempotency: IdempotencyService,
  request: FastifyRequest,
  reply: FastifyReply,
  successStatus: number,
  work: (claim?: KeyClaim) => Promise<unknown>,
) {
  const key = request.headers['idempotency-key'];
  const instance = request.url.split('?')[0] ?? request.url;
  const outcome = await idempotency.run({
    userId: currentUser(request).id,
    key: typeof key === 'string' ? key : undefined,
    fingerprint: requestFingerprint(request.method, instance, request.body),
    successStatus,
    work,
    failure: (err) => {
      const body = problemFromDomainError(err, instance);
      return { status: body.status, body };
    },
  });
  if (!outcome.replayed) return reply.code(successStatus).send(outcome.value);
  const { status, body } = outcome.response;
  reply.header('idempotent-replayed', 'true');
  if (status >= 400) reply.type('application/problem+json; charset=utf-8');
  return reply.code(status).send(body);
}
