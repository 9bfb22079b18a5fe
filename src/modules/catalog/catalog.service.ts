import { LRUCache } from 'lru-cache';
import type { Clock } from '../../platform/clock.js';
import { inTransaction, type Database } from '../../platform/db.js';
import { DomainError, notFound } from '../../platform/errors.js';
import { isUuid, newId } from '../../platform/ids.js';
import { decodeCursor, page } from '../../platform/pagination.js';
import {
  concertSoldOut,
  findConcert,
  findSchedule,
  hasAnyConcert,
  insertConcert,
  listConcerts,
  schedulesWithAvailability,
  seatMapJson,
  type ScheduleRow,
  type ScheduleWithAvailability,
} from './catalog.repository.js';
import { isBookable } from './catalog.rules.js';
import type { CatalogCaches, ConcertPage, ConcertView, SeatMapValue } from './catalog.cache.js';

export interface NewConcert {
  title: string;
  artist: string;
  venue: string;
  schedules: { startsAt: string; bookingOpensAt?: string; seatCount: number; price: number }[];
}

const toSchedule = (s: ScheduleWithAvailability) => ({
  id: s.id,
  concertId: s.concert_id,
  startsAt: s.starts_at.toISOString(),
  bookingOpensAt: s.booking_opens_at.toISOString(),
  seatCount: s.seat_count,
  availableSeats: s.available_seats,
  price: s.price,
});

export function createCatalogService({ db, clock, caches }: { db: Database; clock: Clock; caches?: CatalogCaches }) {
  const cached = <V>(cache: { get(key: string, load: () => Promise<V>): Promise<V> } | undefined, key: string, load: () => Promise<V>) =>
    cache ? cache.get(key, load) : load();
  // Schedules never change after creation, so booking paths read them from memory.
  const scheduleCache = new LRUCache<string, ScheduleRow>({ max: 50_000, ttl: 10 * 60_000 });
  const concertCache = new LRUCache<string, { id: string; title: string; artist: string; venue: string }>({ max: 10_000, ttl: 10 * 60_000 });
  /** Seat-map and availability entries waiting to be dropped at the next turn (see seatsChanged). */
  let pendingDrop: { schedules: Set<string>; concerts: Set<string>; done: Promise<void> } | undefined;

  /** A schedule by id. */
  async function schedule(scheduleId: string): Promise<ScheduleRow> {
    const cached = scheduleCache.get(scheduleId);
    if (cached) return cached;
    const row = isUuid(scheduleId) ? await findSchedule(db, scheduleId) : undefined;
    if (!row) throw notFound('Schedule');
    scheduleCache.set(scheduleId, row);
    return row;
  }

  async function concertOrThrow(concertId: string) {
    const concert = isUuid(concertId) ? await findConcert(db, concertId) : undefined;
    if (!concert) throw notFound('Concert');
    return concert;
  }

  return {
    schedule,

    /** A concert's summary, or NOT_FOUND; cached a little, as concerts do not change. */
    async concert(concertId: string) {
      const cached = concertCache.get(concertId);
      if (cached) return cached;
      const concert = await concertOrThrow(concertId);
      concertCache.set(concertId, concert);
      return concert;
    },

    async list(limit: number, cursor?: string): Promise<ConcertPage> {
      const before = decodeCursor(cursor);
      return cached(caches?.concerts, `${limit}:${before ?? ''}`, async () => page(await listConcerts(db, limit, before), limit));
    },

    /** A concert with its dates and their available seats (cached; see catalog.cache.ts). */
    async detail(concertId: string): Promise<ConcertView> {
      await this.concert(concertId);
      return cached(caches?.concert, concertId, async () => {
        const concert = await concertOrThrow(concertId);
        const schedules = await schedulesWithAvailability(db, concertId, clock.now());
        return { ...concert, schedules: schedules.map(toSchedule) };
      });
    },

    async schedules(concertId: string, onlyAvailable: boolean) {
      const { schedules } = await this.detail(concertId);
      const now = clock.now();
      const items = onlyAvailable
        ? schedules.filter(
            (s) => isBookable({ starts_at: new Date(s.startsAt), booking_opens_at: new Date(s.bookingOpensAt) }, now) && s.availableSeats > 0,
          )
        : schedules;
      return { items };
    },

    /** The seat map, already serialised as `{ scheduleId, seats }` (cached; see catalog.cache.ts). */
    async seatMapJson(scheduleId: string): Promise<string> {
      const s = await schedule(scheduleId);
      const value = await cached<SeatMapValue>(caches?.seats, s.id, async () => {
        const { seats, nextExpiry } = await seatMapJson(db, s.id, s.price, clock.now());
        return { json: `{"scheduleId":${JSON.stringify(s.id)},"seats":${seats}}`, validUntil: nextExpiry };
      });
      return value.json;
    },

    /**
     * After a hold, payment, cancel or expiry: the seat map and the concert's availability changed.
     * Changes reported in one turn of the event loop are dropped together at the next (thousands of
     * holds a second land on a few hot schedules), and every caller waits for that drop.
     */
    seatsChanged(changes: { scheduleId: string; concertId: string }[]): Promise<void> {
      if (!caches || changes.length === 0) return Promise.resolve();
      if (!pendingDrop) {
        const drop = { schedules: new Set<string>(), concerts: new Set<string>(), done: Promise.resolve() };
        drop.done = new Promise<void>((resolve) => setImmediate(resolve)).then(async () => {
          pendingDrop = undefined;
          await Promise.all([caches.seats.invalidate(...drop.schedules), caches.concert.invalidate(...drop.concerts)]);
        });
        pendingDrop = drop;
      }
      for (const c of changes) {
        pendingDrop.schedules.add(c.scheduleId);
        pendingDrop.concerts.add(c.concertId);
      }
      return pendingDrop.done;
    },

    /**
     * Creates a concert with its dates and seats, and answers it as created (every seat available)
     * without reading it back. The caller then drops the cached lists (concertsChanged).
     */
    async createConcert(input: NewConcert): Promise<ConcertView> {
      const now = clock.now();
      const concert = { id: newId(), title: input.title, artist: input.artist, venue: input.venue };
      const schedules = input.schedules.map((s, i) => {
        const startsAt = new Date(s.startsAt);
        const opensAt = s.bookingOpensAt ? new Date(s.bookingOpensAt) : new Date(Math.min(now.getTime(), startsAt.getTime()));
        if (opensAt.getTime() > startsAt.getTime()) {
          throw new DomainError('VALIDATION_FAILED', 'bookingOpensAt must not be after startsAt', {
            errors: [{ path: `/body/schedules/${i}/bookingOpensAt`, message: 'must not be after startsAt' }],
          });
        }
        return { id: newId(), starts_at: startsAt, booking_opens_at: opensAt, seat_count: s.seatCount, price: s.price };
      });
      await inTransaction(db, (trx) => insertConcert(trx, concert, schedules));
      const dates = schedules
        .map((s) => ({ ...s, concert_id: concert.id, available_seats: s.seat_count }))
        .sort((a, b) => a.starts_at.getTime() - b.starts_at.getTime() || (a.id < b.id ? -1 : 1));
      return { ...concert, schedules: dates.map(toSchedule) };
    },

    /** After a concert was created: the cached pages of the list are dropped. */
    async concertsChanged(): Promise<void> {
      await caches?.concerts.invalidateAll();
    },

    hasAnyConcert: () => hasAnyConcert(db),

    /** Whether no seat of the concert is left or held (concertSoldOut); read live, never cached. */
    soldOut: (concertId: string) => concertSoldOut(db, concertId),
  };
}

export type CatalogService = ReturnType<typeof createCatalogService>;
