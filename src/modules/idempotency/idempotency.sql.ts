import { sql, type RawBuilder } from 'kysely';

/** The key a batched request holds, as the batched statements read it (see answerKeys). */
export interface BatchKey {
  key: string;
  /** When this request claimed the key (the row's created_at): names this claim among the key's claims. */
  claimedAt: Date;
  status: number;
}

/** The key, claim and status columns of a batch (null where a request has no key). */
export const answerArrays = (requests: readonly { claim?: BatchKey }[]) => ({
  keys: requests.map((r) => r.claim?.key ?? null),
  claimedAts: requests.map((r) => r.claim?.claimedAt ?? null),
  statuses: requests.map((r) => r.claim?.status ?? null),
});

/**
 * CTEs for a batched statement: marks the keys of the batch's successes DONE with their answers
 * (only while each is still held by the claim its request made), and aborts the whole statement if any such key could
 * not be marked. `relation` is the statement's relation of successes, one row per request.
 */
export function answerKeys(answers: {
  relation: string;
  userId: RawBuilder<unknown>;
  key: RawBuilder<unknown>;
  claimedAt: RawBuilder<unknown>;
  status: RawBuilder<unknown>;
  body: RawBuilder<unknown>;
}) {
  return sql`answered AS (
      UPDATE idempotency_keys k SET state = 'DONE', response_status = ${answers.status}, response_body = ${answers.body}
        FROM ${sql.table(answers.relation)}
       WHERE ${answers.key} IS NOT NULL AND k.user_id = ${answers.userId} AND k.key = ${answers.key}
         AND k.state = 'IN_PROGRESS' AND k.created_at = ${answers.claimedAt}
      RETURNING k.key
    ), answers_checked AS (
      SELECT ticketing_assert((SELECT count(*) FROM answered) = (SELECT count(*) FROM ${sql.table(answers.relation)} WHERE ${answers.key} IS NOT NULL),
                              'IDEMPOTENCY_LEASE_LOST') AS ok
    )`;
}
