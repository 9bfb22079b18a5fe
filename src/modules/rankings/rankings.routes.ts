import { Type } from '@sinclair/typebox';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { RankingsService } from './rankings.service.js';

const Limit = Type.Integer({ minimum: 1, maximum: 100, default: 10 });

export function rankingsRoutes({ rankings }: { rankings: RankingsService }): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/rankings/sellouts',
      {
        schema: {
          tags: ['rankings'],
          summary: 'Dates that sold out, fastest first (seconds from booking opening to the last seat)',
          querystring: Type.Object({ limit: Limit }),
          response: {
            200: Type.Object({
              items: Type.Array(
                Type.Object({
                  scheduleId: Type.String(),
                  concertId: Type.String(),
                  title: Type.String(),
                  startsAt: Type.String(),
                  secondsToSellOut: Type.Integer({ minimum: 0 }),
                }),
              ),
            }),
          },
        },
      },
      async (request) => rankings.sellouts(request.query.limit),
    );

    app.get(
      '/rankings/concerts',
      {
        schema: {
          tags: ['rankings'],
          summary: 'Concerts by confirmed reservations in the window (15m, 1h, 24h, 7d …), most first',
          querystring: Type.Object({ window: Type.String({ default: '1h', maxLength: 10 }), limit: Limit }),
          response: {
            200: Type.Object({
              items: Type.Array(
                Type.Object({ concertId: Type.String(), title: Type.String(), confirmedReservations: Type.Integer({ minimum: 0 }) }),
              ),
            }),
          },
        },
      },
      async (request) => rankings.concerts(request.query.window, request.query.limit),
    );
  };
}
