import { sql, type Kysely } from 'kysely';

/**
 * The index behind every "how many seats does this user have" count (the hold limit, a payment's
 * "other holds"): only live rows, keyed as the counts ask. Without it the planner may AND the
 * user's index with the whole per-seat index, which costs more the more a concert sells.
 *
 * Claims the seats of a batch of holds, for one statement that then writes all of them. The batch
 * never names a seat twice, nor a (user, schedule) twice; the caller makes sure of that.
 *
 * 1. Takes every (user, schedule) hold-limit lock (the same advisory lock a single hold takes), in
 *    ascending key order, so batches running side by side never wait on each other in a cycle.
 * 2. Locks, in (schedule, seat) order, the seats that are free: AVAILABLE, or HELD past heldUntil.
 *    A seat that is held or sold is not locked at all; a seat that changed while we waited for its
 *    lock is checked again and skipped if it is no longer free.
 * 3. Counts each user's live holds and seats on the schedule. This is a later statement than the
 *    locks, so its snapshot sees every hold committed before they were granted.
 *
 * Returns, per request (1-based position in the arrays), the user's count and whether the seat
 * was free and is now locked by this transaction.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE INDEX reservations_user_active_idx
      ON reservations (user_id, concert_id, schedule_id) WHERE status IN ('HELD', 'CONFIRMED');

    CREATE FUNCTION ticketing_claim_seats(p_users uuid[], p_schedules uuid[], p_seats int[], p_now timestamptz)
      RETURNS TABLE (ord int, active int, seat_free boolean) LANGUAGE plpgsql VOLATILE AS $$
    DECLARE free_ords int[];
    BEGIN
      PERFORM pg_advisory_xact_lock(k)
         FROM (SELECT DISTINCT hashtextextended(x.u::text || '/' || x.s::text, 0) AS k
                 FROM unnest(p_users, p_schedules) AS x(u, s)
                ORDER BY k) AS keys;

      SELECT coalesce(array_agg(free.ord), '{}') INTO free_ords
        FROM (SELECT r.ord::int AS ord
                FROM unnest(p_schedules, p_seats) WITH ORDINALITY AS r(schedule_id, seat_number, ord)
                JOIN seats s ON s.schedule_id = r.schedule_id AND s.number = r.seat_number
               WHERE s.status = 'AVAILABLE' OR (s.status = 'HELD' AND s.held_until <= p_now)
               ORDER BY s.schedule_id, s.number
                 FOR UPDATE OF s) AS free;

      RETURN QUERY
        SELECT r.ord::int,
               (SELECT count(*)::int FROM reservations v
                 WHERE v.user_id = r.user_id AND v.schedule_id = r.schedule_id
                   AND (v.status = 'CONFIRMED' OR (v.status = 'HELD' AND v.held_until > p_now))),
               r.ord::int = ANY (free_ords)
          FROM unnest(p_users, p_schedules) WITH ORDINALITY AS r(user_id, schedule_id, ord);
    END $$;
  `.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`
    DROP FUNCTION ticketing_claim_seats(uuid[], uuid[], int[], timestamptz);
    DROP INDEX reservations_user_active_idx;
  `.execute(db);
}
