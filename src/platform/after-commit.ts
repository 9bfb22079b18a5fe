/** Where a failed step after a commit is reported (a pino or Fastify logger). */
export interface StepLogger {
  warn(obj: object, msg: string): void;
}

/**
 * The one rule for steps that follow committed work (cache invalidation, leaving the waiting room):
 * the work is done, so the request is answered as done. A step that fails is logged and left to its
 * own fallback (cache TTLs, the queue's active period); it never turns a committed change into an
 * error the client would retry.
 */
export async function afterCommit(log: StepLogger, what: string, step: () => Promise<unknown>): Promise<void> {
  try {
    await step();
  } catch (err) {
    log.warn({ err, step: what }, 'a step after the commit failed; the committed work stands');
  }
}
