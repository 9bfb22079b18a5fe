import pg from 'pg';
import {
  CompiledQuery,
  Kysely,
  Migrator,
  PostgresDialect,
  sql,
  type Migration,
  type MigrationProvider,
  type RawBuilder,
  type Transaction,
} from 'kysely';
import type { DB } from './db.types.js';
import { settlesWithin } from './timeout.js';
import * as m001 from './migrations/001_core.js';
import * as m002 from './migrations/002_events.js';
import * as m003 from './migrations/003_batched_holds.js';
import * as m004 from './migrations/004_batched_payments.js';
import * as m005 from './migrations/005_outbox_lease.js';
import * as m006 from './migrations/006_outbox_pending_groups.js';
import * as m007 from './migrations/007_outbox_trace_context.js';
import * as m008 from './migrations/008_broker_epochs.js';
import * as m009 from './migrations/009_unsold_seats.js';
import * as m010 from './migrations/010_broker_epochs_republishing.js';
import * as m011 from './migrations/011_unsold_seats_by_number.js';

export type Database = Kysely<DB>;
export type Trx = Transaction<DB>;

// int8 (bigint, count(*)) as JS numbers: every amount here is far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (v) => Number(v));

export interface DbOptions {
  connectionString: string;
  poolSize: number;
  /** Longest one statement may run before PostgreSQL cancels it. */
  statementTimeoutMs?: number;
  /**
   * Longest a connection may sit idle inside an open transaction: PostgreSQL then ends the session,
   * which rolls the transaction back and frees its locks (a stalled process cannot keep rows locked).
   */
  idleInTransactionTimeoutMs?: number;
  /** Longest a query waits for a connection (a new one, or a free one of the pool) before it fails. */
  connectTimeoutMs?: number;
}

export function createDb({
  connectionString,
  poolSize,
  statementTimeoutMs = 15_000,
  idleInTransactionTimeoutMs = 10_000,
  connectTimeoutMs = 5_000,
}: DbOptions): Database {
  const pool = new pg.Pool({
    connectionString,
    max: poolSize,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: connectTimeoutMs,
    statement_timeout: statementTimeoutMs,
    idle_in_transaction_session_timeout: idleInTransactionTimeoutMs,
    application_name: 'ticketing',
  });
  // An idle client that loses its server emits 'error' on the pool; the pool replaces it. A client
  // checked out (inside a transaction, between statements) emits it on itself: without a listener
  // that would end the process when the server restarts or an operator ends the connection. The
  // statement in flight fails on its own, and the pool drops the broken client when it comes back.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  prepareRepeatedQueries(pool);
  const oldestWaitMs = timeConnectionWaits(pool);
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  pools.set(db, { pool, oldestWaitMs });
  return db;
}

const pools = new WeakMap<Database, { pool: pg.Pool; oldestWaitMs: () => number }>();

export interface PoolStats {
  /** Connections open (idle or checked out). */
  total: number;
  idle: number;
  /** Callers waiting for a connection. */
  waiting: number;
  max: number;
  /** How long the caller waiting longest for a connection has waited so far (ms; 0 when none waits). */
  oldestWaitMs: number;
}

/** The connections of a pool createDb made (for the pool gauges and load shedding); undefined for any other. */
export function poolStats(db: Database): PoolStats | undefined {
  const entry = pools.get(db);
  if (!entry) return undefined;
  const { pool, oldestWaitMs } = entry;
  return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max: pool.options.max, oldestWaitMs: oldestWaitMs() };
}

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, release: (err?: Error) => void) => void;

/**
 * Times every wait for a connection (a free one of the pool, or a new one): returns how long the
 * oldest caller still waiting has waited. A Map keeps insertion order, so its first entry is the
 * oldest wait not yet over (the pool serves callers in order; one that gives up leaves early).
 */
function timeConnectionWaits(pool: pg.Pool): () => number {
  const waitingSince = new Map<number, number>();
  let next = 0;
  const connect = pool.connect.bind(pool) as (callback?: ConnectCallback) => Promise<pg.PoolClient> | undefined;
  (pool as unknown as { connect: typeof connect }).connect = (callback) => {
    const id = next++;
    waitingSince.set(id, performance.now());
    if (callback) {
      return connect((err, client, release) => {
        waitingSince.delete(id);
        callback(err, client, release);
      });
    }
    return connect()!.finally(() => waitingSince.delete(id));
  };
  return () => {
    for (const since of waitingSince.values()) return performance.now() - since;
    return 0;
  };
}

type QueryFn = (config: unknown, values?: unknown, callback?: unknown) => unknown;

/**
 * Names every parameterised query after its text, so each connection parses and plans a statement
 * once (a server-side prepared statement) instead of on every call. Texts are few and fixed (the
 * repositories' SQL); past `limit` distinct texts, new ones simply run unnamed.
 */
function prepareRepeatedQueries(pool: pg.Pool, limit = 1_000): void {
  const names = new Map<string, string>();
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as QueryFn;
    (client as unknown as { query: QueryFn }).query = (config, values, callback) => {
      if (typeof config === 'string' && Array.isArray(values) && values.length > 0) {
        let name = names.get(config);
        if (name === undefined && names.size < limit) {
          name = `q${names.size}`;
          names.set(config, name);
        }
        if (name !== undefined) return query({ name, text: config, values }, callback);
      }
      return query(config, values, callback);
    };
  });
}

/**
 * A hot statement built once: `build` gets one placeholder per named value and returns the SQL.
 * Each call then only binds values, skipping the query builder's work (and, being a prepared
 * statement on each connection, PostgreSQL's parse and plan).
 */
export function precompiled<K extends string, R>(
  keys: readonly K[],
  build: (p: Record<K, RawBuilder<unknown>>) => RawBuilder<R>,
): (db: Database, values: Record<K, unknown>) => Promise<R[]> {
  let text: string | undefined;
  return async (db, values) => {
    if (text === undefined) {
      const placeholders = Object.fromEntries(keys.map((k, i) => [k, sql.raw(`$${i + 1}`)])) as Record<K, RawBuilder<unknown>>;
      const compiled = build(placeholders).compile(db);
      if (compiled.parameters.length > 0) throw new Error('a precompiled statement takes every value through a placeholder');
      text = compiled.sql;
    }
    const result = await db.executeQuery<R>(CompiledQuery.raw(text, keys.map((k) => values[k])));
    return result.rows;
  };
}

const migrations: Record<string, Migration> = { '001_core': m001, '002_events': m002, '003_batched_holds': m003, '004_batched_payments': m004, '005_outbox_lease': m005, '006_outbox_pending_groups': m006, '007_outbox_trace_context': m007, '008_broker_epochs': m008, '009_unsold_seats': m009, '010_broker_epochs_republishing': m010, '011_unsold_seats_by_number': m011 };

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
 * Runs fn again when PostgreSQL aborted it for a deadlock or serialization failure (either leaves
 * nothing committed, so a retry is safe).
 */
export async function withRetry<T>(fn: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !RETRYABLE.has(pgCode(err) ?? '')) throw err;
    }
  }
}

/** Runs fn in a READ COMMITTED transaction, retried as withRetry says. */
export function inTransaction<T>(db: Database, fn: (trx: Trx) => Promise<T>, attempts = 3): Promise<T> {
  return withRetry(() => db.transaction().execute(fn), attempts);
}

export function pgCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;
}

/** A trivial query: resolves when the database answers, rejects when it cannot. */
export const pingDatabase = (db: Database): Promise<unknown> => sql`SELECT 1`.execute(db);

/** True when the database answers a trivial query within `timeoutMs`. */
export function databaseReady(db: Database, timeoutMs = 1_000): Promise<boolean> {
  return settlesWithin(pingDatabase(db), timeoutMs);
}

/** PostgreSQL error codes that mean "the database cannot be reached right now". */
export function isDatabaseUnavailable(err: unknown): boolean {
  const code = pgCode(err);
  if (!code) {
    const message = err instanceof Error ? err.message : '';
    // "…is not queryable": the ROLLBACK after a statement on a connection the server ended (a
    // restart's fast shutdown) fails with this, and it is what a transaction then throws.
    return /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|is not queryable/i.test(message);
  }
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', '57P01', '57P02', '57P03', '53300', '08006', '08001', '08003'].includes(code);
}
