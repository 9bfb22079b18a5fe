import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply } from 'fastify';
import { Id } from '../../platform/schema.js';
import { bearerSecurity, currentUser, requestBearerBinding, type Auth } from '../users/users.auth.js';
import { gatedSecurity as security, QueueTokenHeader } from './queue.gate.js';
import type { QueueService } from './queue.service.js';
import type { RequestQueueTokens } from './queue.token.request.js';

const Nullable = <T extends ReturnType<typeof Type.Integer | typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const QueueViewSchema = Type.Object({
  token: Type.String({ description: 'Send as the Queue-Token header' }),
  status: Type.Union([Type.Literal('WAITING'), Type.Literal('ACTIVE'), Type.Literal('EXPIRED')]),
  position: Nullable(Type.Integer({ minimum: 1, description: '1 = next in line; null unless WAITING' })),
  estimatedWaitSeconds: Nullable(Type.Integer({ minimum: 0, description: 'from the measured admission rate' })),
  refreshAfterSeconds: Nullable(Type.Integer({ minimum: 1, description: 'poll no sooner than this' })),
  activeUntil: Nullable(Type.String({ format: 'date-time', description: 'slides with every request made with the token' })),
  soldOut: Type.Boolean({
    description: 'every seat of the concert is sold (none left, none held), as checked within about a second; a held poll answers at once when it turns true',
  }),
});

const Params = Type.Object({ concertId: Id });

/** The longest a line poll is held (proxies commonly cut idle requests at 60 s). */
export const MAX_POLL_WAIT_SECONDS = 30;

const WaitQuery = Type.Object(
  {
    wait: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: MAX_POLL_WAIT_SECONDS,
        description:
          'Seconds to hold the answer while you are WAITING: it comes as soon as you are admitted, or after this long with your place then. 0 (the default) answers at once; so does a server holding as many polls as it may',
      }),
    ),
  },
);

/**
 * Aborted when the caller hangs up before its answer is sent; a connection closed after the answer
 * aborts nothing (an abort builds a DOMException with a stack trace).
 */
function hangUpSignal(reply: FastifyReply): AbortSignal {
  const hungUp = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableFinished) hungUp.abort();
  });
  return hungUp.signal;
}

export function queueRoutes(deps: { auth: Auth; queue: QueueService; requestQueueTokens: RequestQueueTokens }): FastifyPluginAsyncTypebox {
  const { auth, queue, requestQueueTokens: requestTokens } = deps;
  return async (app) => {
    app.post(
      '/concerts/:concertId/queue',
      {
        preHandler: auth.user,
        config: { userRateLimit: 'join' },
        schema: {
          tags: ['waiting room'],
          summary: 'Join the line (201), or get your place again (200); the answer carries your Queue-Token',
          security: bearerSecurity,
          params: Params,
          response: { 200: QueueViewSchema, 201: QueueViewSchema },
        },
      },
      async (request, reply) => {
        const { created, view } = await queue.join(currentUser(request).id, request.params.concertId, requestBearerBinding(request));
        return reply.code(created ? 201 : 200).send(view);
      },
    );

    app.get(
      '/concerts/:concertId/queue',
      {
        preHandler: auth.user,
        config: { userRateLimit: 'poll' },
        schema: {
          tags: ['waiting room'],
          summary: 'Your place in line; with ?wait=S, held while you wait until you are admitted or S seconds pass',
          security,
          params: Params,
          querystring: WaitQuery,
          headers: QueueTokenHeader,
          response: { 200: QueueViewSchema },
        },
      },
      async (request, reply) => {
        const { concertId } = request.params;
        const wait = request.query.wait ?? 0;
        // Only a poll that may be held listens for its caller hanging up (most polls ask for no wait).
        const hungUp = wait > 0 ? hangUpSignal(reply) : undefined;
        const { view, heldMs } = await queue.watch(currentUser(request).id, concertId, requestTokens.verified(request), wait, hungUp);
        // How long the answer was held (W3C Server-Timing): the client's latency beyond it is the server's work.
        if (heldMs > 0) reply.header('server-timing', `held;dur=${heldMs}`);
        return view;
      },
    );

    app.delete(
      '/concerts/:concertId/queue',
      {
        preHandler: auth.user,
        schema: { tags: ['waiting room'], summary: 'Leave the line; your place is freed at once', security, params: Params, headers: QueueTokenHeader },
      },
      async (request, reply) => {
        await queue.leave(currentUser(request).id, request.params.concertId, requestTokens.verified(request));
        return reply.code(204).send();
      },
    );
  };
}
