import { sql } from 'kysely';
import type { Clock } from '../../platform/clock.js';
import type { Database } from '../../platform/db.js';
import { DomainError } from '../../platform/errors.js';
import type { CatalogService } from '../catalog/catalog.service.js';
import { HOUR, MAX_WINDOW_MS, MINUTE, type RankingsStore } from './rankings.store.js';

const UNITS: Record<string, number> = { m: MINUTE, h: HOUR, d: 24 * HOUR };

/** "15m", "1h", "24h", "7d" → milliseconds; at most seven days. */
export function parseWindow(window: string): number {
  const match = /^(\d{1,4})([mhd])$/.exec(window);
  const ms = match ? Number(match[1]) * UNITS[match[2]!]! : NaN;
  if (!(ms > 0 && ms <= MAX_WINDOW_MS)) {
    throw new DomainError('VALIDATION_FAILED', 'window must look like 15m, 1h, 24h or 7d (at most 7d)', {
      errors: [{ path: '/querystring/window', message: 'must be a duration such as 1h, at most 7d' }],
    });
  }
  return ms;
}

/** Seconds from the moment booking opened to the confirmation that sold the last seat. */
export const secondsToSellOut = (bookingOpensAt: Date, soldOutAt: Date): number =>
  Math.max(0, Math.round((soldOutAt.getTime() - bookingOpensAt.getTime()) / 1000));

export function createRankingsService(deps: { db: Database; store: RankingsStore; catalog: CatalogService; clock: Clock }) {
  const { db, store, catalog } = deps;

  async function concertTitle(concertId: string): Promise<string | undefined> {
    return catalog.concert(concertId).then((c) => c.title, () => undefined);
  }

  return {
    /** Applies one reservation.confirmed event (idempotent by event id). */
    async onConfirmed(event: { id: string; payload: { concertId: string; scheduleId: string; confirmedAt?: string } }, at: Date) {
      const confirmedAt = event.payload.confirmedAt ? new Date(event.payload.confirmedAt) : at;
      await store.recordConfirmation(event.id, event.payload.concertId, confirmedAt.getTime());
      // Sold out when no seat is left unsold: the scan stops at the first one it finds.
      const { rows } = await sql<{ booking_opens_at: Date; sold_out: boolean }>`
        SELECT s.booking_opens_at,
               NOT EXISTS (SELECT 1 FROM seats WHERE schedule_id = s.id AND status <> 'SOLD') AS sold_out
          FROM schedules s WHERE s.id = ${event.payload.scheduleId}`.execute(db);
      const schedule = rows[0];
      if (schedule?.sold_out) {
        await store.recordSellout(event.payload.scheduleId, secondsToSellOut(schedule.booking_opens_at, confirmedAt));
      }
    },

    async concerts(window: string, limit: number) {
      const top = await store.topConcerts(parseWindow(window), deps.clock.now().getTime(), limit);
      const items = await Promise.all(
        top.map(async (t) => ({ concertId: t.concertId, title: (await concertTitle(t.concertId)) ?? '', confirmedReservations: t.count })),
      );
      return { items };
    },

    async sellouts(limit: number) {
      const fastest = await store.fastestSellouts(limit);
      const items = await Promise.all(
        fastest.map(async (f) => {
          const schedule = await catalog.schedule(f.scheduleId).catch(() => undefined);
          return {
            scheduleId: f.scheduleId,
            concertId: schedule?.concert_id ?? '',
            title: schedule ? ((await concertTitle(schedule.concert_id)) ?? '') : '',
            startsAt: schedule ? schedule.starts_at.toISOString() : '',
            secondsToSellOut: f.secondsToSellOut,
          };
        }),
      );
      return { items };
    },

    /**
     * Rebuilds the rankings from PostgreSQL: confirmations of the last seven days (by their
     * confirmation time) and every sold-out schedule (sold out when its last seat was confirmed).
     */
    async rebuild(): Promise<{ confirmations: number; sellouts: number }> {
      await store.reset();
      const since = new Date(deps.clock.now().getTime() - MAX_WINDOW_MS);
      const confirmations = await db
        .selectFrom('reservations')
        .select(['id', 'concert_id', 'confirmed_at'])
        .where('confirmed_at', 'is not', null)
        .where('confirmed_at', '>', since)
        .execute();
      for (const r of confirmations) await store.recordConfirmation(`rebuild:${r.id}`, r.concert_id, r.confirmed_at!.getTime());
      const { rows: soldOut } = await sql<{ id: string; booking_opens_at: Date; sold_out_at: Date }>`
        SELECT s.id, s.booking_opens_at, max(r.confirmed_at) AS sold_out_at
          FROM schedules s
          JOIN reservations r ON r.schedule_id = s.id AND r.status = 'CONFIRMED'
         GROUP BY s.id
        HAVING count(*) >= max(s.seat_count)`.execute(db);
      for (const s of soldOut) await store.recordSellout(s.id, secondsToSellOut(s.booking_opens_at, s.sold_out_at));
      return { confirmations: confirmations.length, sellouts: soldOut.length };
    },
  };
}

export type RankingsService = ReturnType<typeof createRankingsService>;
