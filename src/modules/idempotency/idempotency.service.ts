import { createHash } from 'node:crypto';
import { batchThenEach, createBatcher } from '../../platform/batcher.js';
import { inTransaction, withRetry, type Database, type Trx } from '../../platform/db.js';
import type { Clock } from '../../platform/clock.js';
import { DomainError, type ErrorCode } from '../../platform/errors.js';
import {
  claimKey,
  claimKeys,
  completeKey,
  deleteKeysBefore,
  findKey,
  releaseKey,
  renewKey,
  type HeldKey,
  type KeyToClaim,
  type StoredResponse,
} from './idempotency.repository.js';
import type { BatchKey } from './idempotency.sql.js';

/**
 * A key this request holds. The work that runs under it stores its success answer in the same
 * transaction as its effects: with `complete`, or in its own statement (see idempotency.sql.ts).
 */
export interface KeyClaim extends BatchKey {
  userId: string;
  /** Stores `body` as the key's answer, with the claim's status, in the work's transaction. */
  complete(trx: Trx, body: unknown): Promise<void>;
}

/** The claim of a key made at `claimedAt`: what a use case needs to store its answer with its work. */
export function keyClaim(k: HeldKey & { status: number }): KeyClaim {
  return {
    ...k,
    async complete(trx, body) {
      if (!(await completeKey(trx, k, { status: k.status, body }))) throw leaseLost();
    },
  };
}

/**
 * Runs a use case that is one statement: alone, or under a key in one transaction with the key's
 * answer (`answer` of its value), so that both commit or neither.
 */
export function withAnswer<V>(
  db: Database,
  claim: KeyClaim | undefined,
  work: (executor: Database) => Promise<V>,
  answer: (value: V) => unknown = (value) => value,
): Promise<V> {
  if (!claim) return withRetry(() => work(db));
  return inTransaction(db, async (trx) => {
    const value = await work(trx);
    await claim.complete(trx, answer(value));
    return value;
  });
}

const leaseLost = () => new DomainError('IDEMPOTENCY_KEY_IN_USE', 'The Idempotency-Key lease was lost; retry the request');

/** The lease of a claimed key when none is configured (IDEMPOTENCY_LEASE_MS; see renewEveryMs). */
export const DEFAULT_LEASE_MS = 10_000;

/**
 * How often a request still working renews its key's lease: three times a lease. A renewal that
 * waits for a connection (at most DATABASE_CONNECT_TIMEOUT_MS, 5 s by default) and fails is tried
 * again RENEWAL_RETRY_MS later, which still lands before the lease runs out when the lease is at
 * least twice that wait (config.ts refuses to start otherwise).
 */
export const renewEveryMs = (leaseMs: number) => Math.max(1, Math.floor(leaseMs / 3));
/** How soon a renewal that failed is tried again (or at the next beat, when that is sooner). */
export const RENEWAL_RETRY_MS = 1_000;

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

/** What `run` gives back: the work's value, or the answer stored under the key for a retry. */
export type RunOutcome<T> = { replayed: false; value: T } | { replayed: true; response: StoredResponse };

/**
 * Idempotency keys, scoped to the user. A key is claimed in its own committed statement (so a
 * concurrent duplicate sees IN_PROGRESS at once), completed in the same transaction as the work,
 * and released if the work fails unexpectedly so that a retry can run it. Claims that arrive
 * together are made in one statement (`batch`, see platform/batcher.ts), as holds and payments are.
 */
export function createIdempotencyService({
  db,
  clock,
  retentionHours,
  leaseMs = DEFAULT_LEASE_MS,
  renewDb = db,
  onRenewalFailed,
  batch,
}: {
  db: Database;
  clock: Clock;
  retentionHours: number;
  leaseMs?: number;
  /**
   * Where leases are renewed: a pool apart from the requests' own, so a renewal never waits for a
   * connection behind the work it protects (main.ts passes the background pool).
   */
  renewDb?: Database;
  /** Told of every renewal that failed (it is tried again after RENEWAL_RETRY_MS). */
  onRenewalFailed?: (err: unknown) => void;
  /** Coalescing of claims that arrive together; absent or maxBatch 1: each claim is a statement of its own. */
  batch?: { maxBatch: number; maxInFlight: number } | undefined;
}) {
  const retentionMs = retentionHours * 3_600_000;
  const retainedSince = () => new Date(clock.now().getTime() - retentionMs);

  const leaseAt = () => {
    const now = clock.now();
    return { lease: new Date(now.getTime() + leaseMs), now, expiredBefore: retainedSince() };
  };
  /** Claims one key in a statement of its own: when it was claimed, or null when not claimed. */
  const claimAlone = async (k: KeyToClaim, at = leaseAt()) => ((await withRetry(() => claimKey(db, { ...k, ...at }))) ? at.now : null);

  const claims =
    batch && batch.maxBatch > 1
      ? createBatcher<KeyToClaim, Date | null>({
          /** Claims keys at one time under one lease; should the statement fail as a whole, each key is claimed alone. */
          run(keys) {
            const at = leaseAt();
            if (keys.length === 1) return Promise.allSettled([claimAlone(keys[0]!, at)]);
            return batchThenEach(keys, async () => (await withRetry(() => claimKeys(db, keys, at))).map((ok) => (ok ? at.now : null)), (k) =>
              claimAlone(k, at),
            );
          },
          settled: true,
          ...batch,
          // The same key twice in one statement could not be told apart (nor claimed twice).
          conflictKeys: (k) => [`${k.userId} ${k.key}`],
        })
      : undefined;

  async function claim(userId: string, key: string, fingerprint: string): Promise<{ claimedAt: Date } | { response: StoredResponse }> {
    const request = { userId, key, fingerprint };
    const claimedAt = await (claims ? claims.submit(request) : claimAlone(request));
    if (claimedAt) return { claimedAt };
    const existing = await findKey(db, userId, key);
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
    return { response: { status: existing.response_status, body: existing.response_body } };
  }

  /**
   * Renews the claim's lease every renewEveryMs while the request works, so a slow request keeps
   * its key (a retry meanwhile answers IDEMPOTENCY_KEY_IN_USE) however long it takes, while the key
   * of a process that died is free one lease after its last renewal. A renewal that fails (the
   * database busy or away) is reported and tried again after RENEWAL_RETRY_MS, not a whole beat
   * later; one that finds the claim gone stops. Returns the function that stops the renewals.
   */
  function keepRenewing(held: HeldKey): () => void {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const beat = async () => {
      let failed = false;
      const holds = await renewKey(renewDb, held, new Date(clock.now().getTime() + leaseMs)).catch((err: unknown) => {
        failed = true;
        if (!stopped) onRenewalFailed?.(err);
        return true;
      });
      if (holds && !stopped) schedule(failed ? Math.min(RENEWAL_RETRY_MS, renewEveryMs(leaseMs)) : renewEveryMs(leaseMs));
    };
    const schedule = (ms: number) => {
      timer = setTimeout(() => void beat(), ms);
      timer.unref();
    };
    schedule(renewEveryMs(leaseMs));
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }

  return {
    /**
     * Runs work at most once per key. With a key, the work gets its claim and stores its success
     * answer with its effects (see KeyClaim). The work's domain refusals are stored and replayed
     * like successes; refusals that are not its outcome (see NOT_AN_OUTCOME) and unexpected
     * failures release the key.
     */
    async run<T>(opts: {
      userId: string;
      key: string | undefined;
      fingerprint: string;
      successStatus: number;
      work: (claim?: KeyClaim) => Promise<T>;
      failure: (err: DomainError) => StoredResponse;
    }): Promise<RunOutcome<T>> {
      const { userId, key, successStatus, work } = opts;
      if (key === undefined) return { replayed: false, value: await work() };
      const claimed = await claim(userId, key, opts.fingerprint);
      if ('response' in claimed) return { replayed: true, response: claimed.response };
      const held: HeldKey = { userId, key, claimedAt: claimed.claimedAt };
      const stopRenewing = keepRenewing(held);
      try {
        return { replayed: false, value: await work(keyClaim({ ...held, status: successStatus })) };
      } catch (err) {
        if (isWorkOutcome(err)) {
          const stored = await completeKey(db, held, opts.failure(err)).catch(() => false);
          if (!stored) await releaseKey(db, held).catch(() => {});
        } else {
          await releaseKey(db, held).catch(() => {});
        }
        throw err;
      } finally {
        stopRenewing();
      }
    },

    /** True when this key already holds a finished answer, which a retry will be given as is. */
    async hasAnswer(userId: string, key: string): Promise<boolean> {
      return (await findKey(db, userId, key, retainedSince()))?.state === 'DONE';
    },

    /**
     * Deletes keys past retention in statements of at most `batchSize` rows (oldest first; rows a
     * request holds locked are skipped, for the next run), until a statement deletes fewer: no
     * statement holds locks on, or writes WAL for, a whole day of keys at once.
     */
    async purgeExpired(opts: { batchSize?: number } = {}): Promise<{ deleted: number; statements: number }> {
      const batchSize = opts.batchSize ?? 1_000;
      const before = retainedSince();
      let deleted = 0;
      let statements = 0;
      for (;;) {
        const n = await deleteKeysBefore(db, before, batchSize);
        deleted += n;
        statements++;
        if (n < batchSize) return { deleted, statements };
      }
    },
  };
}

export type IdempotencyService = ReturnType<typeof createIdempotencyService>;
