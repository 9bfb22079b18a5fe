/** The invariants a run must leave intact, counted with SQL on the database all instances share. */
import pg from 'pg';

export interface Invariants {
  seatsWithTwoActiveReservations: number;
  balancesNotMatchingLedger: number;
  negativeBalances: number;
  seatsDisagreeingWithReservations: number;
  paymentsWithoutConfirmedReservation: number;
}

/** Counts the rows that break each invariant (all zero when none is broken). */
export async function checkInvariants(databaseUrl: string): Promise<Invariants> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const one = async (q: string) => Number((await client.query(q)).rows[0].n);
  const invariants = {
    seatsWithTwoActiveReservations: await one(`SELECT count(*) AS n FROM (SELECT 1 FROM reservations WHERE status IN ('HELD','CONFIRMED') GROUP BY schedule_id, seat_number HAVING count(*) > 1) x`),
    balancesNotMatchingLedger: await one(`SELECT count(*) AS n FROM wallets w WHERE w.balance <> (SELECT COALESCE(sum(amount), 0) FROM ledger_entries l WHERE l.user_id = w.user_id)`),
    negativeBalances: await one(`SELECT count(*) AS n FROM wallets WHERE balance < 0`),
    seatsDisagreeingWithReservations: await one(`SELECT count(*) AS n FROM seats s LEFT JOIN reservations r ON r.id = s.reservation_id
      WHERE NOT ((s.status = 'AVAILABLE' AND r.id IS NULL) OR (s.status = 'HELD' AND r.status = 'HELD') OR (s.status = 'SOLD' AND r.status = 'CONFIRMED'))`),
    paymentsWithoutConfirmedReservation: await one(`SELECT count(*) AS n FROM payments p JOIN reservations r ON r.id = p.reservation_id WHERE p.status = 'PAID' AND r.status <> 'CONFIRMED'`),
  };
  await client.end();
  return invariants;
}

export function countViolations(invariants: Invariants): number {
  return Object.values(invariants).reduce((a, b) => a + b, 0);
}
