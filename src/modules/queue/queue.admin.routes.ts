import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Id } from '../../platform/schema.js';
import { bearerSecurity, type Auth } from '../users/users.auth.js';
import type { QueueService } from './queue.service.js';

const QueueStateSchema = Type.Object({
  concertId: Type.String(),
  paused: Type.Boolean({ description: 'true while an operator has paused admission' }),
  waiting: Type.Integer({ minimum: 0 }),
  active: Type.Integer({ minimum: 0 }),
  admittedLastMinute: Type.Integer({ minimum: 0 }),
  headWaitSeconds: Type.Number({ minimum: 0, description: 'how long the first in line has waited' }),
  maxActive: Type.Integer({ description: 'QUEUE_MAX_ACTIVE' }),
  admitPerSecond: Type.Integer({ description: 'QUEUE_ADMIT_PER_SECOND' }),
});

const Params = Type.Object({ concertId: Id });

/** Operator view and control of one concert's waiting room. */
export function queueAdminRoutes({ auth, queue }: { auth: Auth; queue: QueueService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    const schema = (summary: string) => ({ tags: ['operator'], summary, security: bearerSecurity, params: Params, response: { 200: QueueStateSchema } });

    app.get(
      '/admin/concerts/:concertId/queue',
      { preHandler: auth.admin, schema: schema("One concert's waiting room: how many wait and are active, admissions, and whether admission is paused") },
      async (request) => queue.state(request.params.concertId),
    );

    app.post(
      '/admin/concerts/:concertId/queue/pause',
      { preHandler: auth.admin, schema: schema('Pauses admission to the concert: nobody more is admitted; active users stay active') },
      async (request) => queue.setPaused(request.params.concertId, true),
    );

    app.post(
      '/admin/concerts/:concertId/queue/resume',
      { preHandler: auth.admin, schema: schema('Resumes admission to the concert, first in, first out') },
      async (request) => queue.setPaused(request.params.concertId, false),
    );
  };
}
