import type { CatalogService } from './catalog.service.js';

const DAY = 86_400_000;

/** On an empty database, a few concerts so a first look at the API shows something. */
export async function seedDemoConcerts(catalog: CatalogService, now: Date): Promise<boolean> {
  if (await catalog.hasAnyConcert()) return false;
  const at = (days: number, hour: number) => {
    const d = new Date(now.getTime() + days * DAY);
    d.setUTCHours(hour, 0, 0, 0);
    return d.toISOString();
  };
  const concerts = [
    { title: 'Midnight Orbit World Tour', artist: 'Midnight Orbit', venue: 'Olympic Hall, Seoul', days: [14, 15], seats: 50, price: 132_000 },
    { title: 'Strings at Dusk', artist: 'Han River Chamber Orchestra', venue: 'Seoul Arts Center', days: [21], seats: 30, price: 88_000 },
    { title: 'Neon Harbour Live', artist: 'Neon Harbour', venue: 'BEXCO, Busan', days: [30, 31, 32], seats: 100, price: 99_000 },
  ];
  for (const c of concerts) {
    await catalog.createConcert({
      title: c.title,
      artist: c.artist,
      venue: c.venue,
      schedules: c.days.map((d) => ({ startsAt: at(d, 10), seatCount: c.seats, price: c.price })),
    });
  }
  return true;
}
