import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Id } from '../../platform/schema.js';
import { bearerSecurity, currentUser, requestBearerBinding, type Auth } from '../users/users.auth.js';
import { gatedSecurity as security, QueueTokenHeader } from './queue.gate.js';
import type { QueueService } from './queue.service.js';

const Nullable = <T extends ReturnType<typeof Type.Integer | typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

const QueueViewSchema = Type.Object({
  token: Type.String({ description: 'Send as the Queue-Token header' }),
  status: Type.Union([Type.Literal('WAITING'), Type.Literal('ACTIVE'), Type.Literal('EXPIRED')]),
  position: Nullable(Type.Integer({ minimum: 1, description: '1 = next in line; null unless WAITING' })),
  estimatedWaitSeconds: Nullable(Type.Integer({ minimum: 0, description: 'from the measured admission rate' })),
  refreshAfterSeconds: Nullable(Type.Integer({ minimum: 1, description: 'poll no sooner than this' })),
  activeUntil: Nullable(Type.String({ format: 'date-time', description: 'slides with every request made with the token' })),
});

const Params = Type.Object({ concertId: Id });

export function queueRoutes(deps: { auth: Auth; queue: QueueService }): FastifyPluginAsyncTypebox {
  const { auth, queue } = deps;
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
        schema: { tags: ['waiting room'], summary: 'Your place in line', security, params: Params, headers: QueueTokenHeader, response: { 200: QueueViewSchema } },
      },
      async (request) => queue.status(currentUser(request).id, request.params.concertId, request.headers['queue-token']),
    );

    app.delete(
      '/concerts/:concertId/queue',
      {
        preHandler: auth.user,
        schema: { tags: ['waiting room'], summary: 'Leave the line; your place is freed at once', security, params: Params, headers: QueueTokenHeader },
      },
      async (request, reply) => {
        await queue.leave(currentUser(request).id, request.params.concertId, request.headers['queue-token']);
        return reply.code(204).send();
      },
    );
  };
}
