import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createDb, inTransaction, isDatabaseUnavailable } from '../../src/platform/db.js';
import { sleep, until } from '../support/wait.js';

/**
 * A connection the server ends inside a transaction (a restart's fast shutdown ends every session):
 * the statement fails, the ROLLBACK on the dead connection fails too, and the transaction throws the
 * latter ("Client has encountered a connection error and is not queryable"). The request must
 * answer 503 UNAVAILABLE, as for any database outage, not 500.
 */
describe('a session ended by the server inside a transaction', () => {
  const db = createDb({ connectionString: inject('databaseUrl'), poolSize: 2 });
  afterAll(() => db.destroy());

  it('throws an error the service counts as the database being unavailable', async () => {
    const admin = new pg.Client({ connectionString: inject('databaseUrl') });
    await admin.connect();
    try {
      const thrown = await inTransaction(db, async (trx) => {
        const { rows } = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
        const pid = rows[0]!.pid;
        await admin.query('SELECT pg_terminate_backend($1)', [pid]);
        // The next statement must find the connection known dead, not race the socket's reset
        // (ECONNRESET): wait until the session is gone, then for the client to read its end.
        await until(async () => (await admin.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid])).rowCount === 0, 5_000, 10);
        await sleep(300);
        await sql`SELECT 1`.execute(trx);
      }).then(() => undefined, (err: unknown) => err);
      expect(thrown).toBeInstanceOf(Error);
      expect((thrown as Error).message).toMatch(/is not queryable/);
      expect({ message: (thrown as Error).message, unavailable: isDatabaseUnavailable(thrown) }).toMatchObject({ unavailable: true });
      // the pool replaces the dead connection: the next transaction works
      expect(await inTransaction(db, async (trx) => (await sql<{ one: number }>`SELECT 1 AS one`.execute(trx)).rows[0]!.one)).toBe(1);
    } finally {
      await admin.end();
    }
  });
});
