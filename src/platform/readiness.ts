import { startLoop } from './loop.js';
import { settlesWithin } from './timeout.js';

/**
 * Whether a dependency answers, kept up to date in the background: `probe` runs every `everyMs`
 * (one at a time) and `ready` is its last outcome. Reading it costs nothing, so a loop that must
 * not run while the dependency is down (queue admission) checks it on every pass without adding a
 * query of its own. A probe that is merely slow (waiting its turn for a pooled connection while
 * the database is busy) counts as ready unless it takes longer than `timeoutMs`: busy is not down.
 */
export function watchReadiness(probe: () => Promise<unknown>, opts: { everyMs: number; timeoutMs: number }) {
  let ready = true;
  const loop = startLoop({
    intervalMs: opts.everyMs,
    onError: () => {
      ready = false;
    },
    run: async () => {
      ready = await settlesWithin(probe(), opts.timeoutMs);
    },
  });
  return {
    get ready() {
      return ready;
    },
    stop: () => loop.stop(),
  };
}
