import type { Config } from '../../config.js';
import { createCache, type Cache, type CacheDeps } from '../../cache/cache.js';
import type { CacheOptions, StampedeStrategy } from '../../cache/cache.types.js';

export interface SeatMapValue {
  /** `{ scheduleId, seats }` as sent. */
  json: string;
  /** The earliest heldUntil among the seats it shows HELD: the map goes stale then. */
  validUntil: number | null;
}

export interface ConcertView {
  id: string;
  title: string;
  artist: string;
  venue: string;
  schedules: {
    id: string;
    concertId: string;
    startsAt: string;
    bookingOpensAt: string;
    seatCount: number;
    availableSeats: number;
    price: number;
  }[];
}

export interface ConcertPage {
  items: { id: string; title: string; artist: string; venue: string }[];
  nextCursor: string | null;
}

/**
 * The hot reads' caches: `seats` (a schedule's seat map), `concert` (a concert with its dates
 * and their available seats) and `concerts` (pages of the list, in L1 only: any new concert
 * clears them all). Strategy, TTLs and L1 policy come from config.
 */
export interface CatalogCaches {
  seats: Cache<SeatMapValue>;
  concert: Cache<ConcertView>;
  concerts: Cache<ConcertPage>;
}

export function strategyFor(config: Config, cache: keyof CatalogCaches): StampedeStrategy {
  for (const pair of (config.CACHE_STRATEGIES ?? '').split(',')) {
    const [name, strategy] = pair.split('=').map((x) => x.trim());
    if (name === cache && strategy) return strategy as StampedeStrategy;
  }
  return config.CACHE_STRATEGY as StampedeStrategy;
}

export function createCatalogCaches(config: Config, deps: CacheDeps): CatalogCaches {
  const base = <V>(name: keyof CatalogCaches, ttlMs: number, extra: Partial<CacheOptions<V>> = {}): CacheOptions<V> => ({
    name,
    strategy: strategyFor(config, name),
    ttlMs,
    beta: config.CACHE_XFETCH_BETA,
    l1Capacity: config.CACHE_L1_CAPACITY,
    l1Policy: config.CACHE_L1_POLICY as CacheOptions<V>['l1Policy'],
    ...extra,
  });
  const seatsTtl = config.CACHE_SEATS_TTL_MS;
  return {
    // A taken seat shows within seatsTtl + staleMs (≤ 1 s by default) even if an invalidation is
    // lost; normally invalidation clears it at once. A passed hold never shows: validUntil.
    seats: createCache<SeatMapValue>(
      base('seats', seatsTtl, { staleMs: seatsTtl, validUntil: (v) => v.validUntil ?? undefined }),
      deps,
    ),
    concert: createCache<ConcertView>(base('concert', config.CACHE_CATALOG_TTL_MS), deps),
    concerts: createCache<ConcertPage>(base('concerts', config.CACHE_CATALOG_TTL_MS * 5, { l2: false }), deps),
  };
}
