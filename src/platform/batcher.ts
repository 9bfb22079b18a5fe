/**
 * Coalesces concurrent calls into batches, so that work arriving together costs one database round
 * trip and one commit instead of one each ("natural batching"). A call never waits for a timer:
 * while fewer than `maxInFlight` batches are running, whatever is queued leaves at the next turn of
 * the event loop; when they are all busy, calls queue up and leave together as soon as one returns.
 * So a lone call goes out at once, and under load batches grow to the load.
 *
 * Items that share a conflict key never travel in the same batch (the later one waits for the next
 * batch, in arrival order), so a batch can be run as a set of independent items.
 */
export interface BatcherOptions<I, O> {
  /**
   * Runs one batch; resolves with one outcome per item, in order: a value, or a
   * PromiseSettledResult when items may fail one by one. A rejection fails every item.
   */
  run: (items: I[]) => Promise<O[] | PromiseSettledResult<O>[]>;
  /** Whether run answers with settled results (true) or plain values (default). */
  settled?: boolean;
  maxBatch: number;
  maxInFlight: number;
  /** Items with a key in common never share a batch. */
  conflictKeys?: (item: I) => readonly string[];
}

interface Pending<I, O> {
  item: I;
  resolve: (outcome: O) => void;
  reject: (err: unknown) => void;
}

export interface Batcher<I, O> {
  submit(item: I): Promise<O>;
  /** Calls queued or running. */
  readonly size: number;
}

export function createBatcher<I, O>(opts: BatcherOptions<I, O>): Batcher<I, O> {
  if (opts.maxBatch < 1 || opts.maxInFlight < 1) throw new Error('maxBatch and maxInFlight must be at least 1');
  let queue: Pending<I, O>[] = [];
  let inFlight = 0;
  let running = 0;
  let scheduled = false;

  function take(): Pending<I, O>[] {
    const batch: Pending<I, O>[] = [];
    const rest: Pending<I, O>[] = [];
    const used = new Set<string>();
    for (const pending of queue) {
      if (batch.length >= opts.maxBatch) {
        rest.push(pending);
        continue;
      }
      const keys = opts.conflictKeys?.(pending.item) ?? [];
      const clash = keys.some((k) => used.has(k));
      // A deferred item's keys are reserved too, so a later item cannot overtake it.
      for (const k of keys) used.add(k);
      (clash ? rest : batch).push(pending);
    }
    queue = rest;
    return batch;
  }

  async function send(batch: Pending<I, O>[]) {
    inFlight++;
    running += batch.length;
    try {
      const outcomes = await opts.run(batch.map((p) => p.item));
      if (outcomes.length !== batch.length) throw new Error(`a batch of ${batch.length} returned ${outcomes.length} outcomes`);
      batch.forEach((p, i) => {
        const outcome = outcomes[i]!;
        if (!opts.settled) p.resolve(outcome as O);
        else if ((outcome as PromiseSettledResult<O>).status === 'fulfilled') p.resolve((outcome as PromiseFulfilledResult<O>).value);
        else p.reject((outcome as PromiseRejectedResult).reason);
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    } finally {
      inFlight--;
      running -= batch.length;
      pump();
    }
  }

  function pump() {
    while (inFlight < opts.maxInFlight && queue.length > 0) void send(take());
  }

  return {
    submit(item) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        if (!scheduled) {
          scheduled = true;
          setImmediate(() => {
            scheduled = false;
            pump();
          });
        }
      });
    },
    get size() {
      return queue.length + running;
    },
  };
}

/**
 * Runs a batch of items as one unit of work (`batch`: one outcome, or promise of one, per item, in
 * order). Should the unit fail as a whole, each item runs alone (`alone`), so that one item's
 * failure stays its own.
 */
export async function batchThenEach<I, O>(
  items: readonly I[],
  batch: () => Promise<readonly (O | Promise<O>)[]>,
  alone: (item: I) => Promise<O>,
): Promise<PromiseSettledResult<O>[]> {
  let outcomes: readonly (O | Promise<O>)[];
  try {
    outcomes = await batch();
  } catch {
    return Promise.allSettled(items.map((item) => alone(item)));
  }
  return Promise.allSettled(outcomes);
}
