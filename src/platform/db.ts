import pg from 'pg';
import { Kysely, Migrator, PostgresDialect, type Migration, type MigrationProvider, type Transaction } from 'kysely';
import type { DB } from './db.types.js';
import * as m001 from './migrations/001_core.js';

export type Database = Kysely<DB>;
export type Trx = Transaction<DB>;

// int8 (bigint, count(*)) as JS numbers: every amount here is far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface DbOptions {
  connectionString: string;
  poolSize: number;
  statementTimeoutMs?: number;
}

export function createDb({ connectionString, poolSize, statementTimeoutMs = 15_000 }: DbOptions): Database {
  const pool = new pg.Pool({
    connectionString,
    max: poolSize,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 5_000,
    statement_timeout: statementTimeoutMs,
    application_name: 'ticketing',
  });
  // An idle client that loses its server emits 'error' on the pool; the pool replaces it.
  pool.on('error', () => {});
  return new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
}

const migrations: Record<string, Migration> = { '001_core': m001 };

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations() {
    return migrations;
  }
}

/** Applies pending migrations; safe when several instances start at once (Kysely takes a lock). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the migrator works on any schema
export async function migrateToLatest(db: Kysely<any>): Promise<void> {
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String(error)}`, { cause: error });
  }
}

const RETRYABLE = new Set(['40001', '40P01']); // serialization failure, deadlock detected

/**
 * Runs fn in a READ COMMITTED transaction and retries it when PostgreSQL aborts it for a
 * deadlock or serialization failure (both leave nothing committed).
 */
export async function inTransaction<T>(db: Database, fn: (trx: Trx) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction().execute(fn);
    } catch (err) {
      if (attempt >= attempts || !RETRYABLE.has(pgCode(err) ?? '')) throw err;
    }
  }
}

export function pgCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

/** PostgreSQL error codes that mean "the database cannot be reached right now". */
export function isDatabaseUnavailable(err: unknown): boolean {
  const code = pgCode(err);
  if (!code) {
    const message = err instanceof Error ? err.message : '';
    return /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED/i.test(message);
  }
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P02', '57P03', '53300', '08006', '08001', '08003'].includes(code);
}
