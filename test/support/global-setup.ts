import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { createDb, migrateToLatest } from '../../src/platform/db.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/platform/embedded-postgres.js';
import { freePort } from './dependencies.js';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
  }
}

/**
 * One PostgreSQL for the whole run: the server at DATABASE_URL when set, else an embedded one in a
 * temporary directory. Either way the run gets a fresh database of its own, migrated once, and
 * dropped at the end; every test then makes its own rows.
 */
export default async function setup(project: TestProject) {
  let embedded: EmbeddedDatabase | undefined;
  let dataDir: string | undefined;
  let serverUrl = process.env.DATABASE_URL;
  if (!serverUrl) {
    dataDir = mkdtempSync(join(tmpdir(), 'ticketing-test-pg-'));
    chmodSync(dataDir, 0o755); // as root, PostgreSQL runs as another user that must reach the directory
    embedded = await startEmbeddedPostgres({ dataDir, port: await freePort(), password: 'test' });
    serverUrl = embedded.connectionString;
  }
  const runDb = `ticketing_test_${Date.now()}_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${runDb}`);
  await admin.end();

  const url = new URL(serverUrl);
  url.pathname = `/${runDb}`;
  const databaseUrl = url.toString();
  const db = createDb({ connectionString: databaseUrl, poolSize: 2 });
  await migrateToLatest(db);
  await db.destroy();
  project.provide('databaseUrl', databaseUrl);

  return async () => {
    const client = new pg.Client({ connectionString: serverUrl });
    await client.connect();
    await client.query(`DROP DATABASE IF EXISTS ${runDb} WITH (FORCE)`);
    await client.end();
    await embedded?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  };
}
