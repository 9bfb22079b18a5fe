/** The invariants a run must leave intact, counted with SQL on the database all instances share. */
import pg from 'pg';

export interface Invariants {
  seatsWithTwoActiveReservations: number;
  balancesNotMatchingLedger: number;
  negativeBalances: number;
  seatsDisagreeingWithReservations: number;
  paymentsWithoutConfirmedReservation: number;
}

/**
 * What to count over: one concert's seats, reservations and payments and some users' wallets (a
 * shared database holds other runs' rows); undefined: the whole database.
 */
export interface InvariantScope {
  concertId: string;
  userIds: string[];
}

// $1 is the concert or the users, NULL for all of them. PostgreSQL plans each query with its
// parameter known, so an unused filter costs nothing.
const IN_CONCERT = (column: string) => `($1::uuid IS NULL OR ${column} = $1::uuid)`;
const OF_USERS = (column: string) => `($1::uuid[] IS NULL OR ${column} = ANY($1::uuid[]))`;

/** Each invariant's query, and whether $1 is the concert or the users. */
const QUERIES: Record<keyof Invariants, [string, 'concert' | 'users']> = {
  seatsWithTwoActiveReservations: [`SELECT count(*) AS n FROM (SELECT 1 FROM reservations r
    WHERE r.status IN ('HELD','CONFIRMED') AND ${IN_CONCERT('r.concert_id')} GROUP BY r.schedule_id, r.seat_number HAVING count(*) > 1) x`, 'concert'],
  balancesNotMatchingLedger: [`SELECT count(*) AS n FROM wallets w
    LEFT JOIN (SELECT user_id, sum(amount) AS total FROM ledger_entries WHERE ${OF_USERS('user_id')} GROUP BY user_id) l ON l.user_id = w.user_id
    WHERE ${OF_USERS('w.user_id')} AND w.balance <> COALESCE(l.total, 0)`, 'users'],
  negativeBalances: [`SELECT count(*) AS n FROM wallets w WHERE w.balance < 0 AND ${OF_USERS('w.user_id')}`, 'users'],
  seatsDisagreeingWithReservations: [`SELECT count(*) AS n FROM seats s JOIN schedules sc ON sc.id = s.schedule_id
    LEFT JOIN reservations r ON r.id = s.reservation_id
    WHERE ${IN_CONCERT('sc.concert_id')}
      AND NOT ((s.status = 'AVAILABLE' AND r.id IS NULL) OR (s.status = 'HELD' AND r.status = 'HELD') OR (s.status = 'SOLD' AND r.status = 'CONFIRMED'))`, 'concert'],
  paymentsWithoutConfirmedReservation: [`SELECT count(*) AS n FROM payments p JOIN reservations r ON r.id = p.reservation_id
    WHERE p.status = 'PAID' AND r.status <> 'CONFIRMED' AND ${IN_CONCERT('r.concert_id')}`, 'concert'],
};

/** Counts the rows that break each invariant (all zero when none is broken), within `scope` when given. */
export async function checkInvariants(databaseUrl: string, scope?: InvariantScope): Promise<Invariants> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const invariants = {} as Invariants;
    for (const [name, [q, by]] of Object.entries(QUERIES)) {
      const param = by === 'concert' ? scope?.concertId : scope?.userIds;
      invariants[name as keyof Invariants] = Number((await client.query(q, [param ?? null])).rows[0].n);
    }
    return invariants;
  } finally {
    await client.end();
  }
}

export function countViolations(invariants: Invariants): number {
  return Object.values(invariants).reduce((a, b) => a + b, 0);
}
