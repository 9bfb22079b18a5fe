import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { inTransaction, withRetry, type Database } from '../../platform/db.js';
import type { Clock } from '../../platform/clock.js';
import { DomainError, type ErrorCode } from '../../platform/errors.js';

export interface StoredResponse {
  status: number;
  body: unknown;
}

/** A key this request holds, for work that stores its own answer (see `run`'s `answered`). */
export interface KeyClaim {
  userId: string;
  key: string;
  lease: Date;
  /** The status a success is stored with. */
  status: number;
}

/**
 * Thrown by `answered` work that could not store its answer itself (nothing was done): the request
 * then runs as its own transaction, with the answer stored by `run`.
 */
export class AnswerInTransaction extends Error {
  constructor() {
    super('this request could not store its answer with its work; it runs as its own transaction');
  }
}

export type Claim =
  | { kind: 'claimed'; lease: Date }
  | { kind: 'replay'; response: StoredResponse };

/**
 * Refusals of who may ask or how (credentials, the waiting room's gate, the key itself, limits,
 * outages, malformed input): not an outcome of the work. They release the key, so a retry that
 * fixes them runs the work; only the work's own answers (success or a domain refusal such as
 * SEAT_UNAVAILABLE) are stored and replayed.
 */
export const NOT_AN_OUTCOME: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'QUEUE_TOKEN_INVALID',
  'QUEUE_TOKEN_MISMATCH',
  'QUEUE_NOT_ACTIVE',
  'IDEMPOTENCY_KEY_IN_USE',
  'IDEMPOTENCY_KEY_MISMATCH',
  'RATE_LIMITED',
  'UNAVAILABLE',
  'VALIDATION_FAILED',
]);

const isWorkOutcome = (err: unknown): err is DomainError => err instanceof DomainError && !NOT_AN_OUTCOME.has(err.code);

/** Stable JSON: object keys sorted, so {a,b} and {b,a} are the same request. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export function requestFingerprint(method: string, route: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${route}\n${canonicalJson(body)}`).digest('hex');
}

/**
 * Idempotency keys, scoped to the user. A key is claimed in its own committed statement (so a
 * concurrent duplicate sees IN_PROGRESS at once), completed in the same transaction as the work,
 * and released if the work fails unexpectedly so that a retry can run it.
 */
export function createIdempotencyService({
  db,
  clock,
  retentionHours,
  leaseMs = 60_000,
}: {
  db: Database;
  clock: Clock;
  retentionHours: number;
  leaseMs?: number;
}) {
  const retentionMs = retentionHours * 3_600_000;

  async function claim(userId: string, key: string, fingerprint: string): Promise<Claim> {
    const now = clock.now();
    const lease = new Date(now.getTime() + leaseMs);
    const expiredBefore = new Date(now.getTime() - retentionMs);
    const claimed = await sql<{ claimed: boolean }>`
      INSERT INTO idempotency_keys (user_id, key, fingerprint, state, locked_until, created_at)
      VALUES (${userId}, ${key}, ${fingerprint}, 'IN_PROGRESS', ${lease}, ${now})
      ON CONFLICT (user_id, key) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint, state = 'IN_PROGRESS', response_status = NULL,
            response_body = NULL, locked_until = EXCLUDED.locked_until, created_at = EXCLUDED.created_at
        WHERE idempotency_keys.created_at < ${expiredBefore}
           OR (idempotency_keys.state = 'IN_PROGRESS' AND idempotency_keys.locked_until < ${now}
               AND idempotency_keys.fingerprint = EXCLUDED.fingerprint)
      RETURNING true AS claimed`.execute(db);
    if (claimed.rows.length > 0) return { kind: 'claimed', lease };

    const existing = await db
      .selectFrom('idempotency_keys')
      .select(['fingerprint', 'state', 'response_status', 'response_body'])
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .executeTakeFirst();
    if (!existing) return claim(userId, key, fingerprint); // deleted in between: try again
    if (existing.fingerprint !== fingerprint) {
      throw new DomainError(
        'IDEMPOTENCY_KEY_MISMATCH',
        'This Idempotency-Key was used with a different request; use a new key for a new request',
      );
    }
    if (existing.state === 'IN_PROGRESS' || existing.response_status === null) {
      throw new DomainError('IDEMPOTENCY_KEY_IN_USE', 'A request with this Idempotency-Key is still being processed');
    }
    return { kind: 'replay', response: { status: existing.response_status, body: existing.response_body } };
  }

  async function complete(executor: Database, userId: string, key: string, lease: Date, response: StoredResponse) {
    const result = await executor
      .updateTable('idempotency_keys')
      .set({ state: 'DONE', response_status: response.status, response_body: JSON.stringify(response.body) })
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .where('state', '=', 'IN_PROGRESS')
      .where('locked_until', '=', lease)
      .executeTakeFirst();
    if (result.numUpdatedRows !== 1n) {
      throw new DomainError('IDEMPOTENCY_KEY_IN_USE', 'The Idempotency-Key lease was lost; retry the request');
    }
  }

  async function release(userId: string, key: string, lease: Date) {
    await db
      .deleteFrom('idempotency_keys')
      .where('user_id', '=', userId)
      .where('key', '=', key)
      .where('state', '=', 'IN_PROGRESS')
      .where('locked_until', '=', lease)
      .execute();
  }

  return {
    /**
     * Runs work at most once per key: with a key, the work and the stored answer commit in one
     * transaction. The work's domain refusals are stored and replayed like successes; refusals
     * that are not its outcome (see NOT_AN_OUTCOME) and unexpected failures release the key.
     */
    async run<T>(opts: {
      userId: string;
      key: string | undefined;
      fingerprint: string;
      successStatus: number;
      /** The use case; a single statement, or its own transaction when it needs several. */
      work: (executor: Database) => Promise<T>;
      /**
       * The use case for a keyed request, storing its success answer (DONE, the claim's status and
       * its body, under the claim's lease) in the same statement as the work: one round trip where
       * `work` plus the answer take a transaction of four. May throw AnswerInTransaction.
       */
      answered?: (claim: KeyClaim) => Promise<T>;
      failure: (err: DomainError) => StoredResponse;
    }): Promise<StoredResponse & { replayed: boolean }> {
      const { userId, key, successStatus, work } = opts;
      if (key === undefined) {
        return { status: successStatus, body: await withRetry(() => work(db)), replayed: false };
      }
      const claimResult = await claim(userId, key, opts.fingerprint);
      if (claimResult.kind === 'replay') return { ...claimResult.response, replayed: true };
      const { lease } = claimResult;
      const inOwnTransaction = () =>
        inTransaction(db, async (trx) => {
          const value = await work(trx);
          await complete(trx, userId, key, lease, { status: successStatus, body: value });
          return value;
        });
      try {
        let body: T;
        if (opts.answered) {
          try {
            body = await opts.answered({ userId, key, lease, status: successStatus });
          } catch (err) {
            if (!(err instanceof AnswerInTransaction)) throw err;
            body = await inOwnTransaction();
          }
        } else {
          body = await inOwnTransaction();
        }
        return { status: successStatus, body, replayed: false };
      } catch (err) {
        if (isWorkOutcome(err)) {
          await complete(db, userId, key, lease, opts.failure(err)).catch(() => release(userId, key, lease));
        } else {
          await release(userId, key, lease).catch(() => {});
        }
        throw err;
      }
    },

    /** True when this key already holds a finished answer, which a retry will be given as is. */
    async hasAnswer(userId: string, key: string): Promise<boolean> {
      const row = await db
        .selectFrom('idempotency_keys')
        .select('state')
        .where('user_id', '=', userId)
        .where('key', '=', key)
        .where('created_at', '>=', new Date(clock.now().getTime() - retentionMs))
        .executeTakeFirst();
      return row?.state === 'DONE';
    },

    /**
     * Deletes keys past retention in statements of at most `batchSize` rows (oldest first; rows a
     * request holds locked are skipped, for the next run), until a statement deletes fewer: no
     * statement holds locks on, or writes WAL for, a whole day of keys at once.
     */
    async purgeExpired(opts: { batchSize?: number } = {}): Promise<{ deleted: number; statements: number }> {
      const batchSize = opts.batchSize ?? 1_000;
      const before = new Date(clock.now().getTime() - retentionMs);
      let deleted = 0;
      let statements = 0;
      for (;;) {
        const result = await sql`
          DELETE FROM idempotency_keys k
           USING (SELECT user_id, key FROM idempotency_keys
                   WHERE created_at < ${before}
                   ORDER BY created_at
                   LIMIT ${batchSize}
                   FOR UPDATE SKIP LOCKED) doomed
           WHERE k.user_id = doomed.user_id AND k.key = doomed.key`.execute(db);
        const n = Number(result.numAffectedRows ?? 0n);
        deleted += n;
        statements++;
        if (n < batchSize) return { deleted, statements };
      }
    },
  };
}

export type IdempotencyService = ReturnType<typeof createIdempotencyService>;
