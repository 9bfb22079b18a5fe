import type { Clock } from '../../platform/clock.js';
import type { Database, Trx } from '../../platform/db.js';
import { DomainError } from '../../platform/errors.js';
import type { CatalogService } from '../catalog/catalog.service.js';
import {
  confirmedSince,
  findRankedReservation,
  lockScheduleSellout,
  soldOutSchedules,
  type RankedReservation,
  type SoldOutSchedule,
} from './rankings.repository.js';
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

/**
 * Seconds from the moment booking opened to the confirmation that sold the last seat. After a seat
 * came back and sold again, that is the later confirmation: the time to the sell-out that stands.
 */
export const secondsToSellOut = (bookingOpensAt: Date, soldOutAt: Date): number =>
  Math.max(0, Math.round((soldOutAt.getTime() - bookingOpensAt.getTime()) / 1000));

/** A reservation event as the broker delivers it (the outbox's event shape). */
export interface ReservationEvent {
  id: string;
  type: string;
  aggregateId: string;
  payload: Record<string, unknown>;
}

/** A confirmation the rankings count, or take back when it is cancelled. */
interface Confirmation {
  reservationId: string;
  concertId: string;
  scheduleId: string;
  confirmedAt: number;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);
const epochMs = (v: unknown): number | undefined => {
  const ms = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isFinite(ms) ? ms : undefined;
};

export function createRankingsService(deps: { db: Database; store: RankingsStore; catalog: CatalogService; clock: Clock }) {
  const { db, store, catalog } = deps;

  async function concertTitle(concertId: string): Promise<string | undefined> {
    return catalog.concert(concertId).then((c) => c.title, () => undefined);
  }

  /** The confirmation an event's payload names, when it names all of it. */
  function namedConfirmation(event: ReservationEvent): Confirmation | undefined {
    const p = event.payload;
    const concertId = text(p.concertId);
    const scheduleId = text(p.scheduleId);
    const confirmedAt = epochMs(p.confirmedAt);
    if (!concertId || !scheduleId || confirmedAt === undefined) return undefined;
    return { reservationId: text(p.reservationId) ?? event.aggregateId, concertId, scheduleId, confirmedAt };
  }

  const lookedUp = async (trx: Trx, event: ReservationEvent) =>
    confirmationOf(await findRankedReservation(trx, text(event.payload.reservationId) ?? event.aggregateId));

  /**
   * The confirmation a reservation.confirmed event reports; looked up when its payload lacks a
   * field (its confirmation time too: a cancellation must name the same one).
   */
  async function confirmationIn(trx: Trx, event: ReservationEvent): Promise<Confirmation | undefined> {
    return namedConfirmation(event) ?? lookedUp(trx, event);
  }

  /**
   * The confirmation a reservation.cancelled event takes back, or undefined when the cancelled
   * reservation was a hold. Events written before the payload said `previousStatus` are decided by
   * the reservation itself: it was confirmed if it has a confirmation time.
   */
  async function cancelledConfirmationIn(trx: Trx, event: ReservationEvent): Promise<Confirmation | undefined> {
    const previous = event.payload.previousStatus;
    if (previous === 'HELD') return undefined;
    return (previous === 'CONFIRMED' ? namedConfirmation(event) : undefined) ?? lookedUp(trx, event);
  }

  const confirmationOf = (r: RankedReservation | undefined): Confirmation | undefined =>
    r?.confirmed_at ? { reservationId: r.id, concertId: r.concert_id, scheduleId: r.schedule_id, confirmedAt: r.confirmed_at.getTime() } : undefined;

  /** Confirmations older than the longest window count nowhere; live updates and rebuilds skip them alike. */
  const inRange = (confirmedAt: number) => confirmedAt > deps.clock.now().getTime() - MAX_WINDOW_MS;

  const selloutSeconds = (s: SoldOutSchedule) => secondsToSellOut(s.booking_opens_at, s.sold_out_at);

  /** Sets a schedule's sell-out to what PostgreSQL says now: sold out (since when) or not. */
  async function refreshSellout(trx: Trx, scheduleId: string): Promise<void> {
    await lockScheduleSellout(trx, scheduleId);
    const [soldOut] = await soldOutSchedules(trx, [scheduleId]);
    await store.setSellout(scheduleId, soldOut ? selloutSeconds(soldOut) : null);
  }

  return {
    /**
     * Applies one reservation event inside the consumer's transaction (which also records the
     * event as processed). A confirmation is counted; a cancelled confirmation is taken back (a
     * cancelled hold changes nothing); then the schedule's sell-out is set to what PostgreSQL says.
     * Repeated or reordered deliveries end in the same rankings (see RankingsStore). Sell-out
     * writes of one schedule are serialised (lockScheduleSellout) and each reads after taking the
     * lock, so the last one written is the latest truth: an event that read "not sold out" cannot
     * overwrite a later sell-out, nor a stale "sold out" a later cancellation.
     */
    async apply(trx: Trx, event: ReservationEvent): Promise<void> {
      if (event.type === 'reservation.confirmed') {
        const c = await confirmationIn(trx, event);
        if (!c) return;
        if (inRange(c.confirmedAt)) await store.recordConfirmation(c.reservationId, c.concertId, c.confirmedAt);
        // A confirmation can only sell a date out, never un-sell it: while the date is not sold
        // out there is nothing to write and no lock to take (most confirmations of a sale).
        if ((await soldOutSchedules(trx, [c.scheduleId])).length > 0) await refreshSellout(trx, c.scheduleId);
      } else if (event.type === 'reservation.cancelled') {
        const c = await cancelledConfirmationIn(trx, event);
        if (!c) return;
        if (inRange(c.confirmedAt)) await store.recordCancellation(c.reservationId, c.concertId, c.confirmedAt);
        await refreshSellout(trx, c.scheduleId);
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
     * Rebuilds the rankings from PostgreSQL into what the live updates would have made of every
     * event: each reservation confirmed in the last seven days is counted at its confirmation
     * time, or, if it was cancelled since, marked cancelled (so a late redelivery of its
     * confirmation does not count it); each schedule sold out now is entered with its latest
     * sell-out. Live events applied while it runs are not counted twice (the store keys by
     * reservation); a sell-out changing during the rebuild is corrected by that change's own event.
     */
    async rebuild(): Promise<{ confirmations: number; cancellations: number; sellouts: number }> {
      await store.reset();
      const rows = await confirmedSince(db, new Date(deps.clock.now().getTime() - MAX_WINDOW_MS));
      let confirmations = 0;
      for (let i = 0; i < rows.length; i += REBUILD_CHUNK) {
        await Promise.all(
          rows.slice(i, i + REBUILD_CHUNK).map((r) => {
            const c = confirmationOf(r)!;
            if (r.status === 'CANCELLED') return store.recordCancellation(c.reservationId, c.concertId, c.confirmedAt);
            confirmations++;
            return store.recordConfirmation(c.reservationId, c.concertId, c.confirmedAt);
          }),
        );
      }
      const soldOut = await soldOutSchedules(db);
      for (const s of soldOut) await store.setSellout(s.id, selloutSeconds(s));
      return { confirmations, cancellations: rows.length - confirmations, sellouts: soldOut.length };
    },
  };
}

/** Store writes a rebuild keeps in flight at once. */
const REBUILD_CHUNK = 200;

export type RankingsService = ReturnType<typeof createRankingsService>;
