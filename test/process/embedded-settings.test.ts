import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/platform/embedded-postgres.js';
import { freePort } from '../support/dependencies.js';

it('starts the embedded PostgreSQL with EMBEDDED_PG_SETTINGS, e.g. pg_stat_statements preloaded', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ticketing-pg-settings-'));
  chmodSync(dataDir, 0o755);
  const port = await freePort();
  const server = await startEmbeddedPostgres({
    dataDir,
    port,
    password: 'settings',
    settings: 'shared_preload_libraries=pg_stat_statements;work_mem=7MB'.split(';'),
  });
  const client = new pg.Client({ connectionString: `postgres://postgres:settings@127.0.0.1:${port}/postgres` });
  try {
    await client.connect();
    expect((await client.query('SHOW work_mem')).rows[0].work_mem).toBe('7MB');
    await client.query('CREATE EXTENSION pg_stat_statements');
    await client.query('SELECT 41 + 1');
    const seen = await client.query(`SELECT calls FROM pg_stat_statements WHERE query LIKE 'SELECT $1 + $2%'`);
    expect(seen.rows[0]?.calls).toBeGreaterThanOrEqual(1);
  } finally {
    await client.end().catch(() => {});
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 120_000);
