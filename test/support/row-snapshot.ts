import { sql, type RawBuilder } from 'kysely';
import type { Database } from '../../src/platform/db.js';

// What a request changed in the database, by order-free checksums of whole tables.

const TABLES = ['users', 'wallets', 'ledger_entries', 'reservations', 'payments', 'outbox', 'concerts', 'schedules'] as const;

/** Row counts and order-free checksums (`count:sum of row hashes`) of what a request can change. */
export interface Snapshot {
  tables: Record<string, string>;
  /** All of idempotency_keys, and the rows of one key, as `count:sum`, so that key can be left out. */
  keys: [bigint, bigint];
  keyRows: { state: string; hash: bigint }[];
}

const checksum = (table: RawBuilder<unknown>, where: RawBuilder<unknown> = sql`true`) =>
  sql`SELECT count(*)::text || ':' || coalesce(sum(hashtext(x::text)::bigint), 0)::text FROM ${table} x WHERE ${where}`;

export const keyRowsOf = (key: string | undefined) =>
  sql<{ t: string; v: string }>`SELECT 'key' AS t, x.state || ' ' || coalesce(x.response_status::text, '-') || ' ' || hashtext(x::text)::text AS v
    FROM idempotency_keys x WHERE x.key = ${key ?? null}`;

export const parseKeyRows = (rows: { t: string; v: string }[]) =>
  rows.filter((r) => r.t === 'key').map((r) => {
    const [state, status, hash] = r.v.split(' ');
    return { state: `${state} ${status}`, hash: BigInt(hash!) };
  });

/**
 * Every table a request can change. Seats are compared on the schedule the requests book, `scheduleId` (new
 * seats only come with new schedules, which are compared). Idempotency keys are compared without
 * the request's own key, which is checked on its own.
 */
export async function snapshot(db: Database, scheduleId: string, key: string | undefined): Promise<Snapshot> {
  const parts = TABLES.map((table) => sql`SELECT ${table}::text AS t, (${checksum(sql.table(table))}) AS v`);
  parts.push(sql`SELECT 'seats', (${checksum(sql`seats`, sql`x.schedule_id = ${scheduleId}`)})`);
  parts.push(sql`SELECT 'idempotency_keys', (${checksum(sql`idempotency_keys`)})`);
  parts.push(sql`${keyRowsOf(key)}`);
  const { rows } = await sql<{ t: string; v: string }>`${sql.join(parts, sql` UNION ALL `)}`.execute(db);
  const tables = Object.fromEntries(rows.filter((r) => r.t !== 'key').map((r) => [r.t, r.v]));
  const [count, sum] = tables.idempotency_keys!.split(':').map(BigInt) as [bigint, bigint];
  delete tables.idempotency_keys;
  return { tables, keys: [count, sum], keyRows: parseKeyRows(rows) };
}

export function differences(a: Snapshot, b: Snapshot): string[] {
  const changed = Object.keys(a.tables).filter((table) => a.tables[table] !== b.tables[table]);
  const others = (s: Snapshot) => {
    const mine = s.keyRows.reduce((sum, r) => sum + r.hash, 0n);
    return `${s.keys[0] - BigInt(s.keyRows.length)}:${s.keys[1] - mine}`;
  };
  if (others(a) !== others(b)) changed.push('idempotency_keys');
  return changed;
}
