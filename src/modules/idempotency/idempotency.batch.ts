import { context } from '@opentelemetry/api';
import { batchThenEach, createBatcher } from '../../platform/batcher.js';
import { withRetry, type Database } from '../../platform/db.js';
import { activeTraceparent, contextOf, inBatchSpan } from '../../platform/tracing.context.js';
import { withAnswer, type KeyClaim } from './idempotency.service.js';

/**
 * A request with the key it runs under, if any, and the traceparent of the traced request it came
 * from (its statement stores it with the events it writes; see platform/tracing.context.ts).
 */
export type Keyed<R> = R & { claim?: KeyClaim; traceContext?: string };

export interface KeyedStatementOptions<R, A, V> {
  db: Database;
  /** What the statement does, naming its span when a batch of traced requests runs (e.g. `hold`). */
  name: string;
  /** Coalescing of requests that arrive together (see platform/batcher.ts); absent or maxBatch 1: each runs alone. */
  batch?: { maxBatch: number; maxInFlight: number } | undefined;
  /** The statement for one request, run by any executor (alone, or in its key's transaction). */
  one(executor: Database, request: Keyed<R>): Promise<A>;
  /**
   * The statement for many requests, one attempt per request in order; it stores the answers of
   * its keyed successes itself (see idempotency.sql.ts). It is given only requests that
   * `conflictKeys` keeps apart.
   */
  many(requests: Keyed<R>[]): Promise<A[]>;
  /** Requests sharing a key depend on each other's outcome: never in one batch. */
  conflictKeys(request: R): readonly string[];
  /** What the caller is told of an attempt: its value, or its refusal, thrown. */
  outcome(executor: Database, request: R, attempt: A): Promise<V>;
  /** The answer a key stores for a success (default: the value itself). */
  answer?(value: V): unknown;
  /** Told of every batch: how many requests it carried and how long until each had its outcome. */
  onStatement?(size: number, seconds: number): void;
}

/**
 * A use case that is one SQL statement, run for requests that arrive together as one statement
 * (one round trip, one commit). A lone request without a key runs alone; should a batch's statement
 * fail as a whole, each request runs alone, so that one request's failure stays its own. Alone, a
 * keyed request runs in a transaction with its answer; in a batch, the statement stores the answer.
 */
export function createKeyedStatement<R, A, V>(o: KeyedStatementOptions<R, A, V>) {
  const runAlone = (request: Keyed<R>): Promise<V> =>
    withAnswer(o.db, request.claim, async (executor) => o.outcome(executor, request, await o.one(executor, request)), o.answer);
  // A batcher runs a request later, in whichever context is current then: a traced request runs in its own.
  const alone = (request: Keyed<R>): Promise<V> =>
    request.traceContext ? context.with(contextOf(request.traceContext), runAlone, undefined, request) : runAlone(request);

  function statement(requests: Keyed<R>[]): Promise<PromiseSettledResult<V>[]> {
    if (requests.length === 1 && !requests[0]!.claim) return Promise.allSettled([alone(requests[0]!)]);
    return batchThenEach(
      requests,
      async () => {
        const attempts = await withRetry(() => inBatchSpan(o.name, requests, () => o.many(requests)));
        return attempts.map((attempt, i) => o.outcome(o.db, requests[i]!, attempt));
      },
      alone,
    );
  }

  async function together(requests: Keyed<R>[]): Promise<PromiseSettledResult<V>[]> {
    if (!o.onStatement) return statement(requests);
    const started = performance.now();
    const settled = await statement(requests);
    o.onStatement(requests.length, (performance.now() - started) / 1000);
    return settled;
  }

  const batcher =
    o.batch && o.batch.maxBatch > 1
      ? createBatcher<Keyed<R>, V>({
          run: together,
          settled: true,
          maxBatch: o.batch.maxBatch,
          maxInFlight: o.batch.maxInFlight,
          conflictKeys: o.conflictKeys,
        })
      : undefined;

  return {
    /** Runs the request, batched with others when batching is on; under `claim`, its answer commits with it. */
    run(request: R, claim?: KeyClaim): Promise<V> {
      const traceContext = activeTraceparent();
      const keyed: Keyed<R> = claim || traceContext ? { ...request, ...(claim && { claim }), ...(traceContext && { traceContext }) } : (request as Keyed<R>);
      return batcher ? batcher.submit(keyed) : alone(keyed);
    },
    /** Runs requests as one batch (see `together`); they must be ones `conflictKeys` keeps apart. */
    runBatch: together,
  };
}
