import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { concertSoldOut, soldOutQuery } from '../../src/modules/catalog/catalog.repository.js';
import { createDb, type Database, type Trx } from '../../src/platform/db.js';
import { newId } from '../../src/platform/ids.js';

type Status = 'AVAILABLE' | 'HELD' | 'SOLD';

let db: Database;
beforeAll(() => {
  db = createDb({ connectionString: inject('databaseUrl'), poolSize: 2 });
});
afterAll(() => db.destroy());

/** A concert with one date per list of seat statuses (seat n has the n-th status); rows written directly. */
async function concertWith(on: Database | Trx, dates: Status[][]): Promise<string> {
  const concertId = newId();
  await sql`INSERT INTO concerts (id, title, artist, venue) VALUES (${concertId}, 'Sold out?', 'Artist', 'Hall')`.execute(on);
  for (const statuses of dates) {
    const scheduleId = newId();
    await sql`INSERT INTO schedules (id, concert_id, starts_at, booking_opens_at, seat_count, price)
              VALUES (${scheduleId}, ${concertId}, now() + interval '7 days', now(), ${statuses.length}, 100)`.execute(on);
    await sql`INSERT INTO seats (schedule_id, number, status, reservation_id, held_until)
              SELECT ${scheduleId}::uuid, n, st,
                     CASE WHEN st = 'AVAILABLE' THEN NULL ELSE gen_random_uuid() END,
                     CASE WHEN st = 'HELD' THEN now() + interval '5 minutes' END
                FROM unnest(${statuses}::text[]) WITH ORDINALITY AS u(st, n)`.execute(on);
  }
  return concertId;
}

const sold = (n: number): Status[] => Array.from({ length: n }, () => 'SOLD');

describe('concertSoldOut: every seat of every date SOLD', () => {
  it('a concert with no dates has no seat left: sold out', async () => {
    expect(await concertSoldOut(db, await concertWith(db, []))).toBe(true);
  });

  it('one date partly sold is not sold out, whichever seat is left', async () => {
    expect(await concertSoldOut(db, await concertWith(db, [['SOLD', 'AVAILABLE', 'SOLD']]))).toBe(false);
    expect(await concertSoldOut(db, await concertWith(db, [[...sold(9), 'AVAILABLE']]))).toBe(false);
    expect(await concertSoldOut(db, await concertWith(db, [['AVAILABLE', ...sold(9)]]))).toBe(false);
  });

  it('every seat of every date sold is sold out', async () => {
    expect(await concertSoldOut(db, await concertWith(db, [sold(5)]))).toBe(true);
    expect(await concertSoldOut(db, await concertWith(db, [sold(5), sold(3)]))).toBe(true);
  });

  it('a HELD seat counts as not sold (the hold may lapse)', async () => {
    expect(await concertSoldOut(db, await concertWith(db, [[...sold(4), 'HELD']]))).toBe(false);
  });

  it('a seat left on any one date, first or last, keeps the concert from being sold out', async () => {
    expect(await concertSoldOut(db, await concertWith(db, [[...sold(4), 'AVAILABLE'], sold(5)]))).toBe(false);
    expect(await concertSoldOut(db, await concertWith(db, [sold(5), [...sold(4), 'HELD']]))).toBe(false);
  });

  it("another concert's unsold seats do not matter", async () => {
    const soldOut = await concertWith(db, [sold(3)]);
    await concertWith(db, [['AVAILABLE', 'HELD', 'SOLD']]);
    expect(await concertSoldOut(db, soldOut)).toBe(true);
  });

  it('a seat sold later, or one given back, changes the answer', async () => {
    const concertId = await concertWith(db, [[...sold(2), 'AVAILABLE']]);
    expect(await concertSoldOut(db, concertId)).toBe(false);
    await sql`UPDATE seats SET status = 'SOLD', reservation_id = gen_random_uuid()
               WHERE schedule_id IN (SELECT id FROM schedules WHERE concert_id = ${concertId})`.execute(db);
    expect(await concertSoldOut(db, concertId)).toBe(true);
    await sql`UPDATE seats SET status = 'AVAILABLE', reservation_id = NULL
               WHERE number = 1 AND schedule_id IN (SELECT id FROM schedules WHERE concert_id = ${concertId})`.execute(db);
    expect(await concertSoldOut(db, concertId)).toBe(false);
  });
});

/** Copies of the tables and their indexes (same names) as temporary tables, which autovacuum never analyses. */
async function temporaryCopies(trx: Trx) {
  for (const table of ['concerts', 'schedules', 'seats']) {
    await sql`CREATE TEMP TABLE ${sql.raw(table)} (LIKE public.${sql.raw(table)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS) ON COMMIT DROP`.execute(trx);
    const { rows } = await sql<{ indexdef: string }>`SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = ${table}`.execute(trx);
    for (const { indexdef } of rows) await sql.raw(indexdef.replace(' ON public.', ' ON pg_temp.')).execute(trx);
  }
}

/** 40 concerts (ids in creation order), 2 dates each, 1,000 seats a date, none sold (a sale's first minute). */
async function saleStart(trx: Trx): Promise<{ concerts: string[]; lastDate: string }> {
  const concerts = Array.from({ length: 40 }, () => newId());
  const schedules = concerts.flatMap((c) => [[newId(), c], [newId(), c]]);
  await sql`INSERT INTO concerts (id, title, artist, venue) SELECT id, 'c', 'a', 'v' FROM unnest(${concerts}::uuid[]) id`.execute(trx);
  await sql`INSERT INTO schedules (id, concert_id, starts_at, booking_opens_at, seat_count, price)
            SELECT id, c, now() + interval '7 days', now(), 1000, 100
              FROM unnest(${schedules.map((s) => s[0])}::uuid[], ${schedules.map((s) => s[1])}::uuid[]) AS u(id, c)`.execute(trx);
  await sql`INSERT INTO seats (schedule_id, number) SELECT s.id, n FROM schedules s, generate_series(1, 1000) n ORDER BY s.id, n`.execute(trx);
  return { concerts, lastDate: schedules.at(-1)![0]! };
}

/** Every node of an EXPLAIN (FORMAT JSON) plan, subplans included. */
function nodes(plan: Record<string, unknown>): Record<string, unknown>[] {
  const children = (plan['Plans'] as Record<string, unknown>[] | undefined) ?? [];
  return [plan, ...children.flatMap(nodes)];
}

// On one connection, in a transaction rolled back at the end: no other file's rows reach the copies,
// and their statistics stay those the test chose (enable_seqscan left on), as in a sale's first
// minute, when the seats were analysed before they were made or sold and autovacuum has not run.
describe('concertSoldOut plan, with stale statistics', () => {
  it.each([
    ['never analysed', 'none'],
    ['analysed empty', 'empty'],
    ['analysed with nothing sold', 'start'],
  ])('probes seats_unsold_number_idx per date and never scans seats (%s)', async (_, analysed) => {
    const plans: Record<string, unknown>[][] = [];
    const rolledBack = new Error('roll back');
    const answers = await db
      .transaction()
      .execute(async (trx) => {
        await temporaryCopies(trx);
        if (analysed === 'empty') await sql`ANALYZE pg_temp.concerts, pg_temp.schedules, pg_temp.seats`.execute(trx);
        const { concerts, lastDate } = await saleStart(trx);
        if (analysed === 'start') await sql`ANALYZE pg_temp.concerts, pg_temp.schedules, pg_temp.seats`.execute(trx);
        const [oldest, newest] = [concerts[0]!, concerts[39]!];
        const explain = async (concertId: string) => {
          const { rows } = await sql<{ 'QUERY PLAN': [{ Plan: Record<string, unknown> }] }>`EXPLAIN (FORMAT JSON) ${soldOutQuery(concertId)}`.execute(trx);
          plans.push(nodes(rows[0]!['QUERY PLAN'][0].Plan));
        };
        await explain(oldest);
        await explain(newest);
        const before = [await concertSoldOut(trx, oldest), await concertSoldOut(trx, newest)];
        // Most sold: every seat but the last of the newest concert's newest date.
        await sql`UPDATE seats SET status = 'SOLD', reservation_id = gen_random_uuid()
                   WHERE NOT (number = 1000 AND schedule_id = ${lastDate})`.execute(trx);
        await explain(oldest);
        await explain(newest);
        const after = [await concertSoldOut(trx, oldest), await concertSoldOut(trx, newest)];
        throw Object.assign(rolledBack, { answers: [before, after] });
      })
      .catch((err: unknown) => {
        if (err !== rolledBack) throw err;
        return (err as Error & { answers: boolean[][] }).answers;
      });
    expect(answers).toEqual([
      [false, false],
      [true, false],
    ]);
    expect(plans).toHaveLength(4);
    for (const plan of plans) {
      const onSeats = plan.filter((n) => n['Relation Name'] === 'seats');
      // One node on seats: a probe keyed by the date at hand, not a walk over every unsold seat.
      expect(onSeats.map((n) => [n['Node Type'], n['Index Name'], n['Index Cond']])).toEqual([
        ['Index Only Scan', 'seats_unsold_number_idx', '(schedule_id = s.id)'],
      ]);
    }
  });
});
