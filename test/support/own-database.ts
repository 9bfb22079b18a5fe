import pg from 'pg';
import { inject } from 'vitest';
import { createDb, migrateToLatest } from '../../src/platform/db.js';
import { createTestApp, type TestApp } from './harness.js';

async function onServer(connectionString: string, statement: string) {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * A migrated database of its own, on the run's server, for a file whose checks read or drain a
 * whole table (row snapshots, a relay claiming every unsent outbox row): no other file's rows reach
 * it, and its relays reach no other file's rows. `drop` removes it.
 */
export async function createOwnDatabase(prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const runUrl = inject('databaseUrl');
  const name = `${prefix}_${Date.now()}_${process.pid}`;
  const url = new URL(runUrl);
  url.pathname = `/${name}`;
  await onServer(runUrl, `CREATE DATABASE ${name}`);
  const migrating = createDb({ connectionString: url.toString(), poolSize: 1 });
  await migrateToLatest(migrating);
  await migrating.destroy();
  return { url: url.toString(), drop: () => onServer(runUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

/** A full application on a database of its own; closing it drops the database. */
export async function createTestAppOnOwnDatabase(
  prefix: string,
  env: Record<string, string> = {},
  opts: Omit<Parameters<typeof createTestApp>[1], 'databaseUrl'> = {},
): Promise<TestApp> {
  const own = await createOwnDatabase(prefix);
  const t = await createTestApp(env, { ...opts, databaseUrl: own.url });
  return {
    ...t,
    async close() {
      await t.close();
      await own.drop();
    },
  };
}
