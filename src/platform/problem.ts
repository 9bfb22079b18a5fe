import { Type } from '@sinclair/typebox';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isDatabaseUnavailable, pgCode } from './db.js';
import { isRedisUnavailable } from './redis.js';
import { DomainError, type ErrorCode } from './errors.js';
import { NO_CONTROL_CHARACTERS } from './schema.js';

/** RFC 9457 problem details, as every 4xx and 5xx answer is written. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    instance: Type.String(),
    code: Type.String(),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', additionalProperties: true },
);

type HttpCode = ErrorCode | 'PAYLOAD_TOO_LARGE' | 'UNSUPPORTED_MEDIA_TYPE' | 'INTERNAL_ERROR';

const STATUS: Record<HttpCode, number> = {
  VALIDATION_FAILED: 400,
  UNAUTHENTICATED: 401,
  QUEUE_TOKEN_INVALID: 401,
  FORBIDDEN: 403,
  QUEUE_TOKEN_MISMATCH: 403,
  QUEUE_NOT_ACTIVE: 403,
  NOT_FOUND: 404,
  SEAT_UNAVAILABLE: 409,
  HOLD_LIMIT_REACHED: 409,
  HOLD_EXPIRED: 409,
  RESERVATION_NOT_PAYABLE: 409,
  RESERVATION_NOT_CANCELLABLE: 409,
  BOOKING_NOT_OPEN: 409,
  BOOKING_CLOSED: 409,
  INSUFFICIENT_BALANCE: 409,
  BALANCE_LIMIT_EXCEEDED: 409,
  IDEMPOTENCY_KEY_IN_USE: 409,
  IDEMPOTENCY_KEY_MISMATCH: 422,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL_ERROR: 500,
  UNAVAILABLE: 503,
};

export const statusOf = (code: ErrorCode): number => STATUS[code];

/** Every `code` an answer of the service can carry (the booking page has a sentence for each). */
export const problemCodes = (): string[] => Object.keys(STATUS);

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance: string;
  code: string;
  errors?: { path: string; message: string }[];
  [extra: string]: unknown;
}

const slug = (code: string) => code.toLowerCase().replaceAll('_', '-');
const titleOf = (code: string) => {
  const words = code.toLowerCase().split('_').join(' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
};

export function problem(code: HttpCode, detail: string, instance: string, extra: Record<string, unknown> = {}): Problem {
  return {
    ...extra, // extension members never override the standard ones
    type: `https://ticketing.example/problems/${slug(code)}`,
    title: titleOf(code),
    status: STATUS[code],
    detail,
    instance,
    code,
  };
}

export function problemFromDomainError(err: DomainError, instance: string): Problem {
  return problem(err.code, err.message, instance, err.extra);
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

export function sendProblem(reply: FastifyReply, body: Problem): FastifyReply {
  if ((body.status === 429 || body.status === 503) && !reply.hasHeader('retry-after')) reply.header('retry-after', '1');
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).send(body);
}

interface AjvIssue {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

function validationErrors(err: FastifyError & { validationContext?: string }): { path: string; message: string }[] {
  const where = err.validationContext ?? 'body';
  return ((err.validation ?? []) as AjvIssue[]).map((issue) => {
    const params = issue.params ?? {};
    const leaf = (params.missingProperty ?? params.additionalProperty) as string | undefined;
    const path = `/${where}${issue.instancePath ?? ''}${leaf ? `/${leaf}` : ''}`;
    const message =
      params.additionalProperty !== undefined
        ? 'is not an allowed property'
        : params.pattern === NO_CONTROL_CHARACTERS
          ? 'must not contain control characters or half a surrogate pair'
          : (issue.message ?? 'is invalid');
    return { path, message };
  });
}

/**
 * SQLSTATEs for a value PostgreSQL cannot read or store (text as uuid, NUL in text, a date or
 * number out of range). Client data reaches them only once validation missed a case; so could a
 * bug of ours (an overflow, a truncation), which is why each is logged at error: the client gets a
 * 400 that changes nothing, the operator an error line to chase (a gap in validation, or a bug).
 */
const INVALID_INPUT = new Set(['22P02', '22021', '22P05', '22007', '22008', '22003', '22001']);

function refusedByDatabase(err: unknown, request: FastifyRequest, instance: string): Problem | undefined {
  if (!INVALID_INPUT.has(pgCode(err) ?? '')) return undefined;
  request.log.error({ err }, 'a value refused by the database: a gap in validation or a bug');
  return problem('VALIDATION_FAILED', 'A value in the request cannot be stored', instance, {
    errors: [{ path: '/', message: 'holds a value that cannot be stored' }],
  });
}

/** Maps every failure to problem+json: domain errors by code, framework errors by kind, the rest as 500/503. */
export function registerProblemHandlers(app: FastifyInstance): void {
  app.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
    sendProblem(reply, problem('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`, request.url)),
  );

  app.setErrorHandler((err: FastifyError & { validationContext?: string }, request, reply) => {
    const instance = request.url.split('?')[0] ?? request.url;
    if (err instanceof DomainError) return sendProblem(reply, problemFromDomainError(err, instance));
    if (err.validation) {
      const errors = validationErrors(err);
      const detail = errors.map((e) => `${e.path} ${e.message}`).join('; ');
      return sendProblem(reply, problem('VALIDATION_FAILED', detail || 'Request is invalid', instance, { errors }));
    }
    const status = err.statusCode ?? 500;
    if (status === 413) return sendProblem(reply, problem('PAYLOAD_TOO_LARGE', 'Request body is too large', instance));
    if (status === 415) {
      return sendProblem(reply, problem('UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json', instance));
    }
    if (status >= 400 && status < 500) {
      // Malformed JSON, empty JSON body, bad headers: the framework rejected the request itself.
      const detail = err.code?.startsWith('FST_ERR_CTP') ? `Request body is not valid JSON: ${err.message}` : err.message;
      return sendProblem(
        reply,
        problem('VALIDATION_FAILED', detail, instance, { errors: [{ path: '/body', message: err.message }] }),
      );
    }
    const refused = refusedByDatabase(err, request, instance);
    if (refused) return sendProblem(reply, refused);
    if (isDatabaseUnavailable(err) || isRedisUnavailable(err)) {
      request.log.warn({ err }, 'database or redis unavailable');
      return sendProblem(reply, problem('UNAVAILABLE', 'The service is temporarily unavailable; retry shortly', instance));
    }
    request.log.error({ err }, 'unexpected failure');
    return sendProblem(
      reply,
      problem('INTERNAL_ERROR', `Unexpected failure; quote request id ${String(request.id)}`, instance),
    );
  });
}
