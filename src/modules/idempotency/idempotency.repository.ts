import { sql } from 'kysely';
import { precompiled, type Database } from '../../platform/db.js';

export interface StoredResponse {
  status: number;
  body: unknown;
}

/**
 * Claims a key in its own statement: a new key, a key past retention, or a key whose holder's lease
 * ran out (same request only). Returns false when another request holds it or it has an answer.
 */
export async function claimKey(
  db: Database,
  k: { userId: string; key: string; fingerprint: string; lease: Date; now: Date; expiredBefore: Date },
): Promise<boolean> {
  const claimed = await sql<{ claimed: boolean }>`
    INSERT INTO idempotency_keys (user_id, key, fingerprint, state, locked_until, created_at)
    VALUES (${k.userId}, ${k.key}, ${k.fingerprint}, 'IN_PROGRESS', ${k.lease}, ${k.now})
    ON CONFLICT (user_id, key) DO UPDATE
      SET fingerprint = EXCLUDED.fingerprint, state = 'IN_PROGRESS', response_status = NULL,
          response_body = NULL, locked_until = EXCLUDED.locked_until, created_at = EXCLUDED.created_at
      WHERE idempotency_keys.created_at < ${k.expiredBefore}
         OR (idempotency_keys.state = 'IN_PROGRESS' AND idempotency_keys.locked_until < ${k.now}
             AND idempotency_keys.fingerprint = EXCLUDED.fingerprint)
    RETURNING true AS claimed`.execute(db);
  return claimed.rows.length > 0;
}

/** A key to claim: whose, which, and the fingerprint of the request that claims it. */
export interface KeyToClaim {
  userId: string;
  key: string;
  fingerprint: string;
}

/**
 * claimKey for many keys in one statement (one round trip, one commit). Rows are written in
 * (user, key) order, so two statements that claim some of the same keys wait for each other in
 * the same order instead of deadlocking.
 */
const claimKeysStatement = precompiled(
  ['userIds', 'keys', 'fingerprints', 'lease', 'now', 'expiredBefore'] as const,
  (p) => sql<{ user_id: string; key: string }>`
    INSERT INTO idempotency_keys AS k (user_id, key, fingerprint, state, locked_until, created_at)
    SELECT r.user_id, r.key, r.fingerprint, 'IN_PROGRESS', ${p.lease}::timestamptz, ${p.now}::timestamptz
      FROM unnest(${p.userIds}::uuid[], ${p.keys}::text[], ${p.fingerprints}::text[]) AS r(user_id, key, fingerprint)
     ORDER BY r.user_id, r.key
    ON CONFLICT (user_id, key) DO UPDATE
      SET fingerprint = EXCLUDED.fingerprint, state = 'IN_PROGRESS', response_status = NULL,
          response_body = NULL, locked_until = EXCLUDED.locked_until, created_at = EXCLUDED.created_at
      WHERE k.created_at < ${p.expiredBefore}::timestamptz
         OR (k.state = 'IN_PROGRESS' AND k.locked_until < ${p.now}::timestamptz AND k.fingerprint = EXCLUDED.fingerprint)
    RETURNING k.user_id, k.key`,
);

/**
 * Claims distinct keys at once, each as claimKey would; returns, per key in order, whether it was
 * claimed (false: another request holds it or it has an answer).
 */
export async function claimKeys(
  db: Database,
  keys: readonly KeyToClaim[],
  at: { lease: Date; now: Date; expiredBefore: Date },
): Promise<boolean[]> {
  const rows = await claimKeysStatement(db, {
    userIds: keys.map((k) => k.userId),
    keys: keys.map((k) => k.key),
    fingerprints: keys.map((k) => k.fingerprint),
    ...at,
  });
  const claimed = new Set(rows.map((r) => `${r.user_id} ${r.key}`));
  return keys.map((k) => claimed.has(`${k.userId.toLowerCase()} ${k.key}`));
}

export async function findKey(db: Database, userId: string, key: string, createdSince?: Date) {
  let query = db
    .selectFrom('idempotency_keys')
    .select(['fingerprint', 'state', 'response_status', 'response_body'])
    .where('user_id', '=', userId)
    .where('key', '=', key);
  if (createdSince) query = query.where('created_at', '>=', createdSince);
  return query.executeTakeFirst();
}

/**
 * A claim of a key: whose, which, and when it was claimed (its row's created_at). A key is claimed
 * again only after its lease ran out (locked_until, which renewals move on) or its retention, so
 * `claimedAt` tells this claim from any later one: it is the fencing token of the claim's writes.
 */
export interface HeldKey {
  userId: string;
  key: string;
  claimedAt: Date;
}

/** Stores the answer of a key still held by the claim; false when the claim was lost. */
export async function completeKey(executor: Database, k: HeldKey, response: StoredResponse): Promise<boolean> {
  const result = await executor
    .updateTable('idempotency_keys')
    .set({ state: 'DONE', response_status: response.status, response_body: JSON.stringify(response.body) })
    .where('user_id', '=', k.userId)
    .where('key', '=', k.key)
    .where('state', '=', 'IN_PROGRESS')
    .where('created_at', '=', k.claimedAt)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/**
 * Moves the lease of a key still held by the claim on to `lockedUntil` (never back); false when the
 * claim no longer holds it (answered, released, or taken over after its lease ran out).
 */
export async function renewKey(db: Database, k: HeldKey, lockedUntil: Date): Promise<boolean> {
  const result = await db
    .updateTable('idempotency_keys')
    .set({ locked_until: sql<Date>`greatest(locked_until, ${lockedUntil})` })
    .where('user_id', '=', k.userId)
    .where('key', '=', k.key)
    .where('state', '=', 'IN_PROGRESS')
    .where('created_at', '=', k.claimedAt)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** Gives a held key up (only the claim that holds it), so that a retry runs the work. */
export async function releaseKey(db: Database, k: HeldKey): Promise<void> {
  await db
    .deleteFrom('idempotency_keys')
    .where('user_id', '=', k.userId)
    .where('key', '=', k.key)
    .where('state', '=', 'IN_PROGRESS')
    .where('created_at', '=', k.claimedAt)
    .execute();
}

/** Deletes up to `batchSize` keys created before `before`, oldest first, skipping rows a request holds locked. */
export async function deleteKeysBefore(db: Database, before: Date, batchSize: number): Promise<number> {
  const result = await sql`
    DELETE FROM idempotency_keys k
     USING (SELECT user_id, key FROM idempotency_keys
             WHERE created_at < ${before}
             ORDER BY created_at
             LIMIT ${batchSize}
             FOR UPDATE SKIP LOCKED) doomed
     WHERE k.user_id = doomed.user_id AND k.key = doomed.key`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}
