/** The journey's retries: what is tried again, after how long, and which refusals a retry expects. */
import type { Answer, Call, CallOptions } from './client.js';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const ATTEMPTS = 5;

/**
 * A call that is safe to repeat (a read, a keyed write, leaving the line): a network error, a 5xx
 * or a key still in use is tried again after Retry-After (or a backoff), up to ATTEMPTS times. A
 * key in use can only be this call's own earlier attempt: expected on a retry, but not as the last
 * answer; `onRetry` codes are what a repeat may meet after an earlier attempt lost its answer.
 */
export async function retrying(
  ctx: { call: Call; onRetry(): void },
  step: string,
  method: string,
  path: string,
  options: CallOptions,
  onRetry: string[] = [],
): Promise<Answer> {
  let a: Answer | undefined;
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    if (a) {
      ctx.onRetry();
      await sleep(a.retryAfterSeconds !== undefined ? Math.min(a.retryAfterSeconds, 5) * 1000 : 200 * 2 ** attempt);
    }
    const retry = attempt > 0 ? onRetry : [];
    const keyInUse = attempt > 0 && attempt < ATTEMPTS - 1 ? ['IDEMPOTENCY_KEY_IN_USE'] : [];
    a = await ctx.call(step, method, path, { ...options, expect: [...(options.expect ?? []), ...retry, ...keyInUse] });
    if (!(a.status === 0 || a.status >= 500 || a.code === 'IDEMPOTENCY_KEY_IN_USE')) break;
  }
  return a!;
}
